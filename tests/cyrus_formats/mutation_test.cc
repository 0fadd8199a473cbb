// Malformed input never crashes or over-reads: random byte flips and
// truncations of valid header/index/cache/message bytes (run under
// -DMAILRESCUE_SANITIZE=ON to catch out-of-bounds reads).
#include <gtest/gtest.h>

#include <random>

#include "common/sha1.h"
#include "reconcile/cyrus/cache.h"
#include "reconcile/cyrus/header.h"
#include "reconcile/cyrus/index.h"
#include "reconcile/cyrus/message.h"

using namespace mr::cyrus;

namespace {

template <class F>
void Mutate(const std::vector<std::uint8_t>& seed, int rounds, F&& check) {
  std::mt19937 rng(12345);
  for (int i = 0; i < rounds; ++i) {
    std::vector<std::uint8_t> b = seed;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < flips && !b.empty(); ++k) {
      const std::size_t at = rng() % b.size();
      switch (rng() % 3) {
        case 0: b[at] = static_cast<std::uint8_t>(rng()); break;
        case 1: b[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;
        default: b.resize(at); break;
      }
    }
    check(b);
  }
}

std::vector<std::uint8_t> AsBytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(Mutation, HeaderParserSurvives) {
  const std::string seed = std::string(kHeaderMagic) +
                           "%(T e N \"user.bob.Work Stuff\" I k66aki97 Q user.bob A %(bob "
                           "lrswipkxtecdan alice lrs) U ($Work Junk NIL))\n";
  ASSERT_TRUE(ParseHeader(AsBytes(seed)).ok());
  int ok = 0;
  Mutate(AsBytes(seed), 3000, [&](const std::vector<std::uint8_t>& b) {
    auto h = ParseHeader(b);
    if (h.ok()) {
      ++ok;
      (void)SerializeHeader(*h);
    } else {
      EXPECT_FALSE(h.error().message.empty());
      EXPECT_EQ(h.error().message.find('\n'), std::string::npos);
    }
  });
  EXPECT_GT(ok, 0);
}

TEST(Mutation, IndexParserSurvives) {
  std::vector<IndexRecord> recs(5);
  for (std::uint32_t i = 0; i < 5; ++i) {
    recs[i].uid = i + 1;
    recs[i].guid = mr::Sha1Of(std::to_string(i));
  }
  IndexHeader h;
  FinalizeIndexHeader(h, recs, {"a", "b"});
  const auto seed = SerializeIndex(h, recs);
  int with_problems = 0;
  Mutate(seed, 3000, [&](const std::vector<std::uint8_t>& b) {
    auto f = ParseIndex(b);
    if (!f.ok()) return;
    EXPECT_LE(f->records.size(), 5u);
    if (!f->problems.empty()) ++with_problems;
  });
  EXPECT_GT(with_problems, 0);
}

TEST(Mutation, CacheAndMessageSurvive) {
  std::vector<std::uint8_t> rec;
  for (int i = 0; i < 10; ++i) {
    rec.insert(rec.end(), {0, 0, 0, 5, 'a', 'b', 'c', 'd', 'e', 0, 0, 0});
  }
  CacheWriter w(1);
  w.Append(rec);
  w.Append(rec);
  Mutate(w.bytes(), 3000, [&](const std::vector<std::uint8_t>& b) {
    for (std::uint64_t off : {std::uint64_t{4}, std::uint64_t{4 + rec.size()}}) {
      auto r = CacheRecordAt(b, off);
      if (r.ok()) {
        EXPECT_TRUE(CacheItems(*r).ok());
      }
    }
  });
  const std::string msg =
      "Date: Mon, 3 Jun 2024 20:15:00 +0200\r\nDate:\r\n\t1 Jan 70 00:00 EST\r\nX: y\r\n\r\nbody";
  Mutate(AsBytes(msg), 3000, [&](const std::vector<std::uint8_t>& b) {
    const MessageFacts f = ParseMessage(b, 1700000000);
    EXPECT_EQ(f.size, b.size());
    EXPECT_LE(f.header_size, b.size());
  });
}

}  // namespace
