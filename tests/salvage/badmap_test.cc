#include "salvage/badmap.h"

#include <gtest/gtest.h>

namespace mr::salvage {
namespace {

TEST(BadMap, ParsesDdrescueMapfileAndKeepsOnlyUnfinishedAreas) {
  const char* text =
      "# Mapfile. Created by GNU ddrescue version 1.27\n"
      "# current_pos  current_status  current_pass\n"
      "0x00020000     +               1\n"
      "#      pos        size  status\n"
      "0x00000000  0x00010000  +\n"
      "0x00010000  0x00000200  -\n"
      "0x00010200  0x00000E00  *\n"
      "0x00011000  0x0000F000  +\n"
      "0x00020000  0x00001000  ?\n";
  auto m = BadMap::Parse(text, "map");
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->ranges().size(), 2u);
  EXPECT_EQ(m->ranges()[0], (ByteRange{0x10000, 0x1000}));  // '-' and '*' merged
  EXPECT_EQ(m->ranges()[1], (ByteRange{0x20000, 0x1000}));
  auto o = m->Overlaps(0x10800, 0x10000);
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(o[0], (ByteRange{0x10800, 0x800}));
  EXPECT_EQ(o[1], (ByteRange{0x20000, 0x800}));
  EXPECT_TRUE(m->Overlaps(0, 0x10000).empty());
}

TEST(BadMap, RejectsMalformedLinesWithTheLineNumber) {
  auto a = BadMap::Parse("0 +\n0x0 zz +\n", "m1");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("m1 line 2"), std::string::npos) << a.error().message;
  auto b = BadMap::Parse("0 +\n0 10 X\n", "m2");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("unknown block status"), std::string::npos);
  auto c = BadMap::Parse("# only comments\n", "m3");
  ASSERT_FALSE(c.ok());
  auto d = BadMap::Parse("0 +\n0xffffffffffffffff 0x10 -\n", "m4");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("overflow"), std::string::npos);
}

}  // namespace
}  // namespace mr::salvage
