// The journal hooked into the salvage volume open (salvage/volume.cc): a plan
// made from a filesystem with committed, unreplayed transactions opens every
// handle through the overlay by default, and not with --journal=ignore.
#include <gtest/gtest.h>

#include "image_fixture.h"
#include "salvage/journal.h"
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

  std::shared_ptr<Source> Src() {
    Source::Options so;
    so.path = img_;
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

}  // namespace
}  // namespace mr::salvage
