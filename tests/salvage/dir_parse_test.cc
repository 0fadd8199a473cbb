#include "salvage/dir_parse.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace mr::salvage {
namespace {

// Appends one entry; rec_len 0 = tight (rounded up to 4).
void Put(std::vector<std::uint8_t>& b, std::uint32_t ino, const std::string& name, std::uint8_t ft,
         std::uint16_t rec_len = 0) {
  if (rec_len == 0) rec_len = static_cast<std::uint16_t>((8 + name.size() + 3) / 4 * 4);
  size_t off = b.size();
  b.resize(off + rec_len, 0);
  b[off] = ino & 0xff; b[off + 1] = (ino >> 8) & 0xff; b[off + 2] = (ino >> 16) & 0xff; b[off + 3] = ino >> 24;
  b[off + 4] = rec_len & 0xff; b[off + 5] = rec_len >> 8;
  b[off + 6] = static_cast<std::uint8_t>(name.size());
  b[off + 7] = ft;
  std::memcpy(&b[off + 8], name.data(), name.size());
}

DirParseParams Params() {
  DirParseParams p;
  p.blocksize = 1024;
  p.inodes_count = 1000;
  return p;
}

TEST(DirParse, CleanBlockYieldsEntriesAndDotDot) {
  std::vector<std::uint8_t> b;
  Put(b, 12, ".", 2);
  Put(b, 2, "..", 2);
  Put(b, 13, "hello", 1);
  Put(b, 14, "sub", 2, static_cast<std::uint16_t>(1024 - b.size()));
  auto r = ParseDirBlock(b.data(), b.size(), Params());
  EXPECT_TRUE(r.clean);
  EXPECT_EQ(r.dotdot, 2u);
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0].name, "hello");
  EXPECT_EQ(r.entries[1].ino, 14u);
  EXPECT_FALSE(r.entries[1].resynced);
}

TEST(DirParse, ResyncsAfterGarbageAndFlagsLaterEntries) {
  std::vector<std::uint8_t> b;
  Put(b, 13, "first", 1);
  size_t garbage_at = b.size();
  b.resize(b.size() + 40, 0xa5);  // garbage: inode 0xa5a5a5a5 out of range
  Put(b, 20, "after", 1);
  Put(b, 21, "last", 1, static_cast<std::uint16_t>(1024 - b.size()));
  // Make the first entry's rec_len point into the garbage (as a zapped tail would).
  auto r = ParseDirBlock(b.data(), b.size(), Params());
  EXPECT_FALSE(r.clean);
  EXPECT_NE(r.problem.find(std::to_string(garbage_at)), std::string::npos) << r.problem;
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[0].name, "first");
  EXPECT_FALSE(r.entries[0].resynced);
  EXPECT_EQ(r.entries[1].name, "after");
  EXPECT_TRUE(r.entries[1].resynced);
  EXPECT_EQ(r.entries[2].name, "last");
}

TEST(DirParse, AllGarbageYieldsNothingAndNeverReadsPastTheBuffer) {
  std::vector<std::uint8_t> b(1024, 0xff);
  auto r = ParseDirBlock(b.data(), b.size(), Params());
  EXPECT_FALSE(r.clean);
  EXPECT_TRUE(r.entries.empty());
  // Every possible truncation of a valid block parses without crossing the end.
  std::vector<std::uint8_t> v;
  Put(v, 13, "abcdefgh", 1);
  Put(v, 14, "x", 1, static_cast<std::uint16_t>(1024 - v.size()));
  for (size_t n = 0; n <= v.size(); ++n) {
    std::vector<std::uint8_t> cut(v.begin(), v.begin() + static_cast<long>(n));
    auto c = ParseDirBlock(cut.data(), cut.size(), Params());
    EXPECT_LE(c.entries.size(), 2u);
  }
}

TEST(DirParse, RejectsNamesWithSlashAndOutOfRangeInodes) {
  std::vector<std::uint8_t> b;
  Put(b, 13, "a/b", 1);
  Put(b, 5000, "big", 1);
  Put(b, 15, "ok", 1, static_cast<std::uint16_t>(1024 - b.size()));
  auto r = ParseDirBlock(b.data(), b.size(), Params());
  EXPECT_FALSE(r.clean);
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].name, "ok");
}

TEST(DirParse, InlineDirectoryStartsWithParent) {
  std::vector<std::uint8_t> b = {2, 0, 0, 0};
  Put(b, 30, "m", 1, static_cast<std::uint16_t>(60 - 4));
  auto r = ParseInlineDir(b.data(), b.size(), true, Params());
  EXPECT_TRUE(r.clean);
  EXPECT_EQ(r.dotdot, 2u);
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].name, "m");
}

}  // namespace
}  // namespace mr::salvage
