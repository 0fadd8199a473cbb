#!/usr/bin/env python3
"""Rescue at store scale: the streaming `mailrescue rescue` (each user salvaged, reconciled,
verified and announced on its own) against the batch path on the same image
(`salvage`, then `reconcile` of every user, then `verify`), measured in one invocation.

Usage: rescue_bench.py --build BUILD_DIR [--work DIR] [--users N] [--messages M] [--keep]

The store comes from fixtures/hugefolder (`mr_hugefolder trees`: backup/ and current/,
current differing by 5%); current/ is imaged with fixtures/make_image.sh and plays the
damaged partition, backup/ the restored backup. Both paths write to --work (default
/dev/shm/mr-rescue-bench: tmpfs, so the numbers are our CPU and file creation, not the disk)
with --no-fsync. Printed per path: wall and CPU seconds (user+sys; the meaningful number
on a shared machine), peak RSS, milliseconds per user, and when the first user was back
(rescue: its first `user_done` event, whole seconds; batch: nobody is back before verify ends). The two
outputs must be identical (mailboxes.db bytes and spool tree); exit 1 if they differ.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")


def timed(cmd, **kw):
    """Runs cmd under /usr/bin/time; returns (rc, wall_s, cpu_s, rss_kib, start_epoch)."""
    fmt = "MRTIME %e %U %S %M"
    start = time.time()
    r = subprocess.run(["/usr/bin/time", "-f", fmt] + cmd, capture_output=True, text=True, **kw)
    line = [l for l in r.stderr.splitlines() if l.startswith("MRTIME")]
    if not line:
        raise SystemExit(f"no timing for {cmd}: {r.stderr.strip()[:400]}")
    _, wall, user, sys_, rss = line[-1].split()
    if r.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[:3])} exited {r.returncode}: {r.stderr.strip()[-400:]}")
    return r.returncode, float(wall), float(user) + float(sys_), int(rss), start


def tree_digest(root):
    """Names, sizes, bytes; mtimes of message files (cyrus.* are written at run time)."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            st = os.lstat(p)
            with open(p, "rb") as fh:
                data = fh.read()
            mtime = 0 if f.startswith("cyrus.") else int(st.st_mtime)
            out.append((os.path.relpath(p, root), st.st_size, mtime, hash(data)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="CMake build dir with cli/mailrescue and mr_hugefolder")
    ap.add_argument("--work", default="/dev/shm/mr-rescue-bench" if os.path.isdir("/dev/shm") else "/tmp/mr-rescue-bench")
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=20, help="per user")
    ap.add_argument("--keep", action="store_true", help="keep store and image for the next run")
    a = ap.parse_args()
    cli = os.path.join(a.build, "cli", "mailrescue")
    huge = os.path.join(a.build, "fixtures", "hugefolder", "mr_hugefolder")
    for p in (cli, huge):
        if not os.access(p, os.X_OK):
            raise SystemExit(f"rescue_bench: {p} not built")
    os.makedirs(a.work, exist_ok=True)
    store = os.path.join(a.work, f"store-{a.users}x{a.messages}")
    img = store + ".img"
    if not os.path.exists(os.path.join(store, "current", "spool")):
        subprocess.run([huge, "trees", "--out", store, "--users", str(a.users), "--messages", str(a.messages),
                        "--changed", "5", "--seed", "11"], check=True, stdout=subprocess.DEVNULL)
    if not os.path.exists(img):
        subprocess.run(["bash", os.path.join(ROOT, "fixtures", "make_image.sh"), os.path.join(store, "current"), img],
                       check=True, stdout=subprocess.DEVNULL)
    bspool = os.path.join(store, "backup", "spool")
    bdb = os.path.join(store, "backup", "conf", "mailboxes.db")

    res = {}
    # Streaming rescue.
    r_out = os.path.join(a.work, "rescue-out")
    shutil.rmtree(r_out, ignore_errors=True)
    events = os.path.join(r_out, "events.jsonl")
    os.makedirs(r_out)
    rc, wall, cpu, rss, start = timed([cli, "--quiet", "rescue", img, "--backup-spool", bspool, "--backup-db", bdb,
                                       "--out-spool", os.path.join(r_out, "spool"),
                                       "--out-db", os.path.join(r_out, "conf", "mailboxes.db"),
                                       "--workdir", os.path.join(r_out, "work"), "--events", events, "--no-fsync"])
    first = None
    with open(events) as f:
        for line in f:
            e = json.loads(line)
            if e.get("event") in ("user_done", "user_attention"):
                first = e["time"] - start
                break
    res["rescue"] = dict(wall=wall, cpu=cpu, rss=rss, first=max(first, 0.0) if first is not None else None)

    # Batch: salvage, reconcile, verify.
    b_out = os.path.join(a.work, "batch-out")
    shutil.rmtree(b_out, ignore_errors=True)
    os.makedirs(b_out)
    steps = [
        [cli, "--quiet", "salvage", img, "--out", os.path.join(b_out, "salvaged")],
        [cli, "--quiet", "reconcile", "--salvaged", os.path.join(b_out, "salvaged"), "--backup-spool", bspool,
         "--backup-db", bdb, "--out-spool", os.path.join(b_out, "spool"),
         "--out-db", os.path.join(b_out, "conf", "mailboxes.db"), "--no-fsync"],
        [cli, "--quiet", "verify", "--spool", os.path.join(b_out, "spool"), "--db", os.path.join(b_out, "conf", "mailboxes.db")],
    ]
    tot = dict(wall=0.0, cpu=0.0, rss=0)
    for cmd in steps:
        _, wall, cpu, rss, _ = timed(cmd)
        tot["wall"] += wall
        tot["cpu"] += cpu
        tot["rss"] = max(tot["rss"], rss)
    tot["first"] = tot["wall"]
    res["batch"] = tot

    same_db = open(os.path.join(r_out, "conf", "mailboxes.db"), "rb").read() == \
        open(os.path.join(b_out, "conf", "mailboxes.db"), "rb").read()
    same_spool = tree_digest(os.path.join(r_out, "spool")) == tree_digest(os.path.join(b_out, "spool"))

    load = open("/proc/loadavg").read().split()[:3]
    print(f"store: {a.users} users x {a.messages} messages, image {os.path.getsize(img) >> 20} MiB; "
          f"work {a.work}; load average {' '.join(load)} on {os.cpu_count()} cores")
    print(f"{'path':8} {'wall s':>8} {'cpu s':>8} {'RSS MiB':>8} {'ms/user':>8} {'first user back s':>18}")
    for k in ("rescue", "batch"):
        r = res[k]
        fb = "-" if r["first"] is None else f"{r['first']:.1f}"
        print(f"{k:8} {r['wall']:8.2f} {r['cpu']:8.2f} {r['rss'] / 1024:8.1f} {1000 * r['wall'] / a.users:8.1f} {fb:>18}")
    print(f"rescue / batch: {res['rescue']['wall'] / res['batch']['wall']:.2f}x wall, "
          f"{res['rescue']['cpu'] / res['batch']['cpu']:.2f}x cpu; identical output: db {same_db}, spool {same_spool}")
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump(dict(users=a.users, messages=a.messages, load=load, results=res, same_db=same_db,
                       same_spool=same_spool), f, indent=1)
    if not a.keep:
        shutil.rmtree(store, ignore_errors=True)
        os.unlink(img)
    if same_db and same_spool:
        shutil.rmtree(r_out, ignore_errors=True)
        shutil.rmtree(b_out, ignore_errors=True)
        return 0
    print(f"outputs differ: kept {r_out} and {b_out}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
