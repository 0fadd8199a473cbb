#include "common/sha1.h"

#include <gtest/gtest.h>

namespace mr {
namespace {

TEST(Sha1, KnownVectors) {
  EXPECT_EQ(ToHex(Sha1Of(std::string_view(""))), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(ToHex(Sha1Of(std::string_view("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Sha1, StreamingEqualsOneShot) {
  std::string data(100000, 'x');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  Sha1 h;
  for (std::size_t i = 0; i < data.size(); i += 333) h.Update(data.data() + i, std::min<std::size_t>(333, data.size() - i));
  EXPECT_EQ(h.Final(), Sha1Of(data));
}

TEST(Sha1, HexRoundTrip) {
  Digest d = Sha1Of(std::string_view("hello"));
  Digest back{};
  ASSERT_TRUE(FromHex(ToHex(d), &back));
  EXPECT_EQ(d, back);
  EXPECT_FALSE(FromHex("zz", &back));
  EXPECT_FALSE(FromHex(std::string(40, 'g'), &back));
}

}  // namespace
}  // namespace mr
