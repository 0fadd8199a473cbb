#!/usr/bin/env python3
"""Test helper: folder-level metadata and quota roots of a real-Cyrus store, through imapd.

folder_meta.py set  --spool S --conf C [--legacy] [--tag T] [--storage KIB] LOGIN...
    For each login: CREATE "INBOX/Archived" (USE (\\Archive)) (as autocreate and modern
    clients do: a /private/specialuse value in the global annotations.db) unless it exists,
    SETMETADATA INBOX /private/comment and INBOX/Archived /shared/comment (text carries T),
    and as the admin SETQUOTA (STORAGE KIB+i MESSAGE 9000+i) on the i-th user's root.
folder_meta.py dump --spool S --conf C [--legacy] --out FILE LOGIN...
    Writes {login: {"meta": {folder: [...]}, "quota": [...]}}: GETMETADATA of those entries
    on every folder and GETQUOTAROOT INBOX (roots and usage/limits), as imapd serves them.
Both run on the store in place (the caller passes a copy). Exit 0 when Cyrus accepted all.
"""
import argparse
import imaplib
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures"))
import cyrus_env  # noqa: E402

for _cmd in ("SETMETADATA", "GETMETADATA"):
    imaplib.Commands.setdefault(_cmd, ("AUTH", "SELECTED"))

ENTRIES = "(/private/specialuse /private/comment /shared/comment)"


def ok(typ, data, what):
    if typ != "OK":
        raise SystemExit(f"{what} failed: {data}")


def do_set(env, logins, tag, storage):
    for login in logins:
        m = env.login(login)
        typ, data = m.list('""', '"INBOX/Archived"')
        if not [d for d in data if d]:
            ok(*m._simple_command("CREATE", '"INBOX/Archived"', "(USE (\\Archive))"), f"{login}: CREATE")
        ok(*m._simple_command("SETMETADATA", "INBOX", f'(/private/comment "inbox {tag} {login}")'),
           f"{login}: SETMETADATA INBOX")
        ok(*m._simple_command("SETMETADATA", '"INBOX/Archived"', f'(/shared/comment "archive {tag}")'),
           f"{login}: SETMETADATA INBOX/Archived")
        m.logout()
    adm = env.login("cyrus")
    for i, login in enumerate(logins):
        ok(*adm.setquota(cyrus_env.imap_quote(cyrus_env.admin_mailbox(login)),
                         f"(STORAGE {storage + i} MESSAGE {9000 + i})"), f"{login}: SETQUOTA")
    adm.logout()


def do_dump(env, logins):
    out = {}
    for login in logins:
        m = env.login(login)
        meta = {}
        for folder, _ in cyrus_env.list_folders(m):
            typ, data = m._simple_command("GETMETADATA", cyrus_env.imap_quote(folder), ENTRIES)
            ok(typ, data, f"{login}: GETMETADATA {folder}")
            typ, data = m._untagged_response(typ, data, "METADATA")
            meta[folder] = [d.decode("utf-8", "replace") if isinstance(d, bytes)
                            else [x.decode("utf-8", "replace") for x in d] for d in data if d]
        typ, data = m.getquotaroot("INBOX")
        out[login] = {"meta": meta, "quota": [str(x) for x in data]}
        m.logout()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["set", "dump"])
    ap.add_argument("--spool", required=True)
    ap.add_argument("--conf", required=True)
    ap.add_argument("--legacy", action="store_true")
    ap.add_argument("--tag", default="now")
    ap.add_argument("--storage", type=int, default=500000)
    ap.add_argument("--out")
    ap.add_argument("logins", nargs="+")
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="mr-foldermeta-")
    env = cyrus_env.CyrusEnv(root, spool=os.path.abspath(a.spool), conf=os.path.abspath(a.conf), legacy=a.legacy)
    env.setup()
    env.start()
    try:
        if a.mode == "set":
            do_set(env, a.logins, a.tag, a.storage)
        else:
            with open(a.out, "w") as f:
                json.dump(do_dump(env, a.logins), f, indent=1, sort_keys=True)
    finally:
        env.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
