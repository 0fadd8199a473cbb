#include "orchestrate/announce.h"
#include "orchestrate/target_lock.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/fsutil.h"
#include "tests/orchestrate/test_dir.h"

namespace mr::orchestrate {
namespace {

using mr::testing::TestDir;

std::string Slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(EventLog, WritesOneJsonObjectPerLine) {
  TestDir d("events");
  {
    EventLog log;
    ASSERT_TRUE(log.Open(d / "events.jsonl").ok());
    log.Emit("user_done", {{"user", "bob"}, {"target", "t1"}});
    log.Emit("user_started", {{"user", "alice"}});
  }
  std::istringstream in(Slurp(d / "events.jsonl"));
  std::string line;
  std::vector<nlohmann::json> ev;
  while (std::getline(in, line)) ev.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0]["event"], "user_done");
  EXPECT_EQ(ev[0]["user"], "bob");
  EXPECT_TRUE(ev[0].contains("time"));
}

TEST(Hook, SeesUserTargetAndStatusInItsEnvironment) {
  TestDir d("hook");
  std::string out = d / "out";
  auto r = RunUserHook("printf '%s %s %s' \"$MAILRESCUE_USER\" \"$MAILRESCUE_TARGET\" \"$MAILRESCUE_STATUS\" > " + out,
                       "bob", "imap5", "ok");
  EXPECT_EQ(r.exit_code, 0) << r.error;
  EXPECT_EQ(Slurp(out), "bob imap5 ok");
}

TEST(Hook, FailureIsReportedNotThrown) {
  auto r = RunUserHook("exit 7", "bob", "t", "ok");
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_NE(r.error.find("bob"), std::string::npos);
}

TEST(ProxyMap, SortedTabSeparated) {
  TestDir d("proxy");
  ASSERT_TRUE(WriteProxyMap(d / "map", {{"zed", "t2"}, {"amy", "t1"}}).ok());
  EXPECT_EQ(Slurp(d / "map"), "amy\tt1\nzed\tt2\n");
}

TEST(TargetLock, SecondHolderIsRefusedUntilReleased) {
  TestDir d("lock");
  std::string p = d / "t.lock";
  {
    auto a = TargetLock::Acquire(p);
    ASSERT_TRUE(a.ok());
    auto b = TargetLock::TryAcquire(p);
    EXPECT_FALSE(b.ok());
  }
  auto c = TargetLock::TryAcquire(p);
  EXPECT_TRUE(c.ok());
}

}  // namespace
}  // namespace mr::orchestrate
