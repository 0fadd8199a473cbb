// Input-side device faults through the real salvage (RunSalvage, in process,
// --jobs 2) on tiny ext4 images: a FaultPlan (fault_plan.h) replaces pread on
// the source. Each fault's cost must be exactly its bytes, every read attempt
// is counted (retries are bounded), and the image is never written.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "fault_plan.h"
#include "salvage/run.h"
#include "test_util.h"

namespace mr::salvage {
namespace {

using namespace test;
using Clock = std::chrono::steady_clock;

int DamageOfKind(const nlohmann::json& m, const std::string& kind) {
  int n = 0;
  for (const auto& d : m["filesystem"]["damage"]) n += d["kind"] == kind;
  return n;
}

struct Ran {
  Result<RunOutcome> r;
  double seconds;
};

Ran RunWith(const std::string& img, const std::string& out, FaultPlan* plan, int jobs = 2) {
  SalvageOptions o;
  o.source = img;
  o.out_dir = out;
  o.jobs = jobs;
  if (plan) o.source_read = plan->Fn();
  const auto t0 = Clock::now();
  auto r = RunSalvage(o, RunOptions{}, nullptr);
  return {std::move(r), std::chrono::duration<double>(Clock::now() - t0).count()};
}

// 20 files of two 4 KiB blocks each, file i filled with 'A' + i.
class SalvageFaultImage : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 20; ++i) WriteText(t_ / ("stage/d/" + Name(i)), std::string(8192, Fill(i)));
    MakeImage(t_ / "stage", img(), "16M");
    sha_ = Sha256(img());
  }
  void TearDown() override { EXPECT_EQ(Sha256(img()), sha_) << "the source image changed"; }
  static char Fill(int i) { return static_cast<char>('A' + i); }
  std::string img() const { return t_ / "img"; }
  std::uint64_t FirstDataByte(int i) const { return BlocksOf(img(), "/d/" + Name(i)).at(0) * 4096ull; }
  // Every file but `except` is complete and byte-exact.
  void ExpectOthersIntact(const std::string& out, int except) {
    for (int i = 0; i < 20; ++i) {
      if (i == except) continue;
      EXPECT_EQ(ReadText(out + "/spool/d/" + Name(i)), std::string(8192, Fill(i))) << Name(i);
    }
  }
  TempDir t_;
  std::string sha_;
};

TEST_F(SalvageFaultImage, PermanentEioCostsExactlyItsSector) {
  const std::uint64_t bad = FirstDataByte(7) + 1024;  // the third sector of the file
  FaultPlan plan;
  plan.AddPermanent(bad);
  auto ran = RunWith(img(), t_ / "out", &plan);
  ASSERT_TRUE(ran.r.ok()) << ran.r.error().message;
  EXPECT_TRUE(ran.r->needs_attention);
  auto m = test::ReadManifest(t_ / "out");
  int damaged = 0;
  for (const auto& f : m["files"]) {
    if (f["damaged"].empty()) continue;
    ++damaged;
    EXPECT_EQ(f["path"], "spool/d/" + Name(7));
    EXPECT_EQ(f["damaged"], nlohmann::json::parse("[[1024,512]]"));
  }
  EXPECT_EQ(damaged, 1);
  EXPECT_EQ(m["totals"]["files"], 20);
  EXPECT_EQ(ReadText(t_ / ("out/spool/d/" + Name(7))),
            std::string(1024, 'H') + std::string(512, '\0') + std::string(8192 - 1536, 'H'));
  ExpectOthersIntact(t_ / "out", 7);
  // One read of the file's chunk: 1 + 2 retries on the chunk, then one attempt
  // on the bad sector in the sector-by-sector pass. Nothing else touches it.
  EXPECT_EQ(plan.fault(0).touched, 4);
  EXPECT_EQ(plan.fault(0).failed, 4);
  RecordProperty("calls", static_cast<int>(plan.calls()));
}

TEST_F(SalvageFaultImage, TransientEioWithinTheRetryBudgetIsNotDamage) {
  const std::uint64_t bad = FirstDataByte(7) + 1024;
  // fail_times -> (damaged, reads of the sector): 2 = the third attempt of the
  // chunk reads it; 3 = the sector pass reads it; 4 = past the budget.
  const struct { int fail_times; bool damaged; int touched; } cases[] = {{2, false, 3}, {3, false, 4}, {4, true, 4}};
  for (const auto& c : cases) {
    SCOPED_TRACE("fail_times " + std::to_string(c.fail_times));
    FaultPlan plan;
    plan.AddTransient(bad, c.fail_times);
    const std::string out = t_ / ("out" + std::to_string(c.fail_times));
    auto ran = RunWith(img(), out, &plan);
    ASSERT_TRUE(ran.r.ok()) << ran.r.error().message;
    auto m = test::ReadManifest(out);
    EXPECT_EQ(m["totals"]["damaged_files"], c.damaged ? 1 : 0);
    EXPECT_EQ(ran.r->needs_attention, c.damaged);
    EXPECT_EQ(plan.fault(0).touched, c.touched);
    EXPECT_EQ(plan.fault(0).failed, std::min(c.fail_times, c.touched));
    EXPECT_EQ(DamageOfKind(m, "unreadable"), c.damaged ? 1 : 0);
    if (c.damaged) {
      EXPECT_EQ(ReadText(out + "/spool/d/" + Name(7)),
                std::string(1024, 'H') + std::string(512, '\0') + std::string(8192 - 1536, 'H'));
    } else {
      EXPECT_EQ(ReadText(out + "/spool/d/" + Name(7)), std::string(8192, 'H'));
      EXPECT_EQ(DamageOfKind(m, "unreadable"), 0) << m["filesystem"].dump();
    }
    ExpectOthersIntact(out, 7);
  }
}

TEST(SalvageFaults, EioOnAnInodeTableBlockLosesOnlyItsInodes) {
  TempDir t;
  for (int i = 0; i < 60; ++i) WriteText(t / ("stage/f/" + Name(i)), "body " + std::to_string(i));
  MakeImage(t / "stage", t / "img", "16M");
  auto im = Debugfs(t / "img", "imap /f/" + Name(30));
  auto p = im.out.find("located at block ");
  ASSERT_NE(p, std::string::npos) << im.out;
  const unsigned long blk = std::stoul(im.out.substr(p + 17));
  FaultPlan plan;
  plan.AddPermanent(blk * 4096ull, 4096);
  auto ran = RunWith(t / "img", t / "out", &plan);
  ASSERT_TRUE(ran.r.ok()) << ran.r.error().message;
  EXPECT_TRUE(ran.r->needs_attention);
  int ok = 0;
  for (int i = 0; i < 60; ++i)
    if (fs::exists(t / ("out/spool/f/" + Name(i)))) {
      EXPECT_EQ(ReadText(t / ("out/spool/f/" + Name(i))), "body " + std::to_string(i));
      ++ok;
    }
  EXPECT_FALSE(fs::exists(t / ("out/spool/f/" + Name(30))));
  EXPECT_GE(ok, 60 - 16);  // one 4 KiB block holds 16 inodes of 256 bytes
  EXPECT_LT(ok, 60);
  auto m = test::ReadManifest(t / "out");
  EXPECT_EQ(DamageOfKind(m, "missing_inode"), 60 - ok);
  EXPECT_EQ(DamageOfKind(m, "unreadable"), 1);
  // The scan does not spin on the bad block: each read of it costs 1 + 2
  // chunk attempts + 8 sector attempts, and it is read a handful of times
  // (inode scan, per-handle inode lookups).
  const auto f = plan.fault(0);
  RecordProperty("touched", f.touched);
  RecordProperty("calls", static_cast<int>(plan.calls()));
  EXPECT_EQ(f.touched % 11, 0) << f.touched;
  EXPECT_LE(f.touched, 11 * 8);
  EXPECT_LT(ran.seconds, 30);
}

TEST(SalvageFaults, EioOnADirectoryBlockCostsOnlyItsEntriesAndTheScanFindsThem) {
  TempDir t;
  const int n = 400;
  for (int i = 0; i < n; ++i) WriteText(t / ("stage/big/" + Name(i)), "content of " + Name(i));
  MakeImage(t / "stage", t / "img", "16M");
  auto dir_blocks = BlocksOf(t / "img", "/big");
  ASSERT_GT(dir_blocks.size(), 3u);
  FaultPlan plan;
  plan.AddPermanent(dir_blocks[2] * 4096ull, 4096);
  auto ran = RunWith(t / "img", t / "out", &plan);
  ASSERT_TRUE(ran.r.ok()) << ran.r.error().message;
  EXPECT_TRUE(ran.r->needs_attention);
  ExpectOneDirBlockOfBigLost(t / "out", n);
  EXPECT_LE(plan.fault(0).touched, 11 * 8);
  RecordProperty("touched", plan.fault(0).touched);
  RecordProperty("calls", static_cast<int>(plan.calls()));
}

TEST(SalvageFaults, ShortReadsAndEintrGiveTheSameSalvageAsACleanDevice) {
  TempDir t;
  for (int i = 0; i < 45; ++i)
    WriteText(t / ("stage/d" + std::to_string(i % 3) + "/" + Name(i)),
              Name(i) + std::string(static_cast<std::size_t>(i * 997), static_cast<char>('a' + i % 26)));
  MakeImage(t / "stage", t / "img", "16M", "-b 1024");
  const std::string sha = Sha256(t / "img");
  auto clean = RunWith(t / "img", t / "clean", nullptr);
  ASSERT_TRUE(clean.r.ok()) << clean.r.error().message;
  FaultPlan plan;
  plan.set_short_max(1000);  // never a whole block, never sector-aligned
  plan.set_eintr_every(3);
  auto faulty = RunWith(t / "img", t / "faulty", &plan);
  ASSERT_TRUE(faulty.r.ok()) << faulty.r.error().message;
  RecordProperty("calls", static_cast<int>(plan.calls()));
  RecordProperty("short", static_cast<int>(plan.shortened()));
  RecordProperty("eintr", static_cast<int>(plan.eintr()));
  EXPECT_GT(plan.shortened(), 100u);
  EXPECT_GT(plan.eintr(), 100u);
  EXPECT_EQ(plan.eio(), 0u);
  EXPECT_FALSE(faulty.r->needs_attention);
  auto a = test::ReadManifest(t / "clean"), b = test::ReadManifest(t / "faulty");
  EXPECT_EQ(a["files"], b["files"]);
  EXPECT_EQ(a["dirs"], b["dirs"]);
  EXPECT_EQ(a["totals"], b["totals"]);
  EXPECT_EQ(b["totals"]["files"], 45);
  EXPECT_EQ(b["totals"]["damaged_files"], 0);
  for (int i = 0; i < 45; ++i) {
    const std::string rel = "/spool/d" + std::to_string(i % 3) + "/" + Name(i);
    EXPECT_EQ(ReadText(t / ("faulty" + rel)),
              Name(i) + std::string(static_cast<std::size_t>(i * 997), static_cast<char>('a' + i % 26)));
  }
  EXPECT_EQ(Sha256(t / "img"), sha);
}

TEST(SalvageFaults, ADeviceWhereEveryReadFailsEndsQuicklyAndSaysSo) {
  TempDir t;
  for (int i = 0; i < 20; ++i) WriteText(t / ("stage/d/" + Name(i)), std::string(5000, 'x'));
  MakeImage(t / "stage", t / "img", "16M");
  {
    FaultPlan plan;
    plan.set_fail_all_from(0);
    auto ran = RunWith(t / "img", t / "out", &plan);
    ASSERT_FALSE(ran.r.ok());
    EXPECT_EQ(ran.r.error().code, Code::kCannotOpen);  // the CLI's exit 3
    EXPECT_NE(ran.r.error().message.find("unreadable (I/O errors)"), std::string::npos) << ran.r.error().message;
    EXPECT_LT(ran.seconds, 10);
    EXPECT_LT(plan.calls(), 20000u) << "superblock probes must be bounded";
    EXPECT_EQ(plan.calls(), plan.eio());
    RecordProperty("all_calls", static_cast<int>(plan.calls()));
    RecordProperty("all_message", ran.r.error().message);
  }
  {
    FaultPlan plan;  // a read that never gets past EINTR fails like EIO
    plan.set_eintr_every(1);
    auto ran = RunWith(t / "img", t / "out-eintr", &plan);
    ASSERT_FALSE(ran.r.ok());
    EXPECT_EQ(ran.r.error().code, Code::kCannotOpen);
    EXPECT_LT(ran.seconds, 10);
    RecordProperty("eintr_calls", static_cast<int>(plan.calls()));
  }
  {
    // Superblock and group descriptors readable, everything past them fails:
    // the run ends, with a report, in bounded time and calls.
    FaultPlan plan;
    plan.set_fail_all_from(8192);
    auto ran = RunWith(t / "img", t / "out-tail", &plan);
    EXPECT_LT(ran.seconds, 60);
    EXPECT_LT(plan.calls(), 200000u);
    RecordProperty("tail_calls", static_cast<int>(plan.calls()));
    RecordProperty("tail_seconds", std::to_string(ran.seconds));
    RecordProperty("tail_result", ran.r.ok() ? "ok" : ran.r.error().message);
    if (ran.r.ok()) {
      EXPECT_TRUE(ran.r->needs_attention);
      auto m = test::ReadManifest(t / "out-tail");
      EXPECT_GT(DamageOfKind(m, "unreadable"), 0) << m["filesystem"].dump();
    } else {
      EXPECT_EQ(ran.r.error().code, Code::kCannotOpen) << ran.r.error().message;
    }
  }
}

}  // namespace
}  // namespace mr::salvage
