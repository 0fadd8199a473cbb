#!/usr/bin/env python3
"""Builds the salvage benchmark image: a Cyrus-like uuid-layout spool of many
small message files (default 200,000 in 200 folders of 1,000, 50 users) under
/var/spool/cyrus/mail plus a config dir, with `mke2fs -d` (folders stay at
<= 5,000 entries: mke2fs 1.47.0 is quadratic in one huge directory).

usage: make_salvage_image.py OUT_IMG [--files N] [--per-folder K] [--users U] [--stage DIR]
"""
import argparse
import os
import random
import shutil
import string
import subprocess
import sys

MAGIC = (b"\241\002\213\015Cyrus mailbox header\n\"The best thing about this system was that it had "
         b"lots of goals.\"\n\t--Jim Morris on Andrew\n")


def uid36(rng):
    return "".join(rng.choice(string.digits + string.ascii_lowercase) for _ in range(24))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("img")
    ap.add_argument("--files", type=int, default=200000)
    ap.add_argument("--per-folder", type=int, default=1000)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--stage", default=None)
    a = ap.parse_args()
    rng = random.Random(42)
    stage = a.stage or a.img + ".stage"
    shutil.rmtree(stage, ignore_errors=True)
    spool = os.path.join(stage, "var/spool/cyrus/mail")
    conf = os.path.join(stage, "var/lib/cyrus")
    os.makedirs(conf)
    with open(os.path.join(conf, "mailboxes.db"), "wb") as f:
        f.write(b"bench\n")
    folders = (a.files + a.per_folder - 1) // a.per_folder
    body = ("".join(rng.choice(string.ascii_letters + " \r\n") for _ in range(6000))).encode()
    total = 0
    for k in range(folders):
        uid = uid36(rng)
        user = "u%03d" % (k % a.users)
        name = "user.%s" % user if k < a.users else "user.%s.f%d" % (user, k)
        d = os.path.join(spool, "uuid", uid[0], uid[1], uid)
        os.makedirs(d)
        with open(os.path.join(d, "cyrus.header"), "wb") as f:
            f.write(MAGIC + ("%%(T e N %s I %s A %%(%s lrswipkxtecdan))\n" % (name, uid, user)).encode())
        for n in range(1, min(a.per_folder, a.files - total) + 1):
            size = 500 + rng.randrange(5000)
            with open(os.path.join(d, "%d." % n), "wb") as f:
                f.write(b"Message-Id: <%d.%d@bench>\r\n\r\n" % (k, n) + body[:size])
            os.utime(os.path.join(d, "%d." % n), (1700000000 + n, 1700000000 + n))
        total += min(a.per_folder, a.files - total)
    blocks = total * 2 + 65536
    size_mb = blocks * 4 // 1024 + 256
    subprocess.run(["/usr/sbin/mke2fs", "-F", "-q", "-t", "ext4", "-b", "4096", "-N", str(total + folders * 4 + 4096),
                    "-d", stage, a.img, "%dM" % size_mb], check=True)
    if not a.stage:
        shutil.rmtree(stage)
    print("%s: %d files in %d folders, %d MiB" % (a.img, total, folders, size_mb))


if __name__ == "__main__":
    sys.exit(main())
