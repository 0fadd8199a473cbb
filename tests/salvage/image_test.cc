// End-to-end salvage of clean images: the output equals the source tree.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>

#include "common/sha1.h"
#include "test_util.h"
#include "tree_util.h"

namespace mr::salvage {
namespace {

using namespace test;

TEST(SalvageImage, CleanImageRoundTripKeepsNamesBytesModesTimesLinks) {
  TempDir t;
  Stage(t / "stage");
  MakeImage(t / "stage", t / "img", "16M");
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out", "--jobs 2");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  auto got = ExpectSameTree(t / "stage", t / "out/spool", true);
  EXPECT_EQ(got["user/alice-link"].ino, got["user/bob/1."].ino) << "hard link not kept";
  // Sparse stays sparse.
  struct stat st {};
  ASSERT_EQ(::stat((t / "out/spool/sparse").c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 1 << 20);
  auto m = ReadManifest(t / "out");
  EXPECT_EQ(m["totals"]["damaged_files"], 0);
  EXPECT_EQ(m["totals"]["incomplete_dirs"], 0);
  EXPECT_EQ(m["totals"]["lost_found"], 0);
  EXPECT_EQ(m["filesystem"]["superblock_used"], 0);
  bool found = false;
  for (const auto& f : m["files"])
    if (f["path"] == "spool/user/bob/1.") {
      found = true;
      EXPECT_EQ(f["sha1"], ToHex(Sha1Of(std::string_view("From: a\r\n\r\nhello\r\n"))));
      EXPECT_EQ(f["size"], 18);
      EXPECT_EQ(f["mtime"], got["user/bob/1."].mtime);
    }
  EXPECT_TRUE(found);
}

// Every on-disk format a Cyrus spool may sit on comes back whole, exit 0, nothing
// reported: ext2 (no journal) and ext3 (block maps, indirect and double-indirect), 1K, 2K
// and 4K blocks, and the ext4 variants mke2fs offers.
struct Format {
  const char* name;
  const char* type;
  const char* opts;
};

class SalvageFormats : public ::testing::TestWithParam<Format> {};

TEST_P(SalvageFormats, CleanImageComesBackWholeWithNothingReported) {
  TempDir t;
  Stage(t / "stage");
  std::string big;  // past the double-indirect boundary on 1 KiB blocks (268 KiB)
  for (int i = 0; big.size() < (2u << 20); ++i) big += "line " + std::to_string(i) + " of a large message\r\n";
  WriteText(t / "stage/user/bob/3.", big);
  for (int i = 0; i < 300; ++i) WriteText(t / ("stage/user/many/" + Name(i)), "content of " + Name(i));
  MakeImage(t / "stage", t / "img", "64M", GetParam().opts, GetParam().type);
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out", "--jobs 2");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  auto m = ReadManifest(t / "out");
  EXPECT_TRUE(m["filesystem"]["damage"].empty()) << m["filesystem"]["damage"].dump();
  auto got = ExpectSameTree(t / "stage", t / "out/spool", false);
  EXPECT_EQ(got["user/alice-link"].ino, got["user/bob/1."].ino) << "hard link not kept";
}

INSTANTIATE_TEST_SUITE_P(
    Filesystems, SalvageFormats,
    ::testing::Values(Format{"ext2_1k", "ext2", "-b 1024"}, Format{"ext2_4k", "ext2", "-b 4096"},
                      Format{"ext3_1k", "ext3", "-b 1024"}, Format{"ext3_4k", "ext3", "-b 4096"},
                      Format{"ext4_1k", "ext4", "-b 1024"}, Format{"ext4_2k_nocsum", "ext4", "-b 2048 -O ^metadata_csum,^64bit"},
                      Format{"ext4_noextents", "ext4", "-b 4096 -O ^extent,^64bit"},
                      Format{"ext4_inline", "ext4", "-b 4096 -O inline_data"},
                      Format{"ext4_bigalloc", "ext4", "-b 4096 -O bigalloc -C 16384"},
                      Format{"ext4_metabg", "ext4", "-b 4096 -O meta_bg,^resize_inode"},
                      Format{"ext4_128inode", "ext4", "-b 4096 -I 128"},
                      Format{"ext4_nodirindex", "ext4", "-b 4096 -O ^dir_index"},
                      Format{"ext4_nojournal", "ext4", "-b 1024 -O ^has_journal,^flex_bg"}),
    [](const ::testing::TestParamInfo<Format>& i) { return std::string(i.param.name); });

TEST(SalvageImage, OutputIsIdenticalForOneAndTwoJobs) {
  TempDir t;
  for (int d = 0; d < 6; ++d)
    for (int f = 0; f < 40; ++f)
      WriteText(t / ("stage/d" + std::to_string(d) + "/" + std::to_string(f) + "."),
                std::string(static_cast<size_t>(100 + f * 97), static_cast<char>('a' + d)));
  MakeImage(t / "stage", t / "img", "16M");
  auto r1 = Salvage(t / "img", t / "o1", "--jobs 1");
  auto r2 = Salvage(t / "img", t / "o2", "--jobs 2");
  ASSERT_EQ(r1.rc, 0) << r1.out;
  ASSERT_EQ(r2.rc, 0) << r2.out;
  EXPECT_EQ(ReadText(t / "o1/salvage.json"), ReadText(t / "o2/salvage.json"));
  EXPECT_EQ(Sh("diff -r " + Quote(t / "o1") + " " + Quote(t / "o2")).rc, 0);
}

TEST(SalvageImage, DryRunWritesOnlyTheReport) {
  TempDir t;
  WriteText(t / "stage/a/b", "bytes");
  MakeImage(t / "stage", t / "img", "8M");
  auto r = Sh(std::string(MR_CLI_PATH) + " -q salvage " + Quote(t / "img") + " --out " + Quote(t / "out") +
              " --dry-run --report " + Quote(t / "report.json"));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("dry run"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(t / "out/spool"));
  EXPECT_FALSE(fs::exists(t / "out/salvage.json"));
  auto j = nlohmann::json::parse(ReadText(t / "report.json"));
  ASSERT_EQ(j["files"].size(), 1u);
  EXPECT_EQ(j["files"][0]["path"], "spool/a/b");
  EXPECT_EQ(j["files"][0]["size"], 5);
}

TEST(SalvageImage, RerunResumesWithoutRewritingCompleteFiles) {
  TempDir t;
  WriteText(t / "stage/x/1.", "one");
  WriteText(t / "stage/x/2.", "two");
  MakeImage(t / "stage", t / "img", "8M");
  ASSERT_EQ(Salvage(t / "img", t / "out").rc, 0);
  struct stat a {};
  ::stat((t / "out/spool/x/1.").c_str(), &a);
  fs::remove(t / "out/spool/x/2.");                 // as if killed before writing it
  WriteText(t / "out/spool/x/garbage-leftover", "");  // not ours: left alone
  ASSERT_EQ(Salvage(t / "img", t / "out").rc, 0);
  struct stat b {};
  ::stat((t / "out/spool/x/1.").c_str(), &b);
  EXPECT_EQ(a.st_ino, b.st_ino) << "a complete file was rewritten";
  EXPECT_EQ(ReadText(t / "out/spool/x/2."), "two");
}

TEST(SalvageImage, ResumeAfterAKillRewritesOnlyWhatIsMissingOrWrong) {
  // 300 files in 3 folders: the resume index has several blocks per folder.
  TempDir t;
  for (int d = 0; d < 3; ++d)
    for (int f = 1; f <= 100; ++f)
      WriteText(t / ("stage/d" + std::to_string(d) + "/" + std::to_string(f) + "."),
                "message " + std::to_string(d * 1000 + f) + std::string(static_cast<size_t>(f * 13), 'm'));
  MakeImage(t / "stage", t / "img", "16M");
  ASSERT_EQ(Salvage(t / "img", t / "fresh", "--jobs 2").rc, 0);
  ASSERT_EQ(Salvage(t / "img", t / "out", "--jobs 2").rc, 0);
  // The state a killed run leaves: files not written yet, files half written.
  std::map<std::string, ino_t> kept;
  for (int d = 0; d < 3; ++d)
    for (int f = 1; f <= 100; ++f) {
      const std::string p = t / ("out/spool/d" + std::to_string(d) + "/" + std::to_string(f) + ".");
      if (f % 3 == 0) fs::remove(p);
      else if (f % 3 == 1) WriteText(p, "half");
      else {
        struct stat st {};
        ::stat(p.c_str(), &st);
        kept[p] = st.st_ino;
      }
    }
  ASSERT_EQ(Salvage(t / "img", t / "out", "--jobs 2").rc, 0);
  for (const auto& [p, ino] : kept) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    EXPECT_EQ(st.st_ino, ino) << p << ": a complete file was rewritten";
  }
  EXPECT_EQ(Sh("diff -r " + Quote(t / "fresh/spool") + " " + Quote(t / "out/spool")).rc, 0);
  EXPECT_EQ(ReadText(t / "fresh/salvage.json"), ReadText(t / "out/salvage.json"));
  for (const auto& e : fs::directory_iterator(t / "out"))
    EXPECT_EQ(e.path().filename().string().rfind(".salvage-", 0), std::string::npos) << e.path();
}

TEST(SalvageImage, UnopenableSourcesExitThreeWithOneLine) {
  TempDir t;
  WriteText(t / "stage/f", "x");
  MakeImage(t / "stage", t / "img", "8M");
  Sh("head -c 1500 " + Quote(t / "img") + " > " + Quote(t / "trunc"));
  Sh("head -c 1048576 /dev/urandom > " + Quote(t / "random"));
  for (const char* name : {"trunc", "random", "missing"}) {
    SCOPED_TRACE(name);
    auto r = Salvage(t / name, t / "out");
    EXPECT_EQ(r.rc, 3) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_NE(r.out.find(name), std::string::npos) << r.out;
    auto i = Sh(std::string(MR_CLI_PATH) + " inspect " + Quote(t / name));
    EXPECT_EQ(i.rc, 3) << i.out;
  }
  auto u = Sh(std::string(MR_CLI_PATH) + " salvage " + Quote(t / "img"));
  EXPECT_EQ(u.rc, 2) << u.out;
}

TEST(SalvageImage, InspectDescribesTheFilesystem) {
  TempDir t;
  WriteText(t / "stage/f", "x");
  MakeImage(t / "stage", t / "img", "8M");
  auto r = Sh(std::string(MR_CLI_PATH) + " inspect --json " + Quote(t / "img"));
  ASSERT_EQ(r.rc, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["filesystem"]["superblock_used"], 0);
  EXPECT_EQ(j["filesystem"]["blocksize"], 4096);
  EXPECT_FALSE(j["filesystem"]["needs_recovery"].get<bool>());
  auto& f = j["filesystem"]["features"];
  EXPECT_NE(std::find(f.begin(), f.end(), "extent"), f.end());
  auto text = Sh(std::string(MR_CLI_PATH) + " inspect " + Quote(t / "img"));
  EXPECT_NE(text.out.find("superblock used   0 (primary)"), std::string::npos) << text.out;
}

}  // namespace
}  // namespace mr::salvage
