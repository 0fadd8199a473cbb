#include "orchestrate/user_queue.h"

#include <gtest/gtest.h>

#include <fstream>

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

}  // namespace
}  // namespace mr::orchestrate
