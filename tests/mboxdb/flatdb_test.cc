// Cyrus flat db: escaping, line order, damaged lines.
#include "reconcile/cyrus/flatdb.h"

#include <gtest/gtest.h>

namespace mr::cyrus {
namespace {

std::string Str(const std::vector<std::uint8_t>& v) { return std::string(v.begin(), v.end()); }
std::vector<std::uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(FlatDb, EscapesLikeCyrus) {
  KvPairs kv = {{std::string("k\0\t\r\n\xff", 6), std::string("v\t\xff", 3)}};
  std::string file = Str(WriteFlat(kv));
  EXPECT_EQ(file, std::string("k\xff\x80\xff\x89\xff\x8d\xff\x8a\xff\xff\tv\xff\x89\xff\xff\n"));
  std::vector<std::string> problems;
  EXPECT_EQ(ReadFlat(Bytes(file), &problems), kv);
  EXPECT_TRUE(problems.empty());
}

TEST(FlatDb, SortsInCyrusMailboxOrder) {
  // The order cvt_cyrusdb produced for these keys from a real mailboxes.db.
  const std::vector<std::string> cyrus_order = {
      "Nuser\x1F" "bob", "Nuser\x1F" "bob.x", "Nuser\x1F" "bob\x1FSent",
      "Nuser\x1F" "bob\x1FSent\x1F" "2020", "Nuser\x1F" "bob\x1F" "a b", "Nuser\x1F" "bob x",
      "Nuser\x1F" "bob-x", "Nuser\x1F" "bobA", "Nuser\x1F" "boba", "Nuser\x1F" "fred",
      "Nuser\x1F" "fred.smith\x1FWork Stuff", "Nuser\x1F" "fred\x1FTab"};
  KvPairs kv;
  for (auto it = cyrus_order.rbegin(); it != cyrus_order.rend(); ++it) kv.emplace_back(*it, "v");
  std::string file = Str(WriteFlat(kv));
  std::string want;
  for (const auto& k : cyrus_order) want += k + "\tv\n";
  EXPECT_EQ(file, want);
  EXPECT_LT(CompareMbox("a.b", "a\x1F" "b"), 0);
  EXPECT_LT(CompareMbox("ab", "abc"), 0);
  EXPECT_EQ(CompareMbox("abc", "abc"), 0);
}

TEST(FlatDb, DamagedLinesAreSkippedWithProblems) {
  std::string file = "a\t1\ngarbage without tab\n\n\tempty key\nb\tbad\xff\n" "c\t3";
  std::vector<std::string> problems;
  KvPairs got = ReadFlat(Bytes(file), &problems);
  KvPairs want = {{"a", "1"}, {"b", "bad"}, {"c", "3"}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(problems.size(), 4u);  // no tab, empty key, bad escape, no final newline
}

}  // namespace
}  // namespace mr::cyrus
