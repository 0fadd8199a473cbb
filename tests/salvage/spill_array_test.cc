// SpillArray / SpillBits (salvage/spill_array.h): the same values back whether
// the array stayed on the heap or moved to a file, addresses that never move,
// trims that drop pages without losing data, readers on many threads, and the
// errors of a spill directory that is missing or full.
#include <gtest/gtest.h>

#include <thread>

#include "salvage/spill_array.h"
#include "test_util.h"

namespace mr::salvage {
namespace {

using namespace test;

std::uint64_t Value(std::size_t i) { return i * 0x9e3779b97f4a7c15ull + 7; }

std::shared_ptr<SpillSpace> Space(const std::string& dir, std::size_t threshold, std::size_t budget = 0,
                                  std::uint64_t tick_every = 1) {
  SpillSpace::Options o;
  o.dir = dir;
  o.threshold = threshold;
  o.budget = budget;
  o.tick_every = tick_every;
  return std::make_shared<SpillSpace>(o);
}

// Every element equals Value(i); counts the wrong ones.
std::size_t Wrong(const SpillArray<std::uint64_t>& a, std::size_t n) {
  std::size_t wrong = a.size() == n ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) wrong += a[i] != Value(i);
  return wrong;
}

TEST(SpillArray, StaysOnTheHeapBelowTheThreshold) {
  TempDir t;
  auto space = Space(t.path(), 64u << 20);
  SpillArray<std::uint64_t> a(space);
  for (std::size_t i = 0; i < 100000; ++i) a.push_back(Value(i));
  EXPECT_FALSE(a.spilled());
  EXPECT_EQ(space->files(), 0u);
  EXPECT_EQ(Wrong(a, 100000), 0u);
  EXPECT_TRUE(fs::is_empty(t.path()));
}

TEST(SpillArray, MovesToAnUnlinkedFileAndKeepsValuesAndAddresses) {
  TempDir t;
  auto space = Space(t.path(), 1u << 20, 1u << 30);
  SpillArray<std::uint64_t> a(space);
  a.push_back(Value(0));
  const std::uint64_t* first = &a[0];
  for (std::size_t i = 1; i < 1'000'000; ++i) a.push_back(Value(i));  // 8 MB: past the threshold
  EXPECT_TRUE(a.spilled());
  EXPECT_EQ(space->files(), 1u);
  EXPECT_EQ(&a[0], first) << "an element moved";
  EXPECT_EQ(Wrong(a, 1'000'000), 0u);
  EXPECT_TRUE(space->status().ok()) << space->status().message();
  EXPECT_TRUE(fs::is_empty(t.path())) << "the spill file must be unlinked";
  // Overwrites go to the file too.
  for (std::size_t i = 0; i < a.size(); i += 3) a[i] = ~Value(i);
  for (std::size_t i = 0; i < a.size(); i += 3) a[i] = Value(i);
  EXPECT_EQ(Wrong(a, 1'000'000), 0u);
}

TEST(SpillArray, ResizeFillsAndGrowZeroedIsZero) {
  TempDir t;
  auto space = Space(t.path(), 0);
  SpillArray<std::uint32_t> a(space);
  a.resize(300000, 0xfffffffeu);
  SpillArray<std::uint32_t> z(space);
  z.grow_zeroed(500000);
  EXPECT_TRUE(a.spilled());
  EXPECT_TRUE(z.spilled());
  std::size_t bad = 0;
  for (auto v : a) bad += v != 0xfffffffeu;
  for (auto v : z) bad += v != 0;
  EXPECT_EQ(bad, 0u);
  // A smaller resize keeps the old values in memory: grow_zeroed must clear them.
  a.resize(1000);
  a.grow_zeroed(400000);
  for (std::size_t i = 0; i < a.size(); ++i) bad += a[i] != (i < 1000 ? 0xfffffffeu : 0u);
  EXPECT_EQ(bad, 0u);
}

TEST(SpillArray, TrimsDropPagesButNotData) {
  TempDir t;
  auto space = Space(t.path(), 0, 0, 64);  // budget 0: every check trims
  SpillArray<std::uint64_t> a(space);
  for (std::size_t i = 0; i < 2'000'000; ++i) {
    a.push_back(Value(i));
    if (i % 512 == 0) a.Tick();
  }
  for (int k = 0; k < 200; ++k) space->Tick();
  EXPECT_GT(space->trims(), 0u);
  EXPECT_EQ(Wrong(a, 2'000'000), 0u);
  space->Trim();
  EXPECT_EQ(Wrong(a, 2'000'000), 0u);
}

TEST(SpillArray, ManyReadersWhileTrimming) {
  TempDir t;
  auto space = Space(t.path(), 0, 0, 16);
  SpillArray<std::uint64_t> a(space);
  for (std::size_t i = 0; i < 1'000'000; ++i) a.push_back(Value(i));
  std::vector<std::size_t> wrong(4, 0);
  std::vector<std::thread> th;
  for (int w = 0; w < 4; ++w)
    th.emplace_back([&, w] {
      for (std::size_t i = static_cast<std::size_t>(w); i < a.size(); i += 7) {
        wrong[static_cast<std::size_t>(w)] += a[i] != Value(i);
        space->Tick();
      }
    });
  for (auto& x : th) x.join();
  EXPECT_GT(space->trims(), 0u);
  for (auto n : wrong) EXPECT_EQ(n, 0u);
}

TEST(SpillArray, HeapOnlySpaceNeverSpills) {
  auto space = Space("", 0);
  SpillArray<std::uint64_t> a(space);
  for (std::size_t i = 0; i < 200000; ++i) a.push_back(Value(i));
  EXPECT_FALSE(a.spilled());
  EXPECT_EQ(Wrong(a, 200000), 0u);
  SpillArray<std::uint64_t> d;  // no space: the heap
  for (std::size_t i = 0; i < 1000; ++i) d.push_back(Value(i));
  EXPECT_EQ(Wrong(d, 1000), 0u);
}

TEST(SpillArray, MoveKeepsTheData) {
  TempDir t;
  auto space = Space(t.path(), 0);
  SpillArray<std::uint64_t> a(space);
  for (std::size_t i = 0; i < 100000; ++i) a.push_back(Value(i));
  SpillArray<std::uint64_t> b = std::move(a);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(Wrong(b, 100000), 0u);
  b.push_back(Value(100000));
  EXPECT_EQ(Wrong(b, 100001), 0u);
}

TEST(SpillArray, MissingDirectoryIsAnErrorNamingTheFileAndTheDataStays) {
  auto space = Space("/nonexistent/dir", 0);
  SpillArray<std::uint64_t> a(space);
  for (std::size_t i = 0; i < 100000; ++i) a.push_back(Value(i));
  const Status st = space->status();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_NE(st.message().find("/nonexistent/dir/.salvage-catalog-"), std::string::npos) << st.message();
  EXPECT_FALSE(a.spilled());
  EXPECT_EQ(Wrong(a, 100000), 0u);  // went on on the heap
}

TEST(SpillArray, FullDiskIsAnErrorNotACrash) {
  TempDir t;
  if (::geteuid() != 0 || Sh("command -v mount").rc != 0) GTEST_SKIP() << "needs root to mount a tiny tmpfs";
  fs::create_directories(t / "small");
  if (Sh("mount -t tmpfs -o size=1m tmpfs " + Quote(t / "small")).rc != 0) GTEST_SKIP() << "cannot mount tmpfs";
  Status st;
  std::size_t wrong = 0;
  {
    auto space = Space(t / "small", 0, 1u << 30);
    SpillArray<std::uint64_t> a(space);
    for (std::size_t i = 0; i < 1'000'000; ++i) a.push_back(Value(i));  // 8 MB into 1 MB
    st = space->status();
    wrong = Wrong(a, 1'000'000);
  }
  Sh("umount " + Quote(t / "small"));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("catalog spill file " + t / "small/.salvage-catalog-"), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("No space left"), std::string::npos) << st.message();
  EXPECT_EQ(wrong, 0u);
}

TEST(SpillBits, SetAndHasOnTheHeapAndSpilled) {
  TempDir t;
  for (std::size_t threshold : {std::size_t{64} << 20, std::size_t{0}}) {
    auto space = Space(t.path(), threshold);
    SpillBits b(space);
    for (std::uint32_t i = 3; i < 5'000'000; i += 7) b.Set(i);
    b.Set(100'000'000u);
    std::size_t wrong = 0;
    for (std::uint32_t i = 0; i < 5'000'010; ++i) wrong += b.Has(i) != (i >= 3 && i < 5'000'000 && (i - 3) % 7 == 0);
    EXPECT_EQ(wrong, 0u) << threshold;
    EXPECT_TRUE(b.Has(100'000'000u));
    EXPECT_FALSE(b.Has(100'000'001u));
    EXPECT_FALSE(b.Has(0xffffffffu));
    EXPECT_EQ(space->files() > 0, threshold == 0);
  }
}

}  // namespace
}  // namespace mr::salvage
