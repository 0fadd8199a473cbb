// WriteOutputDb: this run's users replace theirs, other users and folders that
// failed to apply keep their existing entries.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "plan_fixtures.h"
#include "reconcile/reconcile.h"

namespace mr::reconcile {
namespace {

cyrus::MboxEntry E(const std::string& name, const std::string& id, std::uint32_t uv) {
  return testing::DbEntry(name, id, uv, "x");
}

TEST(OutputDb, ReplacesThisRunsUsersKeepsTheRest) {
  char tmpl[] = "/tmp/mr-outdb-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  ReconcileOptions o;
  o.out_db = root + "/conf/mailboxes.db";
  std::filesystem::create_directories(root + "/conf");
  ASSERT_TRUE(cyrus::WriteMailboxesDb(o.out_db,
                                      {E("user.alice", "a1", 1), E("user.bob", "b1", 1), E("user.bob.Gone", "b2", 1),
                                       E("user.bob.Failed", "b3", 1)},
                                      cyrus::DbFormat::kTwoskip)
                  .ok());
  UserOutcome bob;
  bob.user = "bob";
  bob.entries = {E("user.bob", "b1", 2), E("user.bob.New", "b4", 2)};
  bob.failed = {"user.bob.Failed"};
  ASSERT_TRUE(WriteOutputDb(o, {bob}).ok());
  auto db = cyrus::ReadMailboxesDb(o.out_db);
  ASSERT_TRUE(db.ok());
  std::vector<std::string> names;
  for (const auto& e : *db) names.push_back(e.name + ":" + std::to_string(e.uidvalidity));
  EXPECT_EQ(names, (std::vector<std::string>{"user.alice:1", "user.bob:2", "user.bob.Failed:1", "user.bob.New:2"}));
  std::filesystem::remove_all(root);
}

TEST(OutputDb, WriterKeepsEntriesAndRereadsAFileSomeoneElseWrote) {
  char tmpl[] = "/tmp/mr-outdbw-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  ReconcileOptions o;
  o.out_db = root + "/conf/mailboxes.db";
  o.db_format = cyrus::DbFormat::kTwoskip;
  auto names = [&] {
    std::vector<std::string> v;
    auto db = cyrus::ReadMailboxesDb(o.out_db);
    EXPECT_TRUE(db.ok());
    if (db.ok())
      for (const auto& e : *db) v.push_back(e.name + ":" + std::to_string(e.uidvalidity));
    return v;
  };
  OutputDbWriter w;
  UserOutcome alice, bob, carol;
  alice.user = "alice";
  alice.entries = {E("user.alice", "a1", 1)};
  bob.user = "bob";
  bob.entries = {E("user.bob", "b1", 1), E("user.bob.Sent", "b2", 1)};
  ASSERT_TRUE(w.Write(o, {alice}).ok());
  ASSERT_TRUE(w.Write(o, {bob}).ok());
  EXPECT_EQ(names(), (std::vector<std::string>{"user.alice:1", "user.bob:1", "user.bob.Sent:1"}));
  // Another process (a second shard on this target) adds carol in between.
  carol.user = "carol";
  carol.entries = {E("user.carol", "c1", 7)};
  ASSERT_TRUE(WriteOutputDb(o, {carol}).ok());
  bob.entries = {E("user.bob", "b1", 2)};  // bob again: Sent is gone now
  ASSERT_TRUE(w.Write(o, {bob}).ok());
  EXPECT_EQ(names(), (std::vector<std::string>{"user.alice:1", "user.bob:2", "user.carol:7"}));
  std::filesystem::remove_all(root);
}

class DbFormatRule : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mr-dbformat-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    std::filesystem::create_directories(root_ + "/b");
    o_.paths.backup_db = root_ + "/b/mailboxes.db";
    o_.out_db = root_ + "/out/mailboxes.db";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void Backup(cyrus::DbFormat f) {
    ASSERT_TRUE(cyrus::WriteMailboxesDb(o_.paths.backup_db, {E("user.alice", "a1", 1)}, f).ok());
  }
  void Conf(const std::string& text) {
    o_.paths.backup_conf = root_ + "/imapd.conf";
    FILE* f = std::fopen(o_.paths.backup_conf.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  std::string root_;
  ReconcileOptions o_;
};

TEST_F(DbFormatRule, FollowsTheBackupFile) {
  Backup(cyrus::DbFormat::kFlat);
  auto f = ResolveDbFormat(o_);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(*f, cyrus::DbFormat::kFlat);
  Backup(cyrus::DbFormat::kTwoskip);
  EXPECT_EQ(*ResolveDbFormat(o_), cyrus::DbFormat::kTwoskip);
}

TEST_F(DbFormatRule, WrittenInTheBackupsFormat) {
  Backup(cyrus::DbFormat::kFlat);
  UserOutcome alice;
  alice.user = "alice";
  alice.entries = {E("user.alice", "a1", 2)};
  ASSERT_TRUE(WriteOutputDb(o_, {alice}).ok());
  EXPECT_EQ(*cyrus::DetectDbFormat(o_.out_db), cyrus::DbFormat::kFlat);
  auto db = cyrus::ReadMailboxesDb(o_.out_db);
  ASSERT_TRUE(db.ok());
  ASSERT_EQ(db->size(), 1u);
  EXPECT_EQ((*db)[0].uidvalidity, 2u);
}

TEST_F(DbFormatRule, ImapdConfBackendWinsAndExplicitWinsOverAll) {
  Backup(cyrus::DbFormat::kTwoskip);
  Conf("configdirectory: /x\nmboxlist_db: flat\n");
  EXPECT_EQ(*ResolveDbFormat(o_), cyrus::DbFormat::kFlat);
  o_.db_format = cyrus::DbFormat::kTwoskip;
  EXPECT_EQ(*ResolveDbFormat(o_), cyrus::DbFormat::kTwoskip);
}

TEST_F(DbFormatRule, UnwritableBackendIsRefusedByName) {
  Backup(cyrus::DbFormat::kTwoskip);
  Conf("configdirectory: /x\nmboxlist_db: lmdb\n");
  auto f = ResolveDbFormat(o_);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("mboxlist_db lmdb"), std::string::npos) << f.error().message;
  EXPECT_NE(f.error().message.find("imapd.conf"), std::string::npos) << f.error().message;
}

TEST_F(DbFormatRule, NoDatabaseAnywhereMeansTwoskip) {
  EXPECT_EQ(*ResolveDbFormat(o_), cyrus::DbFormat::kTwoskip);
}

}  // namespace
}  // namespace mr::reconcile
