#!/usr/bin/env python3
"""Compares two truth JSONs (docs/contracts.md "Fixture data") for the reconcile tests.

compare_truth.py GOT WANT [--superset USER/FOLDER ...] [--missing USER/FOLDER:UID ...]
                          [--ignore-flags USER/FOLDER ...] [--extra-folder USER/FOLDER ...]
The truth's "shared" part compares as the user "%shared" (USER/FOLDER = %shared/shared.x).
Exact by default: same users, folders, uidvalidity, uniqueid, and per uid the same sha1,
flags, internaldate and size. --superset: GOT's folder may hold extra uids (restored from the
backup) but every WANT message must be there with its sha1 at the same uid.
--missing: that uid is expected absent from GOT (e.g. unrecoverable).
--ignore-flags: compare everything but flags in that folder. --extra-folder: GOT may have it.
Exit 0 when they match, 1 with one line per difference otherwise.
"""
import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("got")
    ap.add_argument("want")
    ap.add_argument("--superset", action="append", default=[])
    ap.add_argument("--missing", action="append", default=[])
    ap.add_argument("--ignore-flags", action="append", default=[])
    ap.add_argument("--extra-folder", action="append", default=[])
    a = ap.parse_args()
    gj, wj = json.load(open(a.got)), json.load(open(a.want))
    got, want = gj["users"], wj["users"]
    # The shared mailboxes compare as one more user, "%shared" (folders by internal name).
    if gj.get("shared") or wj.get("shared"):
        got["%shared"] = gj.get("shared") or {}
        want["%shared"] = wj.get("shared") or {}
    missing = {}
    for m in a.missing:
        k, uid = m.rsplit(":", 1)
        missing.setdefault(k, set()).add(uid)
    diffs = []
    for user in sorted(set(got) | set(want)):
        g, w = got.get(user), want.get(user)
        if g is None or w is None:
            diffs.append(f"{user}: only in {'want' if g is None else 'got'}")
            continue
        for folder in sorted(set(g) | set(w)):
            key = f"{user}/{folder}"
            if folder not in w:
                if key not in a.extra_folder:
                    diffs.append(f"{key}: unexpected folder")
                continue
            if folder not in g:
                diffs.append(f"{key}: folder missing")
                continue
            gf, wf = g[folder], w[folder]
            for field in ("uidvalidity", "uniqueid"):
                if gf.get(field) != wf.get(field):
                    diffs.append(f"{key}: {field} {gf.get(field)} != {wf.get(field)}")
            gm, wm = gf["messages"], wf["messages"]
            for uid in sorted(set(gm) | set(wm), key=int):
                if uid in missing.get(key, set()):
                    if uid in gm:
                        diffs.append(f"{key} uid {uid}: expected missing")
                    continue
                if uid not in wm:
                    if key not in a.superset:
                        diffs.append(f"{key} uid {uid}: unexpected")
                    continue
                if uid not in gm:
                    diffs.append(f"{key} uid {uid}: missing")
                    continue
                x, y = dict(gm[uid]), dict(wm[uid])
                if key in a.ignore_flags or key in a.superset:
                    x.pop("flags", None)
                    y.pop("flags", None)
                if x != y:
                    diffs.append(f"{key} uid {uid}: {x} != {y}")
    for d in diffs:
        print(d)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
