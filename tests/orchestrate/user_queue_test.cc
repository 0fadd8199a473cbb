#include "orchestrate/user_queue.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "tests/orchestrate/test_dir.h"

namespace mr::orchestrate {
namespace {

using mr::testing::TestDir;

TEST(UserQueue, BaseOrderPerTarget) {
  UserQueue q({{"a", "t1"}, {"b", "t2"}, {"c", "t1"}}, "");
  EXPECT_EQ(q.Next("t1"), "a");
  EXPECT_EQ(q.Next("t1"), "c");
  EXPECT_EQ(q.Next("t1"), std::nullopt);
  EXPECT_EQ(q.Next("t2"), "b");
  EXPECT_EQ(q.Waiting(), 0u);
}

TEST(UserQueue, AppendedPriorityLinesJumpTheQueueInArrivalOrder) {
  TestDir d("queue");
  std::string pf = d / "priority";
  UserQueue q({{"a", "t"}, {"b", "t"}, {"c", "t"}, {"d", "t"}, {"e", "t"}}, pf);
  EXPECT_EQ(q.Next("t"), "a");  // no file yet
  { std::ofstream(pf, std::ios::app) << "d\n"; }
  EXPECT_EQ(q.Next("t"), "d");
  { std::ofstream(pf, std::ios::app) << "e\nc\n"; }
  EXPECT_EQ(q.Next("t"), "e");
  EXPECT_EQ(q.Next("t"), "c");
  EXPECT_EQ(q.Next("t"), "b");
  EXPECT_EQ(q.Promoted(), (std::vector<std::string>{"d", "e", "c"}));
}

TEST(UserQueue, PartialLineWaitsForItsNewline) {
  TestDir d("queue");
  std::string pf = d / "priority";
  UserQueue q({{"a", "t"}, {"bob", "t"}}, pf);
  { std::ofstream(pf, std::ios::app) << "bo"; }
  EXPECT_EQ(q.Next("t"), "a");
  { std::ofstream(pf, std::ios::app) << "b\n"; }
  q.Requeue("a");
  EXPECT_EQ(q.Next("t"), "bob");
}

TEST(UserQueue, UnknownAndFinishedUsersAreIgnored) {
  TestDir d("queue");
  std::string pf = d / "priority";
  { std::ofstream(pf) << "zz\na\n"; }
  UserQueue q({{"a", "t"}, {"b", "t"}}, pf);
  q.Finish("a");
  EXPECT_EQ(q.Next("t"), "b");
  EXPECT_EQ(q.Next("t"), std::nullopt);
}

TEST(UserQueue, RequeuedUserComesBackInItsPlace) {
  TestDir d("queue");
  std::string pf = d / "priority";
  UserQueue q({{"a", "t1"}, {"b", "t2"}, {"c", "t1"}, {"d", "t1"}, {"e", "t2"}}, pf);
  EXPECT_EQ(q.Next("t1"), "a");
  EXPECT_EQ(q.Next("t1"), "c");
  EXPECT_EQ(q.Next("t2"), "b");
  q.Requeue("a");
  EXPECT_EQ(q.Next("t1"), "a");
  EXPECT_EQ(q.Next("t1"), "d");
  { std::ofstream(pf) << "e\nc\n"; }
  EXPECT_EQ(q.Next("t2"), "e");
  q.Requeue("c");  // promoted after it was taken: back through the promoted list
  q.Requeue("e");
  EXPECT_EQ(q.Next("t1"), "c");
  EXPECT_EQ(q.Next("t2"), "e");
  EXPECT_EQ(q.Next("t1"), std::nullopt);
  EXPECT_EQ(q.Next("t2"), std::nullopt);
}

// Many users over two targets, some promoted, some requeued: every user is
// handed out exactly once per take, in base order except for promotions.
TEST(UserQueue, ThousandsOfUsersEachHandedOutOnce) {
  TestDir d("queue");
  std::string pf = d / "priority";
  std::vector<std::pair<std::string, std::string>> users;
  for (int i = 0; i < 5000; ++i) users.emplace_back("u" + std::to_string(100000 + i), i % 3 ? "t1" : "t2");
  UserQueue q(users, pf);
  { std::ofstream(pf) << "u104998\nu100001\n"; }
  std::vector<std::string> got;
  for (int i = 0; i < 10; ++i) got.push_back(*q.Next("t1"));
  EXPECT_EQ(got[0], "u100001");  // promoted, in arrival order (u104998 is t2's)
  q.Requeue(got[5]);
  std::set<std::string> seen(got.begin(), got.end());
  seen.erase(got[5]);
  for (auto u = q.Next("t1"); u; u = q.Next("t1")) EXPECT_TRUE(seen.insert(*u).second) << *u;
  EXPECT_EQ(q.Next("t2"), "u104998");
  for (auto u = q.Next("t2"); u; u = q.Next("t2")) EXPECT_TRUE(seen.insert(*u).second) << *u;
  EXPECT_EQ(seen.size(), 4999u);
  EXPECT_EQ(q.Waiting(), 0u);
}

}  // namespace
}  // namespace mr::orchestrate
