#!/usr/bin/env python3
"""Renames one user's folder with real Cyrus, on a store in place, as a user does by IMAP
(tests of folders renamed since the backup). With the legacy layout, Cyrus 3.6 moves the
directory to the new name's path and leaves the old name in its cyrus.header.

Usage: rename_folder.py --spool S --conf C [--legacy] USER FROM TO
       (FROM/TO: IMAP names as USER sees them, e.g. INBOX/Archive)
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures"))
import cyrus_env  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spool", required=True)
    ap.add_argument("--conf", required=True)
    ap.add_argument("--legacy", action="store_true")
    ap.add_argument("user")
    ap.add_argument("src")
    ap.add_argument("dst")
    a = ap.parse_args()
    env, tmp = cyrus_env.serving(a.spool, a.conf, a.legacy, in_place=True)
    try:
        with env:
            env.start()
            m = env.login(a.user)
            typ, data = m.rename(cyrus_env.imap_quote(a.src), cyrus_env.imap_quote(a.dst))
            m.logout()
            if typ != "OK":
                print(f"rename_folder: RENAME {a.src} {a.dst}: {data}", file=sys.stderr)
                return 1
    finally:
        env.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
