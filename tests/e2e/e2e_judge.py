#!/usr/bin/env python3
"""End-to-end judge: damaged image -> salvage -> reconcile -> verify -> real Cyrus.

Usage: e2e_judge.py --case NAME --build-dir B [--source-dir S] [--keep]
       e2e_judge.py --list

One case = one fixture set (B/fixture-data/<set>/, built by the ctest fixture
`cyrus_store`) plus at most one damage recipe (fixtures/damage/<case>.sh). The
run, in a private work directory under B/e2e-work/<case>/:

  1. copy <set>/current.img and damage the copy (the recipe prints what it hit);
  2. `mailrescue salvage` the copy                          (exit 0 or 1);
  3. `mailrescue reconcile` with <set>/backup as the backup  (exit 0 or 1);
  4. `mailrescue verify` on the output                       (must exit 0);
  5. `cyrus_env.py check`: real `reconstruct -n` finds nothing to fix;
  6. `cyrus_env.py truth`: real imapd serves every user; the folders and
     messages it serves are compared with truth-current.json (SPEC rules):
     - nothing lost: every current message is served, or reconcile reported it
       unrecoverable (by folder and uid), or its bytes are nowhere in the salvage
       output and reconcile reports its folder damaged (a note);
     - nothing resurrected: every served message is a current one, or a backup
       one in a folder the damage hit (no evidence of deletion there) or one
       reconcile reports as renumbered, or, in a folder whose metadata the
       damage destroyed, a salvaged file kept for lack of a record (a note);
     - no duplicates; INTERNALDATE and size kept; flags, uidvalidity and
       uniqueid kept where the folder's own metadata was not hit;
     - `exact` cases (damage that loses nothing): the served store equals
       truth-current.json exactly.
Exit 0 when the case passes; 1 with one line per violation otherwise (a case
that cannot run — missing fixture set, a tool failing — is a failure too); 2 on
bad usage.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

# name: (fixture set, damage recipe + args or None, extra salvage args, exact?)
CASES = {
    "pristine-uuid": ("small-uuid", None, [], True),
    "pristine-legacy": ("small-legacy", None, [], True),
    "zero-superblock": ("small-uuid", ["zero_superblock.sh"], [], True),
    "unlink-folder": ("small-uuid", ["unlink_folder.sh"], [], True),
    "index-garbage": ("small-uuid", ["index_garbage.sh"], [], False),
    "dir-block-garbage": ("damage-uuid", ["dir_block_garbage.sh"], [], True),
    "inode-table-zero": ("damage-uuid", ["inode_table_zero.sh"], [], False),
    "badmap": ("damage-uuid", ["badmap.sh", "{work}/image.map"],
               ["--badmap", "{work}/image.map"], False),
    "journal-unreplayed": ("small-uuid", ["journal_unreplayed.sh"], [], True),
    "legacy-index-garbage": ("small-legacy", ["index_garbage.sh"], [], False),
    "truncate": ("damage-uuid", ["truncate.sh"], [], False),
    "legacy-unlink-folder": ("small-legacy", ["unlink_folder.sh"], [], True),
    # The same judge over the one-command rescue (salvage+reconcile+verify per user).
    "rescue-zero-superblock": ("small-uuid", ["zero_superblock.sh"], [], True),
    "rescue-badmap": ("damage-uuid", ["badmap.sh", "{work}/image.map"],
                      ["--badmap", "{work}/image.map"], False),
    # Virtual domains (virtdomains: userid): users bob@example.com, fred.smith@example.org
    # and dave (no domain). Rescue cases on these sets also pass --users / --priority files
    # naming the users as they log in, and check every user is announced (events and
    # --on-user-done) under the name the report uses.
    "rescue-vdomain-uuid": ("vdomain-uuid", None, [], True),
    "rescue-vdomain-legacy": ("vdomain-legacy", None, [], True),
    "vdomain-legacy-unlink-folder": ("vdomain-legacy", ["unlink_folder.sh"], [], True),
    # The tree above or around the spool damaged: /var's one directory block (spool and
    # config dir both lost directories: layout, partition root and config dir found in the
    # lost trees), a small legacy folder's only directory block (its header, index, cache
    # and messages put back by what they say), the config directory's inode cleared (its
    # mailboxes.db, annotations.db, user/ and quota/ recognised and made DIR/conf).
    "var-dir-garbage": ("small-uuid", ["dir_garbage.sh", "/var"], [], True),
    "legacy-var-dir-garbage": ("small-legacy", ["dir_garbage.sh", "/var"], [], True),
    "legacy-folder-dir-garbage": ("small-legacy", ["dir_garbage.sh", "/var/spool/cyrus/mail/a/user/alice/Sent"],
                                  [], True),
    "conf-dir-kill": ("small-uuid", ["conf_dir_kill.sh"], [], True),
    "legacy-conf-dir-kill": ("small-legacy", ["conf_dir_kill.sh"], [], True),
    # Only the cyrus.header of a folder with mail new since the backup is garbage (index
    # and files intact): nothing is lost, in the batch path and in rescue, where the
    # folder must still be extracted and reconciled with its user (uuid: named by the
    # salvaged mailboxes.db; legacy INBOX: by its path).
    "header-garbage": ("small-uuid", ["header_garbage.sh", "user.alice.Sent"], [], True),
    "rescue-header-garbage": ("small-uuid", ["header_garbage.sh", "user.alice.Sent"], [], True),
    "rescue-legacy-header-garbage": ("small-legacy", ["header_garbage.sh", "user.alice"], [], True),
    # A user new since the backup whose folders are destroyed outright: only the salvaged
    # mailboxes.db still names it. It must be reported (status lost), not vanish.
    "user-destroyed": ("small-uuid", ["destroy_user.sh", "user.newbie"], [], False),
    "rescue-user-destroyed": ("small-uuid", ["destroy_user.sh", "user.newbie"], [], False),
}


class CaseError(Exception):
    """The case could not be run at all (exit 2)."""


def run(cmd, log, ok=(0,), capture=False):
    t = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n# exit {r.returncode} in {time.monotonic() - t:.1f}s\n")
        f.write(r.stdout[-20000:] + r.stderr[-20000:] + "\n")
    if r.returncode not in ok:
        tail = (r.stdout + r.stderr).strip().splitlines()[-15:]
        raise AssertionError(f"{os.path.basename(cmd[0])} {cmd[1] if len(cmd) > 1 else ''} "
                             f"exited {r.returncode} (wanted {ok}):\n  " + "\n  ".join(tail))
    return r


def strings_in(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from strings_in(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings_in(v)


def internal_name(user, folder):
    """Truth user + folder -> Cyrus internal name (virtual domains: "bob@example.com",
    "INBOX.Sent" -> "example.com!user.bob.Sent")."""
    local, _, domain = user.partition("@")
    return (domain + "!" if domain else "") + "user." + local + folder[len("INBOX"):]


def legacy_tail(user, folder):
    """The end of a folder's legacy-layout path ("/user/bob/Sent"; a domain's folders live
    under domain/<h>/<domain>/<h>/user/...)."""
    local, _, domain = user.partition("@")
    tail = "/user/" + local + folder[len("INBOX"):].replace(".", "/")
    return tail if not domain else "/" + domain + "/" + local[:1].lower() + tail


def damaged_folders(damage, current):
    """(user, folder) pairs the damage recipe names (by uniqueid, mailbox or path)."""
    texts = list(strings_in(damage)) if damage else []
    hit = set()
    for user, folders in current["users"].items():
        for folder, f in folders.items():
            uid = f.get("uniqueid") or ""
            internal = internal_name(user, folder)
            tail = legacy_tail(user, folder)
            for t in texts:
                if (uid and uid in t) or t == internal or t.rstrip("/").endswith(tail):
                    hit.add((user, folder))
    return hit


def reported(reconcile_report):
    """Per (user, folder): unrecoverable uids, renumbered (new) uids, problems."""
    lost, renum, problems = {}, {}, {}
    for u in reconcile_report.get("users", []):
        for f in u.get("folders", []):
            key = (u["user"], f.get("name"))
            problems[key] = list(f.get("problems", []))
            lost[key] = {int(x["uid"]) for x in f.get("unrecoverable", []) if "uid" in x}
            renum[key] = set()
            for x in f.get("renumbered", []):
                for k in ("new_uid", "uid", "to"):
                    if isinstance(x, dict) and k in x:
                        renum[key].add(int(x[k]))
    return lost, renum, problems


def lost_found_index(salvaged):
    """sha1 -> path of every file salvage put in lost+found (for diagnostics)."""
    out = {}
    root = os.path.join(salvaged, "lost+found")
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            try:
                with open(p, "rb") as f:
                    out.setdefault(hashlib.sha1(f.read()).hexdigest(), os.path.relpath(p, salvaged))
            except OSError:
                pass
    return out


def message_files(spool):
    """sha1 of every message file (`<uid>.`) under a spool (for diagnostics)."""
    out = set()
    for dirpath, _, files in os.walk(spool):
        for name in files:
            if name.endswith(".") and name[:-1].isdigit():
                try:
                    with open(os.path.join(dirpath, name), "rb") as f:
                        out.add(hashlib.sha1(f.read()).hexdigest())
                except OSError:
                    pass
    return out


def judge(case_exact, current, backup, served, damage, rec, in_lost_found=None,
          backup_files=None, salvaged_files=None, notes=None):
    in_lost_found = in_lost_found or {}
    backup_files = backup_files or set()
    salvaged_files = salvaged_files or set()
    notes = notes if notes is not None else []
    v = []
    hit = damaged_folders(damage, current)
    hit_users = {u for u, _ in hit}
    lost, renum, folder_problems = reported(rec)
    cu, su, bu = current["users"], served["users"], backup["users"]
    status = {u.get("user"): u.get("status") for u in rec.get("users", [])}
    for user in sorted(cu):
        # Every current message of the user gone: the report must say "lost" (the
        # user may not be silently absent, nor "attention" as if it were a detail).
        shas = {m["sha1"] for f in cu[user].values() for m in f["messages"].values()}
        served_shas = {m["sha1"] for f in su.get(user, {}).values() for m in f["messages"].values()}
        if shas and not shas & served_shas and status.get(user) != "lost":
            v.append(f"{user}: none of its {len(shas)} messages served, report status "
                     f"{status.get(user, 'absent')} (want lost)")
    for user in sorted(set(cu) | set(su)):
        if user not in su:
            v.append(f"{user}: user not served")
            continue
        if user not in cu:
            if user not in bu:
                v.append(f"{user}: served but exists in neither current nor backup")
            continue
        for folder in sorted(set(cu[user]) | set(su[user])):
            where = f"{user}/{folder}"
            c = cu[user].get(folder)
            s = su[user].get(folder)
            b = bu.get(user, {}).get(folder)
            if s is None:
                v.append(f"{where}: folder not served")
                continue
            if c is None:
                if not (b and user in hit_users):
                    v.append(f"{where}: folder served but deleted since the backup")
                continue
            meta_hit = (user, folder) in hit
            if not meta_hit or case_exact:
                for k in ("uidvalidity", "uniqueid"):
                    if c.get(k) != s.get(k):
                        v.append(f"{where}: {k} {s.get(k)} (current {c.get(k)})")
            cm, sm, bm = c["messages"], s["messages"], (b or {}).get("messages", {})
            c_by_sha = {}
            for uid, m in cm.items():
                c_by_sha.setdefault(m["sha1"], []).append(uid)
            s_by_sha = {}
            for uid, m in sm.items():
                s_by_sha.setdefault(m["sha1"], []).append(uid)
            b_shas = {m["sha1"] for m in bm.values()}
            gone = lost.get((user, folder), set())
            for uid, m in cm.items():
                if m["sha1"] not in s_by_sha and int(uid) not in gone:
                    lf = in_lost_found.get(m["sha1"])
                    if not lf and folder_problems.get((user, folder)):
                        # Its bytes are nowhere in the salvage and the folder is
                        # reported damaged: a loss no tool could name by uid.
                        notes.append(f"{where}: uid {uid} ({m['sha1'][:12]}) lost with the "
                                     "folder's damaged side (folder reported: " +
                                     folder_problems[(user, folder)][0] + ")")
                        continue
                    v.append(f"{where}: uid {uid} ({m['sha1'][:12]}) lost and not reported "
                             "unrecoverable" +
                             (f" (salvage has it as {lf}, not placed back)" if lf else ""))
            for uid, m in sm.items():
                sha = m["sha1"]
                if sha in c_by_sha:
                    continue
                if sha in b_shas and (meta_hit or int(uid) in renum.get((user, folder), set())):
                    continue
                if meta_hit and sha in salvaged_files:
                    # The folder's own record of it was destroyed: a message file
                    # salvaged without a readable record is kept (SPEC: nothing is
                    # dropped without positive evidence from the newer side).
                    notes.append(f"{where}: uid {uid} ({sha[:12]}) kept without a record "
                                 "(salvaged file, folder metadata damaged)")
                    continue
                if sha in b_shas:
                    why = "expunged since the backup"
                elif sha in backup_files:
                    why = ("in neither snapshot (expunged before the backup: only the "
                           "backup's files still hold it)")
                else:
                    why = "in neither snapshot"
                v.append(f"{where}: uid {uid} ({sha[:12]}) served but {why}")
            for sha, uids in s_by_sha.items():
                if len(uids) > max(len(c_by_sha.get(sha, [])), 1):
                    v.append(f"{where}: {sha[:12]} served {len(uids)} times (uids {uids})")
            for uid, m in cm.items():
                t = sm.get(uid)
                if t is None or t["sha1"] != m["sha1"]:
                    if case_exact:
                        v.append(f"{where}: uid {uid} not served under its uid")
                    continue
                for k in ("internaldate", "size"):
                    if t.get(k) != m.get(k):
                        v.append(f"{where}: uid {uid} {k} {t.get(k)} (current {m.get(k)})")
                if (not meta_hit or case_exact) and sorted(t["flags"]) != sorted(m["flags"]):
                    v.append(f"{where}: uid {uid} flags {t['flags']} (current {m['flags']})")
            if case_exact and len(sm) != len(cm):
                v.append(f"{where}: {len(sm)} messages served, current has {len(cm)}")
    # Subscriptions (stores whose users subscribe): each current user's list is served.
    csub, ssub = current.get("subscriptions", {}), served.get("subscriptions", {})
    for user in sorted(csub):
        if user in su and ssub.get(user, []) != csub[user]:
            v.append(f"{user}: subscriptions {ssub.get(user, [])} (current {csub[user]})")
    return v


def login_names(truths):
    """Every user of the truths as the user logs in ("fred^smith@example.org" ->
    "fred.smith@example.org"): how an operator writes --users and --priority files."""
    out = set()
    for t in truths:
        for user in t["users"]:
            local, at, domain = user.partition("@")
            out.add(local.replace("^", ".") + at + domain)
    return sorted(out)


def announced(events_path, hook_path, users):
    """Violations: a user of `users` (report names) not announced done by the event log
    and the --on-user-done hook, or announced under another name."""
    v = []
    done = set()
    with open(events_path) as f:
        for line in f:
            e = json.loads(line)
            if e.get("event") in ("user_done", "user_attention"):
                done.add(e.get("user"))
    hooked = set()
    if os.path.exists(hook_path):
        with open(hook_path) as f:
            hooked = {line.rstrip("\n") for line in f if line.strip()}
    for u in sorted(users):
        if u not in done:
            v.append(f"{u}: not announced (user_done/user_attention name {sorted(done)})")
        if u not in hooked:
            v.append(f"{u}: --on-user-done never ran for it (ran for {sorted(hooked)})")
    for u in sorted((done | hooked) - set(users)):
        v.append(f"announced user {u!r} is no user of the store")
    return v


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case")
    ap.add_argument("--build-dir")
    ap.add_argument("--source-dir", default=os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))
    ap.add_argument("--cli", help="mailrescue binary (default BUILD/cli/mailrescue)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args(argv)
    if a.list:
        print("\n".join(CASES))
        return 0
    if a.case not in CASES or not a.build_dir:
        print(f"e2e: need --case ({', '.join(CASES)}) and --build-dir", file=sys.stderr)
        return 2
    set_name, damage_cmd, salvage_extra, exact = CASES[a.case]
    build = os.path.abspath(a.build_dir)
    src = os.path.abspath(a.source_dir)
    cli = a.cli or os.path.join(build, "cli", "mailrescue")
    fx = os.path.join(build, "fixture-data", set_name)
    if not os.path.exists(os.path.join(fx, "stamp")):
        print(f"e2e {a.case}: FAIL: fixture set {fx} is not built (ctest fixture cyrus_store)")
        return 1
    work = os.path.join(build, "e2e-work", a.case)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.chmod(work, 0o755)
    log = os.path.join(work, "log.txt")
    t0 = time.monotonic()
    try:
        img = os.path.join(work, "image.img")
        subprocess.run(["cp", "--sparse=always", os.path.join(fx, "current.img"), img], check=True)
        damage = None
        if damage_cmd:
            cmd = [os.path.join(src, "fixtures", "damage", damage_cmd[0]), img] + \
                  [x.format(work=work) for x in damage_cmd[1:]]
            r = run(cmd, log)
            damage = json.loads(r.stdout)
            with open(os.path.join(work, "damage.json"), "w") as f:
                json.dump(damage, f, indent=1)
        salv = os.path.join(work, "salvaged")
        out_spool = os.path.join(work, "out", "spool")
        out_conf = os.path.join(work, "out", "conf")
        rec_report = os.path.join(work, "reconcile-report.json")
        backup_args = ["--backup-spool", os.path.join(fx, "backup", "spool"),
                       "--backup-db", os.path.join(fx, "backup", "conf", "mailboxes.db"),
                       "--out-spool", out_spool,
                       "--out-db", os.path.join(out_conf, "mailboxes.db"),
                       "--report", rec_report, "--no-fsync"]
        extra = [x.format(work=work) for x in salvage_extra]
        with open(os.path.join(fx, "truth-current.json")) as f:
            current = json.load(f)
        with open(os.path.join(fx, "truth-backup.json")) as f:
            backup = json.load(f)
        vdomain = set_name.startswith("vdomain-")
        announce = []
        if a.case.startswith("rescue-") and vdomain:
            logins = login_names([current, backup])
            with open(os.path.join(work, "users.txt"), "w") as f:
                f.write("# every user, as they log in\n" + "\n".join(logins) + "\n")
            with open(os.path.join(work, "priority.txt"), "w") as f:
                f.write("\n".join(u for u in logins if "@" in u) + "\n")
            events = os.path.join(work, "events.jsonl")
            hooked = os.path.join(work, "hooked.txt")
            extra += ["--users", os.path.join(work, "users.txt"),
                      "--priority", os.path.join(work, "priority.txt"),
                      "--events", events,
                      "--on-user-done", f'echo "$MAILRESCUE_USER" >> {hooked}']
            announce = [events, hooked]
        if a.case.startswith("rescue-"):
            salv = os.path.join(work, "rescue-work")
            run([cli, "-q", "rescue", img, "--workdir", salv] + backup_args + extra, log,
                ok=(0, 1))
        else:
            run([cli, "-q", "salvage", img, "--out", salv, "--report",
                 os.path.join(work, "salvage-report.json")] + extra, log, ok=(0, 1))
            run([cli, "-q", "reconcile", "--salvaged", salv] + backup_args, log, ok=(0, 1))
        run([cli, "-q", "verify", "--spool", out_spool, "--db",
             os.path.join(out_conf, "mailboxes.db"), "--report",
             os.path.join(work, "verify-report.json")], log)
        legacy = ["--legacy"] if "legacy" in set_name else []
        legacy += ["--virtdomains"] if vdomain else []
        env = [sys.executable, os.path.join(src, "fixtures", "cyrus_env.py")]
        run(env + ["check", "--spool", out_spool, "--conf", out_conf] + legacy, log)
        served_path = os.path.join(work, "truth-served.json")
        run(env + ["truth", "--spool", out_spool, "--conf", out_conf, "--out", served_path] +
            legacy, log)
        with open(served_path) as f:
            served = json.load(f)
        with open(rec_report) as f:
            rec = json.load(f)
        notes = []
        # rescue keeps its salvage output under WORKDIR/salvage
        salv_out = os.path.join(salv, "salvage") if a.case.startswith("rescue-") else salv
        violations = judge(exact, current, backup, served, damage, rec,
                           lost_found_index(salv_out),
                           message_files(os.path.join(fx, "backup", "spool")),
                           message_files(salv), notes)
        if announce:
            violations += announced(*announce, set(current["users"]) | set(backup["users"]))
    except AssertionError as e:
        violations, notes = [str(e)], []
    except (OSError, ValueError, subprocess.CalledProcessError) as e:
        violations, notes = [f"cannot run: {e}"], []
    dt = time.monotonic() - t0
    if violations:
        print(f"e2e {a.case}: FAIL in {dt:.1f}s ({len(violations)} violations; log {log})")
        for line in violations[:200]:
            print(f"  {line}")
        return 1
    print(f"e2e {a.case}: ok in {dt:.1f}s")
    for line in notes:
        print(f"  note: {line}")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
