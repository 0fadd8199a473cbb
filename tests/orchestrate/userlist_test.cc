#include "orchestrate/userlist.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

namespace mr::orchestrate {
namespace {

TEST(UserList, ParsesLinesTrimsAndSkipsComments) {
  auto v = ParseUserLines("alice\n  bob \r\n\n# comment\ncarol");
  EXPECT_EQ(v, (std::vector<std::string>{"alice", "bob", "carol"}));
}

TEST(UserList, UserNamesTakeLoginIdsWithAndWithoutDomain) {
  auto v = ParseUserNames("fred.smith@example.org\nbob@example.com\n# x\nfred.smith\ndave\n");
  EXPECT_EQ(v, (std::vector<std::string>{"fred^smith@example.org", "bob@example.com", "fred^smith", "dave"}));
}

TEST(Shard, ParsesExplicit) {
  auto s = ParseShard("2/3");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->index, 2u);
  EXPECT_EQ(s->count, 3u);
  EXPECT_FALSE(ParseShard("3/3").ok());
  EXPECT_FALSE(ParseShard("x/3").ok());
  EXPECT_FALSE(ParseShard("1/0").ok());
}

TEST(Shard, AutoReadsKubernetesAndSlurm) {
  ::setenv("JOB_COMPLETION_INDEX", "1", 1);
  auto s = ParseShard("auto/4");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->index, 1u);
  EXPECT_EQ(s->count, 4u);
  ::unsetenv("JOB_COMPLETION_INDEX");
  ::setenv("SLURM_ARRAY_TASK_ID", "2", 1);
  ::setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
  s = ParseShard("auto");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->index, 2u);
  EXPECT_EQ(s->count, 3u);
  ::unsetenv("SLURM_ARRAY_TASK_ID");
  ::unsetenv("SLURM_ARRAY_TASK_COUNT");
  EXPECT_FALSE(ParseShard("auto").ok());
}

TEST(Shard, PartitionsEveryUserExactlyOnce) {
  std::map<std::string, int> seen;
  for (unsigned k = 0; k < 3; ++k)
    for (int i = 0; i < 3000; ++i) {
      std::string u = "user" + std::to_string(i);
      if (InShard(u, Shard{k, 3})) seen[u]++;
    }
  EXPECT_EQ(seen.size(), 3000u);
  for (auto& [u, n] : seen) EXPECT_EQ(n, 1) << u;
  EXPECT_EQ(StableUserHash("bob"), 0xd730e751077ecce2ull);  // FNV-1a 64: must never change between releases
  EXPECT_NE(StableUserHash("bob"), StableUserHash("bob2"));
}

}  // namespace
}  // namespace mr::orchestrate
