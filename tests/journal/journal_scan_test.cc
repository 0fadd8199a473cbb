// The log walker on synthetic journals (salvage/journal_scan).
#include "salvage/journal_scan.h"

#include <gtest/gtest.h>

#include <random>

#include "test_journal_builder.h"

namespace mr::salvage {
namespace {

using namespace jbd2;
using testing::Csum;
using testing::JournalBuilder;
using testing::TxnSpec;

constexpr uint64_t kFsBlocks = 1u << 20;

struct Variant {
  Csum csum;
  bool is64;
};

std::string VariantName(const ::testing::TestParamInfo<Variant>& info) {
  static const char* const kNames[] = {"none", "v1", "v2", "v3"};
  return std::string(kNames[static_cast<int>(info.param.csum)]) + (info.param.is64 ? "_64" : "_32");
}

class JournalScanAll : public ::testing::TestWithParam<Variant> {
 protected:
  JournalBuilder Make(uint32_t maxlen = 64) { return JournalBuilder(1024, maxlen, GetParam().csum, GetParam().is64); }
};

TEST_P(JournalScanAll, CommittedTransactionsMapNewestCopy) {
  auto jb = Make();
  jb.Begin(1, 10);
  jb.Append(TxnSpec{{{100, jb.Fill(1)}, {101, jb.Fill(2)}}, {}, true});
  jb.Append(TxnSpec{{{100, jb.Fill(3)}}, {}, true});
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  EXPECT_EQ(scan.end, JournalEnd::kClean) << scan.end_detail;
  ASSERT_EQ(scan.committed.size(), 2u);
  EXPECT_EQ(scan.committed[0].sequence, 10u);
  EXPECT_EQ(scan.committed[1].sequence, 11u);
  EXPECT_EQ(scan.next_sequence, 12u);
  EXPECT_TRUE(scan.problems.empty());
  auto map = BuildReplayMap(scan);
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map[100].sequence, 11u);
  EXPECT_EQ(map[101].sequence, 10u);
  EXPECT_EQ(jb.block(map[100].journal_block), jb.Fill(3));
  EXPECT_EQ(jb.block(map[101].journal_block), jb.Fill(2));
}

TEST_P(JournalScanAll, UncommittedTransactionIsNotReplayed) {
  auto jb = Make();
  jb.Begin(1, 1);
  jb.Append(TxnSpec{{{100, jb.Fill(1)}}, {}, true});
  jb.Append(TxnSpec{{{200, jb.Fill(2)}}, {}, false});
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  EXPECT_EQ(scan.end, JournalEnd::kIncomplete);
  EXPECT_NE(scan.end_detail.find("transaction 2"), std::string::npos) << scan.end_detail;
  auto map = BuildReplayMap(scan);
  EXPECT_EQ(map.size(), 1u);
  EXPECT_TRUE(map.count(100));
  EXPECT_FALSE(map.count(200));
}

TEST_P(JournalScanAll, RevokeCancelsEarlierCopiesOnly) {
  auto jb = Make();
  jb.Begin(1, 1);
  jb.Append(TxnSpec{{{100, jb.Fill(1)}, {300, jb.Fill(9)}}, {}, true});
  jb.Append(TxnSpec{{}, {100}, true});                    // revokes 100 up to seq 2
  jb.Append(TxnSpec{{{300, jb.Fill(8)}}, {300}, true});  // same-transaction revoke cancels its copy
  jb.Append(TxnSpec{{{100, jb.Fill(5)}}, {}, true});       // written again after the revoke
  jb.Append(TxnSpec{{{400, jb.Fill(4)}}, {}, true});
  jb.Append(TxnSpec{{}, {400}, true});
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  ASSERT_EQ(scan.committed.size(), 6u) << scan.end_detail;
  auto map = BuildReplayMap(scan);
  ASSERT_TRUE(map.count(100));
  EXPECT_EQ(map[100].sequence, 4u);
  EXPECT_EQ(jb.block(map[100].journal_block), jb.Fill(5));
  EXPECT_FALSE(map.count(300));
  EXPECT_FALSE(map.count(400));
}

TEST_P(JournalScanAll, WrapsAroundTheLogEnd) {
  auto jb = Make(16);
  jb.Begin(12, 7);  // blocks 12..15 then 1..
  jb.Append(TxnSpec{{{10, jb.Fill(1)}, {11, jb.Fill(2)}, {12, jb.Fill(3)}}, {}, true});
  jb.Append(TxnSpec{{{13, jb.Fill(4)}}, {}, true});
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  EXPECT_EQ(scan.committed.size(), 2u) << scan.end_detail;
  auto map = BuildReplayMap(scan);
  ASSERT_EQ(map.size(), 4u);
  EXPECT_EQ(jb.block(map[12].journal_block), jb.Fill(3));
  EXPECT_LT(map[13].journal_block, 12u);  // after the wrap
}

TEST_P(JournalScanAll, EscapedBlockIsFlagged) {
  auto jb = Make();
  jb.Begin(1, 1);
  jb.Append(TxnSpec{{{100, jb.Fill(7, true)}}, {}, true});
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  auto map = BuildReplayMap(scan);
  ASSERT_TRUE(map.count(100));
  EXPECT_TRUE(map[100].escaped);
  EXPECT_EQ(Be32(jb.block(map[100].journal_block), 0), 0u);
}

TEST_P(JournalScanAll, ManyTagsSpanSeveralDescriptors) {
  auto jb = JournalBuilder(1024, 512, GetParam().csum, GetParam().is64);
  jb.Begin(1, 1);
  TxnSpec t;
  for (uint64_t b = 0; b < 200; ++b) t.writes.push_back({1000 + b, jb.Fill(static_cast<uint8_t>(b))});
  auto blocks = jb.Append(t);
  EXPECT_GT(blocks.descriptors.size(), 1u);
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  ASSERT_EQ(scan.committed.size(), 1u) << scan.end_detail;
  auto map = BuildReplayMap(scan);
  ASSERT_EQ(map.size(), 200u);
  EXPECT_EQ(jb.block(map[1199].journal_block), jb.Fill(199));
}

TEST_P(JournalScanAll, BlocksBeyondTheFilesystemAreReported) {
  auto jb = Make();
  jb.Begin(1, 1);
  jb.Append(TxnSpec{{{100, jb.Fill(1)}, {5000, jb.Fill(2)}}, {}, true});
  auto scan = ScanLog(jb.superblock(), 4096, jb.Reader());
  auto map = BuildReplayMap(scan);
  EXPECT_EQ(map.size(), 1u);
  ASSERT_EQ(scan.problems.size(), 1u);
  EXPECT_NE(scan.problems[0].find("fs block 5000"), std::string::npos);
}

TEST_P(JournalScanAll, CleanJournalScansNothing) {
  auto jb = Make();
  jb.Begin(0, 3);
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  EXPECT_TRUE(scan.committed.empty());
  EXPECT_EQ(scan.next_sequence, 3u);
}

INSTANTIATE_TEST_SUITE_P(Formats, JournalScanAll,
                         ::testing::Values(Variant{Csum::kNone, false}, Variant{Csum::kNone, true},
                                           Variant{Csum::kV1, true}, Variant{Csum::kV2, false},
                                           Variant{Csum::kV2, true}, Variant{Csum::kV3, false},
                                           Variant{Csum::kV3, true}),
                         VariantName);

class JournalScanChecksummed : public ::testing::TestWithParam<Csum> {};

TEST_P(JournalScanChecksummed, CorruptCommitStopsReplayThere) {
  JournalBuilder jb(1024, 64, GetParam(), true);
  jb.Begin(1, 1);
  jb.Append(TxnSpec{{{100, jb.Fill(1)}}, {}, true});
  auto second = jb.Append(TxnSpec{{{100, jb.Fill(2)}, {200, jb.Fill(2)}}, {}, true});
  jb.Append(TxnSpec{{{300, jb.Fill(3)}}, {}, true});
  jb.block(second.commit)[40] ^= 0xFF;  // inside h_chksum[] padding area, under the checksum
  if (GetParam() == Csum::kV1) jb.block(second.commit)[16] ^= 0xFF;  // v1 covers data, not the commit
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  EXPECT_EQ(scan.end, JournalEnd::kBadChecksum);
  EXPECT_NE(scan.end_detail.find("transaction 2"), std::string::npos) << scan.end_detail;
  ASSERT_EQ(scan.committed.size(), 1u);
  auto map = BuildReplayMap(scan);
  EXPECT_EQ(map.size(), 1u);
  EXPECT_EQ(map[100].sequence, 1u);
  EXPECT_FALSE(map.count(300));
}

TEST_P(JournalScanChecksummed, CorruptDataBlockIsSkippedAndReported) {
  JournalBuilder jb(1024, 64, GetParam(), true);
  jb.Begin(1, 1);
  jb.Append(TxnSpec{{{100, jb.Fill(1)}}, {}, true});
  auto t = jb.Append(TxnSpec{{{100, jb.Fill(2)}, {200, jb.Fill(2)}}, {}, true});
  jb.block(t.data[0])[500] ^= 1;
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  auto map = BuildReplayMap(scan);
  if (GetParam() == Csum::kV1) {
    // v1 has no per-block checksum: the transaction checksum fails as a whole.
    EXPECT_EQ(scan.end, JournalEnd::kBadChecksum);
    EXPECT_EQ(map[100].sequence, 1u);
    EXPECT_FALSE(map.count(200));
    return;
  }
  EXPECT_EQ(scan.committed.size(), 2u);
  ASSERT_EQ(scan.problems.size(), 1u);
  EXPECT_NE(scan.problems[0].find("checksum mismatch"), std::string::npos);
  EXPECT_EQ(map[100].sequence, 1u);  // the bad newer copy is not served
  EXPECT_EQ(map[200].sequence, 2u);
}

INSTANTIATE_TEST_SUITE_P(Csums, JournalScanChecksummed,
                         ::testing::Values(Csum::kV1, Csum::kV2, Csum::kV3));

TEST(JournalScan, CorruptDescriptorAndRevokeStopReplay) {
  for (Csum c : {Csum::kV2, Csum::kV3}) {
    JournalBuilder jb(1024, 64, c, true);
    jb.Begin(1, 1);
    jb.Append(TxnSpec{{{100, jb.Fill(1)}}, {}, true});
    auto t = jb.Append(TxnSpec{{{200, jb.Fill(2)}}, {}, true});
    jb.block(t.descriptors[0])[700] ^= 1;
    auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
    EXPECT_EQ(scan.end, JournalEnd::kBadChecksum);
    EXPECT_NE(scan.end_detail.find("descriptor"), std::string::npos);
    EXPECT_EQ(scan.committed.size(), 1u);

    JournalBuilder jr(1024, 64, c, true);
    jr.Begin(1, 1);
    jr.Append(TxnSpec{{{100, jr.Fill(1)}}, {}, true});
    auto r = jr.Append(TxnSpec{{}, {100}, true});
    jr.block(r.revoke)[600] ^= 1;
    auto scan2 = ScanLog(jr.superblock(), kFsBlocks, jr.Reader());
    EXPECT_EQ(scan2.end, JournalEnd::kBadChecksum);
    EXPECT_TRUE(BuildReplayMap(scan2).count(100));  // the damaged revoke is not honoured
  }
}

TEST(JournalScan, RevokeCountOutOfRangeIsMalformed) {
  JournalBuilder jb(1024, 64, Csum::kNone, true);
  jb.Begin(1, 1);
  auto r = jb.Append(TxnSpec{{}, {100}, true});
  PutBe32(jb.block(r.revoke), 12, 5000);
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  EXPECT_EQ(scan.end, JournalEnd::kMalformed);
  EXPECT_NE(scan.end_detail.find("r_count 5000"), std::string::npos);
}

TEST(JournalScan, V1CommitWithUnusedChecksumFieldIsAccepted) {
  JournalBuilder jb(1024, 64, Csum::kV1, true);
  jb.Begin(1, 1);
  auto t = jb.Append(TxnSpec{{{100, jb.Fill(1)}}, {}, true});
  auto& c = jb.block(t.commit);
  for (int i = 12; i < 20; ++i) c[i] = 0;  // type, size and h_chksum[0] all zero
  EXPECT_EQ(ScanLog(jb.superblock(), kFsBlocks, jb.Reader()).committed.size(), 1u);
  c[12] = 7;  // an unknown type with a zero value is not "unused"
  EXPECT_EQ(ScanLog(jb.superblock(), kFsBlocks, jb.Reader()).end, JournalEnd::kBadChecksum);
}

TEST(JournalScan, UnknownBlockTypeIsMalformed) {
  JournalBuilder jb(1024, 64, Csum::kNone, true);
  jb.Begin(1, 1);
  auto t = jb.Append(TxnSpec{{{100, jb.Fill(1)}}, {}, true});
  PutBe32(jb.block(t.commit), 4, 77);
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  EXPECT_EQ(scan.end, JournalEnd::kMalformed);
  EXPECT_TRUE(scan.committed.empty());
}

TEST(JournalScan, ReadErrorEndsTheLog) {
  JournalBuilder jb(1024, 64, Csum::kV3, true);
  jb.Begin(1, 1);
  jb.Append(TxnSpec{{{100, jb.Fill(1)}}, {}, true});
  auto t = jb.Append(TxnSpec{{{200, jb.Fill(2)}}, {}, true});
  auto inner = jb.Reader();
  JournalBlockReader failing = [&](uint32_t b, std::span<uint8_t> buf) -> Status {
    if (b == t.commit) return Error{Code::kIoError, "EIO"};
    return inner(b, buf);
  };
  auto scan = ScanLog(jb.superblock(), kFsBlocks, failing);
  EXPECT_EQ(scan.end, JournalEnd::kReadError);
  EXPECT_EQ(scan.committed.size(), 1u);
}

TEST(JournalScan, LogThatNeverEndsIsBounded) {
  // Every log block is a revoke block of transaction 1 and no commit follows:
  // without a bound the walker would circle forever.
  JournalBuilder jb(1024, 8, Csum::kNone, false);
  jb.Begin(1, 1);
  auto r = jb.Append(TxnSpec{{}, {100}, false});
  for (uint32_t b = 1; b < 8; ++b) jb.block(b) = jb.block(r.revoke);
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  EXPECT_EQ(scan.end, JournalEnd::kMalformed);
  EXPECT_TRUE(scan.committed.empty());
  EXPECT_TRUE(BuildReplayMap(scan).empty());
}

TEST(JournalScan, LogFillingTheWholeJournalEndsCleanly) {
  JournalBuilder jb(1024, 8, Csum::kNone, false);
  jb.Begin(1, 1);
  for (int i = 0; i < 20; ++i) jb.Append(TxnSpec{{}, {}, true});
  jb.Begin(jb.cursor(), 14);  // blocks 7,1..6 hold commits 14..20
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  EXPECT_EQ(scan.committed.size(), 7u);
  EXPECT_EQ(scan.end, JournalEnd::kClean);
}

TEST(JournalScan, FastCommitBlocksAreReportedNotReplayed) {
  JournalBuilder jb(1024, 64, Csum::kV3, true, 8);
  jb.Begin(1, 1);
  jb.Append(TxnSpec{{{100, jb.Fill(1)}}, {}, true});
  auto& fc = jb.block(56);  // first fast-commit block: head tag 9, tid 2 (little-endian)
  fc[0] = 9;
  fc[2] = 8;
  fc[8] = 2;
  auto scan = ScanLog(jb.superblock(), kFsBlocks, jb.Reader());
  EXPECT_EQ(scan.committed.size(), 1u);
  ASSERT_EQ(scan.problems.size(), 1u);
  EXPECT_NE(scan.problems[0].find("fast-commit"), std::string::npos);
  EXPECT_EQ(BuildReplayMap(scan).size(), 1u);
}

TEST(JournalScan, RevokeComparisonWrapsAround) {
  EXPECT_TRUE(RevokeCancels(5, 5));
  EXPECT_TRUE(RevokeCancels(6, 5));
  EXPECT_FALSE(RevokeCancels(4, 5));
  EXPECT_TRUE(RevokeCancels(2, 0xFFFFFFF0u));
  EXPECT_FALSE(RevokeCancels(0xFFFFFFF0u, 2));
}

// Random byte damage anywhere in the journal: the walker never crashes, never
// reads out of bounds (run under the sanitizer build) and only maps valid blocks.
TEST(JournalScan, RandomDamageNeverBreaksTheWalker) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 300; ++round) {
    Csum c = static_cast<Csum>(round % 4);
    bool is64 = (round / 4) % 2;
    JournalBuilder jb(1024, 48, c, is64);
    jb.Begin(1 + round % 40, static_cast<uint32_t>(rng()));
    for (int t = 0; t < 6; ++t) {
      TxnSpec spec;
      for (int w = 0; w < 1 + t % 3; ++w) spec.writes.push_back({rng() % 5000, jb.Fill(static_cast<uint8_t>(rng()))});
      if (t % 2) spec.revokes.push_back(rng() % 5000);
      jb.Append(spec);
    }
    for (int hits = 0; hits < 1 + round % 8; ++hits) {
      auto& blk = jb.block(1 + rng() % 47);
      blk[rng() % blk.size()] = static_cast<uint8_t>(rng());
    }
    auto sb = jb.superblock();
    auto scan = ScanLog(sb, 4096, jb.Reader());
    auto map = BuildReplayMap(scan);
    for (const auto& [fsb, copy] : map) {
      EXPECT_LT(fsb, 4096u);
      EXPECT_GE(copy.journal_block, sb.first);
      EXPECT_LT(copy.journal_block, sb.LogEnd());
    }
    EXPECT_LE(scan.committed.size(), 6u);
    auto all = ScavengeCopies(sb, 4096, jb.Reader());
    for (const auto& [fsb, v] : all.copies) EXPECT_LT(fsb, 4096u);
  }
}

TEST(JournalScan, ScavengeFindsCheckpointedTransactions) {
  JournalBuilder jb(1024, 64, Csum::kV3, true);
  jb.Begin(1, 1);
  jb.Append(TxnSpec{{{100, jb.Fill(1)}}, {}, true});
  jb.Append(TxnSpec{{{100, jb.Fill(2)}, {101, jb.Fill(2)}}, {}, true});
  auto t3 = jb.Append(TxnSpec{{{100, jb.Fill(3)}}, {}, true});
  jb.Append(TxnSpec{{{100, jb.Fill(4)}}, {}, false});  // never committed
  jb.block(t3.data[0])[10] ^= 1;                         // bad copy: skipped
  jb.Begin(0, 5);                                        // clean journal: everything checkpointed
  auto sc = ScavengeCopies(jb.superblock(), kFsBlocks, jb.Reader());
  EXPECT_EQ(sc.gave_up, "");
  EXPECT_EQ(sc.unreadable, 0u);
  auto& copies = sc.copies;
  ASSERT_EQ(copies[100].size(), 2u);
  EXPECT_EQ(copies[100][0].sequence, 2u);  // newest first
  EXPECT_EQ(copies[100][1].sequence, 1u);
  EXPECT_EQ(copies[101].size(), 1u);
}

TEST(JournalScan, ScavengeLeavesOutRevokedCopies) {
  JournalBuilder jb(1024, 64, Csum::kV3, true);
  jb.Begin(1, 1);
  jb.Append(TxnSpec{{{100, jb.Fill(1)}, {200, jb.Fill(1)}}, {}, true});
  jb.Append(TxnSpec{{}, {100}, true});                // 100 freed after transaction 1
  jb.Append(TxnSpec{{{200, jb.Fill(3)}}, {}, true});
  jb.Append(TxnSpec{{}, {200}, true});                // 200 freed ...
  jb.Append(TxnSpec{{{200, jb.Fill(5)}}, {}, true});  // ... and reused as metadata later
  jb.Begin(0, 6);
  auto copies = ScavengeCopies(jb.superblock(), kFsBlocks, jb.Reader()).copies;
  EXPECT_FALSE(copies.count(100));
  ASSERT_EQ(copies[200].size(), 1u);
  EXPECT_EQ(copies[200][0].sequence, 5u);
}

// A journal area that cannot be read: each failing read may cost seconds of device
// retries on a dying disk, so the scavenge gives up after its budget of unreadable blocks
// and says so; copies found before the bad area are kept.
TEST(JournalScan, ScavengeStopsOnItsErrorBudget) {
  JournalBuilder jb(1024, 1024, Csum::kV3, true);
  jb.Begin(1, 1);
  jb.Append(TxnSpec{{{100, jb.Fill(1)}}, {}, true});
  jb.Begin(0, 2);
  JournalBlockReader good = jb.Reader();
  uint32_t reads = 0;
  JournalBlockReader failing = [&](uint32_t lblk, std::span<uint8_t> buf) -> Status {
    ++reads;
    if (lblk >= 10) return Error{Code::kIoError, "Input/output error"};
    return good(lblk, buf);
  };
  auto sc = ScavengeCopies(jb.superblock(), kFsBlocks, failing, 16);
  EXPECT_EQ(sc.unreadable, 16u);
  EXPECT_LE(reads, 10u + 16u + 4u);  // the readable start, the budget, a parse's few reads
  EXPECT_NE(sc.gave_up.find("after 16 unreadable journal blocks"), std::string::npos) << sc.gave_up;
  ASSERT_EQ(sc.copies.count(100), 1u);  // transaction 1 sits before the bad area
  EXPECT_EQ(sc.copies[100][0].sequence, 1u);

  // Within its budget the whole log area is looked at.
  reads = 0;
  auto whole = ScavengeCopies(jb.superblock(), kFsBlocks, failing, 100000);
  EXPECT_EQ(whole.gave_up, "");
  EXPECT_EQ(whole.unreadable, 1024u - 10u);
}

}  // namespace
}  // namespace mr::salvage
