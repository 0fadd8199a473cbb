#!/usr/bin/env python3
"""Reconcile benchmarks (issue 5): a 180,000-message folder, --jobs 1 vs 2 over many users,
and the peer baseline `rsync -a` + `reconstruct -r` on the same many-user store.

Usage: reconcile_bench.py --build BUILD_DIR [--work DIR] [--users N] [--messages M] [--keep]

Stores come from fixtures/hugefolder (`mr_hugefolder trees`): backup/ and current/, current
differing by 5% (flag changes, expunges, new mail); current plays the salvaged DIR. Work
files go to --work (default /dev/shm/mr-reconcile-bench: tmpfs, so the numbers measure our
CPU and file creation, not the disk). Every run is timed with /usr/bin/time: wall seconds,
user+sys CPU seconds (meaningful when the machine is shared: wall time is not), peak RSS.
Targets: the 180k folder in < 10 s wall and < 256 MiB RSS. Prints a table and writes
WORK/results.json. Exit 0 when every target holds, 1 otherwise.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))


def timed(cmd, **kw):
    """Runs cmd under /usr/bin/time; returns (rc, wall_s, cpu_s, rss_kib)."""
    fmt = "MRTIME %e %U %S %M"
    r = subprocess.run(["/usr/bin/time", "-f", fmt] + cmd, capture_output=True, text=True, **kw)
    line = [l for l in r.stderr.splitlines() if l.startswith("MRTIME")]
    if not line:
        raise SystemExit(f"no timing for {cmd[0]}: {r.stderr.strip()[:300]}")
    _, wall, user, sys_, rss = line[-1].split()
    return r.returncode, float(wall), float(user) + float(sys_), int(rss)


def trees(hugefolder, out, users, messages, seed):
    if os.path.exists(os.path.join(out, "current", "spool")):
        return
    subprocess.run([hugefolder, "trees", "--out", out, "--users", str(users), "--messages", str(messages),
                    "--changed", "5", "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)


def reconcile(cli, store, out, jobs, extra=()):
    shutil.rmtree(out, ignore_errors=True)
    cmd = [cli, "--quiet", "reconcile", "--salvaged", os.path.join(store, "current"),
           "--backup-spool", os.path.join(store, "backup", "spool"),
           "--backup-db", os.path.join(store, "backup", "conf", "mailboxes.db"),
           "--out-spool", os.path.join(out, "spool"), "--out-db", os.path.join(out, "conf", "mailboxes.db"),
           "--jobs", str(jobs), "--report", os.path.join(out + ".report.json"), *extra]
    rc, wall, cpu, rss = timed(cmd)
    if rc not in (0, 1):
        raise SystemExit(f"reconcile failed (exit {rc}) on {store}")
    return {"wall_s": wall, "cpu_s": cpu, "rss_mib": round(rss / 1024, 1), "exit": rc}


def baseline(store, out, users):
    """The peer way: copy the salvaged spool, then let Cyrus rebuild every user's folders."""
    import cyrus_env
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    t0 = time.time()
    rc, wall_rsync, cpu_rsync, _ = timed(["rsync", "-a", os.path.join(store, "current", "spool") + "/",
                                          os.path.join(out, "spool") + "/"])
    if rc != 0:
        raise SystemExit(f"rsync failed (exit {rc})")
    shutil.copytree(os.path.join(store, "current", "conf"), os.path.join(out, "conf"))
    env = cyrus_env.CyrusEnv(os.path.join(out, "root"), spool=os.path.join(out, "spool"),
                             conf=os.path.join(out, "conf"))
    env.setup()
    names = [f"user/{u}" for u in env.users()][:users]
    rc2, wall_rec, cpu_rec, _ = timed([os.path.join(cyrus_env.CYRUS_BIN, "reconstruct"), "-C", env.imapd_conf,
                                       "-r", *names])
    if rc2 != 0:
        raise SystemExit(f"reconstruct failed (exit {rc2})")
    return {"wall_s": round(wall_rsync + wall_rec, 2), "users": len(names), "cpu_s": round(cpu_rsync + cpu_rec, 2),
            "rsync_wall_s": wall_rsync, "reconstruct_wall_s": wall_rec, "total_wall_s": round(time.time() - t0, 2),
            "exit": rc2}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="CMake build dir with cli/mailrescue and mr_hugefolder")
    ap.add_argument("--work", default="/dev/shm/mr-reconcile-bench")
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--messages", type=int, default=300, help="per user in the many-user store")
    ap.add_argument("--keep", action="store_true", help="keep the stores for the next run")
    a = ap.parse_args()
    cli = os.path.join(a.build, "cli", "mailrescue")
    huge = os.path.join(a.build, "fixtures", "hugefolder", "mr_hugefolder")
    os.makedirs(a.work, exist_ok=True)
    res = {"load_before": os.getloadavg()[0], "cores": os.cpu_count()}
    # 1. One user whose INBOX holds 180,000 messages (INBOX gets 60% of the user's mail).
    big = os.path.join(a.work, "big")
    trees(huge, big, 1, 300000, 3)
    res["big_folder"] = reconcile(cli, big, os.path.join(a.work, "out-big"), 2)
    res["big_folder_rerun"] = reconcile(cli, big, os.path.join(a.work, "out-big"), 2)
    # 2. Many users: --jobs 1 vs 2.
    many = os.path.join(a.work, "many")
    trees(huge, many, a.users, a.messages, 5)
    res["many_jobs1"] = reconcile(cli, many, os.path.join(a.work, "out-many1"), 1)
    res["many_jobs2"] = reconcile(cli, many, os.path.join(a.work, "out-many2"), 2)
    res["speedup_jobs2"] = round(res["many_jobs1"]["wall_s"] / max(res["many_jobs2"]["wall_s"], 1e-3), 2)
    same = subprocess.run(["cmp", os.path.join(a.work, "out-many1", "conf", "mailboxes.db"),
                           os.path.join(a.work, "out-many2", "conf", "mailboxes.db")]).returncode == 0
    res["jobs_identical_db"] = same
    # 3. Peer baseline on the many-user store.
    res["baseline_rsync_reconstruct"] = baseline(many, os.path.join(a.work, "out-base"), a.users)
    res["load_after"] = os.getloadavg()[0]
    ok = res["big_folder"]["wall_s"] < 10 and res["big_folder"]["rss_mib"] < 256 and same
    res["targets_met"] = ok
    print(f"{'run':34} {'wall s':>8} {'cpu s':>8} {'rss MiB':>8}")
    for k in ("big_folder", "big_folder_rerun", "many_jobs1", "many_jobs2", "baseline_rsync_reconstruct"):
        r = res[k]
        print(f"{k:34} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {r.get('rss_mib', float('nan')):8}")
    print(f"speedup --jobs 2 vs 1: {res['speedup_jobs2']}x; identical output db: {same}; "
          f"load average {res['load_before']:.1f} -> {res['load_after']:.1f} on {res['cores']} cores")
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    if not a.keep:
        for d in ("out-big", "out-many1", "out-many2", "out-base"):
            shutil.rmtree(os.path.join(a.work, d), ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
