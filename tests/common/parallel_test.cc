// common/parallel: every index exactly once, chunks cover the range, task
// groups and arenas join, exceptions reach the caller; and, in a TSan build,
// the fork/join edges it adds hide no real race (race_probe, in a child
// process: clean modes exit 0, racy modes exit 66 with a TSan report).
#include "common/parallel.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mr {
namespace {

TEST(Parallel, ForVisitsEveryIndexOnce) {
  std::vector<std::atomic<int>> seen(10000);
  ParallelFor(0, seen.size(), [&](std::size_t i) { seen[i].fetch_add(1); });
  for (const auto& s : seen) ASSERT_EQ(s.load(), 1);
  ParallelFor(5, 5, [&](std::size_t) { FAIL() << "empty range"; });
}

TEST(Parallel, ChunksCoverTheRangeAndRespectTheGrain) {
  std::mutex mu;
  std::vector<std::pair<std::size_t, std::size_t>> chunks;
  ParallelForChunks(3, 1003, 16, [&](std::size_t b, std::size_t e) {
    std::lock_guard<std::mutex> lk(mu);
    chunks.emplace_back(b, e);
  });
  std::sort(chunks.begin(), chunks.end());
  std::size_t next = 3;
  for (auto [b, e] : chunks) {
    EXPECT_EQ(b, next);
    EXPECT_LT(b, e);
    next = e;
  }
  EXPECT_EQ(next, 1003u);
}

TEST(Parallel, TaskGroupInArenaJoinsAndRethrows) {
  std::vector<int> out(8, 0);
  InArena(2, [&] {
    TaskGroup tg;
    for (int w = 0; w < 8; ++w) tg.Run([&out, w] { out[static_cast<std::size_t>(w)] = w * w; });
    tg.Wait();
  });
  for (int w = 0; w < 8; ++w) EXPECT_EQ(out[static_cast<std::size_t>(w)], w * w);
  EXPECT_THROW(ParallelFor(0, 100, [](std::size_t i) { if (i == 42) throw std::runtime_error("x"); }),
               std::runtime_error);
  TaskGroup tg;
  tg.Run([] { throw std::runtime_error("y"); });
  EXPECT_THROW(tg.Wait(), std::runtime_error);
}

TEST(Parallel, SortKeysOrdersByKeyThenIndex) {
  std::vector<std::string> names;
  for (int i = 0; i < 5000; ++i) names.push_back("p" + std::to_string((i * 7919) % 1000));
  std::vector<std::pair<std::string_view, std::uint32_t>> keys;
  for (std::uint32_t i = 0; i < names.size(); ++i) keys.emplace_back(names[i], i);
  auto want = keys;
  std::sort(want.begin(), want.end());
  ParallelSortKeys(keys);
  EXPECT_EQ(keys, want);
}

int RunProbe(const std::string& mode, std::string* out) {
  const std::string cmd = "TSAN_OPTIONS=halt_on_error=1:exitcode=66 " + std::string(MR_RACE_PROBE) + " " + mode + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(Parallel, TsanSeesTheJoinsButStillEveryRealRace) {
#ifndef MR_TSAN_BUILD
  GTEST_SKIP() << "meaningful in the TSan build (scripts/sanitize.sh tsan)";
#endif
  for (const char* clean : {"chunks", "group"}) {
    std::string out;
    EXPECT_EQ(RunProbe(clean, &out), 0) << clean << "\n" << out;
  }
  for (const char* racy : {"race-bodies", "race-tasks", "race-caller"}) {
    std::string out;
    EXPECT_EQ(RunProbe(racy, &out), 66) << racy << "\n" << out;
    EXPECT_NE(out.find("ThreadSanitizer: data race"), std::string::npos) << racy << "\n" << out;
    EXPECT_NE(out.find("shared_value"), std::string::npos) << racy << "\n" << out;
  }
}

}  // namespace
}  // namespace mr
