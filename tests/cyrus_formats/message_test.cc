// Message facts as Cyrus computes them: header_size, Date: parsing quirks.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "reconcile/cyrus/message.h"

using namespace mr::cyrus;

namespace {

MessageFacts Parse(const std::string& s) {
  return ParseMessage({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

TEST(Message, HeaderSizeIncludesTheBlankLine) {
  const std::string m = "From: a@b\r\nSubject: x\r\n\r\nbody\r\n";
  const MessageFacts f = Parse(m);
  EXPECT_EQ(f.size, m.size());
  EXPECT_EQ(f.header_size, 25u);
  EXPECT_EQ(mr::ToHex(f.guid), mr::ToHex(mr::Sha1Of(m)));
  EXPECT_EQ(Parse("\r\nbody").header_size, 2u);
  EXPECT_EQ(Parse("From: a@b\r\nno blank line").header_size, 24u);
  // A bare-LF blank line does not end the header for Cyrus.
  EXPECT_EQ(Parse("A: b\n\nC: d\r\n\r\nx").header_size, 14u);
  EXPECT_EQ(Parse("").header_size, 0u);
}

TEST(Message, DateGivesGmtimeAndMidnightSentdate) {
  const MessageFacts f = Parse("Date: Mon, 3 Jun 2024 20:15:00 +0200\r\n\r\n");
  EXPECT_EQ(f.gmtime, 1717438500);
  EXPECT_EQ(f.sentdate, 1717372800);
  // Real Cyrus values for the store builder's multipart message.
  const MessageFacts g = Parse("Date: 29 Feb 2024 23:59:59 -0800\r\n\r\n");
  EXPECT_EQ(g.gmtime, 1709279999);
  EXPECT_EQ(g.sentdate, 1709164800);
}

TEST(Message, DateQuirks) {
  EXPECT_EQ(ParseRfc5322Date("1 Jan 2000 00:00:00 EST", false), 946702800);
  EXPECT_EQ(ParseRfc5322Date("1 Jan 2000 00:00:00 PDT", false), 946710000);
  EXPECT_EQ(ParseRfc5322Date("1 Jan 2000 00:00:00 UT", false), 946684800);
  EXPECT_EQ(ParseRfc5322Date("1 Jan 00 00:00 +0100", false), 946681200);
  EXPECT_EQ(ParseRfc5322Date("1 Jan 99 12:00:00 GMT", false), 915192000);
  EXPECT_EQ(ParseRfc5322Date("1-Jan-2000 00:00:00 +0000", false), 946684800);
  EXPECT_EQ(ParseRfc5322Date("  Sat,  1 jan 2000 00:00:00", false), 946684800);
  EXPECT_EQ(ParseRfc5322Date("1 Jan 2000", true), 946684800);
  EXPECT_EQ(ParseRfc5322Date("1 Jan 2000", false), -1);  // no time
  EXPECT_EQ(ParseRfc5322Date("Saturday, 1 Jan 2000 00:00:00", false), -1);
  EXPECT_EQ(ParseRfc5322Date("1 Foo 2000 00:00:00", false), -1);
  EXPECT_EQ(ParseRfc5322Date("1 Jan 1800 00:00:00", false), -1);
  EXPECT_EQ(ParseRfc5322Date("", false), -1);
  EXPECT_EQ(ParseRfc5322Date("1 Jan 1970 00:00:00 +0100", false), -3600);
}

TEST(Message, LastDateHeaderWinsAndFoldingIsUndone) {
  const MessageFacts f =
      Parse("Date: 1 Jan 2000 00:00:00 +0000\r\nX: y\r\ndate:\r\n 2 Jan 2000\r\n\t00:00:00 +0000\r\n\r\n");
  EXPECT_EQ(f.gmtime, 946771200);
  EXPECT_EQ(f.sentdate, 946771200);
  const MessageFacts bad = Parse("Date: garbage\r\n\r\n");
  EXPECT_EQ(bad.gmtime, 0);
  EXPECT_EQ(bad.sentdate, 0);
  const MessageFacts none = Parse("Subject: x\r\n\r\nDate: 1 Jan 2000 00:00:00\r\n");
  EXPECT_EQ(none.gmtime, 0);
  EXPECT_EQ(Parse("X-Date: 1 Jan 2000 00:00:00 +0000\r\n\r\n").gmtime, 0);
}

TEST(Message, FileStreamingMatchesInMemory) {
  // Headers longer than the 64 KiB read size, a header-less file, a big body.
  const std::string pad = "X-Pad: " + std::string(1000, 'p') + "\r\n";
  std::string long_header;
  for (int i = 0; i < 100; ++i) long_header += pad;
  const std::vector<std::string> cases = {
      "From: a@b\r\nDate: 1 Jan 2000 00:00:00 +0000\r\n\r\n" + std::string(300000, 'b'),
      long_header + "Date: 2 Jan 2000 00:00:00 +0000\r\n\r\nbody",
      long_header + "no end of header, no date",
      std::string(70000, 'x') + "\r\n\r\n",
      ""};
  char path[] = "/tmp/mr_msg_test_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  for (const std::string& c : cases) {
    {
      std::FILE* f = std::fopen(path, "wb");
      ASSERT_NE(f, nullptr);
      std::fwrite(c.data(), 1, c.size(), f);
      std::fclose(f);
    }
    const timespec times[2] = {{1700000000, 0}, {1700000000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, path, times, 0), 0);
    auto got = ParseMessageFile(path);
    ASSERT_TRUE(got.ok()) << got.error().message;
    const MessageFacts want =
        ParseMessage({reinterpret_cast<const std::uint8_t*>(c.data()), c.size()}, 1700000000);
    EXPECT_EQ(got->size, want.size);
    EXPECT_EQ(got->header_size, want.header_size);
    EXPECT_EQ(got->sentdate, want.sentdate);
    EXPECT_EQ(got->gmtime, want.gmtime);
    EXPECT_EQ(got->guid, want.guid);
    EXPECT_EQ(got->internaldate, 1700000000);
  }
  ::unlink(path);
  EXPECT_FALSE(ParseMessageFile("/tmp").ok());  // a directory
}

TEST(Message, FileErrorsNameThePath) {
  auto r = ParseMessageFile("/nonexistent/42.");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/nonexistent/42."), std::string::npos);
}

}  // namespace
