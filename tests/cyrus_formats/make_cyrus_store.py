#!/usr/bin/env python3
"""Builds a small private Cyrus 3.6 store for the cyrus_formats round-trip tests.

Usage: make_cyrus_store.py ROOT [--layout uuid|legacy]

Writes ROOT/imapd.conf, ROOT/conf (mailboxes.db ...) and ROOT/spool, by
starting a private `master` on 127.0.0.1 (free port), driving imapd over IMAP
(CREATE, SETACL, SETQUOTA, APPEND with flags and INTERNALDATE, STORE,
per-message ANNOTATION, EXPUNGE), then stopping it. Also writes
ROOT/expect.json with what was done (annotations set), for the tests.
Everything is deterministic except uniqueids, uidvalidity and timestamps,
which Cyrus picks. Runs as root: the tools switch to user cyrus.
"""
import argparse, imaplib, json, os, shutil, signal, socket, subprocess, sys, time

CYRUS = "/usr/lib/cyrus/bin"


def write_conf(root, port, legacy):
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
syslog_prefix: mr-formats
"""
    if legacy:
        conf += "mailbox_legacy_dirs: yes\n"
    with open(f"{root}/imapd.conf", "w") as f:
        f.write(conf)
    with open(f"{root}/cyrus.conf", "w") as f:
        f.write(f"""START {{
  recover cmd="ctl_cyrusdb -C {root}/imapd.conf -r"
}}
SERVICES {{
  imap cmd="imapd -C {root}/imapd.conf" listen="127.0.0.1:{port}" prefork=0
}}
EVENTS {{
}}
""")


def ok(resp, what):
    typ, data = resp
    if typ != "OK":
        raise SystemExit(f"{what}: {typ} {data}")
    return data


def msg(i, subject, extra=""):
    return (f"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\n"
            f"Subject: {subject}\r\nDate: Mon, 3 Jun 2024 {(i * 5) % 24:02d}:15:00 +0200\r\n"
            f"Message-ID: <{i}.{subject.replace(' ', '_')}@example.com>\r\n{extra}\r\n"
            f"body {i} of {subject}\r\n").encode()


MULTIPART = (b"From: Carol <carol@example.org>\r\nTo: bob@example.com, Dan <dan@example.net>\r\n"
             b"Cc: eve@example.org\r\nSubject: =?UTF-8?Q?caf=C3=A9?= report\r\n"
             b"Date: 29 Feb 2024 23:59:59 -0800\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n\r\n"
             b"preamble\r\n--XyZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
             b"--XyZ\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n"
             b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\n\r\n"
             b"AAECAwQFBgc=\r\n--XyZ--\r\n")


def build(root, legacy):
    shutil.rmtree(root, ignore_errors=True)
    for d in ["conf/lock", "conf/proc", "conf/socket", "spool", "log"]:
        os.makedirs(os.path.join(root, d))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    write_conf(root, port, legacy)
    subprocess.run(["chown", "-R", "cyrus:mail", root], check=True)
    env = dict(os.environ, TZ="UTC")
    master = subprocess.Popen([f"{CYRUS}/master", "-C", f"{root}/imapd.conf", "-M",
                               f"{root}/cyrus.conf", "-p", f"{root}/master.pid",
                               "-L", f"{root}/log/master.log"], env=env)
    expect = {"annotations": []}
    try:
        for _ in range(200):
            try:
                a = imaplib.IMAP4("127.0.0.1", port)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("imapd did not start")
        ok(a.login("cyrus", "x"), "login cyrus")
        for name in ["user.bob", "user.bob.Sent", "user.bob.Work Stuff", "user.bob.Empty",
                     "user.alice", "user.alice.Archive"]:
            ok(a.create(f'"{name}"'), f"create {name}")
        ok(a.setacl("user.bob", "anyone", "p"), "setacl")
        ok(a.setacl('"user.bob.Work Stuff"', "alice", "lrs"), "setacl alice")
        ok(a._simple_command("SETQUOTA", "user.bob", "(STORAGE 100000)"), "setquota")
        a.logout()

        b = imaplib.IMAP4("127.0.0.1", port)
        ok(b.login("bob", "x"), "login bob")
        flags = ["()", r"(\Seen $Label1)", r"(\Answered \Seen)", r"(\Draft Junk)",
                 r"(\Flagged $Label1 NonJunk)", r"(\Seen)"]
        for i in range(12):
            ok(b.append("INBOX", flags[i % len(flags)],
                        imaplib.Time2Internaldate(1700000000 + i * 3600), msg(i, f"m{i}")), "append")
        ok(b.append("INBOX", r"(\Seen)", imaplib.Time2Internaldate(1700100000), MULTIPART), "append mp")
        ok(b.append("INBOX", "()", imaplib.Time2Internaldate(1700200000),
                    b"From: x@y\r\nSubject: no date\r\n\r\nno date header\r\n"), "append nodate")
        ok(b.select("INBOX"), "select")
        ok(b.uid("STORE", "2", "+FLAGS", r"(\Deleted \Flagged)"), "store")
        ok(b.uid("STORE", "3", "+FLAGS", r"(\Deleted)"), "store")
        ok(b.uid("STORE", "5", "-FLAGS", r"($Label1)"), "store")
        ok(b.uid("STORE", "6", "+FLAGS", r"(\Answered Junk)"), "store")
        ok(b.expunge(), "expunge")
        # per-message annotations (count in sync_crc_annot)
        ok(b.uid("STORE", "4", "ANNOTATION", '(/comment (value.priv "private note"))'), "annot priv")
        expect["annotations"].append({"folder": "INBOX", "uid": 4, "entry": "/comment",
                                      "userid": "bob", "value": "private note"})
        ok(b.uid("STORE", "7", "ANNOTATION", '(/comment (value.shared "shared note"))'), "annot shared")
        expect["annotations"].append({"folder": "INBOX", "uid": 7, "entry": "/comment",
                                      "userid": "", "value": "shared note"})
        for i in range(3):
            ok(b.append("INBOX.Sent", r"(\Seen)", imaplib.Time2Internaldate(1700300000 + i),
                        msg(100 + i, f"sent {i}")), "append sent")
        ok(b.append('"INBOX.Work Stuff"', r"($Work \Flagged)",
                    imaplib.Time2Internaldate(1700400000), msg(200, "work")), "append work")
        b.logout()

        c = imaplib.IMAP4("127.0.0.1", port)
        ok(c.login("alice", "x"), "login alice")
        for i in range(4):
            ok(c.append("INBOX", r"(\Seen)" if i % 2 else "()",
                        imaplib.Time2Internaldate(1700500000 + i), msg(300 + i, f"alice {i}")), "append a")
        ok(c.select("INBOX"), "select a")
        ok(c.uid("STORE", "1:4", "+FLAGS", r"(\Deleted)"), "store a")
        ok(c.expunge(), "expunge a")
        ok(c.append("INBOX", "()", imaplib.Time2Internaldate(1700600000), msg(400, "after")), "append a2")
        c.logout()
    finally:
        master.send_signal(signal.SIGTERM)
        master.wait(timeout=30)
    with open(f"{root}/expect.json", "w") as f:
        json.dump(expect, f, indent=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--layout", choices=["uuid", "legacy"], default="uuid")
    args = p.parse_args()
    build(os.path.abspath(args.root), args.layout == "legacy")


if __name__ == "__main__":
    main()
