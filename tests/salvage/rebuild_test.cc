// Damage with no copy to fall back on: a filesystem of one block group (4 KiB
// blocks under 128 MiB, 1 KiB blocks under 8 MiB) has no backup superblock and
// no backup descriptor table. A zeroed superblock is rebuilt from the disk
// (salvage/geometry.h), a zeroed descriptor block is replaced by searching for
// the inode table (salvage/table_search.h); either way every file must come
// back byte for byte, reported as damage (exit 1), the image unchanged.
// Garbage must still end in one line and exit 3, quickly, never a crash.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include "test_util.h"
#include "tree_util.h"

namespace mr::salvage {
namespace {

using namespace test;

// Stage() (hard link, symlinks, empty, sparse, setuid, owners, mtimes) plus a
// few Cyrus-like mail folders.
void StageSpool(const std::string& s) {
  Stage(s);
  for (const char* folder : {"user/carol", "user/carol/Sent", "user/carol/Archive/2023", "user/dave/Trash"})
    for (int i = 1; i <= 12; ++i)
      WriteText(s + "/" + folder + "/" + std::to_string(i) + ".",
                "Subject: " + std::string(folder) + " " + std::to_string(i) + "\r\n\r\n" +
                    std::string(static_cast<size_t>(i * 300), 'm'));
}

void Overwrite(const std::string& img, std::uint64_t offset, const std::string& bytes) {
  std::fstream f(img, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string Random(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string Detail(const nlohmann::json& m, const std::string& kind) {
  for (const auto& d : m["filesystem"]["damage"])
    if (d["kind"] == kind) return d["detail"];
  return "";
}

// `mailrescue inspect --json` (stdout only).
nlohmann::json Inspect(const std::string& img) {
  auto r = Sh("( " + std::string(MR_CLI_PATH) + " inspect --json " + Quote(img) + " 2>/dev/null )");
  return nlohmann::json::parse(r.out, nullptr, false);
}

// Salvages `img` (damaged by the caller) and checks the whole tree came back,
// reported as damage of `kind` whose detail holds every string of `want`.
void ExpectWholeTree(const TempDir& t, const std::string& kind, const std::vector<std::string>& want) {
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out", "--jobs 2");
  EXPECT_EQ(r.rc, 1) << r.out;  // done, with damage to report
  EXPECT_EQ(Sha256(t / "img"), before);
  auto got = ExpectSameTree(t / "stage", t / "out/spool", true);
  if (got.count("user/alice-link")) {
    EXPECT_EQ(got["user/alice-link"].ino, got["user/bob/1."].ino) << "hard link not kept";
  }
  if (got.count("sparse")) {  // the 3 MiB sparse file stays sparse
    struct stat st {};
    ASSERT_EQ(::stat((t / "out/spool/sparse").c_str(), &st), 0);
    EXPECT_LT(st.st_blocks * 512, 1 << 20);
  }
  auto m = ReadManifest(t / "out");
  EXPECT_EQ(m["totals"]["damaged_files"], 0);
  EXPECT_EQ(m["totals"]["incomplete_dirs"], 0);
  EXPECT_EQ(m["totals"]["lost_found"], 0);
  const std::string detail = Detail(m, kind);
  for (const auto& w : want) EXPECT_NE(detail.find(w), std::string::npos) << w << " not in: " << detail;
  // inspect shares Volume::Plan: the same finding.
  auto j = Inspect(t / "img");
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(Detail(j, kind), detail);
}

TEST(SalvageRebuild, OneGroupExt4WithZeroedSuperblockComesBackWhole) {
  TempDir t;
  StageSpool(t / "stage");
  MakeImage(t / "stage", t / "img", "64M");  // 4 KiB blocks: one group, no backup
  auto uuid = Sh("/usr/sbin/dumpe2fs -h " + Quote(t / "img") + " 2>/dev/null | sed -n 's/^Filesystem UUID: *//p'").out;
  ASSERT_EQ(uuid.size(), 37u) << uuid;
  uuid.pop_back();
  Sh("dd if=/dev/zero of=" + Quote(t / "img") + " bs=1024 seek=1 count=1 conv=notrunc");
  ExpectWholeTree(t, "superblock",
                  {"no copy readable", "geometry rebuilt", "block size 4096", "16384 blocks in 1 group",
                   "16384 inodes of 256 bytes", "has_journal", "extent", "filetype"});
  auto m = ReadManifest(t / "out");
  EXPECT_EQ(m["filesystem"]["superblock_rebuilt"], true);
  EXPECT_EQ(m["filesystem"]["groups"], 1);
  EXPECT_EQ(Inspect(t / "img")["filesystem"]["superblock_rebuilt"], true);
  EXPECT_EQ(m["filesystem"]["uuid"], uuid);  // from the journal's superblock
}

TEST(SalvageRebuild, OneGroupExt4WithZeroedDescriptorBlockComesBackWhole) {
  TempDir t;
  StageSpool(t / "stage");
  MakeImage(t / "stage", t / "img", "64M");
  Sh("dd if=/dev/zero of=" + Quote(t / "img") + " bs=4096 seek=1 count=1 conv=notrunc");
  ExpectWholeTree(t, "group_descriptor",
                  {"group 0: inode table at block 0", "inode table found by scanning at block",
                   "root directory and lost+found check out", "bitmaps at blocks"});
}

// The first blocks overwritten (a boot loader, a partition table, a stray dd):
// superblock and descriptor are both gone. The inode table is found by
// scanning, the superblock rebuilt around it, the descriptor found again.
TEST(SalvageRebuild, OneGroupWithSuperblockAndDescriptorsOverwrittenComesBackWhole) {
  struct Case {
    const char* type;
    const char* opts;
    const char* size;
    int zero_kib;
  };
  for (const Case c : {Case{"ext4", "-b 4096", "64M", 8}, Case{"ext2", "-b 1024", "6M", 3},
                       Case{"ext4", "-b 1024", "6M", 3}}) {
    SCOPED_TRACE(std::string(c.type) + " " + c.opts);
    TempDir t;
    StageSpool(t / "stage");
    MakeImage(t / "stage", t / "img", c.size, c.opts, c.type);
    Overwrite(t / "img", 0, std::string(static_cast<size_t>(c.zero_kib) * 1024, '\0'));
    ExpectWholeTree(t, "superblock", {"geometry rebuilt from the inode table, found by scanning", "in 1 group"});
    EXPECT_NE(Detail(ReadManifest(t / "out"), "group_descriptor").find("inode table found by scanning"),
              std::string::npos);
  }
}

TEST(SalvageRebuild, InlineDataWithZeroedSuperblockComesBackWhole) {
  TempDir t;
  // inline_data with mke2fs -d mishandles sparse files: small files and folders only.
  WriteText(t / "stage/user/erin/1.", "tiny");
  WriteText(t / "stage/user/erin/2.", std::string(100, 'i'));  // in i_block and the xattr
  WriteText(t / "stage/user/erin/3.", std::string(9000, 'b'));
  WriteText(t / "stage/user/erin/empty", "");
  fs::create_directories(t / "stage/user/erin/Drafts");  // an inline directory
  fs::create_symlink("1.", t / "stage/user/erin/link");
  MakeImage(t / "stage", t / "img", "64M", "-b 4096 -O inline_data");
  Sh("dd if=/dev/zero of=" + Quote(t / "img") + " bs=1024 seek=1 count=1 conv=notrunc");
  ExpectWholeTree(t, "superblock", {"geometry rebuilt", "inline_data"});
}

TEST(SalvageRebuild, TinyOneKiBlockExt2AndExt3WithZeroedSuperblockComeBackWhole) {
  for (const char* type : {"ext2", "ext3"}) {
    SCOPED_TRACE(type);
    TempDir t;
    StageSpool(t / "stage");
    MakeImage(t / "stage", t / "img", "6M", "-b 1024", type);  // one group of 8192 blocks
    Sh("dd if=/dev/zero of=" + Quote(t / "img") + " bs=1024 seek=1 count=1 conv=notrunc");
    ExpectWholeTree(t, "superblock", {"geometry rebuilt", "block size 1024", "6144 blocks in 1 group"});
  }
}

TEST(SalvageRebuild, EverySuperblockCopyOfSeveralGroupsZeroedComesBackWhole) {
  TempDir t;
  StageSpool(t / "stage");
  MakeImage(t / "stage", t / "img", "300M");  // 3 groups: the only backup is in group 1
  Sh("dd if=/dev/zero of=" + Quote(t / "img") + " bs=1024 seek=1 count=1 conv=notrunc");
  Sh("dd if=/dev/zero of=" + Quote(t / "img") + " bs=4096 seek=32768 count=1 conv=notrunc");
  ExpectWholeTree(t, "superblock", {"geometry rebuilt", "in 3 groups", "64bit", "flex_bg"});
}

// What cannot be rebuilt is one line, exit 3, at once.
TEST(SalvageRebuild, GarbageIsOneLineAndExit3Quickly) {
  TempDir t;
  std::mt19937_64 rng(20240611);
  WriteText(t / "random.img", Random(rng, 16 << 20));
  Sh("truncate -s 16M " + Quote(t / "zeros.img"));
  // A real one-group image whose superblock and root inode block are gone (nothing
  // to rebuild from), and a real 3-group one whose superblocks and primary
  // descriptors are gone (the table search only rebuilds a source of one group).
  WriteText(t / "stage/a/1.", "one");
  MakeImage(t / "stage", t / "real.img", "16M");
  MakeImage(t / "stage", t / "big.img", "300M");
  Overwrite(t / "big.img", 0, std::string(8192, '\0'));
  Overwrite(t / "big.img", 32768ull * 4096, std::string(4096, '\0'));
  Sh("cp " + Quote(t / "real.img") + " " + Quote(t / "noroot.img"));
  auto im = Debugfs(t / "real.img", "imap <2>");
  auto p = im.out.find("located at block ");
  ASSERT_NE(p, std::string::npos) << im.out;
  Overwrite(t / "noroot.img", 1024, std::string(1024, '\0'));
  Overwrite(t / "noroot.img", std::stoull(im.out.substr(p + 17)) * 4096, Random(rng, 4096));
  for (const char* name : {"random.img", "zeros.img", "noroot.img", "big.img"}) {
    SCOPED_TRACE(name);
    const std::string before = Sha256(t / name);
    const auto start = std::chrono::steady_clock::now();
    auto r = Salvage(t / name, t / (std::string("out-") + name));
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    EXPECT_EQ(r.rc, 3) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_NE(r.out.find(name), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("no geometry could be rebuilt"), std::string::npos) << r.out;
    EXPECT_LT(ms.count(), 2000);
    EXPECT_EQ(Sha256(t / name), before);
  }
}

// Random bytes over the metadata the rebuild reads (descriptors, bitmaps, the
// inode table, directory blocks) of an image without a superblock: whatever the
// outcome, no crash, no hang, no write; a failure is one line and exit 3.
TEST(SalvageRebuild, RandomMetadataDamageNeverCrashesOrHangs) {
  TempDir t;
  StageSpool(t / "stage");
  MakeImage(t / "stage", t / "real.img", "16M");
  Overwrite(t / "real.img", 1024, std::string(1024, '\0'));
  std::mt19937_64 rng(7);
  int rebuilt = 0;
  for (int round = 0; round < 24; ++round) {
    SCOPED_TRACE(round);
    const std::string img = t / ("fuzz" + std::to_string(round) + ".img");
    Sh("cp " + Quote(t / "real.img") + " " + Quote(img));
    const int blocks = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < blocks; ++i) {
      // Half in the first 64 blocks (descriptors, bitmaps, inode table start), half up to
      // the first data blocks.
      const std::uint64_t blk = 1 + rng() % (rng() % 2 ? 64 : 1200);
      if (rng() % 2) {
        Overwrite(img, blk * 4096, Random(rng, 4096));
      } else {
        for (int f = 0; f < 16; ++f) Overwrite(img, blk * 4096 + rng() % 4096, Random(rng, 1 + rng() % 8));
      }
    }
    const std::string before = Sha256(img);
    const auto start = std::chrono::steady_clock::now();
    auto r = Sh("timeout 20 " + std::string(MR_CLI_PATH) + " -q salvage " + Quote(img) + " --out " +
                Quote(t / ("out" + std::to_string(round))) + " --jobs 2");
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    EXPECT_TRUE(r.rc == 1 || r.rc == 3) << r.rc << " " << r.out;
    rebuilt += r.rc == 1;
    if (r.rc == 3) {
      EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    }
    EXPECT_LT(ms.count(), 10000);
    EXPECT_EQ(Sha256(img), before);
  }
  // Many rounds leave enough to rebuild from: the rebuild ran on damaged metadata.
  EXPECT_GT(rebuilt, 4);
  std::printf("rebuilt in %d of 24 rounds\n", rebuilt);
}

}  // namespace
}  // namespace mr::salvage
