// End-to-end tests of `mailrescue rescue` on the fixture factory's real-Cyrus
// store: users back one at a time, priority followed live, one user at a time
// per target, hook once per user, proxy map complete, resumable after SIGKILL,
// shards that add up to a single run, and the source image never written.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/cyrus_layout.h"
#include "common/sha1.h"
#include "reconcile/cyrus/index.h"
#include "reconcile/cyrus/mboxdb.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kFixture = std::string(MR_BINARY_DIR) + "/fixture-data/small-uuid";
const std::string kCli = MR_CLI_PATH;

std::string Slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Q(const std::string& s) {
  std::string o = "'";
  for (char c : s) {
    if (c == '\'')
      o += "'\\''";
    else
      o += c;
  }
  return o + "'";
}

struct CmdResult {
  int rc = -1;
  std::string out, err;
};

CmdResult Sh(const std::string& cmd, const std::string& dir) {
  std::string o = dir + "/.out", e = dir + "/.err";
  int st = std::system((cmd + " >" + Q(o) + " 2>" + Q(e)).c_str());
  CmdResult r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = Slurp(o);
  r.err = Slurp(e);
  return r;
}

std::string Sha256(const std::string& path, const std::string& dir) {
  auto r = Sh("sha256sum " + Q(path) + " | cut -d' ' -f1", dir);
  return r.out;
}

class Rescue : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kFixture + "/current.img")) << "fixture missing: " << kFixture;
    dir_ = fs::temp_directory_path() / ("mr_rescue_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string D(const std::string& rel) const { return (dir_ / rel).string(); }

  // The rescue command line for the single-target layout under `sub`.
  std::string RescueCmd(const std::string& sub, const std::string& extra = "") const {
    return kCli + " rescue " + Q(kFixture + "/current.img") + " --backup-spool " + Q(kFixture + "/backup/spool") +
           " --backup-db " + Q(kFixture + "/backup/conf/mailboxes.db") + " --out-spool " + Q(D(sub + "/out/spool")) +
           " --out-db " + Q(D(sub + "/out/conf/mailboxes.db")) + " --workdir " + Q(D(sub + "/work")) +
           " --no-fsync --report " + Q(D(sub + "/report.json")) + " --events " + Q(D(sub + "/events.jsonl")) + " " +
           extra;
  }

  std::vector<json> Events(const std::string& sub) const {
    std::vector<json> ev;
    std::istringstream in(Slurp(D(sub + "/events.jsonl")));
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) ev.push_back(json::parse(line));
    return ev;
  }

  // Real Cyrus on out/: reconstruct -n finds nothing, and imapd serves exactly
  // the fixture set's current store (truth-current.json).
  void ExpectServesTheCurrentStore(const std::string& fix, bool legacy) const {
    std::string env = "python3 " + Q(std::string(MR_SOURCE_DIR) + "/fixtures/cyrus_env.py");
    std::string lf = legacy ? " --legacy" : "";
    auto c = Sh(env + " check --spool " + Q(D("out/spool")) + " --conf " + Q(D("out/conf")) + lf, D(""));
    EXPECT_EQ(c.rc, 0) << c.out << c.err;
    auto t = Sh(env + " truth --spool " + Q(D("out/spool")) + " --conf " + Q(D("out/conf")) + lf + " --out " +
                    Q(D("truth.json")),
                D(""));
    ASSERT_EQ(t.rc, 0) << t.out << t.err;
    auto cmp = Sh("python3 " + Q(std::string(MR_SOURCE_DIR) + "/tests/reconcile/compare_truth.py") + " " +
                      Q(D("truth.json")) + " " + Q(fix + "/truth-current.json"),
                  D(""));
    EXPECT_EQ(cmp.rc, 0) << cmp.out << cmp.err;
  }

  fs::path dir_;
};

// The user a mailbox belongs to, including its delayed-delete copies
// (DELETED.user.bob.X.<hex>).
std::string OwnerOf(const std::string& name) {
  std::string n = name.rfind("DELETED.", 0) == 0 ? name.substr(8) : name;
  return mr::UserOf(n);
}

std::set<std::string> FixtureUsers() {
  std::set<std::string> users;
  json t = json::parse(Slurp(kFixture + "/truth-current.json"));
  for (auto& [u, _] : t["users"].items()) users.insert(u);
  json b = json::parse(Slurp(kFixture + "/truth-backup.json"));
  for (auto& [u, _] : b["users"].items()) users.insert(u);
  return users;
}

// (mailbox, uid, sha1, system flags, user flags) of every live message of a store.
std::set<std::string> StoreContent(const std::string& spool, const std::string& db) {
  std::set<std::string> out;
  auto entries = mr::cyrus::ReadMailboxesDb(db);
  EXPECT_TRUE(entries.ok()) << db;
  if (!entries.ok()) return out;
  for (const auto& e : *entries) {
    if (e.mbtype.find('d') != std::string::npos || e.mbtype.find('i') != std::string::npos) continue;
    std::string rel = mr::MailboxRelDir(e.name, e.uniqueid,
                                        e.mbtype.find('l') != std::string::npos ? mr::CyrusLayout::kLegacy
                                                                                : mr::CyrusLayout::kUuid,
                                        true);
    auto idx = mr::cyrus::ReadIndexFile(spool + "/" + rel + "/cyrus.index");
    EXPECT_TRUE(idx.ok()) << e.name;
    if (!idx.ok()) continue;
    out.insert(e.name + " uidvalidity " + std::to_string(idx->header.uidvalidity));
    for (const auto& r : idx->records) {
      if (r.system_flags & mr::cyrus::kFlagExpunged) continue;
      std::ostringstream s;
      s << e.name << " " << r.uid << " " << mr::ToHex(r.guid) << " " << (r.system_flags & 0x1f) << " "
        << r.user_flags[0] << "," << r.user_flags[1];
      out.insert(s.str());
    }
  }
  return out;
}

// Both Cyrus layouts: after a rescue of the intact image, a real imapd serves
// exactly the current store (folders, uidvalidity, uids, SHA1s, flags).
class RescueLayout : public Rescue, public ::testing::WithParamInterface<const char*> {};

TEST_P(RescueLayout, RealCyrusServesExactlyTheCurrentStore) {
  std::string fix = std::string(MR_BINARY_DIR) + "/fixture-data/" + GetParam();
  bool legacy = std::string(GetParam()).find("legacy") != std::string::npos;
  std::string before = Sha256(fix + "/current.img", D(""));
  std::string cmd = kCli + " rescue " + Q(fix + "/current.img") + " --backup-spool " + Q(fix + "/backup/spool") +
                    " --backup-db " + Q(fix + "/backup/conf/mailboxes.db") + " --backup-conf " +
                    Q(fix + "/backup/imapd.conf") + " --out-spool " + Q(D("out/spool")) + " --out-db " +
                    Q(D("out/conf/mailboxes.db")) + " --workdir " + Q(D("work")) + " --no-fsync";
  auto r = Sh(cmd, D(""));
  ASSERT_LE(r.rc, 1) << r.err;
  EXPECT_EQ(Sha256(fix + "/current.img", D("")), before) << "the source image was written";
  ExpectServesTheCurrentStore(fix, legacy);
}

INSTANTIATE_TEST_SUITE_P(Layouts, RescueLayout, ::testing::Values("small-uuid", "small-legacy"));

// Only the cyrus.header of a folder with mail new since the backup is garbage
// (index and message files intact): rescue still extracts and reconciles the
// folder with its user (uuid: the salvaged mailboxes.db names the directory's
// uniqueid; legacy INBOX: its path names the user), so nothing is lost and
// real Cyrus serves exactly the current store, as salvage + reconcile does.
class RescueHeaderGarbage : public Rescue,
                            public ::testing::WithParamInterface<std::pair<const char*, const char*>> {};

TEST_P(RescueHeaderGarbage, FolderComesBackWithItsUserAndNothingIsLost) {
  const std::string fix = std::string(MR_BINARY_DIR) + "/fixture-data/" + GetParam().first;
  const bool legacy = std::string(GetParam().first).find("legacy") != std::string::npos;
  const std::string img = D("c.img");
  ASSERT_EQ(Sh("cp --sparse=always " + Q(fix + "/current.img") + " " + Q(img), D("")).rc, 0);
  auto d = Sh("bash " + Q(std::string(MR_SOURCE_DIR) + "/fixtures/damage/header_garbage.sh") + " " + Q(img) + " " +
                  GetParam().second,
              D(""));
  ASSERT_EQ(d.rc, 0) << d.err;
  std::string cmd = kCli + " rescue " + Q(img) + " --backup-spool " + Q(fix + "/backup/spool") + " --backup-db " +
                    Q(fix + "/backup/conf/mailboxes.db") + " --backup-conf " + Q(fix + "/backup/imapd.conf") +
                    " --out-spool " + Q(D("out/spool")) + " --out-db " + Q(D("out/conf/mailboxes.db")) +
                    " --workdir " + Q(D("work")) + " --no-fsync --report " + Q(D("report.json"));
  auto r = Sh(cmd, D(""));
  ASSERT_LE(r.rc, 1) << r.err;
  json rep = json::parse(Slurp(D("report.json")));
  const std::string folder = mr::FolderOf(GetParam().second);
  const json* f = nullptr;
  for (const auto& u : rep["users"])
    if (u["user"] == "alice")
      for (const auto& x : u["folders"])
        if (x["name"] == folder) f = &x;
  ASSERT_NE(f, nullptr) << rep.dump();
  json truth = json::parse(Slurp(fix + "/truth-current.json"));
  EXPECT_EQ((*f)["kept"].get<std::size_t>(), truth["users"]["alice"][folder]["messages"].size()) << f->dump();
  EXPECT_GT((*f)["from_salvage"].get<int>(), 0) << f->dump();
  ExpectServesTheCurrentStore(fix, legacy);
}

INSTANTIATE_TEST_SUITE_P(Layouts, RescueHeaderGarbage,
                         ::testing::Values(std::make_pair("small-uuid", "user.alice.Sent"),
                                           std::make_pair("small-legacy", "user.alice")),
                         [](const auto& info) {
                           return std::string(info.param.first) == "small-uuid" ? "UuidSent" : "LegacyInbox";
                         });

// A user new since the backup whose folders are destroyed outright (inodes
// cleared, names unlinked): only the salvaged mailboxes.db names it. It is in
// the report, status lost, every folder the db names reported lost, and it
// is announced and in the proxy map like every other user.
TEST_F(Rescue, UserOnlyTheSalvagedDbNamesIsReportedLost) {
  const std::string img = D("c.img");
  ASSERT_EQ(Sh("cp --sparse=always " + Q(kFixture + "/current.img") + " " + Q(img), D("")).rc, 0);
  auto d = Sh("bash " + Q(std::string(MR_SOURCE_DIR) + "/fixtures/damage/destroy_user.sh") + " " + Q(img) +
                  " user.newbie",
              D(""));
  ASSERT_EQ(d.rc, 0) << d.err;
  std::string cmd = RescueCmd("a");
  cmd.replace(cmd.find(Q(kFixture + "/current.img")), Q(kFixture + "/current.img").size(), Q(img));
  auto r = Sh(cmd, D(""));
  EXPECT_EQ(r.rc, 1) << r.err;
  json rep = json::parse(Slurp(D("a/report.json")));
  std::set<std::string> users;
  const json* newbie = nullptr;
  for (const auto& u : rep["users"]) {
    users.insert(u["user"].get<std::string>());
    if (u["user"] == "newbie") newbie = &u;
  }
  EXPECT_EQ(users, FixtureUsers());
  ASSERT_NE(newbie, nullptr) << rep.dump();
  EXPECT_EQ((*newbie)["status"], "lost");
  EXPECT_EQ((*newbie)["reason"], "user_lost");
  EXPECT_EQ((*newbie)["phase"], "announced");
  std::set<std::string> folders;
  for (const auto& f : (*newbie)["folders"]) {
    folders.insert(f["name"].get<std::string>());
    EXPECT_EQ(f["reason"], "folder_lost") << f.dump();
  }
  EXPECT_EQ(folders, (std::set<std::string>{"INBOX", "INBOX.Sent"}));
  EXPECT_NE(Slurp(D("a/work/proxy.map")).find("newbie"), std::string::npos);
}

TEST_F(Rescue, EveryUserBackVerifiedAnnouncedOnceAndSourceUntouched) {
  std::string before = Sha256(kFixture + "/current.img", D(""));
  std::string hook = "echo \"$MAILRESCUE_USER $MAILRESCUE_TARGET $MAILRESCUE_STATUS\" >> " + Q(D("hook.log"));
  auto r = Sh(RescueCmd("a", "--on-user-done " + Q(hook)), D(""));
  ASSERT_LE(r.rc, 1) << r.err;
  EXPECT_EQ(Sha256(kFixture + "/current.img", D("")), before);

  json rep = json::parse(Slurp(D("a/report.json")));
  auto users = FixtureUsers();
  std::set<std::string> reported;
  for (const auto& u : rep["users"]) {
    reported.insert(u["user"]);
    EXPECT_EQ(u["phase"], "announced") << u["user"];
    EXPECT_TRUE(u["status"] == "ok" || u["status"] == "attention") << u.dump();
    EXPECT_TRUE(u["verify_problems"].empty()) << u["verify_problems"].dump();
  }
  EXPECT_EQ(reported, users);
  // The shared mailboxes: one unit, back after the users (rest group), verified.
  ASSERT_TRUE(rep["shared"].is_object()) << rep.dump();
  EXPECT_EQ(rep["shared"]["phase"], "announced");
  EXPECT_EQ(rep["shared"]["status"], "ok") << rep["shared"].dump();
  EXPECT_TRUE(rep["shared"]["verify_problems"].empty()) << rep["shared"].dump();
  EXPECT_EQ(rep["shared"]["folders"].size(), 6u);  // 5 emitted + shared.retired, deleted since

  // The hook ran exactly once per user (and once for %shared), after that user was done.
  std::map<std::string, int> calls;
  std::istringstream hl(Slurp(D("hook.log")));
  std::string u, t, s;
  while (hl >> u >> t >> s) calls[u]++;
  for (const auto& user : users) EXPECT_EQ(calls[user], 1) << user;
  EXPECT_EQ(calls["%shared"], 1);

  // Proxy map: every user, one line each.
  std::istringstream pm(Slurp(D("a/work/proxy.map")));
  std::set<std::string> mapped;
  std::string line;
  while (std::getline(pm, line)) mapped.insert(line.substr(0, line.find('\t')));
  EXPECT_EQ(mapped, users);

  // The whole output passes our verify and real Cyrus' reconstruct -n.
  auto v = Sh(kCli + " verify --spool " + Q(D("a/out/spool")) + " --db " + Q(D("a/out/conf/mailboxes.db")), D(""));
  EXPECT_EQ(v.rc, 0) << v.out << v.err;
  auto c = Sh("python3 " + Q(std::string(MR_SOURCE_DIR) + "/fixtures/cyrus_env.py") + " check --spool " +
                  Q(D("a/out/spool")) + " --conf " + Q(D("a/out/conf")),
              D(""));
  EXPECT_EQ(c.rc, 0) << c.out << c.err;

  // A second run of the same command has nothing left to do and changes nothing.
  auto content = StoreContent(D("a/out/spool"), D("a/out/conf/mailboxes.db"));
  auto again = Sh(RescueCmd("a", "--on-user-done " + Q(hook)), D(""));
  EXPECT_LE(again.rc, 1) << again.err;
  EXPECT_EQ(StoreContent(D("a/out/spool"), D("a/out/conf/mailboxes.db")), content);
  std::istringstream hl2(Slurp(D("hook.log")));
  int lines = 0;
  while (std::getline(hl2, line)) ++lines;
  EXPECT_EQ(lines, static_cast<int>(users.size()) + 1) << "users announced twice";
}

// The report's filesystem section counts damaged files by block group (read
// from salvage.json as it streams by, not loaded whole).
TEST_F(Rescue, ReportCountsDamagedFilesByBlockGroup) {
  const std::string copy = D("c.img"), map = D("c.map");
  ASSERT_EQ(Sh("cp --sparse=always " + Q(kFixture + "/current.img") + " " + Q(copy), D("")).rc, 0);
  auto d = Sh("bash " + Q(std::string(MR_SOURCE_DIR) + "/fixtures/damage/badmap.sh") + " " + Q(copy) + " " + Q(map) +
                  " 3",
              D(""));
  ASSERT_EQ(d.rc, 0) << d.err;
  json dmg = json::parse(d.out);
  auto ipg = Sh("dumpe2fs -h " + Q(copy) + " 2>/dev/null | sed -n 's/^Inodes per group: *//p'", D(""));
  const long per_group = std::stol(ipg.out);
  std::map<std::string, int> want;
  for (const auto& f : dmg["files"]) want[std::to_string((f["ino"].get<long>() - 1) / per_group)]++;
  ASSERT_FALSE(want.empty());

  std::string cmd = RescueCmd("a", "--badmap " + Q(map));
  cmd.replace(cmd.find(Q(kFixture + "/current.img")), Q(kFixture + "/current.img").size(), Q(copy));
  auto r = Sh(cmd, D(""));
  ASSERT_LE(r.rc, 1) << r.err;
  json rep = json::parse(Slurp(D("a/report.json")));
  std::map<std::string, int> got;
  for (auto& [g, n] : rep["filesystem"]["damaged_groups"].items()) got[g] = n.get<int>();
  EXPECT_EQ(got, want) << rep["filesystem"].dump();
}

TEST_F(Rescue, PriorityFileAppendedMidRunJumpsTheQueue) {
  // The hook of the first finished user appends the alphabetically last user
  // to the priority file, as a login handler would; that user must come next.
  auto users = FixtureUsers();
  std::string first = *users.begin();
  std::string last = *users.rbegin();
  std::string prio = D("logins.txt");
  std::string hook = "[ \"$MAILRESCUE_USER\" = " + Q(first) + " ] && echo " + Q(last) + " >> " + Q(prio) + "; true";
  auto r = Sh(RescueCmd("p", "--priority " + Q(prio) + " --on-user-done " + Q(hook)), D(""));
  ASSERT_LE(r.rc, 1) << r.err;
  std::vector<std::string> order;
  for (const auto& e : Events("p"))
    if (e["event"] == "user_started") order.push_back(e["user"]);
  ASSERT_GE(order.size(), 3u);
  EXPECT_EQ(order[0], first);
  EXPECT_EQ(order[1], last);
}

TEST_F(Rescue, UsersFileLimitsTheRunAndNamesWhoItCannotFind) {
  std::string who;
  for (const auto& u : FixtureUsers())
    if (who.empty() && u[0] != '%') who = u;
  std::ofstream(D("only.txt")) << who << "\nnosuchuser\n";
  auto r = Sh(RescueCmd("u", "--users " + Q(D("only.txt"))), D(""));
  ASSERT_LE(r.rc, 1) << r.err;
  json rep = json::parse(Slurp(D("u/report.json")));
  ASSERT_EQ(rep["users"].size(), 1u) << rep["users"].dump();
  EXPECT_EQ(rep["users"][0]["user"], who);
  EXPECT_NE(r.err.find("--users names nosuchuser, who is in no backup db and not in the salvaged store"),
            std::string::npos) << r.err;
}

TEST_F(Rescue, DryRunWritesNoTarget) {
  auto r = Sh(RescueCmd("d", "--dry-run"), D(""));
  ASSERT_LE(r.rc, 1) << r.err;
  EXPECT_FALSE(fs::exists(D("d/out")));
  json rep = json::parse(Slurp(D("d/report.json")));
  EXPECT_EQ(rep["users"].size(), FixtureUsers().size());
  for (const auto& u : rep["users"]) EXPECT_EQ(u["phase"], "planned") << u.dump();
}

// A target path that cannot work is bad input: exit 2 with one line naming the
// argument, before the source is read and before the workdir exists (it was
// found only after the salvage, every user "pending", exit 1).
TEST_F(Rescue, UnusableTargetPathsExitTwoBeforeAnyWork) {
  const std::string img = Q(kFixture + "/current.img"), bspool = Q(kFixture + "/backup/spool"),
                    bdb = Q(kFixture + "/backup/conf/mailboxes.db");
  std::ofstream(D("a-file")) << "x";
  struct Case {
    std::string args, names;
  } cases[] = {
      {"--backup-spool " + Q(D("nonexistent")) + " --backup-db " + bdb + " --out-spool " + Q(D("o/spool")) +
           " --out-db " + Q(D("o/conf/mailboxes.db")),
       "--backup-spool"},
      {"--backup-spool " + bspool + " --backup-db " + Q(D("nonexistent.db")) + " --out-spool " + Q(D("o/spool")) +
           " --out-db " + Q(D("o/conf/mailboxes.db")),
       "--backup-db"},
      {"--backup-spool " + bspool + " --backup-db " + bdb + " --out-spool " + Q(D("a-file")) + " --out-db " +
           Q(D("o/conf/mailboxes.db")),
       "--out-spool"},
      {"--backup-spool " + bspool + " --backup-db " + bdb + " --out-spool " + Q(D("o/spool")) + " --out-db " +
           Q(D("a-file/mailboxes.db")),
       "--out-db"},
  };
  for (const auto& c : cases) {
    auto r = Sh(kCli + " rescue " + img + " " + c.args + " --workdir " + Q(D("work")) + " --no-fsync", D(""));
    EXPECT_EQ(r.rc, 2) << c.args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(D("work"))) << c.args;
    EXPECT_FALSE(fs::exists(D("o"))) << c.args;
  }
}

// A user whose output does not verify is not announced: no --on-user-done
// hook releases held mail onto a store that may not serve it. Here the output
// spool already holds a stray folder of bob's (a directory with a cyrus.header
// that no mailboxes.db entry names). Once the operator removed it, the same
// command verifies bob, announces him, and his status is his reconcile's again.
TEST_F(Rescue, UserWhoDoesNotVerifyIsNotAnnouncedUntilARerunVerifies) {
  const std::string fix = std::string(MR_BINARY_DIR) + "/fixture-data/small-legacy";
  const std::string stray = D("out/spool/b/user/bob/Stray");
  fs::create_directories(stray);
  fs::copy_file(fix + "/current/spool/b/user/bob/Sent/cyrus.header", stray + "/cyrus.header");
  const std::string cmd = kCli + " rescue " + Q(fix + "/current.img") + " --backup-spool " +
                          Q(fix + "/backup/spool") + " --backup-db " + Q(fix + "/backup/conf/mailboxes.db") +
                          " --out-spool " + Q(D("out/spool")) + " --out-db " + Q(D("out/conf/mailboxes.db")) +
                          " --workdir " + Q(D("work")) + " --no-fsync --report " + Q(D("report.json")) +
                          " --on-user-done " + Q("echo $MAILRESCUE_USER $MAILRESCUE_STATUS >> " + D("hook.log"));
  auto r = Sh(cmd, D(""));
  ASSERT_EQ(r.rc, 1) << r.err;
  auto user = [&](const std::string& name) {
    json rep = json::parse(Slurp(D("report.json")));
    for (const auto& u : rep["users"])
      if (u["user"] == name) return u;
    ADD_FAILURE() << "no " << name << " in the report";
    return json::object();
  };
  json bob = user("bob");
  EXPECT_EQ(bob["status"], "attention");
  EXPECT_EQ(bob["phase"], "reconciled");
  ASSERT_FALSE(bob["verify_problems"].empty());
  EXPECT_EQ(user("alice")["phase"], "announced");
  std::string hooks = Slurp(D("hook.log"));
  EXPECT_EQ(hooks.find("bob"), std::string::npos) << hooks;
  EXPECT_NE(hooks.find("alice ok"), std::string::npos) << hooks;

  fs::remove_all(stray);
  r = Sh(cmd, D(""));
  ASSERT_LE(r.rc, 1) << r.err;
  bob = user("bob");
  EXPECT_EQ(bob["phase"], "announced");
  EXPECT_EQ(bob["status"], "ok");
  EXPECT_TRUE(bob["verify_problems"].empty());
  hooks = Slurp(D("hook.log"));
  EXPECT_NE(hooks.find("bob ok"), std::string::npos) << hooks;
  EXPECT_EQ(hooks.find("alice ok"), hooks.rfind("alice ok")) << "alice announced twice: " << hooks;
}

TEST_F(Rescue, SecondProcessOnTheSameWorkdirIsRefused) {
  fs::create_directories(D("w/work"));
  // Hold the workdir lock with flock(1) while mailrescue tries to start.
  auto r = Sh("flock " + Q(D("w/work/lock")) + " " + RescueCmd("w"), D(""));
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("another mailrescue"), std::string::npos) << r.err;
}

TEST_F(Rescue, KilledAtRandomPointsThenRerunEqualsAnUninterruptedRun) {
  auto ref = Sh(RescueCmd("ref"), D(""));
  ASSERT_LE(ref.rc, 1) << ref.err;
  auto want = StoreContent(D("ref/out/spool"), D("ref/out/conf/mailboxes.db"));
  ASSERT_FALSE(want.empty());
  for (int seed : {1, 2, 3}) {
    std::string sub = "k" + std::to_string(seed);
    // Kill -9 from the hook of the seed-th user (mid-run, between phases of
    // the next user), then after a short random delay on the rerun.
    std::string hook = "n=$(cat " + Q(D(sub + ".n")) + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " +
                       Q(D(sub + ".n")) + "; [ $n -eq " + std::to_string(seed) + " ] && kill -9 $PPID; true";
    auto k = Sh(RescueCmd(sub, "--on-user-done " + Q(hook)), D(""));
    EXPECT_NE(k.rc, 0);
    std::string bg = RescueCmd(sub) + " & pid=$!; sleep 0." + std::to_string(seed * 2) +
                     "; kill -9 $pid 2>/dev/null; wait $pid; true";
    Sh("bash -c " + Q(bg), D(""));
    auto fin = Sh(RescueCmd(sub), D(""));
    ASSERT_LE(fin.rc, 1) << fin.err;
    EXPECT_EQ(StoreContent(D(sub + "/out/spool"), D(sub + "/out/conf/mailboxes.db")), want) << "seed " << seed;
    auto v = Sh(kCli + " verify --spool " + Q(D(sub + "/out/spool")) + " --db " +
                    Q(D(sub + "/out/conf/mailboxes.db")),
                D(""));
    EXPECT_EQ(v.rc, 0) << v.out;
    // And a real imapd serves the same store as after the uninterrupted run.
    std::string env = "python3 " + Q(std::string(MR_SOURCE_DIR) + "/fixtures/cyrus_env.py");
    if (seed == 1) {
      auto t = Sh(env + " truth --spool " + Q(D("ref/out/spool")) + " --conf " + Q(D("ref/out/conf")) + " --out " +
                      Q(D("ref.truth.json")),
                  D(""));
      ASSERT_EQ(t.rc, 0) << t.out << t.err;
    }
    auto t = Sh(env + " truth --spool " + Q(D(sub + "/out/spool")) + " --conf " + Q(D(sub + "/out/conf")) +
                    " --out " + Q(D(sub + ".truth.json")),
                D(""));
    ASSERT_EQ(t.rc, 0) << t.out << t.err;
    auto cmp = Sh("python3 " + Q(std::string(MR_SOURCE_DIR) + "/tests/reconcile/compare_truth.py") + " " +
                      Q(D(sub + ".truth.json")) + " " + Q(D("ref.truth.json")),
                  D(""));
    EXPECT_EQ(cmp.rc, 0) << "seed " << seed << ": " << cmp.out << cmp.err;
  }
}

TEST_F(Rescue, SigtermStopsCleanlyAfterTheCurrentUserAndARerunFinishes) {
  // The first announced user's hook sends SIGTERM to mailrescue: it must stop
  // before taking another user, say so, exit 1, and a rerun must finish.
  std::string hook = "[ -e " + Q(D("termed")) + " ] || { touch " + Q(D("termed")) + "; kill -TERM $PPID; }; true";
  auto r = Sh(RescueCmd("t", "--on-user-done " + Q(hook)), D(""));
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.out.find("stopped"), std::string::npos) << r.out;
  json rep = json::parse(Slurp(D("t/report.json")));
  int announced = 0;
  for (const auto& u : rep["users"]) announced += u["phase"] == "announced";
  EXPECT_EQ(announced, 1) << rep["users"].dump();
  auto fin = Sh(RescueCmd("t"), D(""));
  ASSERT_LE(fin.rc, 1) << fin.err;
  rep = json::parse(Slurp(D("t/report.json")));
  for (const auto& u : rep["users"]) EXPECT_EQ(u["phase"], "announced") << u["user"];
  auto v = Sh(kCli + " verify --spool " + Q(D("t/out/spool")) + " --db " + Q(D("t/out/conf/mailboxes.db")), D(""));
  EXPECT_EQ(v.rc, 0) << v.out;
}

TEST_F(Rescue, InPlaceReconcileKilledAtRandomPointsThenRerunEqualsAnUninterruptedRun) {
  auto sal = Sh(kCli + " -q salvage " + Q(kFixture + "/current.img") + " --out " + Q(D("salvaged")), D(""));
  ASSERT_LE(sal.rc, 1) << sal.err;
  auto copy_backup = [&](const std::string& sub) {
    fs::create_directories(D(sub));
    Sh("cp -a " + Q(kFixture + "/backup/spool") + " " + Q(kFixture + "/backup/conf") + " " + Q(D(sub) + "/"), D(""));
  };
  auto reconcile = [&](const std::string& sub) {
    return kCli + " -q reconcile --salvaged " + Q(D("salvaged")) + " --backup-spool " + Q(D(sub + "/spool")) +
           " --backup-db " + Q(D(sub + "/conf/mailboxes.db")) + " --in-place --no-fsync";
  };
  copy_backup("ref");
  auto ref = Sh(reconcile("ref"), D(""));
  ASSERT_LE(ref.rc, 1) << ref.err;
  auto want = StoreContent(D("ref/spool"), D("ref/conf/mailboxes.db"));
  ASSERT_FALSE(want.empty());
  for (int seed : {1, 2, 3}) {
    std::string sub = "k" + std::to_string(seed);
    copy_backup(sub);
    // Two kills at seed-dependent moments, then a run to the end.
    for (int round = 0; round < 2; ++round) {
      std::string bg = reconcile(sub) + " & pid=$!; sleep 0.0" + std::to_string(seed * 3 + round * 2) +
                       "; kill -9 $pid 2>/dev/null; wait $pid; true";
      Sh("bash -c " + Q(bg), D(""));
    }
    auto fin = Sh(reconcile(sub), D(""));
    ASSERT_LE(fin.rc, 1) << fin.err;
    EXPECT_EQ(StoreContent(D(sub + "/spool"), D(sub + "/conf/mailboxes.db")), want) << "seed " << seed;
    auto v = Sh(kCli + " verify --spool " + Q(D(sub + "/spool")) + " --db " + Q(D(sub + "/conf/mailboxes.db")),
                D(""));
    EXPECT_EQ(v.rc, 0) << "seed " << seed << ": " << v.out;
  }
}

TEST_F(Rescue, ThreeShardsAddUpToOneRun) {
  auto ref = Sh(RescueCmd("ref"), D(""));
  ASSERT_LE(ref.rc, 1) << ref.err;
  auto want = StoreContent(D("ref/out/spool"), D("ref/out/conf/mailboxes.db"));
  std::multiset<std::string> seen;
  for (int k = 0; k < 3; ++k) {
    std::string cmd = kCli + " rescue " + Q(kFixture + "/current.img") + " --backup-spool " +
                      Q(kFixture + "/backup/spool") + " --backup-db " + Q(kFixture + "/backup/conf/mailboxes.db") +
                      " --out-spool " + Q(D("s/out/spool")) + " --out-db " + Q(D("s/out/conf/mailboxes.db")) +
                      " --workdir " + Q(D("s/work" + std::to_string(k))) + " --no-fsync --shard " +
                      std::to_string(k) + "/3 --report " + Q(D("s/report" + std::to_string(k) + ".json"));
    auto r = Sh(cmd, D(""));
    ASSERT_LE(r.rc, 1) << r.err;
    json rep = json::parse(Slurp(D("s/report" + std::to_string(k) + ".json")));
    for (const auto& u : rep["users"]) seen.insert(u["user"].get<std::string>());
  }
  auto users = FixtureUsers();
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), users);
  EXPECT_EQ(seen.size(), users.size()) << "a user was in two shards";
  EXPECT_EQ(StoreContent(D("s/out/spool"), D("s/out/conf/mailboxes.db")), want);
}

TEST_F(Rescue, TwoTargetsOneUserAtATimeEachAndUsersWhereTheirBackupIs) {
  // Split the backup into two "servers": each holds the whole spool copy but
  // its mailboxes.db lists only its own users.
  auto entries = mr::cyrus::ReadMailboxesDb(kFixture + "/backup/conf/mailboxes.db");
  ASSERT_TRUE(entries.ok());
  std::set<std::string> backup_users;
  for (const auto& e : *entries)
    if (!OwnerOf(e.name).empty()) backup_users.insert(OwnerOf(e.name));
  ASSERT_GE(backup_users.size(), 2u);
  std::map<std::string, std::string> want_target;
  int i = 0;
  for (const auto& u : backup_users) want_target[u] = (i++ % 2) ? "t2" : "t1";
  for (const char* t : {"t1", "t2"}) {
    std::string root = D(std::string("tg/") + t);
    fs::create_directories(root + "/conf");
    Sh("cp -a " + Q(kFixture + "/backup/spool") + " " + Q(root + "/spool"), D(""));
    std::vector<mr::cyrus::MboxEntry> mine;
    for (const auto& e : *entries) {
      if (OwnerOf(e.name).empty() || want_target[OwnerOf(e.name)] == t) {
        mine.push_back(e);
        continue;
      }
      // The other server never had this user's folders.
      fs::remove_all(root + "/spool/" +
                     mr::MailboxRelDir(e.name, e.uniqueid,
                                       e.mbtype.find('l') != std::string::npos ? mr::CyrusLayout::kLegacy
                                                                               : mr::CyrusLayout::kUuid,
                                       true));
    }
    ASSERT_TRUE(mr::cyrus::WriteMailboxesDb(root + "/conf/mailboxes.db", mine, mr::cyrus::DbFormat::kTwoskip).ok());
    std::ofstream(root + "/imapd.conf") << "configdirectory: " << root << "/conf\npartition-default: " << root
                                        << "/spool\nhashimapspool: true\n";
  }
  std::string cmd = kCli + " rescue " + Q(kFixture + "/current.img") + " --target t1=" + Q(D("tg/t1/imapd.conf")) +
                    " --target t2=" + Q(D("tg/t2/imapd.conf")) + " --workdir " + Q(D("tg/work")) +
                    " --no-fsync --report " + Q(D("tg/report.json")) + " --events " + Q(D("tg/events.jsonl")) +
                    " --jobs 2";
  auto r = Sh(cmd, D(""));
  ASSERT_LE(r.rc, 1) << r.err;
  json rep = json::parse(Slurp(D("tg/report.json")));
  for (const auto& u : rep["users"]) {
    std::string name = u["user"];
    if (want_target.count(name)) {
      EXPECT_EQ(u["target"], want_target[name]) << name;
    }
    EXPECT_EQ(u["phase"], "announced") << name;
  }
  // Never two users at once on one target: per target, each user is salvaged
  // and reconciled (started .. staged) before the next starts; the batch's
  // db write then announces staged users (done/attention), each after its own
  // staging, each once.
  std::map<std::string, std::string> busy;
  std::map<std::string, std::set<std::string>> staged;
  for (const auto& e : Events("tg")) {
    if (!e.contains("target")) continue;
    std::string t = e["target"], u = e.value("user", std::string());
    if (e["event"] == "user_started") {
      EXPECT_TRUE(busy[t].empty()) << t << " busy with " << busy[t] << " when " << u << " started";
      busy[t] = u;
    } else if (e["event"] == "user_staged") {
      EXPECT_EQ(busy[t], u);
      busy[t].clear();
      staged[t].insert(u);
    } else if (e["event"] == "user_done" || e["event"] == "user_attention") {
      EXPECT_EQ(staged[t].erase(u), 1u) << u << " announced on " << t << " without being staged there";
    }
  }
  for (const auto& [t, left] : staged) EXPECT_TRUE(left.empty()) << t << ": staged, never announced";
  for (const char* t : {"t1", "t2"}) {
    std::string root = D(std::string("tg/") + t);
    auto v = Sh(kCli + " verify --spool " + Q(root + "/spool") + " --db " + Q(root + "/conf/mailboxes.db"), D(""));
    EXPECT_EQ(v.rc, 0) << t << ": " << v.out;
  }
}

}  // namespace
