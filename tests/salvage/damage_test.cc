// One test per damage case: build a tiny image, damage it the way the field
// does, salvage, and assert what must come back. The image's SHA-256 must be
// the same after every run.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>

#include "common/sha1.h"
#include "test_util.h"

namespace mr::salvage {
namespace {

using namespace test;

TEST(SalvageDamage, ZeroedPrimarySuperblockRecoversEverything) {
  TempDir t;
  for (int i = 0; i < 60; ++i) WriteText(t / ("stage/d" + std::to_string(i % 3) + "/" + Name(i)), Name(i) + std::string(static_cast<size_t>(i * 50), 'q'));
  MakeImage(t / "stage", t / "img", "20M", "-b 1024");
  Sh("dd if=/dev/zero of=" + Quote(t / "img") + " bs=1024 seek=1 count=1 conv=notrunc");
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out", "--jobs 2");
  EXPECT_EQ(r.rc, 1) << r.out;  // done, with damage to report
  EXPECT_EQ(Sha256(t / "img"), before);
  auto m = ReadManifest(t / "out");
  EXPECT_EQ(m["filesystem"]["superblock_used"], 8193);
  for (int i = 0; i < 60; ++i)
    EXPECT_EQ(ReadText(t / ("out/spool/d" + std::to_string(i % 3) + "/" + Name(i))),
              Name(i) + std::string(static_cast<size_t>(i * 50), 'q'));
  EXPECT_EQ(m["totals"]["files"], 60);
  EXPECT_EQ(m["totals"]["damaged_files"], 0);
  // Forcing the same backup works too.
  auto f = Salvage(t / "img", t / "forced", "--superblock 8193 --blocksize 1024");
  EXPECT_EQ(ReadManifest(t / "forced")["totals"]["files"], 60) << f.out;
}

// ext3 block maps: a zeroed double-indirect block reads as holes. The inode's block
// count says the file owned those blocks, so the lost part is reported damaged (never
// passed off as a sparse file); the bytes before it come back exact; a sparse file whose
// map is whole is not flagged.
TEST(SalvageDamage, ZeroedIndirectBlockIsReportedNotPassedOffAsHoles) {
  TempDir t;
  std::string big;
  for (int i = 0; big.size() < (1u << 20); ++i) big += "line " + std::to_string(i) + " of a big message\r\n";
  WriteText(t / "stage/big.", big);
  WriteText(t / "stage/small.", "small message\r\n");
  Sh("truncate -s 2M " + Quote(t / "stage/sparse") + " && printf end >> " + Quote(t / "stage/sparse"));
  MakeImage(t / "stage", t / "img", "16M", "-b 1024", "ext3");
  const std::string stat = Debugfs(t / "img", "stat /big.").out;
  const auto at = stat.find("(DIND):");
  ASSERT_NE(at, std::string::npos) << stat;
  const unsigned long dind = std::stoul(stat.substr(at + 7));
  Sh("dd if=/dev/zero of=" + Quote(t / "img") + " bs=1024 seek=" + std::to_string(dind) + " count=1 conv=notrunc");
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  const std::uint64_t intact = (12 + 256) * 1024;  // direct and single-indirect blocks
  EXPECT_EQ(ReadText(t / "out/spool/big.").substr(0, intact), big.substr(0, intact));
  EXPECT_EQ(ReadText(t / "out/spool/small."), "small message\r\n");
  auto m = ReadManifest(t / "out");
  std::map<std::string, nlohmann::json> files;
  for (const auto& f : m["files"]) files[f["path"]] = f;
  ASSERT_EQ(files["spool/big."]["damaged"].size(), 1u) << files["spool/big."].dump();
  EXPECT_EQ(files["spool/big."]["damaged"][0][0], intact);
  EXPECT_EQ(files["spool/big."]["damaged"][0][1], big.size() - intact);
  EXPECT_TRUE(files["spool/sparse"]["damaged"].empty()) << files["spool/sparse"].dump();
  EXPECT_TRUE(files["spool/small."]["damaged"].empty());
  EXPECT_EQ(m["totals"]["damaged_files"], 1);
}

// The primary group descriptor block zeroed: every descriptor says block 0 for its
// bitmaps and inode table. That must not pass as "sane": the backup copy (group 1) is
// used and everything comes back.
TEST(SalvageDamage, ZeroedGroupDescriptorBlockIsReplacedFromTheBackup) {
  TempDir t;
  for (int i = 0; i < 90; ++i) WriteText(t / ("stage/d" + std::to_string(i % 3) + "/" + Name(i)), "content of " + Name(i));
  MakeImage(t / "stage", t / "img", "300M", "-b 4096");  // 3 groups: a backup in group 1
  Sh("dd if=/dev/zero of=" + Quote(t / "img") + " bs=4096 seek=1 count=1 conv=notrunc");
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  for (int i = 0; i < 90; ++i)
    EXPECT_EQ(ReadText(t / ("out/spool/d" + std::to_string(i % 3) + "/" + Name(i))), "content of " + Name(i));
  auto m = ReadManifest(t / "out");
  EXPECT_EQ(m["totals"]["files"], 90);
  EXPECT_EQ(m["totals"]["incomplete_dirs"], 0);
  ASSERT_FALSE(m["filesystem"]["damage"].empty());
  EXPECT_NE(m["filesystem"]["damage"][0]["detail"].get<std::string>().find("group 0: inode table at block 0"),
            std::string::npos) << m["filesystem"]["damage"].dump();
}

TEST(SalvageDamage, GarbageDirectoryBlockCostsOnlyItsEntriesAndTheScanFindsThem) {
  TempDir t;
  const int n = 400;
  for (int i = 0; i < n; ++i) WriteText(t / ("stage/big/" + Name(i)), "content of " + Name(i));
  MakeImage(t / "stage", t / "img", "16M");
  auto z = Debugfs(t / "img", "zap_block -f /big -p 0xa5 2", true);
  ASSERT_EQ(z.rc, 0) << z.out;
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  ExpectOneDirBlockOfBigLost(t / "out", n);
}

TEST(SalvageDamage, ZeroedInodeTableBlockKeepsTheOtherFilesOfTheFolder) {
  TempDir t;
  for (int i = 0; i < 60; ++i) WriteText(t / ("stage/f/" + Name(i)), "body " + std::to_string(i));
  MakeImage(t / "stage", t / "img", "16M");
  auto im = Debugfs(t / "img", "imap /f/" + Name(30));
  auto p = im.out.find("located at block ");
  ASSERT_NE(p, std::string::npos) << im.out;
  const unsigned long blk = std::stoul(im.out.substr(p + 17));
  ASSERT_EQ(Debugfs(t / "img", "zap_block -p 0 " + std::to_string(blk), true).rc, 0);
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  int ok = 0;
  for (int i = 0; i < 60; ++i)
    if (fs::exists(t / ("out/spool/f/" + Name(i)))) {
      EXPECT_EQ(ReadText(t / ("out/spool/f/" + Name(i))), "body " + std::to_string(i));
      ++ok;
    }
  EXPECT_FALSE(fs::exists(t / ("out/spool/f/" + Name(30))));
  EXPECT_GE(ok, 60 - 16);  // one 4 KiB block holds 16 inodes of 256 bytes
  EXPECT_LT(ok, 60);
  auto m = ReadManifest(t / "out");
  int missing = 0;
  for (const auto& d : m["filesystem"]["damage"]) missing += d["kind"] == "missing_inode";
  EXPECT_EQ(missing, 60 - ok);
  for (const auto& d : m["dirs"])
    if (d["path"] == "spool/f") {
      EXPECT_FALSE(d["complete"].get<bool>());
    }
}

TEST(SalvageDamage, UnlinkedMailboxFolderIsRehomedUnderItsPath) {
  TempDir t;
  StageMailbox(t / "stage/mail", "ab1111", "user.bob", {"msg one\r\n", "msg two\r\n"});
  StageMailbox(t / "stage/mail", "cd2222", "user.carol", {"carol\r\n"});
  WriteText(t / "stage/lib/mailboxes.db", "db");
  MakeImage(t / "stage", t / "img", "16M");
  ASSERT_EQ(Debugfs(t / "img", "unlink /mail/uuid/a/b/ab1111", true).rc, 0);
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  EXPECT_EQ(ReadText(t / "out/spool/uuid/a/b/ab1111/1."), "msg one\r\n");
  EXPECT_EQ(ReadText(t / "out/spool/uuid/a/b/ab1111/2."), "msg two\r\n");
  EXPECT_EQ(ReadText(t / "out/spool/uuid/c/d/cd2222/1."), "carol\r\n");
  EXPECT_EQ(ReadText(t / "out/conf/mailboxes.db"), "db");
  auto m = ReadManifest(t / "out");
  EXPECT_EQ(m["spool_path"], "/mail");
  EXPECT_EQ(m["config_path"], "/lib");
  std::set<std::string> users;
  for (const auto& u : m["users"]) {
    users.insert(u["user"].get<std::string>());
    EXPECT_TRUE(u["done"].get<bool>());
  }
  EXPECT_EQ(users, (std::set<std::string>{"bob", "carol"}));
}

TEST(SalvageDamage, LostMessageFileGoesBackToItsFolderByGuid) {
  TempDir t;
  StageMailbox(t / "stage/mail", "ab1111", "user.bob", {"first\r\n", "second message\r\n", "third\r\n"});
  MakeImage(t / "stage", t / "img", "16M");
  ASSERT_EQ(Debugfs(t / "img", "unlink /mail/uuid/a/b/ab1111/2.", true).rc, 0);
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(ReadText(t / "out/spool/uuid/a/b/ab1111/2."), "second message\r\n");
  EXPECT_EQ(ReadManifest(t / "out")["totals"]["lost_found"], 0);
}

TEST(SalvageDamage, BadmapMarksExactlyTheListedFilesDamaged) {
  TempDir t;
  for (int i = 0; i < 20; ++i) WriteText(t / ("stage/d/" + Name(i)), std::string(8192, static_cast<char>('A' + i)));
  MakeImage(t / "stage", t / "img", "16M");
  auto blocks = BlocksOf(t / "img", "/d/" + Name(7));
  ASSERT_EQ(blocks.size(), 2u);
  const unsigned long long off = blocks[0] * 4096ull;
  char map[256];
  std::snprintf(map, sizeof map, "# mapfile\n0x0 +\n0x0 0x%llx +\n0x%llx 0x1000 -\n0x%llx 0x%llx +\n", off, off,
                off + 4096, 16ull * 1048576 - off - 4096);
  WriteText(t / "map", map);
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out", "--badmap " + Quote(t / "map"));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  auto m = ReadManifest(t / "out");
  int damaged = 0;
  for (const auto& f : m["files"]) {
    if (f["damaged"].empty()) continue;
    ++damaged;
    EXPECT_EQ(f["path"], "spool/d/" + Name(7));
    EXPECT_EQ(f["damaged"], nlohmann::json::parse("[[0,4096]]"));
  }
  EXPECT_EQ(damaged, 1);
  EXPECT_EQ(ReadText(t / ("out/spool/d/" + Name(7))), std::string(4096, '\0') + std::string(4096, 'H'));
  EXPECT_EQ(ReadText(t / ("out/spool/d/" + Name(8))), std::string(8192, 'I'));
}

}  // namespace
}  // namespace mr::salvage

namespace mr::salvage {
namespace {

using namespace test;

TEST(SalvageUsers, UsersFileLimitsTheWorkAndMarksOnlyThoseDone) {
  TempDir t;
  StageMailbox(t / "stage/mail", "ab1111", "user.bob", {"bob one\r\n"});
  StageMailbox(t / "stage/mail", "cd2222", "user.carol", {"carol one\r\n"});
  StageMailbox(t / "stage/mail", "ef3333", "user.carol.Sent", {"carol sent\r\n"});
  MakeImage(t / "stage", t / "img", "16M");
  WriteText(t / "users", "carol\nnobody\n");
  auto r = Salvage(t / "img", t / "out", "--users " + Quote(t / "users"));
  EXPECT_EQ(r.rc, 1) << r.out;  // "nobody" is not there: attention
  EXPECT_NE(r.out.find("nobody"), std::string::npos) << r.out;
  EXPECT_EQ(ReadText(t / "out/spool/uuid/c/d/cd2222/1."), "carol one\r\n");
  EXPECT_EQ(ReadText(t / "out/spool/uuid/e/f/ef3333/1."), "carol sent\r\n");
  EXPECT_FALSE(fs::exists(t / "out/spool/uuid/a/b/ab1111/1."));
  auto m = ReadManifest(t / "out");
  std::map<std::string, bool> done;
  for (const auto& u : m["users"]) done[u["user"]] = u["done"];
  EXPECT_EQ(done, (std::map<std::string, bool>{{"bob", false}, {"carol", true}}));
  // A second run without --users finishes bob and keeps carol's files.
  auto r2 = Salvage(t / "img", t / "out");
  EXPECT_EQ(r2.rc, 0) << r2.out;
  EXPECT_EQ(ReadText(t / "out/spool/uuid/a/b/ab1111/1."), "bob one\r\n");
}

TEST(SalvageUsers, PriorityUsersGoFirst) {
  TempDir t;
  StageMailbox(t / "stage/mail", "ab1111", "user.bob", {"b\r\n"});
  StageMailbox(t / "stage/mail", "cd2222", "user.carol", {"c\r\n"});
  StageMailbox(t / "stage/mail", "ef3333", "user.dave", {"d\r\n"});
  MakeImage(t / "stage", t / "img", "16M");
  WriteText(t / "prio", "dave\n");
  auto r = Sh(std::string(MR_CLI_PATH) + " salvage " + Quote(t / "img") + " --out " + Quote(t / "out") +
              " --priority " + Quote(t / "prio") + " --jobs 1");
  EXPECT_EQ(r.rc, 0) << r.out;
  // Progress lines (stderr, not a tty) name each group as it finishes: dave first.
  auto d = r.out.find("salvage: dave"), b = r.out.find("salvage: bob");
  ASSERT_NE(d, std::string::npos) << r.out;
  ASSERT_NE(b, std::string::npos) << r.out;
  EXPECT_LT(d, b) << r.out;
}

}  // namespace
}  // namespace mr::salvage

namespace mr::salvage {
namespace {

using namespace test;

TEST(SalvageChecksums, InodeChecksumMismatchIsReportedNotPassedOffAsIntact) {
  TempDir t;
  WriteText(t / "stage/f/a", "alpha");
  WriteText(t / "stage/f/b", "beta");
  MakeImage(t / "stage", t / "img", "8M");
  auto im = Debugfs(t / "img", "imap /f/a");
  auto p = im.out.find("located at block ");
  ASSERT_NE(p, std::string::npos) << im.out;
  const unsigned long blk = std::stoul(im.out.substr(p + 17));
  auto o = im.out.find("offset 0x", p);
  ASSERT_NE(o, std::string::npos) << im.out;
  const unsigned long off = std::stoul(im.out.substr(o + 9), nullptr, 16);
  // Flip i_generation (offset 100): the inode still reads, its checksum fails.
  auto z = Debugfs(t / "img", "zap_block -o " + std::to_string(off + 100) + " -l 4 -p 0x5a " +
                                  std::to_string(blk), true);
  ASSERT_EQ(z.rc, 0) << z.out;
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(ReadText(t / "out/spool/f/a"), "alpha");
  const auto m = ReadManifest(t / "out");
  for (const auto& f : m["files"]) {
    if (f["path"] == "spool/f/a") {
      EXPECT_EQ(f["damaged"], nlohmann::json::parse("[[0,5]]"));
      EXPECT_NE(f["problem"].get<std::string>().find("checksum"), std::string::npos);
    } else {
      EXPECT_TRUE(f["damaged"].empty()) << f["path"];
    }
  }
}

}  // namespace
}  // namespace mr::salvage
