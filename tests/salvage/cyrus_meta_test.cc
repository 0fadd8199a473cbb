#include "salvage/cyrus_meta.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace mr::salvage
