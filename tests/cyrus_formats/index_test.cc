// cyrus.index unit tests on hand-built bytes: round trip, CRC checks,
// truncation at every offset, old minor versions, derived header fields.
#include <gtest/gtest.h>

#include "common/sha1.h"
#include "reconcile/cyrus/crc32.h"
#include "reconcile/cyrus/index.h"

using namespace mr::cyrus;

namespace {

void Put32(std::vector<std::uint8_t>& b, std::size_t off, std::uint32_t v) {
  b[off] = v >> 24; b[off + 1] = v >> 16; b[off + 2] = v >> 8; b[off + 3] = v;
}
void Put64(std::vector<std::uint8_t>& b, std::size_t off, std::uint64_t v) {
  Put32(b, off, v >> 32); Put32(b, off + 4, static_cast<std::uint32_t>(v));
}
std::uint32_t Get32(const std::vector<std::uint8_t>& b, std::size_t off) {
  return (std::uint32_t{b[off]} << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
}

IndexRecord Rec(std::uint32_t uid, std::uint32_t flags = 0) {
  IndexRecord r;
  r.uid = uid;
  r.internaldate = 1700000000 + uid;
  r.sentdate = 1699920000;
  r.size = 100 + uid;
  r.header_size = 50;
  r.gmtime = 1699990000;
  r.cache_offset = 4 + 100 * uid;
  r.last_updated = 1700001000;
  r.system_flags = flags;
  r.savedate = 1700000500;
  r.guid = mr::Sha1Of("message " + std::to_string(uid));
  r.modseq = 10 + uid;
  r.createdmodseq = 5 + uid;
  r.cache_crc = 0x11110000 + uid;
  return r;
}

IndexHeader Hdr() {
  IndexHeader h;
  h.generation_no = 3;
  h.uidvalidity = 1795864991;
  h.last_appenddate = 1700000100;
  h.pop3_last_login = 7;
  h.recentuid = 2;
  h.recenttime = 1700000200;
  h.createdmodseq = 1;
  h.changes_epoch = 1700000000;
  h.header_file_crc = 0xabcdef01;
  h.options = 1;
  return h;
}

TEST(Index, RoundTripKeepsEveryField) {
  std::vector<IndexRecord> recs = {Rec(1, kFlagSeen), Rec(3, kFlagAnswered | kFlagExpunged),
                                   Rec(7, kFlagFlagged | kFlagDraft)};
  recs[2].user_flags = {0x80000001u, 0, 2, 0xffffffffu};
  recs[2].cache_offset = 0x0000123456789abcull;  // needs the high 16 bits
  recs[2].thrid = 0x0123456789abcdefull;
  IndexHeader h = Hdr();
  FinalizeIndexHeader(h, recs, {"$Label1"});
  const auto bytes = SerializeIndex(h, recs);
  ASSERT_EQ(bytes.size(), 160u + 3 * 112u);
  EXPECT_EQ(Get32(bytes, 8), 17u);
  EXPECT_EQ(Get32(bytes, 12), 160u);
  EXPECT_EQ(Get32(bytes, 16), 112u);
  auto f = ParseIndex(bytes);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_TRUE(f->problems.empty());
  ASSERT_EQ(f->records.size(), 3u);
  const IndexRecord& r = f->records[2];
  EXPECT_EQ(r.uid, 7u);
  EXPECT_EQ(r.cache_offset, 0x0000123456789abcull);
  EXPECT_EQ(r.cache_version, kCacheVersion);
  EXPECT_EQ(r.user_flags, recs[2].user_flags);
  EXPECT_EQ(r.thrid, recs[2].thrid);
  EXPECT_EQ(r.guid, recs[2].guid);
  EXPECT_EQ(r.savedate, recs[2].savedate);
  EXPECT_EQ(r.createdmodseq, recs[2].createdmodseq);
  EXPECT_EQ(r.cache_crc, recs[2].cache_crc);
  EXPECT_EQ(f->records[1].system_flags, kFlagAnswered | kFlagExpunged);
  EXPECT_EQ(f->header.generation_no, 3u);
  EXPECT_EQ(f->header.uidvalidity, 1795864991u);
  EXPECT_EQ(f->header.header_file_crc, 0xabcdef01u);
  EXPECT_EQ(f->header.changes_epoch, 1700000000u);
  EXPECT_EQ(f->header.sync_crc, h.sync_crc);
  EXPECT_EQ(SerializeIndex(f->header, f->records), bytes);
}

TEST(Index, HeaderCrcMismatchIsAnError) {
  auto bytes = SerializeIndex(Hdr(), std::vector<IndexRecord>{Rec(1)});
  bytes[44] ^= 1;  // uidvalidity
  auto f = ParseIndex(bytes);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, mr::Code::kCorrupt);
  EXPECT_NE(f.error().message.find("header CRC"), std::string::npos) << f.error().message;
}

TEST(Index, BadRecordCrcGoesToProblemsOthersKept) {
  std::vector<IndexRecord> recs = {Rec(1), Rec(2), Rec(3)};
  IndexHeader h = Hdr();
  FinalizeIndexHeader(h, recs, {});
  auto bytes = SerializeIndex(h, recs);
  bytes[160 + 112 + 12] ^= 0x40;  // size of record 1 (uid 2)
  auto f = ParseIndex(bytes);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->records.size(), 2u);
  EXPECT_EQ(f->records[0].uid, 1u);
  EXPECT_EQ(f->records[1].uid, 3u);
  ASSERT_EQ(f->problems.size(), 1u);
  EXPECT_EQ(f->problems[0].record_no, 1u);
  EXPECT_EQ(f->problems[0].uid, 2u);
  EXPECT_NE(f->problems[0].what.find("CRC"), std::string::npos);
}

TEST(Index, UidOutOfOrderIsAProblem) {
  std::vector<IndexRecord> recs = {Rec(5), Rec(3), Rec(6)};
  IndexHeader h = Hdr();
  FinalizeIndexHeader(h, recs, {});
  auto f = ParseIndex(SerializeIndex(h, recs));
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->records.size(), 2u);
  EXPECT_EQ(f->records[1].uid, 6u);
  ASSERT_EQ(f->problems.size(), 1u);
  EXPECT_EQ(f->problems[0].uid, 3u);
}

TEST(Index, TruncationAtEveryOffsetNeverCrashes) {
  std::vector<IndexRecord> recs = {Rec(1), Rec(2), Rec(3)};
  IndexHeader h = Hdr();
  FinalizeIndexHeader(h, recs, {});
  const auto bytes = SerializeIndex(h, recs);
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    auto f = ParseIndex(std::span<const std::uint8_t>(bytes.data(), n));
    if (n < 160) {
      ASSERT_FALSE(f.ok()) << n;
      EXPECT_EQ(f.error().message.rfind("cyrus.index: ", 0), 0u) << f.error().message;
      continue;
    }
    ASSERT_TRUE(f.ok()) << n << ": " << f.error().message;
    const std::size_t whole = (n - 160) / 112;
    EXPECT_EQ(f->records.size(), whole) << n;
    if (whole < 3) {
      ASSERT_EQ(f->problems.size(), 1u) << n;
      EXPECT_NE(f->problems[0].what.find("truncated"), std::string::npos);
      EXPECT_EQ(f->problems[0].record_no, whole);
    } else {
      EXPECT_TRUE(f->problems.empty());
    }
  }
}

TEST(Index, UnsupportedVersionsAndBadGeometry) {
  auto bytes = SerializeIndex(Hdr(), std::vector<IndexRecord>{});
  for (std::uint32_t v : {0u, 11u, 18u, 0xffffffffu}) {
    auto b = bytes;
    Put32(b, 8, v);
    auto f = ParseIndex(b);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.error().code, mr::Code::kUnsupported) << v;
  }
  auto b = bytes;
  Put32(b, 16, 0xffffffffu);  // record_size
  Put32(b, 156, Crc32(std::span<const std::uint8_t>(b.data(), 156)));
  auto f = ParseIndex(b);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("record_size"), std::string::npos);
  b = bytes;
  Put32(b, 20, 0xffffffffu);  // num_records far beyond the file
  Put32(b, 156, Crc32(std::span<const std::uint8_t>(b.data(), 156)));
  f = ParseIndex(b);
  ASSERT_TRUE(f.ok());  // header is fine; the missing records are a problem
  EXPECT_TRUE(f->records.empty());
  ASSERT_EQ(f->problems.size(), 1u);
}

// Hand-made v12 (header 128, record 96) and v14 (header 160, record 104) files.
std::vector<std::uint8_t> OldIndex(std::uint32_t minor) {
  const std::size_t hlen = minor < 14 ? 128 : 160;
  const std::size_t rlen = minor < 13 ? 96 : 104;
  std::vector<std::uint8_t> b(hlen + rlen, 0);
  Put32(b, 8, minor);
  Put32(b, 12, static_cast<std::uint32_t>(hlen));
  Put32(b, 16, static_cast<std::uint32_t>(rlen));
  Put32(b, 20, 1);
  Put32(b, 28, 9);       // last_uid
  Put32(b, 44, 4242);    // uidvalidity
  Put64(b, 68, 77);      // highestmodseq
  Put32(b, 84, 1);       // exists
  Put32(b, 100, 0x5555); // sync_crc
  if (minor >= 13) Put32(b, 120, 0x6666);
  if (minor >= 14) Put32(b, 124, 1);
  Put32(b, hlen - 4, Crc32(std::span<const std::uint8_t>(b.data(), hlen - 4)));
  const std::size_t r = hlen;
  Put32(b, r + 0, 9);
  Put32(b, r + 4, 1700000000);
  Put32(b, r + 12, 321);
  Put32(b, r + 32, kFlagSeen);
  Put32(b, r + 52, 1700000001);  // savedate in v15+, unused before
  Put32(b, r + 56, kCacheVersion);
  for (int i = 0; i < 20; ++i) b[r + 60 + i] = static_cast<std::uint8_t>(i);
  Put64(b, r + 80, 66);
  if (minor < 13) {
    Put32(b, r + 88, 0xcafe);
    Put32(b, r + 92, Crc32(std::span<const std::uint8_t>(b.data() + r, 92)));
  } else {
    Put64(b, r + 88, 0xabc);
    Put32(b, r + 96, 0xcafe);
    Put32(b, r + 100, Crc32(std::span<const std::uint8_t>(b.data() + r, 100)));
  }
  return b;
}

TEST(Index, ReadsMinorVersions12To15) {
  for (std::uint32_t minor : {12u, 13u, 14u, 15u}) {
    auto f = ParseIndex(OldIndex(minor));
    ASSERT_TRUE(f.ok()) << minor << ": " << f.error().message;
    EXPECT_TRUE(f->problems.empty()) << minor;
    ASSERT_EQ(f->records.size(), 1u);
    const IndexRecord& r = f->records[0];
    EXPECT_EQ(r.uid, 9u);
    EXPECT_EQ(r.size, 321u);
    EXPECT_EQ(r.modseq, 66u);
    EXPECT_EQ(r.cache_crc, 0xcafeu);
    EXPECT_EQ(r.thrid, minor >= 13 ? 0xabcu : 0u);
    EXPECT_EQ(r.savedate, minor >= 15 ? 1700000001 : 0);
    EXPECT_EQ(r.guid[19], 19);
    EXPECT_EQ(f->header.uidvalidity, 4242u);
    EXPECT_EQ(f->header.highestmodseq, 77u);
    EXPECT_EQ(f->header.sync_crc_annot, minor >= 13 ? 0x6666u : 0u);
    EXPECT_EQ(f->header.unseen, minor >= 14 ? 1u : 0u);
    // Upgrading writes v17.
    auto v17 = ParseIndex(SerializeIndex(f->header, f->records));
    ASSERT_TRUE(v17.ok());
    EXPECT_EQ(v17->header.minor_version, 17u);
    EXPECT_EQ(v17->records[0].cache_crc, 0xcafeu);
  }
  auto b = OldIndex(13);
  b[128 + 5] ^= 1;
  auto f = ParseIndex(b);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->problems.size(), 1u);
}

TEST(Index, RecordSyncCrcFollowsCyrusFormat) {
  IndexRecord r = Rec(4, kFlagSeen | kFlagDeleted);
  r.user_flags[0] = 0b101;  // flags 0 and 2
  const std::vector<std::string> names = {"$Label1", "Unused", "Junk"};
  const std::uint32_t flagcrc =
      Crc32(std::string_view("\\seen")) ^ Crc32(std::string_view("\\deleted")) ^
      Crc32(std::string_view("$label1")) ^ Crc32(std::string_view("junk"));
  const std::string s = "4 14 1700001000 (" + std::to_string(flagcrc) + ") 1700000004 " +
                        mr::ToHex(r.guid);
  EXPECT_EQ(RecordSyncCrc(r, names), Crc32(s));
  // Bits without a name do not count; names compare case-insensitively.
  EXPECT_EQ(RecordSyncCrc(r, {"$LABEL1", "", "JUNK"}), Crc32(s));
  r.user_flags[0] |= 0b10000;  // bit 4: no name
  EXPECT_EQ(RecordSyncCrc(r, names), Crc32(s));
}

TEST(Index, AnnotCrcUsesVirtualAnnotations) {
  IndexRecord r = Rec(4);
  r.thrid = 0x1f;
  const std::string ns = "/vendor/cmu/cyrus-imapd/";
  const std::uint32_t want = Crc32("4 " + ns + "thrid  1f") ^
                             Crc32("4 " + ns + "savedate  1700000500") ^
                             Crc32("4 " + ns + "createdmodseq  9");
  EXPECT_EQ(RecordAnnotCrc(r), want);
  EXPECT_EQ(AnnotationCrc({4, "/comment", "bob", "hi"}), Crc32(std::string_view("4 /comment bob hi")));
}

TEST(Index, FinalizeCountsSkipExpunged) {
  std::vector<IndexRecord> recs = {Rec(1, kFlagSeen | kFlagAnswered), Rec(2, kFlagDeleted),
                                   Rec(3, kFlagFlagged | kFlagExpunged), Rec(4, kFlagFlagged)};
  recs[2].last_updated = 1700009999;
  IndexHeader h = Hdr();
  h.last_uid = 10;          // kept: larger than any record
  h.highestmodseq = 2;      // raised to the records' max
  AnnotationsForCrc annots = {{2, "/comment", "bob", "x"},
                              {3, "/comment", "bob", "expunged: ignored"},
                              {0, "/comment", "", "mailbox level: ignored"},
                              {1, "/vendor/cmu/cyrus-imapd/thrid", "", "virtual: ignored"}};
  FinalizeIndexHeader(h, recs, {}, &annots);
  EXPECT_EQ(h.num_records, 4u);
  EXPECT_EQ(h.exists, 3u);
  EXPECT_EQ(h.answered, 1u);
  EXPECT_EQ(h.deleted, 1u);
  EXPECT_EQ(h.flagged, 1u);
  EXPECT_EQ(h.unseen, 2u);
  EXPECT_EQ(h.last_uid, 10u);
  EXPECT_EQ(h.highestmodseq, 14u);
  EXPECT_EQ(h.first_expunged, 1700009999u);
  EXPECT_EQ(h.quota_mailbox_used, 101u + 102u + 104u);
  EXPECT_EQ(h.sync_crc, RecordSyncCrc(recs[0], {}) ^ RecordSyncCrc(recs[1], {}) ^
                            RecordSyncCrc(recs[3], {}));
  EXPECT_EQ(h.sync_crc_annot, kSyncCrcAnnotSeed ^ RecordAnnotCrc(recs[0]) ^
                                  RecordAnnotCrc(recs[1]) ^ RecordAnnotCrc(recs[3]) ^
                                  AnnotationCrc(annots[0]));
}

TEST(Index, LargeFolderRoundTrip) {
  // A 180,000-message folder (the largest the spec mentions): ~20 MB index.
  std::vector<IndexRecord> recs;
  recs.reserve(180000);
  for (std::uint32_t uid = 1; uid <= 180000; ++uid) recs.push_back(Rec(uid, uid % 3 ? kFlagSeen : 0));
  IndexHeader h = Hdr();
  FinalizeIndexHeader(h, recs, {"$Label1"});
  EXPECT_EQ(h.exists, 180000u);
  EXPECT_EQ(h.unseen, 60000u);
  const auto bytes = SerializeIndex(h, recs);
  ASSERT_EQ(bytes.size(), 160u + 180000u * 112u);
  auto f = ParseIndex(bytes);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->problems.empty());
  ASSERT_EQ(f->records.size(), 180000u);
  EXPECT_EQ(f->records.back().guid, recs.back().guid);
}

TEST(Index, CompactUserFlagsRenumbersBits) {
  std::vector<IndexRecord> recs = {Rec(1), Rec(2)};
  recs[0].user_flags = {0b1101, 0, 0, 0};           // bits 0, 2, 3 (3 has no name)
  recs[1].user_flags = {0, 0, 0, 1u << 31};          // bit 127
  std::vector<std::string> names(128);
  names[0] = "A";
  names[2] = "C";
  names[127] = "Z";
  auto out = CompactUserFlags(names, recs);
  EXPECT_EQ(out, (std::vector<std::string>{"A", "C", "Z"}));
  EXPECT_EQ(recs[0].user_flags[0], 0b011u);
  EXPECT_EQ(recs[1].user_flags[0], 0b100u);
  EXPECT_EQ(recs[1].user_flags[3], 0u);
}

}  // namespace

namespace {

TEST(IndexSalvage, RecoversRecordsWhenTheHeaderIsDamaged) {
  std::vector<IndexRecord> recs = {Rec(1, kFlagSeen), Rec(2), Rec(3), Rec(4), Rec(9)};
  IndexHeader h = Hdr();
  FinalizeIndexHeader(h, recs, {});
  auto bytes = SerializeIndex(h, recs);
  // Intact file: same as ParseIndex.
  auto same = ParseIndexSalvage(bytes);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->header_ok);
  EXPECT_EQ(same->records.size(), 5u);
  // Header CRC broken and record_size garbage; records 2 and 3 zero-filled.
  bytes[16] = 0xee;
  std::fill(bytes.begin() + 160 + 112, bytes.begin() + 160 + 3 * 112, 0);
  ASSERT_FALSE(ParseIndex(bytes).ok());
  auto f = ParseIndexSalvage(bytes);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_FALSE(f->header_ok);
  EXPECT_EQ(f->header.uidvalidity, h.uidvalidity);  // untrusted but decoded
  ASSERT_EQ(f->records.size(), 3u);
  EXPECT_EQ(f->records[0].uid, 1u);
  EXPECT_EQ(f->records[1].uid, 4u);
  EXPECT_EQ(f->records[2].uid, 9u);
  EXPECT_EQ(f->records[0].system_flags, kFlagSeen);
  ASSERT_EQ(f->problems.size(), 2u);
  EXPECT_EQ(f->problems[0].record_no, kHeaderProblem);
  EXPECT_NE(f->problems[0].what.find("header CRC"), std::string::npos);
  EXPECT_EQ(f->problems[1].record_no, 1u);
  EXPECT_NE(f->problems[1].what.find("records 1..2: all zero"), std::string::npos)
      << f->problems[1].what;
  // Too short for any header: an error.
  EXPECT_FALSE(ParseIndexSalvage(std::span<const std::uint8_t>(bytes.data(), 100)).ok());
  // Every truncation of the damaged file is handled.
  for (std::size_t n = 0; n <= bytes.size(); ++n)
    (void)ParseIndexSalvage(std::span<const std::uint8_t>(bytes.data(), n));
}

}  // namespace
