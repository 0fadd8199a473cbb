#!/usr/bin/env python3
"""Self-test of the e2e judge's rules on small synthetic truths (no Cyrus needed):
identical stores pass; each kind of violation is caught and named."""
import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_judge import judge  # noqa: E402


def msg(sha, flags=(), date=1700000000, size=100):
    return {"sha1": sha * 40 if len(sha) == 1 else sha, "flags": list(flags),
            "internaldate": date, "size": size}


BACKUP = {"layout": "uuid", "users": {"bob": {
    "INBOX": {"uidvalidity": 7, "uniqueid": "u1", "messages": {
        "1": msg("a"), "2": msg("b", ["\\Seen"]), "3": msg("c")}},
    "INBOX.Old": {"uidvalidity": 8, "uniqueid": "u2", "messages": {"1": msg("d")}}}}}
# A day later: uid 3 expunged, uid 4 new, \\Seen on 1, folder Old deleted.
CURRENT = {"layout": "uuid", "users": {"bob": {
    "INBOX": {"uidvalidity": 7, "uniqueid": "u1", "messages": {
        "1": msg("a", ["\\Seen"]), "2": msg("b", ["\\Seen"]), "4": msg("e")}}}}}
NO_REPORT = {"users": []}


def served(mutate):
    s = copy.deepcopy(CURRENT)
    mutate(s["users"]["bob"])
    return s


class JudgeRules(unittest.TestCase):
    def test_identical_passes(self):
        self.assertEqual(judge(True, CURRENT, BACKUP, copy.deepcopy(CURRENT), None, NO_REPORT), [])

    def test_lost_message(self):
        v = judge(False, CURRENT, BACKUP, served(lambda b: b["INBOX"]["messages"].pop("4")),
                  None, NO_REPORT)
        self.assertTrue(any("uid 4" in x and "lost" in x for x in v), v)

    def test_lost_but_reported_unrecoverable(self):
        rep = {"users": [{"user": "bob", "folders": [
            {"name": "INBOX", "unrecoverable": [{"uid": 4, "reason": "x"}], "renumbered": []}]}]}
        v = judge(False, CURRENT, BACKUP, served(lambda b: b["INBOX"]["messages"].pop("4")),
                  None, rep)
        self.assertEqual(v, [])

    def test_loss_in_a_folder_reported_damaged_is_a_note_unless_salvage_has_it(self):
        rep = {"users": [{"user": "bob", "folders": [
            {"name": "INBOX", "unrecoverable": [], "renumbered": [],
             "problems": ["salvage: folder directory missing"]}]}]}
        notes = []
        v = judge(False, CURRENT, BACKUP, served(lambda b: b["INBOX"]["messages"].pop("4")),
                  None, rep, notes=notes)
        self.assertEqual(v, [])
        self.assertEqual(len(notes), 1)
        v = judge(False, CURRENT, BACKUP, served(lambda b: b["INBOX"]["messages"].pop("4")),
                  None, rep, in_lost_found={"e" * 40: "lost+found/#12"})
        self.assertTrue(any("lost+found/#12" in x for x in v), v)

    def test_expunged_since_backup_reappears(self):
        v = judge(False, CURRENT, BACKUP,
                  served(lambda b: b["INBOX"]["messages"].__setitem__("3", msg("c"))),
                  None, NO_REPORT)
        self.assertTrue(any("expunged since the backup" in x for x in v), v)

    def test_backup_copy_allowed_in_a_damaged_folder(self):
        damage = {"path": "/var/spool/cyrus/mail/uuid/u/1/u1/cyrus.index"}
        v = judge(False, CURRENT, BACKUP,
                  served(lambda b: b["INBOX"]["messages"].__setitem__("3", msg("c"))),
                  damage, NO_REPORT)
        self.assertEqual(v, [])

    def test_salvaged_file_without_record_in_a_damaged_folder_is_a_note(self):
        damage = {"path": "/var/spool/cyrus/mail/uuid/u/1/u1/cyrus.index"}
        notes = []
        v = judge(False, CURRENT, BACKUP,
                  served(lambda b: b["INBOX"]["messages"].__setitem__("9", msg("f"))),
                  damage, NO_REPORT, salvaged_files={"f" * 40}, notes=notes)
        self.assertEqual(v, [])
        self.assertEqual(len(notes), 1)
        # Not in an undamaged folder, and not when salvage never had the file.
        v = judge(False, CURRENT, BACKUP,
                  served(lambda b: b["INBOX"]["messages"].__setitem__("9", msg("f"))),
                  None, NO_REPORT, salvaged_files={"f" * 40})
        self.assertTrue(any("in neither snapshot" in x for x in v), v)
        v = judge(False, CURRENT, BACKUP,
                  served(lambda b: b["INBOX"]["messages"].__setitem__("9", msg("f"))),
                  damage, NO_REPORT)
        self.assertTrue(any("in neither snapshot" in x for x in v), v)

    def test_invented_message(self):
        v = judge(False, CURRENT, BACKUP,
                  served(lambda b: b["INBOX"]["messages"].__setitem__("9", msg("f"))),
                  None, NO_REPORT)
        self.assertTrue(any("in neither snapshot" in x for x in v), v)

    def test_duplicate(self):
        v = judge(False, CURRENT, BACKUP,
                  served(lambda b: b["INBOX"]["messages"].__setitem__("5", msg("e"))),
                  None, NO_REPORT)
        self.assertTrue(any("served 2 times" in x for x in v), v)

    def test_flags_and_dates(self):
        def m(b):
            b["INBOX"]["messages"]["1"]["flags"] = []
            b["INBOX"]["messages"]["2"]["internaldate"] = 1
        v = judge(False, CURRENT, BACKUP, served(m), None, NO_REPORT)
        self.assertTrue(any("uid 1 flags" in x for x in v), v)
        self.assertTrue(any("uid 2 internaldate" in x for x in v), v)

    def test_deleted_folder_reappears(self):
        def m(b):
            b["INBOX.Old"] = copy.deepcopy(BACKUP["users"]["bob"]["INBOX.Old"])
        v = judge(False, CURRENT, BACKUP, served(m), None, NO_REPORT)
        self.assertTrue(any("deleted since the backup" in x for x in v), v)

    def test_uidvalidity_changed(self):
        v = judge(False, CURRENT, BACKUP,
                  served(lambda b: b["INBOX"].__setitem__("uidvalidity", 99)), None, NO_REPORT)
        self.assertTrue(any("uidvalidity 99" in x for x in v), v)

    def test_exact_needs_same_uids(self):
        def m(b):
            b["INBOX"]["messages"]["5"] = b["INBOX"]["messages"].pop("4")
        self.assertEqual(judge(False, CURRENT, BACKUP, served(m), None, NO_REPORT), [])
        v = judge(True, CURRENT, BACKUP, served(m), None, NO_REPORT)
        self.assertTrue(any("uid 4 not served under its uid" in x for x in v), v)


if __name__ == "__main__":
    unittest.main()
