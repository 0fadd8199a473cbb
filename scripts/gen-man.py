#!/usr/bin/env python3
"""Writes docs/man/mailrescue-<sub>.md from each subcommand's --help plus the prose below.

  gen-man.py MAILRESCUE_BINARY          rewrite the pages
  gen-man.py MAILRESCUE_BINARY --check  exit 1 when a page is out of date (ctest)
"""
import os
import subprocess
import sys

DESC = {
    'inspect': ("Describe a damaged ext2/3/4 Cyrus spool partition without copying anything: the superblock used "
                "(primary, a backup found automatically, or rebuilt from the disk when no copy is readable), "
                "features, block groups, journal state (needs_recovery, transactions), the Cyrus spool and config "
                "directories found inside, the user count, and a damage summary. Reads only.",
                ["mailrescue inspect /dev/sdb1",
                 "mailrescue inspect /srv/images/sdb1.img --json > inspect.json",
                 "mailrescue inspect sdb1.img --superblock 32768 --blocksize 4096"]),
    'salvage': ("Copy everything readable off the partition through libext2fs, strictly read-only: DIR/spool (the "
                "partition root as it was), DIR/conf (the config directory), DIR/lost+found (what could not be "
                "placed, with notes) and DIR/salvage.json (every file with inode, size, SHA1 and damaged byte "
                "ranges; incomplete directories; superblock used). Directories are read block by block, so one bad "
                "block costs only the entries in it; unreachable inodes are found by an inode-table scan and "
                "re-homed (a lost folder by its cyrus.header, a lost message by its GUID). Files are read in inode "
                "order by --jobs workers, each with its own libext2fs handle. A rerun into the same DIR resumes.",
                ["mailrescue salvage /dev/sdb1 --out /srv/salvage",
                 "mailrescue salvage sdb1.img --badmap sdb1.map --out /srv/salvage --report salvage-report.json",
                 "mailrescue salvage sdb1.img --out /srv/salvage --priority logins.txt --jobs 8"]),
    'reconcile': ("Merge each user's salvaged folders (newer, possibly damaged) with the restored backup (older, "
                  "intact): keep everything that changed since the backup, drop a message only on positive evidence "
                  "from the salvaged side that it was deleted, renumber uid conflicts above every used uid, take the "
                  "backup's copy of a message whose salvaged file is damaged. Writes per-folder cyrus.header, "
                  "cyrus.index and cyrus.cache (atomic per folder) and a mailboxes.db that Cyrus 3.6 serves as it "
                  "is. Users run in parallel (TBB); output is identical for any --jobs. --dry-run prints the "
                  "per-user plan and writes only the report.",
                  ["mailrescue reconcile --salvaged /srv/salvage --backup-spool /srv/restore/spool "
                   "--backup-db /srv/restore/conf/mailboxes.db --out-spool /srv/new/spool "
                   "--out-db /srv/new/conf/mailboxes.db",
                   "mailrescue reconcile ... --dry-run --report plan.json",
                   "mailrescue reconcile --salvaged /srv/salvage --backup-spool /srv/restore/spool "
                   "--backup-db /srv/restore/conf/mailboxes.db --in-place"]),
    'rescue': ("The one-command rescue boot: salvage, reconcile and verify streamed user by user, so the first "
               "user is back long before the last one is read. Users trying to log in (--priority, re-read "
               "continuously) go first; each user is announced (--events, --on-user-done) the moment its own "
               "verify passes. Several targets (--target NAME=IMAPD_CONF, one per server the backups were restored "
               "onto) are worked in parallel, one user at a time per target. The run state lives in SQLite under "
               "--workdir: after a crash or SIGKILL, run the same command again; SIGINT/SIGTERM stop after the "
               "current phase. A proxy map (user TAB target) and a self-contained HTML report are written too.",
               ["mailrescue rescue /dev/sdb1 --backup-spool /srv/restore/spool "
                "--backup-db /srv/restore/conf/mailboxes.db --out-spool /srv/new/spool "
                "--out-db /srv/new/conf/mailboxes.db --workdir /srv/work",
                "mailrescue rescue sdb1.img --badmap sdb1.map --target imap-a=/etc/cyrus/imapd-a.conf "
                "--target imap-b=/etc/cyrus/imapd-b.conf --workdir /srv/work --priority /srv/work/logins.txt "
                "--on-user-done /usr/local/sbin/release-held-mail",
                "mailrescue rescue sdb1.img ... --shard auto/8 --workdir /work/$JOB_COMPLETION_INDEX"]),
    'verify': ("Check a Cyrus 3.6 store like a replication check: every N/I record pair of mailboxes.db "
               "consistent; each folder where the layout puts it, its cyrus.header matching the db; cyrus.index "
               "CRCs, uid order, counts, highestmodseq and sync_crc recomputed; every live record's message file "
               "present with the right size and SHA1 = GUID; cache records in bounds with the right CRC; no stray "
               "message files and no folder directories missing from the db. Prints one line per problem. Reads "
               "only.",
               ["mailrescue verify --spool /srv/new/spool --db /srv/new/conf/mailboxes.db",
                "mailrescue verify --conf /etc/cyrus/imapd.conf --report verify.json"]),
}
READS_DEVICE = {'inspect', 'salvage', 'rescue'}
EXIT = ("0 all done and consistent; 1 done, but some items need an operator (listed in the report); 2 bad usage "
        "or bad input (a one-line error naming the argument); 3 the source cannot be opened at all; 4 internal "
        "error.")


def page(cli, sub):
    h = subprocess.run([cli, sub, '--help'], capture_output=True, text=True, check=True).stdout
    h = h.replace(cli, 'mailrescue')
    lines = h.splitlines()
    usage = next(l for l in lines if l.startswith('Usage:'))[len('Usage: '):]
    body = '\n'.join(lines[lines.index(next(l for l in lines if l.startswith('Usage:'))) + 1:]).strip()
    desc, examples = DESC[sub]
    device = ("\n\nThe source device is opened `O_RDONLY` and never written." if sub in READS_DEVICE else "")
    others = ", ".join(f"mailrescue-{o}(1)" for o in DESC if o != sub)
    ex = "\n".join(f"```\n{e}\n```" for e in examples)
    return (f"# mailrescue-{sub}(1)\n\n## NAME\nmailrescue {sub} — {lines[0]}\n\n## SYNOPSIS\n`{usage}`\n\n"
            f"## DESCRIPTION\n{desc}{device} Progress goes to stderr (a redrawn line on a terminal, plain lines "
            f"otherwise); the global `-q/--quiet` silences it.\n\n## OPTIONS\n```\n{body}\n```\n\n"
            f"## EXIT STATUS\n{EXIT}\n\n## EXAMPLES\n{ex}\n\n## SEE ALSO\n{others}, docs/runbook.md\n")


def main():
    cli = sys.argv[1]
    check = '--check' in sys.argv
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'docs', 'man')
    os.makedirs(root, exist_ok=True)
    stale = []
    for sub in DESC:
        path = os.path.join(root, f'mailrescue-{sub}.md')
        want = page(cli, sub)
        have = open(path).read() if os.path.exists(path) else ''
        if have != want:
            stale.append(path)
            if not check:
                open(path, 'w').write(want)
    if check and stale:
        print("out of date (run scripts/gen-man.py BUILD/cli/mailrescue):", *stale, sep='\n  ')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
