#include "orchestrate/run_state.h"

#include <gtest/gtest.h>

#include "tests/orchestrate/test_dir.h"

namespace mr::orchestrate {
namespace {

using mr::testing::TestDir;

TEST(RunState, PersistsPhasesAcrossReopen) {
  TestDir d("state");
  {
    auto rs = RunState::Open(d.str());
    ASSERT_TRUE(rs.ok()) << rs.error().message;
    ASSERT_TRUE((*rs)->Enqueue("bob", "t1").ok());
    ASSERT_TRUE((*rs)->Enqueue("alice", "t2").ok());
    ASSERT_TRUE((*rs)->SetPhase("bob", Phase::kReconciled).ok());
    ASSERT_TRUE((*rs)->SetPhase("bob", Phase::kVerified, "ok", "{\"kept\":3}").ok());
    ASSERT_TRUE((*rs)->Enqueue("bob", "t1").ok());  // keeps progress
    EXPECT_FALSE((*rs)->SetPhase("nobody", Phase::kVerified).ok());
  }
  auto rs = RunState::Open(d.str());
  ASSERT_TRUE(rs.ok());
  auto bob = (*rs)->Get("bob");
  ASSERT_TRUE(bob.has_value());
  EXPECT_EQ(bob->phase, Phase::kVerified);
  EXPECT_EQ(bob->status, "ok");
  EXPECT_EQ(bob->detail, "{\"kept\":3}");
  auto all = (*rs)->All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].user, "alice");
  EXPECT_EQ(all[0].phase, Phase::kQueued);
}

TEST(RunState, SecondOwnerIsRefusedWithAClearMessage) {
  TestDir d("state");
  auto first = RunState::Open(d.str());
  ASSERT_TRUE(first.ok());
  auto second = RunState::Open(d.str());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("another mailrescue"), std::string::npos) << second.error().message;
  EXPECT_NE(second.error().message.find(std::to_string(::getpid())), std::string::npos);
}

TEST(RunState, Meta) {
  TestDir d("state");
  auto rs = RunState::Open(d.str());
  ASSERT_TRUE(rs.ok());
  EXPECT_FALSE((*rs)->GetMeta("k").has_value());
  ASSERT_TRUE((*rs)->PutMeta("k", "v").ok());
  EXPECT_EQ((*rs)->GetMeta("k"), "v");
}

}  // namespace
}  // namespace mr::orchestrate
