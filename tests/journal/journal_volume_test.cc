// The journal hooked into the salvage volume open (salvage/volume.cc): a plan
// made from a filesystem with committed, unreplayed transactions opens every
// handle through the overlay by default, and not with --journal=ignore; on a
// checkpointed journal the overlay only falls back to older copies for blocks
// the Source cannot read.
#include <gtest/gtest.h>

#include <cstdio>

#include "image_fixture.h"
#include "salvage/journal.h"
#include "salvage/journal_overlay.h"
#include "salvage/source.h"
#include "salvage/volume.h"

namespace mr::salvage {
namespace {

using namespace testing;

class JournalVolume : public ::testing::Test {
 protected:
  void SetUp() override {
    img_ = dir_ / "fs.img";
    MakeImage(dir_, img_);
    dir_block_ = BlocksOf(img_, "/mail/user/bob").at(0);
    JournalTransactions(dir_, img_, 3, {Jw{{dir_block_}}, Jw{BlocksOf(img_, "/mail/user/bob/1.")}});
    ZeroBlocks(img_, {dir_block_});
    sha_ = Sha256(img_);
  }

  std::shared_ptr<Source> Src(const std::string& badmap = "") {
    Source::Options so;
    so.path = img_;
    if (!badmap.empty()) {
      auto bm = BadMap::Parse(badmap, "test map");
      if (!bm.ok()) throw std::runtime_error(bm.error().message);
      so.badmap = std::move(*bm);
    }
    auto s = Source::Open(std::move(so));
    if (!s.ok()) throw std::runtime_error(s.error().message);
    return *s;
  }

  ImageDir dir_;
  std::string img_, sha_;
  uint64_t dir_block_ = 0;
};

TEST_F(JournalVolume, PlanReplaysTheJournalByDefault) {
  auto src = Src();
  auto plan = Volume::Plan(src, VolumeOptions{});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const FsInfo& info = plan->second;
  ASSERT_NE(info.journal, nullptr);
  EXPECT_TRUE(info.needs_recovery);
  EXPECT_EQ(info.journal->info().transactions, 2u);
  ASSERT_NE(plan->first.journal_overlay, nullptr);
  for (int i = 0; i < 2; ++i) {  // one handle per worker, all through the overlay
    auto v = Volume::Open(src, plan->first);
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(ReadPath(v->fs(), "mail/user/bob/3."), StagingFiles().at("mail/user/bob/3."));
  }
  EXPECT_GT(plan->first.journal_overlay->blocks_served(), 0u);
  EXPECT_EQ(Sha256(img_), sha_);
}

TEST_F(JournalVolume, IgnoreModeOpensTheLiveBlocks) {
  auto src = Src();
  VolumeOptions vo;
  vo.journal = JournalMode::kIgnore;
  auto plan = Volume::Plan(src, vo);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_NE(plan->second.journal, nullptr);  // still described for the report
  EXPECT_EQ(plan->first.journal_overlay, nullptr);
  auto v = Volume::Open(src, plan->first);
  ASSERT_TRUE(v.ok());
  EXPECT_NE(ReadPath(v->fs(), "mail/user/bob/3."), StagingFiles().at("mail/user/bob/3."));
}

TEST_F(JournalVolume, UnreadableJournalIsDamageNotFailure) {
  {
    Source::Options so;
    so.path = img_;
    auto src = Source::Open(std::move(so));
    ASSERT_TRUE(src.ok());
    auto plan = Volume::Plan(*src, VolumeOptions{});
    ASSERT_TRUE(plan.ok());
    ZeroBlocks(img_, {plan->second.journal->PhysicalOf(0)});
  }
  auto plan = Volume::Plan(Src(), VolumeOptions{});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->first.journal_overlay, nullptr);
  bool noted = false;
  for (const auto& d : plan->second.damage)
    noted |= d.kind == "journal" && d.detail.find("journal superblock") != std::string::npos;
  EXPECT_TRUE(noted);
}

// The live log checkpointed (e2fsck), then the directory block under a badmap:
// the overlay is there for the fallback only, serves the block from the old
// transaction, records it, and does not report it as read damage.
TEST_F(JournalVolume, CheckpointedCopyServesABadmappedBlock) {
  Sh("(e2fsck -y -E journal_only " + img_ + " >/dev/null; test $? -le 1)");  // writes the block back
  const auto original = ReadImageBlock(img_, dir_block_);
  ASSERT_NE(original, std::vector<uint8_t>(4096, 0));
  const std::string sha = Sha256(img_);
  char map[160];
  const unsigned long long off = dir_block_ * 4096;
  std::snprintf(map, sizeof map, "0x0 +\n0x0 0x%llx +\n0x%llx 0x1000 -\n", off, off);
  for (JournalMode mode : {JournalMode::kAuto, JournalMode::kIgnore}) {
    SCOPED_TRACE(JournalModeName(mode));
    auto src = Src(map);
    VolumeOptions vo;
    vo.journal = mode;
    auto plan = Volume::Plan(src, vo);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    const auto& ov = plan->first.journal_overlay;
    auto v = Volume::Open(src, plan->first);
    ASSERT_TRUE(v.ok()) << v.error().message;
    std::vector<uint8_t> buf(4096);
    ReadDamageScope damage;
    JournalFallbackScope fallback;
    ASSERT_EQ(io_channel_read_blk64(v->fs()->io, dir_block_, 1, buf.data()), 0);
    if (mode == JournalMode::kIgnore) {
      EXPECT_EQ(ov, nullptr);
      EXPECT_EQ(buf, std::vector<uint8_t>(4096, 0));
      EXPECT_EQ(damage.ranges(), (std::vector<ByteRange>{{dir_block_ * 4096, 4096}}));
      EXPECT_TRUE(fallback.pieces().empty());
      continue;
    }
    ASSERT_NE(ov, nullptr);
    EXPECT_FALSE(ov->replaying());
    EXPECT_EQ(buf, original);
    EXPECT_TRUE(damage.ranges().empty());
    ASSERT_EQ(fallback.pieces().size(), 1u);
    EXPECT_EQ(fallback.pieces()[0].range, (ByteRange{dir_block_ * 4096, 4096}));
    ASSERT_EQ(ov->fallback_blocks().size(), 1u);
    EXPECT_EQ(ov->fallback_blocks()[0].fs_block, dir_block_);
    EXPECT_EQ(ReadPath(v->fs(), "mail/user/bob/3."), StagingFiles().at("mail/user/bob/3."));
    // The device itself still could not be read there.
    EXPECT_EQ(src->Unreadable(), (std::vector<ByteRange>{{dir_block_ * 4096, 4096}}));
  }
  EXPECT_EQ(Sha256(img_), sha);
}

}  // namespace
}  // namespace mr::salvage
