// Hostile inputs built by hand (no unbounded work from lying length fields,
// cycles, deep nesting) and every crash input the fuzzers found, embedded as
// byte arrays, each run through the same fuzz entry points (fuzz/targets.h)
// and checked against the parser's contract.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/fsutil.h"
#include "fuzz/targets.h"
#include "reconcile/cyrus/crc32.h"
#include "reconcile/cyrus/dlist.h"
#include "reconcile/cyrus/header.h"
#include "reconcile/cyrus/index.h"
#include "reconcile/cyrus/twoskip.h"
#include "salvage/badmap.h"
#include "salvage/dir_parse.h"

namespace mr::fuzz {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::uint64_t Be(const std::vector<std::uint8_t>& f, std::size_t off, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | f[off + i];
  return v;
}
void PutBe(std::vector<std::uint8_t>* f, std::size_t off, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i, v >>= 8) (*f)[off + i] = static_cast<std::uint8_t>(v);
}

struct RecPos {
  std::size_t off, ptrs, level, len;
  std::uint8_t type;
};

// Record offsets of a twoskip file we wrote (no BLANK pads in small files).
std::vector<RecPos> Records(const std::vector<std::uint8_t>& f) {
  std::vector<RecPos> out;
  std::size_t off = 64;
  while (off + 24 <= f.size()) {
    if (f[off] == ' ') { off += 8; continue; }  // BLANK pad
    RecPos r{off, off + 8, f[off + 1], 0, f[off]};
    const std::size_t kv = r.ptrs + 8 * (r.level + 1) + 8;
    const std::size_t keyval = Be(f, off + 2, 2) + Be(f, off + 4, 4);
    r.len = kv - off + ((keyval + 7) / 8) * 8;
    out.push_back(r);
    off += r.len;
  }
  return out;
}

void FixHeadCrc(std::vector<std::uint8_t>* f, const RecPos& r) {
  const std::size_t head_end = r.ptrs + 8 * (r.level + 1);
  PutBe(f, head_end, cyrus::Crc32(std::span<const std::uint8_t>(f->data() + r.off, head_end - r.off)), 4);
}

TEST(Regressions, TwoskipCyclicPointersAreBoundedAndEveryRecordSurvives) {
  cyrus::KvPairs kv = {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}};
  auto f = cyrus::WriteTwoskip(kv);
  auto recs = Records(f);
  ASSERT_GE(recs.size(), 6u);  // dummy, 4 records, commit
  // Last record's every forward pointer back to the first record: a cycle
  // whose CRCs all check.
  const RecPos& last = recs[recs.size() - 2];
  ASSERT_EQ(last.type, '+');
  for (std::size_t i = 0; i <= last.level; ++i) PutBe(&f, last.ptrs + 8 * i, recs[1].off, 8);
  FixHeadCrc(&f, last);
  const auto t0 = Clock::now();
  std::vector<std::string> problems;
  auto back = cyrus::ReadTwoskip(f, &problems);
  EXPECT_LT(Since(t0), 2.0);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, kv);
  FuzzTwoskip(f.data(), f.size());
}

TEST(Regressions, TwoskipHugeLengthsDoNotAllocate) {
  auto f = cyrus::WriteTwoskip({{"k", "v"}});
  auto recs = Records(f);
  ASSERT_GE(recs.size(), 2u);
  PutBe(&f, recs[1].off + 2, 0xFFFF, 2);          // keylen: u64 follows ... which is a pointer
  PutBe(&f, recs[1].off + 4, 0xFFFFFFFFu, 4);     // vallen: u64 follows
  std::vector<std::string> problems;
  auto back = cyrus::ReadTwoskip(f, &problems);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->empty() || back->size() == 1u);
  FuzzTwoskip(f.data(), f.size());
}

TEST(Regressions, IndexClaimingTwoToTheThirtyTwoRecords) {
  cyrus::IndexHeader h;
  std::vector<cyrus::IndexRecord> recs(2);
  recs[0].uid = 1;
  recs[1].uid = 2;
  cyrus::FinalizeIndexHeader(h, recs, {});
  h.num_records = 0xFFFFFFFFu;
  h.exists = 0xFFFFFFFFu;
  auto bytes = cyrus::SerializeIndex(h, recs);
  const auto t0 = Clock::now();
  auto idx = cyrus::ParseIndex(bytes);
  EXPECT_LT(Since(t0), 1.0);
  if (idx.ok()) {
    EXPECT_LE(idx->records.size(), 2u);
  }
  auto sal = cyrus::ParseIndexSalvage(bytes);
  ASSERT_TRUE(sal.ok());
  EXPECT_LE(sal->records.size(), 2u);
  FuzzIndex(bytes.data(), bytes.size());
}

TEST(Regressions, DlistDeepNestingAndLyingLiterals) {
  const std::string deep(200000, '(');
  EXPECT_FALSE(cyrus::ParseDlist(deep).ok());
  const std::string kv_deep = [] { std::string s; for (int i = 0; i < 100000; ++i) s += "%(k "; return s; }();
  EXPECT_FALSE(cyrus::ParseDlist(kv_deep).ok());
  for (std::string lit : {"{18446744073709551615}\r\nabc", "{99999999999999999999999}\r\n",
                          "{4294967296+}\r\nx", "({3}\r\nab", "{-1}\r\n"}) {
    EXPECT_FALSE(cyrus::ParseDlist(lit).ok()) << lit;
    FuzzDlist(reinterpret_cast<const std::uint8_t*>(lit.data()), lit.size());
  }
  FuzzDlist(reinterpret_cast<const std::uint8_t*>(deep.data()), deep.size());
}

TEST(Regressions, DirBlockOfZerosOrLoopingRecLens) {
  salvage::DirParseParams p;
  p.inodes_count = 1000;
  std::vector<std::uint8_t> zeros(4096, 0);
  auto r = salvage::ParseDirBlock(zeros.data(), zeros.size(), p);
  EXPECT_TRUE(r.entries.empty());
  // Every entry claims rec_len 12 with a name longer than that.
  std::vector<std::uint8_t> b(4096, 0);
  for (std::size_t o = 0; o + 12 <= b.size(); o += 12) {
    b[o] = 5; b[o + 4] = 12; b[o + 6] = 200; b[o + 7] = 1;
  }
  r = salvage::ParseDirBlock(b.data(), b.size(), p);
  EXPECT_FALSE(r.clean);
  for (const auto& e : r.entries) EXPECT_LE(e.ino, 1000u);
}

TEST(Regressions, BadmapOverflowingRanges) {
  for (std::string m : {"0 +\n0xFFFFFFFFFFFFFFFF 0x2 -\n", "0 +\n0 99999999999999999999999 -\n",
                        "0 +\n18446744073709551615 1 -\n", "0 +\n-1 1 -\n"}) {
    auto r = salvage::BadMap::Parse(m, "t");
    EXPECT_FALSE(r.ok()) << m;
    FuzzBadmap(reinterpret_cast<const std::uint8_t*>(m.data()), m.size());
  }
}

// fuzz_header crash: a uniqueid with an 8-bit byte. SerializeHeader writes it as
// a literal ({n+} CRLF bytes) and ParseHeader, reading only the first line,
// could not read its own output back.
TEST(Regressions, HeaderWithALiteralValueRoundTrips) {
  const std::string in =
      "\241\002\213\015Cyrus mailbox header\n\"The best thing about this system was that it had "
      "lots of goals.\"\n\t--Jim Morris on Andrew\n%(T e N \"user.alice.Receipts 2024\" I "
      "jnfueijthq\3458fbh3nyy2x02bh A %(alice lrswipkxtecdan))\n";
  auto h = cyrus::ParseHeader(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(in.data()), in.size()));
  ASSERT_TRUE(h.ok()) << h.error().message;
  const std::string out = cyrus::SerializeHeader(*h);
  auto back = cyrus::ParseHeader(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(out.data()), out.size()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->uniqueid, "jnfueijthq\3458fbh3nyy2x02bh");
  EXPECT_EQ(back->name, "user.alice.Receipts 2024");
  FuzzHeader(reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
}

// fuzz_header crash 2: a pre-3.6 (tab form) header whose first line has no TAB
// parsed with no uniqueid; what we serialize from it (I "") the dlist form then
// rejects. Both forms now require a uniqueid.
TEST(Regressions, TabFormHeaderWithoutUniqueidIsAnError) {
  const std::string in = std::string(cyrus::kHeaderMagic) +
                         "d lots of goals.\"\n\t--Jim Morris on Andrew\n%(T e N \"user.0 A %(dave lrs.\"\n"
                         "kxtecdan))\n";
  auto h = cyrus::ParseHeader(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(in.data()), in.size()));
  EXPECT_FALSE(h.ok());
  FuzzHeader(reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
}

// Hostile-name image: a name with control / non-UTF-8 bytes went into salvage.json
// with U+FFFD replacements, so the manifest path did not name the file on disk.
TEST(Regressions, SanitizeEncodesControlAndBrokenUtf8ButKeepsPrintableUtf8) {
  for (std::string keep : {"123.", "Work Stuff", "v1^2 notes", "R\xc3\xa9sum\xc3\xa9", "\xe2\x82\xac",
                           "\xf0\x9f\x93\xa7"}) {
    bool changed = true;
    EXPECT_EQ(SanitizeName(keep, &changed), keep);
    EXPECT_FALSE(changed) << keep;
  }
  for (std::string enc : {std::string("\n"), std::string("a\x01"), std::string("\x7f"), std::string("\xff\xfe"),
                          std::string("\xc3"), std::string("\xc0\x80"), std::string("\xe2\x82"),
                          std::string("\xed\xa0\x80x")}) {
    bool changed = false;
    const std::string s = SanitizeName(enc, &changed);
    EXPECT_TRUE(changed) << enc;
    EXPECT_EQ(s.rfind("%mr-", 0), 0u);
  }
}

}  // namespace
}  // namespace mr::fuzz
