// Applier tests on small temp stores built with our own format writers: the
// applier writes exactly the plan, atomically, and is idempotent.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/fsutil.h"
#include "common/sha1.h"
#include "reconcile/apply.h"
#include "reconcile/cyrus/cache.h"
#include "reconcile/cyrus/crc32.h"

namespace mr::reconcile {
namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> CacheRecord(int seed) {
  std::vector<std::uint8_t> r;
  for (int i = 0; i < cyrus::kCacheItems; ++i) {
    std::string item = "item" + std::to_string(i) + "-" + std::to_string(seed);
    std::uint32_t len = static_cast<std::uint32_t>(item.size());
    for (int k = 3; k >= 0; --k) r.push_back(static_cast<std::uint8_t>(len >> (8 * k)));
    r.insert(r.end(), item.begin(), item.end());
    while (r.size() % 4) r.push_back(0);
  }
  return r;
}

class ApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mr-apply-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    opt_.s_spool = root_ + "/s";
    opt_.b_spool = root_ + "/b";
    opt_.out_spool = root_ + "/out";
    opt_.fsync = false;
    ASSERT_TRUE(MakeDirs(opt_.s_spool + "/" + kRel).ok());
    // Three salvaged messages with a cache file.
    cyrus::CacheWriter cw(5);
    for (std::uint32_t uid = 1; uid <= 3; ++uid) {
      std::string body = "Subject: m" + std::to_string(uid) + "\r\n\r\nbody " + std::to_string(uid) + "\r\n";
      std::string path = opt_.s_spool + "/" + kRel + "/" + std::to_string(uid) + ".";
      std::ofstream(path) << body;
      struct timespec ts[2] = {{static_cast<time_t>(1700000000 + uid), 0}, {static_cast<time_t>(1700000000 + uid), 0}};
      ::utimensat(AT_FDCWD, path.c_str(), ts, 0);
      auto rec = CacheRecord(static_cast<int>(uid));
      MessageAction a;
      a.record.uid = uid;
      a.record.internaldate = 1700000000 + uid;
      a.record.size = body.size();
      a.record.guid = Sha1Of(body);
      a.record.modseq = uid;
      a.file_side = Side::kSalvaged;
      a.file_uid = uid;
      a.cache_from = CacheSource::kSalvaged;
      a.cache_src_offset = cw.Append(rec);
      a.cache_len = static_cast<std::uint32_t>(rec.size());
      a.record.cache_crc = cyrus::CacheRecordCrc(rec);
      plan_.messages.push_back(a);
    }
    ASSERT_TRUE(WriteFileAtomic(opt_.s_spool + "/" + kRel + "/cyrus.cache", cw.bytes(), false).ok());
    plan_.name = "user.bob";
    plan_.uniqueid = "abcdefghijklmnopqrstuvwx";
    plan_.uidvalidity = 42;
    plan_.rel_dir = kRel;
    plan_.s_rel_dir = kRel;
    plan_.header.name = plan_.name;
    plan_.header.uniqueid = plan_.uniqueid;
    plan_.header.acl = {{"bob", "lrswipkxtecdan"}};
    plan_.index.uidvalidity = 42;
    plan_.index.generation_no = 5;
    std::vector<cyrus::IndexRecord> recs;
    for (const auto& a : plan_.messages) recs.push_back(a.record);
    plan_.index.header_file_crc = cyrus::Crc32(cyrus::SerializeHeader(plan_.header));
    cyrus::FinalizeIndexHeader(plan_.index, recs, {});
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string Out(const std::string& f = "") const { return opt_.out_spool + "/" + kRel + (f.empty() ? "" : "/" + f); }

  const std::string kRel = "uuid/a/b/abcdefghijklmnopqrstuvwx";
  std::string root_;
  ApplyOptions opt_;
  FolderPlan plan_;
};

TEST_F(ApplyTest, WritesExactlyThePlan) {
  auto st = ApplyFolder(plan_, opt_);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_FALSE(st->skipped);
  EXPECT_EQ(st->linked, 3u);  // same filesystem, mtimes right: hard links
  EXPECT_EQ(st->cache_carried, 3u);
  auto hdr = ReadFile(Out("cyrus.header"));
  ASSERT_TRUE(hdr.ok());
  EXPECT_EQ(std::string(hdr->begin(), hdr->end()), cyrus::SerializeHeader(plan_.header));
  auto idx = cyrus::ReadIndexFile(Out("cyrus.index"));
  ASSERT_TRUE(idx.ok());
  EXPECT_TRUE(idx->problems.empty());
  ASSERT_EQ(idx->records.size(), 3u);
  EXPECT_EQ(idx->header.uidvalidity, 42u);
  auto cache = ReadFile(Out("cyrus.cache"));
  ASSERT_TRUE(cache.ok());
  for (const auto& r : idx->records) {
    struct stat sb {};
    ASSERT_EQ(::stat(Out(std::to_string(r.uid) + ".").c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mtime, r.internaldate);
    auto rec = cyrus::CacheRecordAt(*cache, r.cache_offset);
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(cyrus::CacheRecordCrc(*rec), r.cache_crc);
    EXPECT_EQ(std::vector<std::uint8_t>(rec->begin(), rec->end()), CacheRecord(static_cast<int>(r.uid)));
  }
  auto g = cyrus::CacheGeneration(*cache);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, 5u);
}

TEST_F(ApplyTest, SecondApplyIsSkipped) {
  ASSERT_TRUE(ApplyFolder(plan_, opt_).ok());
  auto st = ApplyFolder(plan_, opt_);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->skipped);
  plan_.messages[1].record.system_flags = cyrus::kFlagSeen;  // a different plan is written
  st = ApplyFolder(plan_, opt_);
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->skipped);
}

TEST_F(ApplyTest, CopiesWhenLinkingWouldRetimeTheSource) {
  plan_.messages[0].record.internaldate = 1600000000;
  auto st = ApplyFolder(plan_, opt_);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->copied, 1u);
  struct stat src {}, dst {};
  ASSERT_EQ(::stat((opt_.s_spool + "/" + kRel + "/1.").c_str(), &src), 0);
  ASSERT_EQ(::stat(Out("1.").c_str(), &dst), 0);
  EXPECT_EQ(src.st_mtime, 1700000001);
  EXPECT_EQ(dst.st_mtime, 1600000000);
  EXPECT_NE(src.st_ino, dst.st_ino);
}

TEST_F(ApplyTest, UncachedMessageGetsOffsetZero) {
  plan_.messages[2].cache_from = CacheSource::kNone;
  ASSERT_TRUE(ApplyFolder(plan_, opt_).ok());
  auto idx = cyrus::ReadIndexFile(Out("cyrus.index"));
  ASSERT_TRUE(idx.ok());
  EXPECT_EQ(idx->records[2].cache_offset, 0u);
  EXPECT_EQ(idx->records[2].cache_crc, 0u);
}

TEST_F(ApplyTest, LeftoversOfAKilledRunAreCleanedUp) {
  ASSERT_TRUE(MakeDirs(Out() + ".mrtmp").ok());
  std::ofstream(Out() + ".mrtmp/7.") << "half-built";
  auto st = ApplyFolder(plan_, opt_);
  ASSERT_TRUE(st.ok()) << st.error().message;
  struct stat sb {};
  EXPECT_NE(::stat((Out() + ".mrtmp").c_str(), &sb), 0);
  EXPECT_NE(::stat(Out("7.").c_str(), &sb), 0);
  EXPECT_EQ(::stat(Out("3.").c_str(), &sb), 0);
}

TEST_F(ApplyTest, SwapKeepsChildFolderDirectories) {
  // Legacy layout: a sub-folder lives inside its parent's directory.
  ASSERT_TRUE(MakeDirs(Out("Sent")).ok());
  std::ofstream(Out("Sent/cyrus.header")) << "child";
  std::ofstream(Out("9.")) << "old message";
  ASSERT_TRUE(ApplyFolder(plan_, opt_).ok());
  struct stat sb {};
  EXPECT_EQ(::stat(Out("Sent/cyrus.header").c_str(), &sb), 0);
  EXPECT_NE(::stat(Out("9.").c_str(), &sb), 0);  // the old folder's files are gone
}

TEST_F(ApplyTest, InPlaceSetsAReplacedFolderAside) {
  std::ofstream(opt_.s_spool + "/marker");
  ASSERT_TRUE(MakeDirs(Out()).ok());
  std::ofstream(Out("9.")) << "old backup message";
  plan_.preserve_replaced = true;
  opt_.in_place = true;
  auto st = ApplyFolder(plan_, opt_);
  ASSERT_TRUE(st.ok());
  ASSERT_FALSE(st->set_aside.empty());
  struct stat sb {};
  EXPECT_EQ(::stat((st->set_aside + "/9.").c_str(), &sb), 0);
  EXPECT_NE(::stat(Out("9.").c_str(), &sb), 0);
}

TEST_F(ApplyTest, MissingSourceIsAnErrorAndLeavesTheTargetAlone) {
  ASSERT_TRUE(ApplyFolder(plan_, opt_).ok());
  auto before = ReadFile(Out("cyrus.index"));
  plan_.messages.push_back(plan_.messages[2]);
  plan_.messages.back().record.uid = 4;
  plan_.messages.back().file_uid = 99;  // no such file
  auto st = ApplyFolder(plan_, opt_);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("99."), std::string::npos);
  auto after = ReadFile(Out("cyrus.index"));
  EXPECT_EQ(*before, *after);
  // The next run cleans the half-built directory and succeeds once fixed.
  plan_.messages.pop_back();
  EXPECT_TRUE(ApplyFolder(plan_, opt_).ok());
}

TEST_F(ApplyTest, RefusesAPathOutsideTheSpool) {
  plan_.rel_dir = "../escape";
  EXPECT_FALSE(ApplyFolder(plan_, opt_).ok());
}

}  // namespace
}  // namespace mr::reconcile
