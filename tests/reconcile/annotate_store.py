#!/usr/bin/env python3
"""Test helper: sets message annotations in a real-Cyrus store through imapd.

annotate_store.py --spool S --conf C LOGIN...
For each login, on the first two messages of its INBOX: a private /comment (stored under the
owner as "[.OwNeR.]") and a shared /comment. Exit 0 when Cyrus accepted all of them.
"""
import argparse
import imaplib
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures"))
import cyrus_env  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spool", required=True)
    ap.add_argument("--conf", required=True)
    ap.add_argument("logins", nargs="+")
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="mr-annotate-")
    env = cyrus_env.CyrusEnv(root, spool=os.path.abspath(a.spool), conf=os.path.abspath(a.conf))
    env.setup()
    env.start()
    try:
        for login in a.logins:
            c = imaplib.IMAP4("127.0.0.1", env.port)
            c.login(login, "x")
            c.select("INBOX")
            typ, data = c.uid("SEARCH", "ALL")
            uids = data[0].split()[:2]
            if len(uids) < 2:
                raise SystemExit(f"{login}: INBOX has fewer than 2 messages")
            for uid, kind in zip(uids, ("value.priv", "value.shared")):
                typ, data = c.uid("STORE", uid.decode(), "ANNOTATION",
                                  f'(/comment ({kind} "note {login} {uid.decode()}"))')
                if typ != "OK":
                    raise SystemExit(f"{login}: STORE ANNOTATION failed: {data}")
            c.logout()
    finally:
        env.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
