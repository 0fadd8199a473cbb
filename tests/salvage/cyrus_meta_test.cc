#include "salvage/cyrus_meta.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

namespace mr::salvage {
namespace {

const std::string kMagic =
    "\241\002\213\015Cyrus mailbox header\n\"The best thing about this system was that it had "
    "lots of goals.\"\n\t--Jim Morris on Andrew\n";

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(CyrusMeta, HeaderDlistGivesNameAndUniqueid) {
  std::string h = kMagic +
                  "%(T e N \"user.fred^smith.Work Stuff\" I 1a2b3c Q user.fred^smith A %(fred lrswipkxtecdan) "
                  "U ($Label1 NIL))\n";
  auto r = ParseCyrusHeader(Bytes(h));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "user.fred^smith.Work Stuff");
  EXPECT_EQ(r->uniqueid, "1a2b3c");
}

TEST(CyrusMeta, PreDlistHeaderGivesUniqueidOnly) {
  auto r = ParseCyrusHeader(Bytes(kMagic + "user.bob\tdeadbeef\n$Label1 \nbob\tlrs\t\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "");
  EXPECT_EQ(r->uniqueid, "deadbeef");
}

TEST(CyrusMeta, MalformedHeadersAreErrors) {
  EXPECT_FALSE(ParseCyrusHeader(Bytes("not a header")).ok());
  EXPECT_FALSE(ParseCyrusHeader(Bytes(kMagic + "%(T e N \"unterminated")).ok());
  EXPECT_FALSE(ParseCyrusHeader(Bytes(kMagic + "%(T e N {99999+}\r\nx)")).ok());
  EXPECT_FALSE(ParseCyrusHeader(Bytes(kMagic.substr(0, 30))).ok());
}

TEST(CyrusMeta, IndexGuidsAreBoundedByTheBuffer) {
  std::vector<std::uint8_t> d(160 + 2 * 112, 0);
  auto be = [&](size_t off, std::uint32_t v) {
    d[off] = v >> 24; d[off + 1] = (v >> 16) & 0xff; d[off + 2] = (v >> 8) & 0xff; d[off + 3] = v & 0xff;
  };
  be(12, 160); be(16, 112); be(20, 1000000);  // claims a million records
  be(160, 7); d[160 + 60] = 0xab;
  be(160 + 112, 9); d[160 + 112 + 79] = 0xcd;
  auto r = ParseIndexGuids(d);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].uid, 7u);
  EXPECT_EQ((*r)[0].guid[0], 0xab);
  EXPECT_EQ((*r)[1].uid, 9u);
  EXPECT_EQ((*r)[1].guid[19], 0xcd);
  be(16, 4);  // absurd record size
  EXPECT_FALSE(ParseIndexGuids(d).ok());
  EXPECT_FALSE(ParseIndexGuids(std::vector<std::uint8_t>(100, 0)).ok());
}

// A mailboxes.db is told by its mailbox records, in any backend; a cyrus.header's dlist
// (also `%(T e N ...`) or a text file with tabs is not one.
TEST(CyrusMeta, MailboxesDbIsRecognisedByItsRecords) {
  const std::string flat = "Iab1\t%(T e N user\x1f" "bob P default V 1)\nNuser\x1f" "bob\t%(T e I ab1 P default V 1)\n";
  EXPECT_EQ(CountMailboxesDbRecords(Bytes(flat)), 2u);
  std::string twoskip("\241\002\213\015twoskip file\0\0\0\0", 20);
  twoskip += std::string(44, '\0') + "Nuser\x1f" "bob" + std::string(3, '\0') + "%(T e I ab1 P default V 1)";
  EXPECT_EQ(CountMailboxesDbRecords(Bytes(twoskip)), 1u);
  EXPECT_EQ(CountMailboxesDbRecords(Bytes(kMagic + "%(T e N user.bob I ab1 A %(bob lrs))\n")), 0u);
  EXPECT_EQ(CountMailboxesDbRecords(Bytes("user.bob\t\nuser.bob.Sent\t\n")), 0u);
  EXPECT_EQ(CountMailboxesDbRecords(Bytes("From: a\r\nSubject: %(T e I x)\r\n")), 0u);
}

TEST(CyrusMeta, AnnotationsDbKeysMustNameKnownMailboxes) {
  std::string db("\241\002\213\015twoskip file\0\0\0\0", 20);
  db += std::string("\x10\x01" "ab1\0/comment\0\0note", 20) + std::string("\x10\x01" "zz9\0/comment\0\0x", 17);
  const std::set<std::string, std::less<>> known{"ab1"};
  EXPECT_EQ(CountAnnotationsDbKeys(Bytes(db), known), 1u);
  EXPECT_EQ(CountAnnotationsDbKeys(Bytes(db), {}), 0u);
  EXPECT_EQ(CountAnnotationsDbKeys(Bytes(std::string("ab1\0/comment\0", 13)), known), 0u);  // not twoskip
}

// cyrus.cache vs cyrus.index: the generation and each checked record's CRC32 must agree.
TEST(CyrusMeta, CacheMatchesOnlyTheIndexWhoseRecordCrcsItHas) {
  auto be = [](std::string& b, size_t off, std::uint32_t v) {
    b[off] = static_cast<char>(v >> 24); b[off + 1] = static_cast<char>(v >> 16);
    b[off + 2] = static_cast<char>(v >> 8); b[off + 3] = static_cast<char>(v);
  };
  std::string cache(4, '\0'), rec;
  be(cache, 0, 5);
  for (int i = 0; i < 10; ++i) rec += std::string("\0\0\0\3abc\0", 8);
  const std::uint32_t crc = static_cast<std::uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(rec.data()), static_cast<uInt>(rec.size())));
  cache += rec;
  std::string idx(160 + 112, '\0');
  be(idx, 0, 5); be(idx, 8, 17); be(idx, 12, 160); be(idx, 16, 112); be(idx, 20, 1);
  be(idx, 160, 1); be(idx, 160 + 24, 4); be(idx, 160 + 104, crc);
  auto refs = ParseIndexCacheRefs(Bytes(idx));
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->records.size(), 1u);
  EXPECT_TRUE(CacheMatchesIndex(Bytes(cache), *refs));
  std::string other = cache;
  other[10] = 'X';
  EXPECT_FALSE(CacheMatchesIndex(Bytes(other), *refs));
  other = cache;
  be(other, 0, 6);  // another generation
  EXPECT_FALSE(CacheMatchesIndex(Bytes(other), *refs));
  IndexCacheRefs none{5, {}};
  EXPECT_FALSE(CacheMatchesIndex(Bytes(cache), none));  // a generation alone is no evidence
}

}  // namespace
}  // namespace mr::salvage
