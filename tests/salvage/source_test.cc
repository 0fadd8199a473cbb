#include "salvage/source.h"

#include <ext2fs/ext2_err.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include "salvage/volume.h"
#include "test_util.h"

namespace mr::salvage {
namespace {

using namespace test;

TEST(Source, OpensReadOnlyAndRefusesWrites) {
  TempDir t;
  WriteText(t / "stage/f", "data");
  MakeImage(t / "stage", t / "img", "8M");
  const std::string before = Sha256(t / "img");
  auto s = Source::Open({t / "img", {}, 2});
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
  auto s = Source::Open({t / "raw", *m, 0});
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
  auto s = Source::Open({"/nonexistent/mr-img", {}, 0});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kCannotOpen);
}

}  // namespace
}  // namespace mr::salvage
