// cyrus.header unit tests: the 3.6 dlist form byte for byte (strings taken
// from files Cyrus 3.6.1 wrote), the pre-3.6 tab form, and malformed input.
#include <gtest/gtest.h>

#include "reconcile/cyrus/header.h"

using namespace mr::cyrus;

namespace {

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(Header, MagicIsCyrusMagic) {
  EXPECT_EQ(kHeaderMagic.size(), 115u);
  EXPECT_EQ(static_cast<unsigned char>(kHeaderMagic[0]), 0xa1);
  EXPECT_EQ(kHeaderMagic.substr(4, 21), "Cyrus mailbox header\n");
}

TEST(Header, ParsesAndWritesCyrus36Form) {
  const std::string line =
      "%(T e N \"user.bob.Work Stuff\" I k66aki97gbt29i6oksgkeani Q user.bob "
      "A %(bob lrswipkxtecdan alice lrs) U ($Work Junk))\n";
  const std::string file = std::string(kHeaderMagic) + line;
  auto h = ParseHeader(Bytes(file));
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(h->type, "e");
  EXPECT_EQ(h->name, "user.bob.Work Stuff");
  EXPECT_EQ(h->uniqueid, "k66aki97gbt29i6oksgkeani");
  EXPECT_EQ(h->quotaroot, "user.bob");
  ASSERT_EQ(h->acl.size(), 2u);
  EXPECT_EQ(h->acl[1], (std::pair<std::string, std::string>{"alice", "lrs"}));
  EXPECT_EQ(h->user_flags, (std::vector<std::string>{"$Work", "Junk"}));
  EXPECT_EQ(SerializeHeader(*h), file);
  EXPECT_EQ(AclString(*h), "bob\tlrswipkxtecdan\talice\tlrs\t");
}

TEST(Header, OmitsEmptyQuotarootAndFlags) {
  MailboxHeader h;
  h.type = "el";
  h.name = "user.alice";
  h.uniqueid = "5v4v8t9jv7gjvy5s3rg1vxyl";
  h.acl = {{"alice", "lrswipkxtecdan"}};
  EXPECT_EQ(SerializeHeader(h), std::string(kHeaderMagic) +
                                    "%(T el N user.alice I 5v4v8t9jv7gjvy5s3rg1vxyl "
                                    "A %(alice lrswipkxtecdan))\n");
}

TEST(Header, FlagListStopsAtFirstGapAsCyrusDoes) {
  MailboxHeader h;
  h.name = "user.bob";
  h.uniqueid = "x1";
  h.user_flags = {"A", "", "C"};
  EXPECT_NE(SerializeHeader(h).find("U (A))"), std::string::npos);
  h.user_flags = {"", "B"};
  EXPECT_EQ(SerializeHeader(h).find(" U "), std::string::npos);
}

TEST(Header, NilInFlagListIsAGap) {
  const std::string file = std::string(kHeaderMagic) + "%(T e N user.x I id1 A %() U (A NIL C))\n";
  auto h = ParseHeader(Bytes(file));
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(h->user_flags, (std::vector<std::string>{"A", "", "C"}));
}

TEST(Header, ParsesPre36TabForm) {
  const std::string file = std::string(kHeaderMagic) +
                           "user.bob\t4f2a1b3c5d6e7f80\n$Label1 Junk\nbob\tlrswipkxtecda\tanyone\tp\t\n";
  auto h = ParseHeader(Bytes(file));
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(h->name, "");
  EXPECT_EQ(h->quotaroot, "user.bob");
  EXPECT_EQ(h->uniqueid, "4f2a1b3c5d6e7f80");
  EXPECT_EQ(h->user_flags, (std::vector<std::string>{"$Label1", "Junk"}));
  ASSERT_EQ(h->acl.size(), 2u);
  EXPECT_EQ(h->acl[1].first, "anyone");
  const std::string noquota = std::string(kHeaderMagic) + "\tabc\n\nbob\tlrs\t\n";
  auto h2 = ParseHeader(Bytes(noquota));
  ASSERT_TRUE(h2.ok()) << h2.error().message;
  EXPECT_EQ(h2->quotaroot, "");
  EXPECT_TRUE(h2->user_flags.empty());
}

TEST(Header, MalformedInputIsAnErrorAtEveryTruncation) {
  const std::string file = std::string(kHeaderMagic) +
                           "%(T e N user.bob I abc A %(bob lrswipkxtecdan) U ($Label1 Junk))\n";
  for (std::size_t n = 0; n < file.size(); ++n) {
    auto h = ParseHeader(Bytes(file.substr(0, n)));
    EXPECT_FALSE(h.ok()) << n;
    if (!h.ok()) {
      EXPECT_EQ(h.error().message.rfind("cyrus.header: ", 0), 0u) << h.error().message;
    }
  }
  EXPECT_FALSE(ParseHeader(Bytes("not a header at all\n")).ok());
  auto bad = ParseHeader(Bytes(std::string(kHeaderMagic) + "%(T e N x I y A (bob))\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("ACL"), std::string::npos);
  EXPECT_FALSE(ParseHeader(Bytes(std::string(kHeaderMagic) + "%(T e N x A %())\n")).ok());
}

}  // namespace
