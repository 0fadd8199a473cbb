#!/usr/bin/env python3
"""Builds a small store written by the real Cyrus IMAP 3.6 for the verify tests.

Usage: make_cyrus_store.py --out DIR [--layout uuid|legacy] [--seed N]

Writes DIR/spool/ (partition root), DIR/conf/ (configdirectory with
mailboxes.db), DIR/imapd.conf (pointing at both) and DIR/done when finished.
It starts a private `master` on 127.0.0.1 (free port), creates three users
(one with a dot in the name) and their folders over IMAP, APPENDs messages with
flags, user flags and INTERNALDATEs, STOREs and EXPUNGEs some, then stops
Cyrus.  Everything Cyrus writes is real Cyrus output: the verify tests check
our reader against it and then damage copies of it.

This is a test helper only; the shared fixture factory lives in fixtures/.
"""
import argparse
import imaplib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

CYRUS_BIN = "/usr/lib/cyrus/bin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_conf(root, port, layout):
    conf = f"""configdirectory: {root}/conf
defaultpartition: default
partition-default: {root}/spool
mboxname_lockpath: {root}/conf/lock
proc_path: {root}/conf/proc
lmtpsocket: {root}/conf/socket/lmtp
idlesocket: {root}/conf/socket/idle
notifysocket: {root}/conf/socket/notify
unixhierarchysep: no
altnamespace: no
hashimapspool: true
admins: cyrus
allowplaintext: yes
sasl_pwcheck_method: alwaystrue
sasl_mech_list: PLAIN LOGIN
syslog_prefix: mrverify
delete_mode: immediate
expunge_mode: delayed
"""
    if layout == "legacy":
        conf += "mailbox_legacy_dirs: yes\n"
    with open(f"{root}/imapd.conf", "w") as f:
        f.write(conf)
    with open(f"{root}/cyrus.conf", "w") as f:
        f.write(f"""START {{
  recover cmd="ctl_cyrusdb -C {root}/imapd.conf -r"
}}
SERVICES {{
  imap cmd="imapd -C {root}/imapd.conf" listen="127.0.0.1:{port}" prefork=0 maxchild=5
}}
EVENTS {{
}}
""")


def message(rng, user, i):
    subj = f"msg {i} for {user} {rng.randrange(10**9)}"
    body = "\r\n".join(
        "line %d %s" % (k, "x" * rng.randrange(0, 70)) for k in range(rng.randrange(1, 40)))
    return (f"From: sender{i}@example.org\r\nTo: {user}@example.com\r\n"
            f"Subject: {subj}\r\nDate: Mon, 2 Mar 2026 10:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <{i}.{rng.randrange(10**9)}@example.org>\r\n\r\n{body}\r\n").encode()


def populate(port, seed):
    rng = random.Random(seed)
    admin = imaplib.IMAP4("127.0.0.1", port)
    admin.login("cyrus", "x")
    users = ["alice", "bob", "fred.smith"]
    for u in users:
        for folder in ["", ".Sent", ".Work Stuff"]:
            name = f"user.{u.replace('.', '^')}{folder}"
            typ, data = admin.create(f'"{name}"')
            if typ != "OK":
                raise SystemExit(f"create {name}: {data}")
    admin.logout()
    for u in users:
        c = imaplib.IMAP4("127.0.0.1", port)
        c.login(u, "x")
        for folder in ["INBOX", "INBOX.Sent", "INBOX.Work Stuff"]:
            n = rng.randrange(3, 9)
            for i in range(n):
                flags = []
                if rng.random() < 0.5:
                    flags.append("\\Seen")
                if rng.random() < 0.2:
                    flags.append("\\Flagged")
                if rng.random() < 0.2:
                    flags.append("\\Answered")
                if rng.random() < 0.2:
                    flags.append("$Label1")
                if rng.random() < 0.1:
                    flags.append("Junk")
                date = imaplib.Time2Internaldate(1767225600 + rng.randrange(0, 86400 * 60))
                typ, data = c.append(f'"{folder}"', "(" + " ".join(flags) + ")", date,
                                     message(rng, u, i))
                if typ != "OK":
                    raise SystemExit(f"append {u} {folder}: {data}")
            c.select(f'"{folder}"')
            # Some changes after the appends: flags and a delayed expunge.
            c.uid("STORE", "2", "+FLAGS", "(\\Answered $Label2)")
            if folder == "INBOX":
                c.uid("STORE", "1", "+FLAGS", "(\\Deleted)")
                c.expunge()
            c.close()
        c.logout()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--layout", choices=["uuid", "legacy"], default="uuid")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    root = os.path.abspath(a.out)
    if os.path.exists(root):
        shutil.rmtree(root)
    for d in ["spool", "conf", "conf/lock", "conf/proc", "conf/socket", "log"]:
        os.makedirs(f"{root}/{d}")
    port = free_port()
    write_conf(root, port, a.layout)
    subprocess.run(["chown", "-R", "cyrus:mail", root], check=True)
    pidfile = f"{root}/master.pid"
    master = subprocess.Popen([f"{CYRUS_BIN}/master", "-C", f"{root}/imapd.conf", "-M",
                               f"{root}/cyrus.conf", "-p", pidfile, "-D",
                               "-L", f"{root}/log/master.log"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or master.poll() is not None:
                    raise SystemExit("cyrus master did not start")
                time.sleep(0.1)
        populate(port, a.seed)
    finally:
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(timeout=20)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait()
    # Tests run as root and damage copies; make sure they can read everything.
    open(f"{root}/done", "w").close()


if __name__ == "__main__":
    sys.exit(main())
