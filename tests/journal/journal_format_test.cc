// JBD2 superblock decoding, tag sizes and checksum rules (salvage/journal_format).
#include "salvage/journal_format.h"

#include <gtest/gtest.h>

#include "test_journal_builder.h"

namespace mr::salvage {
namespace {

using namespace jbd2;
using testing::Csum;
using testing::JournalBuilder;

TEST(JournalFormat, TagBytesFollowFeatures) {
  Superblock sb;
  sb.incompat = kIncompatCsumV3;
  EXPECT_EQ(sb.TagBytes(), 16u);
  sb.incompat = kIncompatCsumV3 | kIncompat64Bit;
  EXPECT_EQ(sb.TagBytes(), 16u);
  sb.incompat = kIncompat64Bit;
  EXPECT_EQ(sb.TagBytes(), 12u);
  sb.incompat = 0;
  EXPECT_EQ(sb.TagBytes(), 8u);
  sb.incompat = kIncompatCsumV2;
  EXPECT_EQ(sb.TagBytes(), 10u);
  sb.incompat = kIncompatCsumV2 | kIncompat64Bit;
  EXPECT_EQ(sb.TagBytes(), 14u);
}

TEST(JournalFormat, FastCommitAreaShortensTheLog) {
  Superblock sb;
  sb.maxlen = 1024;
  EXPECT_EQ(sb.LogEnd(), 1024u);
  sb.incompat = kIncompatFastCommit;
  EXPECT_EQ(sb.LogEnd(), 1024u - kDefaultFastCommitBlocks);
  sb.num_fc_blocks = 10;
  EXPECT_EQ(sb.LogEnd(), 1014u);
}

TEST(JournalFormat, ParsesBuilderSuperblock) {
  JournalBuilder jb(1024, 64, Csum::kV3, true);
  jb.Begin(5, 42);
  auto sb = ParseSuperblock(jb.block(0), 1024, 64);
  ASSERT_TRUE(sb.ok()) << sb.error().message;
  EXPECT_EQ(sb->maxlen, 64u);
  EXPECT_EQ(sb->first, 1u);
  EXPECT_EQ(sb->start, 5u);
  EXPECT_EQ(sb->sequence, 42u);
  EXPECT_TRUE(sb->HasCsumV3());
  EXPECT_TRUE(sb->Has64Bit());
  EXPECT_TRUE(VerifySuperblockChecksum(*sb, jb.block(0)));
  EXPECT_EQ(sb->FeatureNames(), (std::vector<std::string>{"revoke", "64bit", "csum_v3"}));
}

TEST(JournalFormat, SuperblockChecksumDetectsAFlippedByte) {
  JournalBuilder jb(1024, 64, Csum::kV2, false);
  jb.Begin(1, 1);
  jb.block(0)[0x200] ^= 1;  // inside the 1024 checksummed bytes, not a parsed field
  auto sb = ParseSuperblock(jb.block(0), 1024, 64);
  ASSERT_TRUE(sb.ok());
  EXPECT_FALSE(VerifySuperblockChecksum(*sb, jb.block(0)));
}

struct BadSb {
  size_t off;
  uint32_t value;
  const char* message_part;
};

class JournalSuperblockErrors : public ::testing::TestWithParam<BadSb> {};

TEST_P(JournalSuperblockErrors, NamesTheField) {
  JournalBuilder jb(1024, 64, Csum::kNone, true);
  jb.Begin(1, 1);
  PutBe32(jb.block(0), GetParam().off, GetParam().value);
  auto sb = ParseSuperblock(jb.block(0), 1024, 64);
  ASSERT_FALSE(sb.ok());
  EXPECT_NE(sb.error().message.find(GetParam().message_part), std::string::npos) << sb.error().message;
  EXPECT_EQ(sb.error().message.find('\n'), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Fields, JournalSuperblockErrors,
    ::testing::Values(BadSb{0x00, 0x12345678, "bad magic"}, BadSb{0x04, 1, "not a superblock"},
                      BadSb{0x0C, 4096, "s_blocksize"}, BadSb{0x10, 65, "s_maxlen"},
                      BadSb{0x10, 1, "s_maxlen"}, BadSb{0x14, 0, "s_first"},
                      BadSb{0x14, 64, "s_first"}, BadSb{0x1C, 64, "s_start"},
                      BadSb{0x28, 0x80, "unknown incompat"},
                      BadSb{0x28, kIncompatCsumV2 | kIncompatCsumV3, "both csum_v2 and csum_v3"},
                      BadSb{0x28, kIncompatCsumV3, "checksum type"}));

TEST(JournalFormat, ShortBufferIsAnError) {
  std::vector<uint8_t> small(512, 0);
  auto sb = ParseSuperblock(small, 1024, 64);
  ASSERT_FALSE(sb.ok());
  EXPECT_EQ(sb.error().code, Code::kCorrupt);
}

TEST(JournalFormat, DataChecksumV2ComparesLow16Bits) {
  Superblock sb;
  sb.incompat = kIncompatCsumV2;
  std::vector<uint8_t> data(1024, 0x5a);
  uint8_t seq[4] = {0, 0, 0, 7};
  uint32_t full = Crc32c(Crc32c(1234, std::span<const uint8_t>(seq, 4)), data);
  EXPECT_TRUE(VerifyDataChecksum(sb, 1234, 7, full & 0xFFFF, data));
  EXPECT_FALSE(VerifyDataChecksum(sb, 1234, 8, full & 0xFFFF, data));
  sb.incompat = kIncompatCsumV3;
  EXPECT_TRUE(VerifyDataChecksum(sb, 1234, 7, full, data));
  EXPECT_FALSE(VerifyDataChecksum(sb, 1234, 7, full & 0xFFFF, data));
}

}  // namespace
}  // namespace mr::salvage
