// WriteOutputDb: this run's users replace theirs, other users and folders that
// failed to apply keep their existing entries.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "reconcile/reconcile.h"

namespace mr::reconcile {
namespace {

cyrus::MboxEntry E(const std::string& name, const std::string& id, std::uint32_t uv) {
  cyrus::MboxEntry e;
  e.name = name;
  e.uniqueid = id;
  e.uidvalidity = uv;
  e.acl = {{"x", "lrs"}};
  return e;
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

}  // namespace
}  // namespace mr::reconcile
