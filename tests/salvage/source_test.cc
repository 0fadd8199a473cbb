#include "salvage/source.h"

#include <ext2fs/ext2_err.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include "salvage/volume.h"
#include "fault_plan.h"
#include "test_util.h"

namespace mr::salvage {
namespace {

using namespace test;

TEST(Source, OpensReadOnlyAndRefusesWrites) {
  TempDir t;
  WriteText(t / "stage/f", "data");
  MakeImage(t / "stage", t / "img", "8M");
  const std::string before = Sha256(t / "img");
  auto s = Source::Open({t / "img", {}, 2, {}});
  ASSERT_TRUE(s.ok()) << s.error().message;
  int fl = fcntl((*s)->fd(), F_GETFL);
  EXPECT_EQ(fl & O_ACCMODE, O_RDONLY);
  auto plan = Volume::Plan(*s, {});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  auto v = Volume::Open(*s, plan->first);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_FALSE(v->fs()->flags & EXT2_FLAG_RW);
  std::vector<char> buf(v->fs()->blocksize, 'x');
  EXPECT_EQ(io_channel_write_blk64(v->fs()->io, 0, 1, buf.data()), EXT2_ET_RO_FILSYS);
  EXPECT_EQ(Sha256(t / "img"), before);
}

TEST(Source, BadmapAndEndOfSourceReadAsZerosAndAreRecorded) {
  TempDir t;
  WriteText(t / "raw", std::string(8192, 'A'));
  auto m = BadMap::Parse("0 +\n0 0x1000 +\n0x1000 0x200 -\n0x1200 0xE00 +\n", "m");
  ASSERT_TRUE(m.ok());
  auto s = Source::Open({t / "raw", *m, 0, {}});
  ASSERT_TRUE(s.ok());
  std::vector<char> buf(9000, 'z');
  ReadDamageScope scope;
  auto z = (*s)->ReadAt(0, buf.data(), buf.size());
  ASSERT_EQ(z.size(), 2u);
  EXPECT_EQ(z[0], (ByteRange{0x1000, 0x200}));
  EXPECT_EQ(z[1], (ByteRange{8192, 9000 - 8192}));
  EXPECT_EQ(buf[0x0fff], 'A');
  EXPECT_EQ(buf[0x1000], 0);
  EXPECT_EQ(buf[0x11ff], 0);
  EXPECT_EQ(buf[0x1200], 'A');
  EXPECT_EQ(buf[8999], 0);
  EXPECT_EQ(scope.ranges().size(), 2u);
  EXPECT_EQ((*s)->Unreadable().size(), 2u);
}

TEST(Source, MissingFileCannotBeOpened) {
  auto s = Source::Open({"/nonexistent/mr-img", {}, 0, {}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kCannotOpen);
}

}  // namespace
}  // namespace mr::salvage

// Input-side faults through the read_fn seam (tests/salvage/fault_plan.h).
namespace mr::salvage {
namespace {

using namespace test;

std::shared_ptr<Source> OpenFaulty(const std::string& path, FaultPlan& plan, int retries) {
  Source::Options o;
  o.path = path;
  o.retries = retries;
  o.read_fn = plan.Fn();
  auto s = Source::Open(std::move(o));
  EXPECT_TRUE(s.ok());
  return s.ok() ? *s : nullptr;
}

TEST(SalvageSourceFaults, PermanentEioIsRetriedThenIsolatedToItsSector) {
  TempDir t;
  WriteText(t / "raw", std::string(8192, 'A'));
  for (int retries : {2, 0}) {
    FaultPlan plan;
    plan.AddPermanent(1024);
    auto s = OpenFaulty(t / "raw", plan, retries);
    ASSERT_TRUE(s);
    std::vector<char> buf(8192, 'z');
    ReadDamageScope scope;
    auto z = s->ReadAt(0, buf.data(), buf.size());
    ASSERT_EQ(z.size(), 1u);
    EXPECT_EQ(z[0], (ByteRange{1024, 512}));
    EXPECT_EQ(std::string(buf.data(), 1024), std::string(1024, 'A'));
    EXPECT_EQ(std::string(buf.data() + 1024, 512), std::string(512, '\0'));
    EXPECT_EQ(std::string(buf.data() + 1536, 8192 - 1536), std::string(8192 - 1536, 'A'));
    // 1 + retries attempts on the region, then one per sector: bounded, counted.
    EXPECT_EQ(plan.calls(), static_cast<std::uint64_t>(1 + retries + 16));
    EXPECT_EQ(plan.fault(0).touched, 1 + retries + 1);
    EXPECT_EQ(scope.ranges().size(), 1u);
    EXPECT_EQ(s->Unreadable(), (std::vector<ByteRange>{{1024, 512}}));
  }
}

TEST(SalvageSourceFaults, TransientEioWithinTheRetriesLeavesNoDamage) {
  TempDir t;
  WriteText(t / "raw", std::string(8192, 'B'));
  FaultPlan plan;
  plan.AddTransient(4096, 2);  // fails twice, the third attempt reads it
  auto s = OpenFaulty(t / "raw", plan, 2);
  ASSERT_TRUE(s);
  std::vector<char> buf(8192);
  EXPECT_TRUE(s->ReadAt(0, buf.data(), buf.size()).empty());
  EXPECT_EQ(std::string(buf.data(), buf.size()), std::string(8192, 'B'));
  EXPECT_EQ(plan.calls(), 3u);
  EXPECT_EQ(plan.fault(0).failed, 2);
  EXPECT_TRUE(s->Unreadable().empty());
}

TEST(SalvageSourceFaults, ShortReadsAndEintrAreCompletedTransparently) {
  TempDir t;
  std::string data;
  for (int i = 0; i < 20000; ++i) data += static_cast<char>('a' + i % 23);
  WriteText(t / "raw", data);
  FaultPlan plan;
  plan.set_short_max(777);  // not a sector multiple
  plan.set_eintr_every(2);
  auto s = OpenFaulty(t / "raw", plan, 2);
  ASSERT_TRUE(s);
  std::vector<char> buf(data.size());
  EXPECT_TRUE(s->ReadAt(0, buf.data(), buf.size()).empty());
  EXPECT_EQ(std::string(buf.data(), buf.size()), data);
  EXPECT_GT(plan.shortened(), 20u);
  EXPECT_GT(plan.eintr(), 20u);
  EXPECT_EQ(plan.eio(), 0u);
}

TEST(SalvageSourceFaults, EndlessEintrAndEioAreBounded) {
  TempDir t;
  WriteText(t / "raw", std::string(8192, 'C'));
  {
    FaultPlan plan;
    plan.set_eintr_every(1);  // a read that never gets through
    auto s = OpenFaulty(t / "raw", plan, 2);
    ASSERT_TRUE(s);
    std::vector<char> buf(8192, 'z');
    EXPECT_EQ(s->ReadAt(0, buf.data(), buf.size()), (std::vector<ByteRange>{{0, 8192}}));
    EXPECT_EQ(buf, std::vector<char>(8192, '\0'));
    // (kMaxInterrupts + 1) calls make one failed attempt: 3 on the region, 1 per sector.
    EXPECT_EQ(plan.calls(), static_cast<std::uint64_t>((Source::kMaxInterrupts + 1) * (3 + 16)));
  }
  {
    FaultPlan plan;
    plan.set_fail_all_from(0);
    auto s = OpenFaulty(t / "raw", plan, 2);
    ASSERT_TRUE(s);
    std::vector<char> buf(8192, 'z');
    EXPECT_EQ(s->ReadAt(0, buf.data(), buf.size()), (std::vector<ByteRange>{{0, 8192}}));
    EXPECT_EQ(plan.calls(), 3u + 16u);
  }
}

TEST(SalvageSourceFaults, SourceEndingEarlyReadsAsZeros) {
  TempDir t;
  WriteText(t / "raw", std::string(8192, 'D'));
  Source::Options o;
  o.path = t / "raw";
  int calls = 0;
  // The device shrank to 5000 bytes after it was opened.
  o.read_fn = [&calls](int fd, void* buf, std::size_t len, off_t off) -> ssize_t {
    ++calls;
    if (off >= 5000) return 0;
    return ::pread(fd, buf, std::min<std::size_t>(len, static_cast<std::size_t>(5000 - off)), off);
  };
  auto s = Source::Open(std::move(o));
  ASSERT_TRUE(s.ok());
  std::vector<char> buf(8192, 'z');
  auto z = (*s)->ReadAt(0, buf.data(), buf.size());
  ASSERT_EQ(z.size(), 1u);
  EXPECT_EQ(z[0], (ByteRange{5000, 8192 - 5000}));
  EXPECT_EQ(std::string(buf.data(), 5000), std::string(5000, 'D'));
  EXPECT_EQ(std::string(buf.data() + 5000, 8192 - 5000), std::string(8192 - 5000, '\0'));
  EXPECT_LT(calls, 40);
}

}  // namespace
}  // namespace mr::salvage
