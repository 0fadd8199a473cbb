// End to end: `mailrescue reconcile` on the fixture factory's real-Cyrus
// backup/current pairs (current copied as the "salvaged" DIR), judged by real
// Cyrus: `reconstruct -n` must find nothing, and imapd must serve exactly the
// expected messages (truth JSON compared by compare_truth.py). Then damaged
// salvaged sides, --in-place, resume, flat db and --dry-run.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <string>

#include "common/cyrus_layout.h"
#include "common/fsutil.h"
#include "reconcile/cyrus/mboxdb.h"
#include "reconcile/reconcile.h"

namespace {

const std::string kData = std::string(MR_BINARY_DIR) + "/fixture-data";
const std::string kCli = MR_CLI_PATH;
const std::string kEnv = std::string(MR_SOURCE_DIR) + "/fixtures/cyrus_env.py";
const std::string kCompare = std::string(MR_SOURCE_DIR) + "/tests/reconcile/compare_truth.py";

int Sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc == -1 || !WIFEXITED(rc)) return -1;
  return WEXITSTATUS(rc);
}

std::string Q(const std::string& s) { return "'" + s + "'"; }

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in, nullptr, false);
}

class ReconcileE2E : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    layout_ = GetParam();
    set_ = kData + "/small-" + layout_;
    struct stat st {};
    ASSERT_EQ(::stat((set_ + "/current/spool").c_str(), &st), 0) << "fixture set missing: " << set_;
    char tmpl[] = "/tmp/mr-reconcile-e2e-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    ASSERT_EQ(Sh("cp -a " + Q(set_ + "/current") + " " + Q(tmp_ + "/salv")), 0);
  }
  void TearDown() override {
    if (!tmp_.empty() && !HasFailure()) Sh("rm -rf " + Q(tmp_));
  }
  std::string Legacy() const { return layout_ == "legacy" ? " --legacy" : ""; }
  int Reconcile(const std::string& extra, const std::string& out = "out") {
    return Sh(kCli + " --quiet reconcile --salvaged " + Q(tmp_ + "/salv") + " --backup-spool " +
              Q(set_ + "/backup/spool") + " --backup-db " + Q(set_ + "/backup/conf/mailboxes.db") +
              " --out-spool " + Q(tmp_ + "/" + out + "/spool") + " --out-db " +
              Q(tmp_ + "/" + out + "/conf/mailboxes.db") + " --no-fsync --report " + Q(tmp_ + "/report.json") +
              " " + extra + " > " + Q(tmp_ + "/stdout.txt"));
  }
  int Check(const std::string& spool, const std::string& conf) {
    return Sh("python3 " + kEnv + " check" + Legacy() + " --spool " + Q(spool) + " --conf " + Q(conf) + " > " +
              Q(tmp_ + "/check.txt") + " 2>&1");
  }
  int Truth(const std::string& spool, const std::string& conf, const std::string& compare_args) {
    if (Sh("python3 " + kEnv + " truth" + Legacy() + " --spool " + Q(spool) + " --conf " + Q(conf) + " --out " +
           Q(tmp_ + "/truth.json") + " > /dev/null 2>&1") != 0)
      return -2;
    return Sh("python3 " + kCompare + " " + Q(tmp_ + "/truth.json") + " " + Q(set_ + "/truth-current.json") + " " +
              compare_args + " > " + Q(tmp_ + "/compare.txt") + " 2>&1");
  }
  std::string File(const std::string& rel) {
    std::ifstream in(tmp_ + "/" + rel);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The salvaged folder directory of user/folder, from the salvaged db.
  std::string SalvDir(const std::string& user, const std::string& folder) {
    auto db = mr::cyrus::ReadMailboxesDb(tmp_ + "/salv/conf/mailboxes.db");
    EXPECT_TRUE(db.ok());
    std::string name = mr::InternalName(user, folder);
    for (const auto& e : *db)
      if (e.name == name)
        return tmp_ + "/salv/spool/" +
               mr::MailboxRelDir(name, e.uniqueid,
                                 e.mbtype.find('l') != std::string::npos ? mr::CyrusLayout::kLegacy
                                                                         : mr::CyrusLayout::kUuid,
                                 true);
    ADD_FAILURE() << "no " << name;
    return "";
  }
  const nlohmann::json* Folder(const nlohmann::json& rep, const std::string& user, const std::string& folder) {
    for (const auto& u : rep["users"])
      if (u["user"] == user)
        for (const auto& f : u["folders"])
          if (f["name"] == folder) return &f;
    return nullptr;
  }
  std::string layout_, set_, tmp_;
};

// Damage and mode variants run on the uuid layout only (the layout-specific
// paths are covered by the suite above); keeps the module's tests short.
class ReconcileDamageE2E : public ReconcileE2E {};

TEST_P(ReconcileE2E, CleanPairGivesTheCurrentStore) {
  int rc = Reconcile("");
  ASSERT_TRUE(rc == 0 || rc == 1) << File("stdout.txt");
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  EXPECT_EQ(Truth(tmp_ + "/out/spool", tmp_ + "/out/conf", ""), 0) << File("compare.txt");
  auto rep = ReadJson(tmp_ + "/report.json");
  ASSERT_TRUE(rep.is_object());
  EXPECT_EQ(rep["tool"], "mailrescue");
  EXPECT_EQ(rep["command"], "reconcile");
  EXPECT_GT(rep["totals"]["dropped_deleted"].get<int>(), 0);  // expunged since the backup
  // fred's Sent was re-created after the backup: S wins, B's messages reported.
  const auto* sent = Folder(rep, "fred^smith", "INBOX.Sent");
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ((*sent)["reason"], "folder_recreated");
  EXPECT_EQ(rc, (*sent)["not_merged"].empty() ? 0 : 1);
  // A folder deleted since the backup is not in the output.
  const auto* gone = Folder(rep, "bob", "INBOX.v1^2 notes");
  if (gone) {
    EXPECT_FALSE((*gone)["emitted"].get<bool>());
  }
}

// A folder renamed since the backup (by real Cyrus, over IMAP): the output has
// it under its new name. With the legacy layout Cyrus moves the directory but
// leaves the old name in its cyrus.header; the directory and the salvaged db
// name the folder, not that stale header (a stale name pointed the output db
// at a directory that does not exist: imapd "System I/O error").
TEST_P(ReconcileE2E, FolderRenamedSinceTheBackupKeepsItsNewName) {
  const std::string salv = tmp_ + "/salv";
  ASSERT_EQ(Sh("python3 " + std::string(MR_SOURCE_DIR) + "/tests/reconcile/rename_folder.py" + Legacy() +
               " --spool " + Q(salv + "/spool") + " --conf " + Q(salv + "/conf") +
               " bob 'INBOX/Work Stuff' 'INBOX/Old Work' > " + Q(tmp_ + "/rename.txt") + " 2>&1"),
            0)
      << File("rename.txt");
  // What the renamed store serves is what the output must serve.
  ASSERT_EQ(Sh("python3 " + kEnv + " truth" + Legacy() + " --spool " + Q(salv + "/spool") + " --conf " +
               Q(salv + "/conf") + " --out " + Q(tmp_ + "/expected.json") + " > /dev/null 2>&1"),
            0);
  int rc = Reconcile("");
  ASSERT_TRUE(rc == 0 || rc == 1) << File("stdout.txt");
  EXPECT_EQ(Sh(kCli + " --quiet verify --spool " + Q(tmp_ + "/out/spool") + " --db " +
               Q(tmp_ + "/out/conf/mailboxes.db") + " > " + Q(tmp_ + "/verify.txt") + " 2>&1"),
            0)
      << File("verify.txt");
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  ASSERT_EQ(Sh("python3 " + kEnv + " truth" + Legacy() + " --spool " + Q(tmp_ + "/out/spool") + " --conf " +
               Q(tmp_ + "/out/conf") + " --out " + Q(tmp_ + "/truth.json") + " > /dev/null 2>&1"),
            0);
  EXPECT_EQ(Sh("python3 " + kCompare + " " + Q(tmp_ + "/truth.json") + " " + Q(tmp_ + "/expected.json") + " > " +
               Q(tmp_ + "/compare.txt") + " 2>&1"),
            0)
      << File("compare.txt");
  auto rep = ReadJson(tmp_ + "/report.json");
  EXPECT_NE(Folder(rep, "bob", "INBOX.Old Work"), nullptr);
  const auto* old = Folder(rep, "bob", "INBOX.Work Stuff");
  if (old) {
    EXPECT_FALSE((*old)["emitted"].get<bool>());
  }
}

const nlohmann::json* SharedFolder(const nlohmann::json& rep, const std::string& name) {
  if (!rep.contains("shared") || !rep["shared"].is_object()) return nullptr;
  for (const auto& f : rep["shared"]["folders"])
    if (f["name"] == name) return &f;
  return nullptr;
}

// The fixture's shared mailboxes (make_store.py --shared): one unit, "%shared",
// merged by the user-folder rules, in the db with their ACLs, served by imapd.
TEST_P(ReconcileE2E, SharedMailboxesAreReconciledAsOneUnit) {
  int rc = Reconcile("");
  ASSERT_TRUE(rc == 0 || rc == 1) << File("stdout.txt");
  auto rep = ReadJson(tmp_ + "/report.json");
  ASSERT_TRUE(rep["shared"].is_object()) << rep.dump();
  EXPECT_EQ(rep["shared"]["user"], "%shared");
  EXPECT_EQ(rep["shared"]["status"], "ok");
  EXPECT_EQ(rep["shared"]["done"], true);
  for (const auto& u : rep["users"]) EXPECT_NE(u["user"], "%shared");
  const auto* ann = SharedFolder(rep, "shared.announcements");
  ASSERT_NE(ann, nullptr);
  EXPECT_EQ((*ann)["reason"], "folder_merged");
  EXPECT_EQ((*ann)["from_salvage"], 2);     // new since the backup
  EXPECT_EQ((*ann)["dropped_deleted"], 1);  // expunged since the backup
  const auto* events = SharedFolder(rep, "shared.events");
  ASSERT_NE(events, nullptr);
  EXPECT_EQ((*events)["reason"], "folder_new_since_backup");
  const auto* retired = SharedFolder(rep, "shared.retired");
  ASSERT_NE(retired, nullptr);
  EXPECT_FALSE((*retired)["emitted"].get<bool>());
  EXPECT_EQ((*retired)["reason"], "folder_deleted_in_salvage");  // the delayed delete's tombstone
  auto db = mr::cyrus::ReadMailboxesDb(tmp_ + "/out/conf/mailboxes.db");
  ASSERT_TRUE(db.ok());
  std::set<std::string> shared;
  for (const auto& e : *db) {
    if (mr::UnitOf(e.name) != mr::kSharedUnit) continue;
    shared.insert(e.name);
    if (e.name == "shared.announcements") {
      EXPECT_EQ(e.mbtype.find('l') != std::string::npos, layout_ == "legacy") << e.mbtype;
      std::map<std::string, std::string> acl(e.acl.begin(), e.acl.end());
      EXPECT_EQ(acl["anyone"], "lrs");
      EXPECT_EQ(acl["alice"], "lrswipkxtecdan");
    }
  }
  EXPECT_EQ(shared, (std::set<std::string>{"Public", "shared", "shared.announcements", "shared.announcements.sub",
                                           "shared.events"}));
  if (layout_ == "legacy") {
    struct stat st {};
    EXPECT_EQ(::stat((tmp_ + "/out/spool/a/shared/announcements/cyrus.index").c_str(), &st), 0);
    EXPECT_EQ(::stat((tmp_ + "/out/spool/p/Public/cyrus.index").c_str(), &st), 0);
  }
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  EXPECT_EQ(Truth(tmp_ + "/out/spool", tmp_ + "/out/conf", ""), 0) << File("compare.txt");
  // verify lists them under the same pseudo-user and finds nothing.
  EXPECT_EQ(Sh(kCli + " --quiet verify --spool " + Q(tmp_ + "/out/spool") + " --db " +
               Q(tmp_ + "/out/conf/mailboxes.db") + " --report " + Q(tmp_ + "/verify.json") + " > /dev/null"),
            0);
  auto vr = ReadJson(tmp_ + "/verify.json");
  bool listed = false;
  for (const auto& u : vr["users"])
    if (u["user"] == "%shared") listed = u["folders"].get<int>() == 5 && u["problems"].empty();
  EXPECT_TRUE(listed) << vr.dump();
}

TEST_P(ReconcileE2E, RerunFinishesNothingTwice) {
  int rc = Reconcile("");
  ASSERT_TRUE(rc == 0 || rc == 1);
  std::string first_db = File("out/conf/mailboxes.db");
  ASSERT_EQ(Reconcile(""), rc);
  auto rep = ReadJson(tmp_ + "/report.json");
  int written = 0, skipped = 0;
  for (const auto& u : rep["users"])
    for (const auto& f : u["folders"]) {
      if (f.contains("applied") && f["applied"] == "written") ++written;
      if (f.contains("applied") && f["applied"] == "skipped") ++skipped;
    }
  EXPECT_EQ(written, 0) << "second run rewrote folders";
  EXPECT_GT(skipped, 20);
  EXPECT_EQ(File("out/conf/mailboxes.db"), first_db);
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
}

TEST_P(ReconcileDamageE2E, FlatDbHoldsTheSameMailboxes) {
  int rc = Reconcile("");
  ASSERT_TRUE(rc == 0 || rc == 1);
  ASSERT_EQ(Reconcile("--db-format flat", "flat"), rc);
  auto two = mr::cyrus::ReadMailboxesDb(tmp_ + "/out/conf/mailboxes.db");
  auto flat = mr::cyrus::ReadMailboxesDb(tmp_ + "/flat/conf/mailboxes.db");
  ASSERT_TRUE(two.ok());
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ(*two, *flat);
  EXPECT_GT(two->size(), 30u);
  EXPECT_NE(File("out/conf/mailboxes.db"), File("flat/conf/mailboxes.db"));
}

TEST_P(ReconcileDamageE2E, InterruptedFolderSwapIsRecovered) {
  int rc = Reconcile("");
  ASSERT_TRUE(rc == 0 || rc == 1);
  // Simulate a crash after the swap of one folder: old copy left at .mrtmp,
  // and a half-built new one of another folder.
  std::string inbox = tmp_ + "/out/spool/" +
                      mr::MailboxRelDir("user.bob", "", mr::CyrusLayout::kLegacy, true);
  auto db = mr::cyrus::ReadMailboxesDb(tmp_ + "/out/conf/mailboxes.db");
  ASSERT_TRUE(db.ok());
  for (const auto& e : *db)
    if (e.name == "user.bob")
      inbox = tmp_ + "/out/spool/" +
              mr::MailboxRelDir(e.name, e.uniqueid,
                                layout_ == "legacy" ? mr::CyrusLayout::kLegacy : mr::CyrusLayout::kUuid, true);
  ASSERT_EQ(Sh("mkdir " + Q(inbox + ".mrtmp") + " && cp " + Q(inbox + "/cyrus.header") + " " + Q(inbox + ".mrtmp/")), 0);
  ASSERT_EQ(Sh("rm " + Q(inbox + "/cyrus.index")), 0);  // and the target lost its index
  ASSERT_EQ(Reconcile(""), rc);
  struct stat st {};
  EXPECT_NE(::stat((inbox + ".mrtmp").c_str(), &st), 0);
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  EXPECT_EQ(Truth(tmp_ + "/out/spool", tmp_ + "/out/conf", ""), 0) << File("compare.txt");
}

TEST_P(ReconcileE2E, InPlaceOntoTheBackup) {
  ASSERT_EQ(Sh("cp -a " + Q(set_ + "/backup") + " " + Q(tmp_ + "/bk")), 0);
  std::string cmd = kCli + " --quiet reconcile --in-place --salvaged " + Q(tmp_ + "/salv") + " --backup-spool " +
                    Q(tmp_ + "/bk/spool") + " --backup-db " + Q(tmp_ + "/bk/conf/mailboxes.db") +
                    " --no-fsync --report " + Q(tmp_ + "/report.json");
  int rc = Sh(cmd);
  ASSERT_TRUE(rc == 0 || rc == 1);
  EXPECT_EQ(Check(tmp_ + "/bk/spool", tmp_ + "/bk/conf"), 0) << File("check.txt");
  EXPECT_EQ(Truth(tmp_ + "/bk/spool", tmp_ + "/bk/conf", ""), 0) << File("compare.txt");
  if (layout_ == "legacy") {
    // fred's re-created Sent took the old one's directory: the backup's folder is set aside.
    auto rep1 = ReadJson(tmp_ + "/report.json");
    const auto* sent = Folder(rep1, "fred^smith", "INBOX.Sent");
    ASSERT_NE(sent, nullptr);
    ASSERT_TRUE(sent->contains("set_aside"));
    struct stat sb {};
    EXPECT_EQ(::stat(((*sent)["set_aside"].get<std::string>() + "/cyrus.index").c_str(), &sb), 0);
  }
  // Rerun in place: the output plans to itself (the re-created folder is now
  // the backup's too, so nothing is left to report for it).
  int rc2 = Sh(cmd);
  ASSERT_TRUE(rc2 == 0 || rc2 == 1);
  auto rep = ReadJson(tmp_ + "/report.json");
  for (const auto& u : rep["users"])
    for (const auto& f : u["folders"])
      if (f["emitted"].get<bool>()) {
        EXPECT_EQ(f["applied"], "skipped") << u["user"] << " " << f["name"];
      }
  EXPECT_EQ(Truth(tmp_ + "/bk/spool", tmp_ + "/bk/conf", ""), 0) << File("compare.txt");
}

TEST_P(ReconcileDamageE2E, DryRunWritesOnlyTheReport) {
  int rc = Reconcile("--dry-run");
  ASSERT_TRUE(rc == 0 || rc == 1);
  struct stat st {};
  EXPECT_NE(::stat((tmp_ + "/out").c_str(), &st), 0);
  std::string table = File("stdout.txt");
  EXPECT_NE(table.find("TOTAL"), std::string::npos);
  EXPECT_NE(table.find("alice"), std::string::npos);
  auto rep = ReadJson(tmp_ + "/report.json");
  EXPECT_TRUE(rep["dry_run"].get<bool>());
  EXPECT_EQ(rep["users"].size(), 5u);
}

TEST_P(ReconcileDamageE2E, CorruptSalvagedFileIsTakenFromBackup) {
  // bob's INBOX uid 1 exists in both: damage the salvaged copy.
  std::string dir = SalvDir("bob", "INBOX");
  ASSERT_EQ(Sh("printf 'XXXX' | dd of=" + Q(dir + "/1.") + " bs=1 seek=10 conv=notrunc status=none"), 0);
  int rc = Reconcile("");
  ASSERT_TRUE(rc == 0 || rc == 1);
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  EXPECT_EQ(Truth(tmp_ + "/out/spool", tmp_ + "/out/conf", ""), 0) << File("compare.txt");
}

TEST_P(ReconcileDamageE2E, CorruptNewMessageIsUnrecoverable) {
  // A bob INBOX message that arrived after the backup: nobody else has it.
  auto changes = ReadJson(set_ + "/changes.json");
  auto current = ReadJson(set_ + "/truth-current.json");
  int uid = 0;
  for (const auto& c : changes["after_backup"])
    if (c["user"] == "bob" && c["folder"] == "INBOX" && c["op"] == "append")
      for (const auto& u : c["uids"])
        if (!uid && current["users"]["bob"]["INBOX"]["messages"].contains(std::to_string(u.get<int>())))
          uid = u.get<int>();
  ASSERT_NE(uid, 0);
  std::string dir = SalvDir("bob", "INBOX");
  std::string file = dir + "/" + std::to_string(uid) + ".";
  ASSERT_EQ(Sh("printf 'XXXX' | dd of=" + Q(file) + " bs=1 seek=10 conv=notrunc status=none"), 0);
  EXPECT_EQ(Reconcile(""), 1);
  auto rep = ReadJson(tmp_ + "/report.json");
  const auto* f = Folder(rep, "bob", "INBOX");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ((*f)["unrecoverable"].size(), 1u);
  EXPECT_EQ((*f)["unrecoverable"][0]["uid"], uid);
  for (const auto& u : rep["users"])
    if (u["user"] == "bob") {
      EXPECT_EQ(u["status"], "lost");
    }
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  EXPECT_EQ(Truth(tmp_ + "/out/spool", tmp_ + "/out/conf", "--missing bob/INBOX:" + std::to_string(uid)), 0) << File("compare.txt");
}

TEST_P(ReconcileDamageE2E, LostSalvagedIndexKeepsEveryMessage) {
  std::string dir = SalvDir("bob", "INBOX");
  ASSERT_EQ(Sh("rm " + Q(dir + "/cyrus.index")), 0);
  int rc = Reconcile("");
  ASSERT_TRUE(rc == 0 || rc == 1);
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  // No evidence of deletion without the index: messages expunged since the
  // backup come back, and flags are the backup's where it had the message.
  EXPECT_EQ(Truth(tmp_ + "/out/spool", tmp_ + "/out/conf", "--superset bob/INBOX"), 0) << File("compare.txt");
  auto got = ReadJson(tmp_ + "/truth.json");
  auto bk = ReadJson(set_ + "/truth-backup.json");
  for (const auto& [uid, m] : bk["users"]["bob"]["INBOX"]["messages"].items())
    EXPECT_TRUE(got["users"]["bob"]["INBOX"]["messages"].contains(uid)) << "backup uid " << uid << " lost";
}

TEST_P(ReconcileDamageE2E, FolderMissingFromSalvageIsDroppedOnlyWithEvidence) {
  // bob's Trash: gone from the salvaged spool and db.
  std::string dir = SalvDir("bob", "INBOX.Trash");
  ASSERT_EQ(Sh("rm -rf " + Q(dir)), 0);
  auto db = mr::cyrus::ReadMailboxesDb(tmp_ + "/salv/conf/mailboxes.db");
  ASSERT_TRUE(db.ok());
  std::vector<mr::cyrus::MboxEntry> keep;
  for (auto& e : *db)
    if (e.name != "user.bob.Trash") keep.push_back(e);
  ASSERT_TRUE(mr::cyrus::WriteMailboxesDb(tmp_ + "/salv/conf/mailboxes.db", keep, mr::cyrus::DbFormat::kTwoskip).ok());
  // Readable tree: deleted since the backup.
  Reconcile("");
  auto rep = ReadJson(tmp_ + "/report.json");
  const auto* f = Folder(rep, "bob", "INBOX.Trash");
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE((*f)["emitted"].get<bool>());
  EXPECT_EQ((*f)["reason"], "folder_deleted_since_backup");
  // The directory that held it could not be listed in full: keep it.
  std::string parent = dir.substr(tmp_.size() + std::string("/salv/").size());
  parent = parent.substr(0, parent.rfind('/'));
  std::ofstream(tmp_ + "/salv/salvage.json")
      << nlohmann::json{{"tool", "mailrescue"}, {"command", "salvage"},
                        {"dirs", {{{"path", parent}, {"ino", 12}, {"complete", false}}}},
                        {"files", nlohmann::json::array()}}
             .dump();
  ASSERT_EQ(Sh("rm -rf " + Q(tmp_ + "/out")), 0);
  EXPECT_EQ(Reconcile(""), 1);
  rep = ReadJson(tmp_ + "/report.json");
  f = Folder(rep, "bob", "INBOX.Trash");
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE((*f)["emitted"].get<bool>());
  EXPECT_EQ((*f)["reason"], "folder_kept_damaged_tree");
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  EXPECT_EQ(Truth(tmp_ + "/out/spool", tmp_ + "/out/conf", ""), 0) << File("compare.txt");
}

// A user new since the backup: only the salvaged db still names its folders
// (their directories are gone). It is reported, and as lost, with every
// folder the db names (SPEC: losses are reported, a user only in S is taken
// from S); a folder of it that is gone while others remain is lost too.
TEST_P(ReconcileDamageE2E, UserOnlyTheSalvagedDbNamesIsReportedLost) {
  const std::string sent = SalvDir("newbie", "INBOX.Sent");
  ASSERT_EQ(Sh("rm -rf " + Q(sent)), 0);
  EXPECT_EQ(Reconcile(""), 1);
  auto rep = ReadJson(tmp_ + "/report.json");
  const nlohmann::json* newbie = nullptr;
  for (const auto& u : rep["users"])
    if (u["user"] == "newbie") newbie = &u;
  ASSERT_NE(newbie, nullptr) << rep.dump();
  EXPECT_EQ((*newbie)["status"], "lost");
  EXPECT_EQ((*newbie)["reason"], "user_salvage_only");
  ASSERT_NE(Folder(rep, "newbie", "INBOX.Sent"), nullptr);
  EXPECT_EQ((*Folder(rep, "newbie", "INBOX.Sent"))["reason"], "folder_lost");
  EXPECT_EQ((*Folder(rep, "newbie", "INBOX"))["reason"], "folder_new_since_backup");

  ASSERT_EQ(Sh("rm -rf " + Q(SalvDir("newbie", "INBOX")) + " " + Q(tmp_ + "/out")), 0);
  EXPECT_EQ(Reconcile(""), 1);
  rep = ReadJson(tmp_ + "/report.json");
  newbie = nullptr;
  for (const auto& u : rep["users"])
    if (u["user"] == "newbie") newbie = &u;
  ASSERT_NE(newbie, nullptr) << rep.dump();
  EXPECT_EQ((*newbie)["status"], "lost");
  EXPECT_EQ((*newbie)["reason"], "user_lost");
  ASSERT_EQ((*newbie)["folders"].size(), 2u);
  for (const auto& f : (*newbie)["folders"]) {
    EXPECT_EQ(f["reason"], "folder_lost") << f.dump();
    EXPECT_TRUE(f["emitted"].get<bool>());  // written empty: the user can log in and receive mail
    EXPECT_EQ(f["kept"], 0);
  }
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
}

TEST_P(ReconcileDamageE2E, SharedFolderMissingFromSalvageKeptUntilTheRestGroupIsDone) {
  // shared.retired without its tombstone in the salvaged db: only its
  // absence from a readable tree says it was deleted.
  auto sdb = mr::cyrus::ReadMailboxesDb(tmp_ + "/salv/conf/mailboxes.db");
  ASSERT_TRUE(sdb.ok());
  std::vector<mr::cyrus::MboxEntry> keep;
  for (auto& e : *sdb)
    if (e.name != "shared.retired") keep.push_back(e);
  ASSERT_EQ(keep.size() + 1, sdb->size());
  ASSERT_TRUE(
      mr::cyrus::WriteMailboxesDb(tmp_ + "/salv/conf/mailboxes.db", keep, mr::cyrus::DbFormat::kTwoskip).ok());
  Reconcile("");
  auto rep = ReadJson(tmp_ + "/report.json");
  const auto* gone = SharedFolder(rep, "shared.retired");
  ASSERT_NE(gone, nullptr);
  EXPECT_FALSE((*gone)["emitted"].get<bool>());
  EXPECT_EQ((*gone)["reason"], "folder_deleted_since_backup");
  // Salvage has not finished its rest group (where shared mailboxes live):
  // the absence is no evidence, so the backup's copy stays.
  ASSERT_EQ(Sh("rm -rf " + Q(tmp_ + "/out")), 0);
  std::ofstream(tmp_ + "/salv/salvage.json")
      << nlohmann::json{{"tool", "mailrescue"}, {"command", "salvage"}, {"dirs", nlohmann::json::array()},
                        {"files", nlohmann::json::array()}, {"rest_done", false}}
             .dump();
  EXPECT_EQ(Reconcile(""), 1);
  rep = ReadJson(tmp_ + "/report.json");
  const auto* retired = SharedFolder(rep, "shared.retired");
  ASSERT_NE(retired, nullptr);
  EXPECT_TRUE((*retired)["emitted"].get<bool>());
  EXPECT_EQ((*retired)["reason"], "folder_kept_damaged_tree");
  EXPECT_EQ(rep["shared"]["status"], "attention");
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  EXPECT_EQ(Truth(tmp_ + "/out/spool", tmp_ + "/out/conf", "--extra-folder %shared/shared.retired"), 0)
      << File("compare.txt");
}

TEST_P(ReconcileDamageE2E, JobsDoNotChangeTheOutput) {
  int rc = Reconcile("--jobs 1", "out1");
  ASSERT_TRUE(rc == 0 || rc == 1);
  auto r1 = ReadJson(tmp_ + "/report.json");
  ASSERT_EQ(Reconcile("--jobs 2", "out2"), rc);
  auto r2 = ReadJson(tmp_ + "/report.json");
  EXPECT_EQ(File("out1/conf/mailboxes.db"), File("out2/conf/mailboxes.db"));
  EXPECT_EQ(r1["users"].dump(), r2["users"].dump());
  EXPECT_EQ(Sh("diff -r " + Q(tmp_ + "/out1/spool") + " " + Q(tmp_ + "/out2/spool") + " > /dev/null"), 0);
}

TEST_P(ReconcileDamageE2E, UnreadableSalvagedDbDropsNoFolder) {
  ASSERT_EQ(Sh("head -c 100 /dev/urandom > " + Q(tmp_ + "/salv/conf/mailboxes.db")), 0);
  int rc = Reconcile("");
  ASSERT_TRUE(rc == 0 || rc == 1);
  auto rep = ReadJson(tmp_ + "/report.json");
  int dropped_folders = 0;
  for (const auto& u : rep["users"])
    for (const auto& f : u["folders"]) dropped_folders += !f["emitted"].get<bool>();
  for (const auto& f : rep["shared"]["folders"]) dropped_folders += !f["emitted"].get<bool>();
  EXPECT_EQ(dropped_folders, 0);  // no evidence of any folder deletion
  const auto* notes = Folder(rep, "bob", "INBOX.v1^2 notes");
  ASSERT_NE(notes, nullptr);
  EXPECT_EQ((*notes)["reason"], "folder_kept_damaged_tree");
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  EXPECT_EQ(Truth(tmp_ + "/out/spool", tmp_ + "/out/conf",
                  "--extra-folder 'bob/INBOX.v1^2 notes' --extra-folder %shared/shared.retired"),
            0)
      << File("compare.txt");
}

TEST_P(ReconcileDamageE2E, UsersFileLimitsTheRunAndBatchesAccumulate) {
  std::ofstream(tmp_ + "/users.txt") << "bob\n# comment\n\nnosuchuser\n";
  Reconcile("--users " + Q(tmp_ + "/users.txt"));
  auto rep = ReadJson(tmp_ + "/report.json");
  EXPECT_EQ(rep["unknown_users"], nlohmann::json::array({"nosuchuser"}));  // said, not silently dropped
  ASSERT_EQ(rep["users"].size(), 1u);
  EXPECT_EQ(rep["users"][0]["user"], "bob");
  auto db = mr::cyrus::ReadMailboxesDb(tmp_ + "/out/conf/mailboxes.db");
  ASSERT_TRUE(db.ok());
  for (const auto& e : *db) EXPECT_EQ(mr::UserOf(e.name), "bob") << e.name;
  EXPECT_TRUE(rep["shared"].is_null());  // not listed: the shared mailboxes wait
  // A second batch adds the other users and the shared mailboxes ("%shared");
  // the db then holds everyone.
  std::ofstream(tmp_ + "/users.txt") << "alice\ndave\nfred^smith\nnewbie\n%shared\n";
  Reconcile("--users " + Q(tmp_ + "/users.txt"));
  rep = ReadJson(tmp_ + "/report.json");
  EXPECT_TRUE(rep["shared"].is_object());
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  EXPECT_EQ(Truth(tmp_ + "/out/spool", tmp_ + "/out/conf", ""), 0) << File("compare.txt");
}

TEST_P(ReconcileDamageE2E, PriorityFileOrdersUsers) {
  std::ofstream(tmp_ + "/prio.txt") << "dave\nnobody\nbob\ndave\n";
  mr::reconcile::ReconcileOptions o;
  o.paths.salvaged_dir = tmp_ + "/salv";
  o.paths.backup_spool = set_ + "/backup/spool";
  o.paths.backup_db = set_ + "/backup/conf/mailboxes.db";
  o.dry_run = true;
  o.priority_file = tmp_ + "/prio.txt";
  auto r = mr::reconcile::Reconciler::Open(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  // The shared unit sorts first among the rest ('%' < any user name).
  EXPECT_EQ(r->Users(), (std::vector<std::string>{"dave", "bob", "%shared", "alice", "fred^smith", "newbie"}));
}

TEST_P(ReconcileDamageE2E, BadArgumentsExitTwo) {
  EXPECT_EQ(Sh(kCli + " reconcile --salvaged /nonexistent --backup-spool " + Q(set_ + "/backup/spool") +
               " --backup-db " + Q(set_ + "/backup/conf/mailboxes.db") + " --out-spool " + Q(tmp_ + "/o") +
               " --out-db " + Q(tmp_ + "/o.db") + " 2> " + Q(tmp_ + "/err.txt")),
            2);
  EXPECT_NE(File("err.txt").find("--salvaged"), std::string::npos);
  EXPECT_EQ(Sh(kCli + " reconcile --salvaged " + Q(tmp_ + "/salv") + " --backup-spool " + Q(set_ + "/backup/spool") +
               " --backup-db /nonexistent/mailboxes.db --out-spool " + Q(tmp_ + "/o") + " --out-db " +
               Q(tmp_ + "/o.db") + " 2> " + Q(tmp_ + "/err.txt")),
            2);
  EXPECT_NE(File("err.txt").find("--backup-db"), std::string::npos);
  EXPECT_EQ(Sh(kCli + " reconcile --salvaged " + Q(tmp_ + "/salv") + " --backup-spool " + Q(set_ + "/backup/spool") +
               " --backup-db " + Q(set_ + "/backup/conf/mailboxes.db") + " --out-spool " +
               Q(set_ + "/backup/spool") + " --out-db " + Q(tmp_ + "/o.db") + " 2> " + Q(tmp_ + "/err.txt")),
            2);  // writing onto the backup needs --in-place
}

TEST_P(ReconcileDamageE2E, GarbageMetadataIsDataNotACrash) {
  // bob: INBOX header garbage, Sent index records overwritten, Trash cache cut short;
  // alice: INBOX index header garbage. Nothing may be lost that either side still has.
  std::string inbox = SalvDir("bob", "INBOX"), sent = SalvDir("bob", "INBOX.Sent");
  std::string trash = SalvDir("bob", "INBOX.Trash"), alice = SalvDir("alice", "INBOX");
  ASSERT_EQ(Sh("head -c 300 /dev/urandom > " + Q(inbox + "/cyrus.header")), 0);
  ASSERT_EQ(Sh("head -c 150 /dev/urandom | dd of=" + Q(sent + "/cyrus.index") +
               " bs=1 seek=200 conv=notrunc status=none"), 0);
  ASSERT_EQ(Sh("truncate -s 100 " + Q(trash + "/cyrus.cache")), 0);
  ASSERT_EQ(Sh("head -c 64 /dev/urandom | dd of=" + Q(alice + "/cyrus.index") +
               " bs=1 seek=8 conv=notrunc status=none"), 0);
  int rc = Reconcile("");
  ASSERT_TRUE(rc == 0 || rc == 1) << rc;
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  // Every message of the current store is served, at its uid with its content
  // (flags where the damaged metadata held them may come from the backup).
  EXPECT_EQ(Truth(tmp_ + "/out/spool", tmp_ + "/out/conf",
                  "--superset bob/INBOX --superset bob/INBOX.Sent --superset alice/INBOX "
                  "--ignore-flags bob/INBOX.Trash"),
            0)
      << File("compare.txt");
  auto rep = ReadJson(tmp_ + "/report.json");
  const auto* f = Folder(rep, "bob", "INBOX.Sent");
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE((*f)["problems"].empty());
}

TEST_P(ReconcileDamageE2E, MessageAnnotationsCarriedWithTheirSyncCrc) {
  // Real per-message annotations (private ones are keyed by "[.OwNeR.]").
  ASSERT_EQ(Sh("python3 " + std::string(MR_SOURCE_DIR) + "/tests/reconcile/annotate_store.py --spool " +
               Q(tmp_ + "/salv/spool") + " --conf " + Q(tmp_ + "/salv/conf") + " bob fred.smith > " +
               Q(tmp_ + "/annotate.txt") + " 2>&1"),
            0)
      << File("annotate.txt");
  ASSERT_EQ(Check(tmp_ + "/salv/spool", tmp_ + "/salv/conf"), 0) << File("check.txt");
  int rc = Reconcile("");
  ASSERT_TRUE(rc == 0 || rc == 1);
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
}

// Folder metadata lives in the config directory's annotations.db (CREATE
// "INBOX/Archived" (USE (\Archive)) stores /private/specialuse there; SETMETADATA
// on folders too) and quota roots in its quota db. Both must reach the output:
// reconstruct -n recomputes each folder's quota_annot_used from them, and imapd
// must answer GETMETADATA / GETQUOTAROOT as the salvaged store did.
TEST_P(ReconcileE2E, FolderMetadataAndQuotaRootsAreCarried) {
  const std::string meta = "python3 " + std::string(MR_SOURCE_DIR) + "/tests/reconcile/folder_meta.py ";
  auto run = [&](const std::string& mode, const std::string& store, const std::string& extra) {
    return Sh(meta + mode + Legacy() + " --spool " + Q(store + "/spool") + " --conf " + Q(store + "/conf") + " " +
              extra + " bob fred.smith > " + Q(tmp_ + "/meta.txt") + " 2>&1");
  };
  ASSERT_EQ(run("set", tmp_ + "/salv", ""), 0) << File("meta.txt");
  ASSERT_EQ(Check(tmp_ + "/salv/spool", tmp_ + "/salv/conf"), 0) << File("check.txt");
  ASSERT_EQ(run("dump", tmp_ + "/salv", "--out " + Q(tmp_ + "/want.json")), 0) << File("meta.txt");
  int rc = Reconcile("");
  ASSERT_TRUE(rc == 0 || rc == 1) << File("stdout.txt");
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  ASSERT_EQ(run("dump", tmp_ + "/out", "--out " + Q(tmp_ + "/got.json")), 0) << File("meta.txt");
  auto want = ReadJson(tmp_ + "/want.json"), got = ReadJson(tmp_ + "/got.json");
  EXPECT_EQ(got, want) << "got:\n" << got.dump(1) << "\nwant:\n" << want.dump(1);
  EXPECT_NE(want.dump().find("500000"), std::string::npos);  // the test set a quota root
  EXPECT_NE(want.dump().find("Archive"), std::string::npos);  // and a special-use folder
}

// The salvaged annotations.db is damaged and its quota files are gone: a
// folder both sides have takes the backup's metadata and quota limits (the
// per-side rule of seen/sub), a folder only S has gets none, and reconstruct
// still agrees with every quota_annot_used.
TEST_P(ReconcileDamageE2E, FolderMetadataFromTheBackupWhenTheSalvagedDbIsDamaged) {
  const std::string meta = "python3 " + std::string(MR_SOURCE_DIR) + "/tests/reconcile/folder_meta.py ";
  ASSERT_EQ(Sh("cp -a " + Q(set_ + "/backup") + " " + Q(tmp_ + "/backup")), 0);
  auto run = [&](const std::string& mode, const std::string& store, const std::string& extra) {
    return Sh(meta + mode + " --spool " + Q(store + "/spool") + " --conf " + Q(store + "/conf") + " " + extra +
              " bob > " + Q(tmp_ + "/meta.txt") + " 2>&1");
  };
  ASSERT_EQ(run("set", tmp_ + "/backup", "--tag backup --storage 400000"), 0) << File("meta.txt");
  ASSERT_EQ(run("set", tmp_ + "/salv", "--tag now"), 0) << File("meta.txt");
  ASSERT_EQ(Sh("printf garbage > " + Q(tmp_ + "/salv/conf/annotations.db") + " && rm -rf " +
               Q(tmp_ + "/salv/conf/quota")),
            0);
  int rc = Sh(kCli + " --quiet reconcile --salvaged " + Q(tmp_ + "/salv") + " --backup-spool " +
              Q(tmp_ + "/backup/spool") + " --backup-db " + Q(tmp_ + "/backup/conf/mailboxes.db") + " --out-spool " +
              Q(tmp_ + "/out/spool") + " --out-db " + Q(tmp_ + "/out/conf/mailboxes.db") + " --no-fsync --report " +
              Q(tmp_ + "/report.json") + " > " + Q(tmp_ + "/stdout.txt"));
  ASSERT_TRUE(rc == 0 || rc == 1) << File("stdout.txt");
  EXPECT_EQ(Check(tmp_ + "/out/spool", tmp_ + "/out/conf"), 0) << File("check.txt");
  ASSERT_EQ(run("dump", tmp_ + "/out", "--out " + Q(tmp_ + "/got.json")), 0) << File("meta.txt");
  auto got = ReadJson(tmp_ + "/got.json");
  const std::string inbox = got["bob"]["meta"]["INBOX"].dump();
  EXPECT_NE(inbox.find("inbox backup bob"), std::string::npos) << inbox;
  // INBOX/Archived was created on each side separately (two uniqueids): S's
  // folder is the one served, and the backup's metadata is not its own.
  const std::string archived = got["bob"]["meta"]["INBOX/Archived"].dump();
  EXPECT_EQ(archived.find("archive backup"), std::string::npos) << archived;
  EXPECT_NE(got["bob"]["quota"].dump().find("STORAGE"), std::string::npos) << got["bob"]["quota"].dump();
  EXPECT_NE(got["bob"]["quota"].dump().find(" 400000"), std::string::npos) << got["bob"]["quota"].dump();
}

INSTANTIATE_TEST_SUITE_P(Layouts, ReconcileE2E, ::testing::Values("uuid", "legacy"));
INSTANTIATE_TEST_SUITE_P(Uuid, ReconcileDamageE2E, ::testing::Values("uuid"));

}  // namespace
