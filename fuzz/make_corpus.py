#!/usr/bin/env python3
"""Builds the fuzz seed corpus from the fixture stores (nothing binary is committed).

usage: make_corpus.py --fixture-data DIR --out CORPUS

Writes CORPUS/<target>/<seed> for every target in fuzz/targets.h and the base
image of the image target, CORPUS/base.img (+ base.img.regions: the byte ranges
of its metadata: superblock, group descriptors, bitmaps, used inode-table
blocks, directory blocks). Deterministic for a given fixture set.
"""
import argparse
import hashlib
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile

TARGETS = ["dirblock", "badmap", "index", "header", "dlist", "twoskip", "mboxdb", "image"]


def put(out, target, data, name=None):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw).stdout.decode(
        "utf-8", "replace")


def fs_geometry(img):
    h = run(["dumpe2fs", "-h", img])
    bs = int(re.search(r"^Block size:\s+(\d+)", h, re.M).group(1))
    inodes = int(re.search(r"^Inode count:\s+(\d+)", h, re.M).group(1))
    return bs, inodes


def dir_blocks(img, dirs):
    """{path: [block numbers]} for directories inside img, in one debugfs session."""
    with tempfile.NamedTemporaryFile("w", suffix=".cmd", delete=False) as f:
        for d in dirs:
            f.write("blocks %s\n" % d)
        cmdfile = f.name
    try:
        out = run(["debugfs", "-f", cmdfile, img])
    finally:
        os.unlink(cmdfile)
    res, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"debugfs: blocks (.*)$", line)
        if m:
            cur = m.group(1)
            res[cur] = []
        elif cur is not None:
            res[cur] += [int(x) for x in line.split() if x.isdigit()]
    return res


def snapshot_dirs(root, prefix):
    out = []
    for dp, dns, _ in os.walk(root):
        rel = os.path.relpath(dp, root)
        out.append(prefix if rel == "." else prefix + "/" + rel)
    return sorted(out)


def seed_dirblocks(out, fx):
    n = 0
    for s in ("small-uuid", "damage-uuid", "small-legacy"):
        img = os.path.join(fx, s, "current.img")
        if not os.path.exists(img):
            continue
        bs, inodes = fs_geometry(img)
        dirs = snapshot_dirs(os.path.join(fx, s, "current", "spool"), "/var/spool/cyrus/mail")[:40]
        with open(img, "rb") as f:
            for d, blocks in dir_blocks(img, dirs).items():
                for b in blocks[:4]:
                    f.seek(b * bs)
                    blk = f.read(bs)
                    opt = {1024: 0, 2048: 1, 4096: 2, 65536: 3}[bs]
                    put(out, "dirblock", bytes([opt]) + struct.pack("<I", inodes) + blk)
                    n += 1
    return n


def seed_badmaps(out):
    maps = [
        "# Mapfile. Created by GNU ddrescue version 1.27\n# current_pos  current_status  current_pass\n"
        "0x00000000     +               1\n#      pos        size  status\n"
        "0x00000000  0x00100000  +\n0x00100000  0x00001000  -\n0x00101000  0x0FEFF000  +\n",
        "0 + 1\n0 4096 *\n4096 8192 /\n12288 512 ?\n12800 1000000 +\n",
        "0x10 ?\n0x0 0x10 -\n",
        "0 +\n",
        "0 + 1\n0x0 0xFFFFFFFFFFFFFFFF -\n",
        "garbage\n",
    ]
    for m in maps:
        put(out, "badmap", m.encode())
    return len(maps)


def spool_files(fx, name):
    for s in ("small-uuid", "small-legacy", "damage-uuid"):
        root = os.path.join(fx, s, "current", "spool")
        for dp, _, fns in sorted(os.walk(root)):
            if name in fns:
                yield os.path.join(dp, name)


def seed_formats(out, fx):
    counts = {}
    for i, p in enumerate(spool_files(fx, "cyrus.index")):
        if i < 60 and os.path.getsize(p) <= 256 * 1024:
            put(out, "index", open(p, "rb").read())
            counts["index"] = counts.get("index", 0) + 1
    for i, p in enumerate(spool_files(fx, "cyrus.header")):
        if i < 60:
            data = open(p, "rb").read()
            put(out, "header", data)
            body = data.split(b"\n", 1)[1] if b"\n" in data else data
            put(out, "dlist", body)
            counts["header"] = counts.get("header", 0) + 1
            counts["dlist"] = counts.get("dlist", 0) + 1
    for d in [b"%(A %(bob lrswipkxtecdan) H ({5+}\r\nab\x00de NIL \"q\\\"x\"))",
              b"(a (b (c)) %(k v) NIL {0}\r\n)", b"%(T e I 5f3c P default V 17 M 1700000000)"]:
        put(out, "dlist", d)
        counts["dlist"] += 1
    dbs = []
    for s in ("small-uuid", "small-legacy", "damage-uuid"):
        for snap in ("current", "backup"):
            for f in ("mailboxes.db", "annotations.db"):
                p = os.path.join(fx, s, snap, "conf", f)
                if os.path.exists(p):
                    dbs.append(p)
    dbs += list(spool_files(fx, "cyrus.annotations"))[:10]
    for p in dbs:
        data = open(p, "rb").read()
        if len(data) <= 1024 * 1024:
            put(out, "twoskip", data)
            counts["twoskip"] = counts.get("twoskip", 0) + 1
            if os.path.basename(p) == "mailboxes.db":
                put(out, "mboxdb", data)
                counts["mboxdb"] = counts.get("mboxdb", 0) + 1
    flat = (b"user\x1fbob\t%(T e I abc P default V 1 M 2 A %(bob lrs))\n"
            b"Iabc\t%(T e N user\x1fbob P default V 1 M 2 A %(bob lrs))\n")
    put(out, "mboxdb", flat)
    counts["mboxdb"] += 1
    return counts


def build_base_image(out, fx):
    """A small ext4 image (1 KiB blocks) holding users dave and newbie of small-uuid."""
    snap = os.path.join(fx, "small-uuid", "current")
    stage = tempfile.mkdtemp(prefix="mr-corpus-")
    try:
        spool = os.path.join(stage, "var/spool/cyrus/mail")
        conf = os.path.join(stage, "var/lib/cyrus")
        os.makedirs(conf)
        os.makedirs(spool)
        src = os.path.join(snap, "spool")
        for dp, dns, fns in os.walk(src):
            if "cyrus.header" not in fns:
                continue
            head = open(os.path.join(dp, "cyrus.header"), "rb").read(400)
            if b"user.dave" not in head and b"user.newbie" not in head:
                continue
            dst = os.path.join(spool, os.path.relpath(dp, src))
            shutil.copytree(dp, dst, dirs_exist_ok=True)
        shutil.copy2(os.path.join(snap, "conf", "mailboxes.db"), conf)
        img = os.path.join(out, "base.img")
        if os.path.exists(img):
            os.unlink(img)
        run(["mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", "-N", "512", "-E",
             "root_owner=0:0", "-d", stage, img, "6M"])
        dirs = snapshot_dirs(stage, "")
        dirs = ["/"] + [d for d in dirs if d]
    finally:
        shutil.rmtree(stage)
    bs, _ = fs_geometry(img)
    dump = run(["dumpe2fs", img])
    ipg = int(re.search(r"^Inodes per group:\s+(\d+)", dump, re.M).group(1))
    isz = int(re.search(r"^Inode size:\s+(\d+)", dump, re.M).group(1))
    regions = [(1024, 1024)]  # primary superblock
    for g in re.split(r"\nGroup \d+:", dump)[1:]:
        for key in ("Group descriptors at", "Block bitmap at", "Inode bitmap at"):
            m = re.search(key + r" (\d+)(?:-(\d+))?", g)
            if m:
                a = int(m.group(1))
                b = int(m.group(2) or a)
                regions.append((a * bs, (b - a + 1) * bs))
        m = re.search(r"Inode table at (\d+)-(\d+)", g)
        free = re.search(r"(\d+) free inodes", g)
        if m and free:
            used = ipg - int(free.group(1))
            nblocks = min(int(m.group(2)) - int(m.group(1)) + 1, (used * isz + bs - 1) // bs)
            if nblocks > 0:
                regions.append((int(m.group(1)) * bs, nblocks * bs))
    for blocks in dir_blocks(img, dirs).values():
        for b in blocks:
            regions.append((b * bs, bs))
    with open(img + ".regions", "w") as f:
        for o, l in sorted(set(regions)):
            f.write("%d %d\n" % (o, l))
    total = sum(l for _, l in set(regions))
    rnd = random.Random(7)
    put(out, "image", b"", "no-mutation")
    for i in range(24):
        k = rnd.choice([1, 1, 2, 3, 8, 32])
        data = b"".join(struct.pack("<IB", rnd.randrange(total), rnd.randrange(256)) for _ in range(k))
        put(out, "image", data, "random-%02d" % i)
    return img, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixture-data", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if not os.path.isdir(os.path.join(a.fixture_data, "small-uuid", "current")):
        sys.exit("make_corpus: no fixture store under %s (run the cyrus_store fixture)" % a.fixture_data)
    for t in TARGETS:
        shutil.rmtree(os.path.join(a.out, t), ignore_errors=True)
    os.makedirs(a.out, exist_ok=True)
    counts = {"dirblock": seed_dirblocks(a.out, a.fixture_data), "badmap": seed_badmaps(a.out)}
    counts.update(seed_formats(a.out, a.fixture_data))
    img, total = build_base_image(a.out, a.fixture_data)
    counts["image"] = len(os.listdir(os.path.join(a.out, "image")))
    print("make_corpus: %s; base image %s (%d metadata bytes)" % (
        ", ".join("%s %d" % (t, counts.get(t, 0)) for t in TARGETS), img, total))


if __name__ == "__main__":
    main()
