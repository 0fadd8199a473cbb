// Hostile filesystem names and paths: an image whose mailbox directory holds
// entries named "..", ".", "../../../../../../esc" (a '/' in a name), control
// and non-UTF-8 bytes, 255 bytes, two entries with one name, a directory
// named like a symlink to outside, and a name equal to another's encoded
// form; plus symlinks planted in the output directory before the run.
// Names are planted by patching the directory block of a mke2fs -d image in
// place (same-length stand-in names). Asserts: nothing lands outside --out, no
// pre-existing file outside it changes, every message's bytes are somewhere
// under --out, and unsafe names are stored encoded.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <set>

#include "common/fsutil.h"
#include "tests/salvage/test_util.h"

namespace mr::salvage {
namespace {

using namespace test;

const std::string kBox = "/var/spool/cyrus/mail/uuid/a/b/abhostile";

struct Plant {
  std::string stand_in, name, content;
};

std::vector<Plant> Plants() {
  std::vector<Plant> p = {
      {"zz", "..", "msg-dotdot\n"},
      {"y", ".", "msg-dot\n"},
      {"Pslash-to-outside-xx", "../../../../../../esc", "msg-slash\n"},
      {"Pctl", std::string("\n\x01\xff\xfe", 4), "msg-control-bytes\n"},
      {"Pdup", "11.", "msg-duplicate-second\n"},
  };
  p[2].stand_in = std::string(p[2].name.size(), 'S');
  p[4].stand_in = "12.";
  return p;
}

// Replaces the first directory entry named `from` in `block` with `to` (same length).
bool PatchName(std::string* block, const std::string& from, const std::string& to) {
  for (std::size_t o = 0; o + 8 + from.size() <= block->size();) {
    const auto* e = reinterpret_cast<const unsigned char*>(block->data() + o);
    const unsigned rec_len = e[4] | (e[5] << 8);
    const unsigned name_len = e[6];
    if (rec_len < 8) return false;
    if (name_len == from.size() && block->compare(o + 8, name_len, from) == 0) {
      block->replace(o + 8, name_len, to);
      return true;
    }
    o += rec_len;
  }
  return false;
}

std::set<std::string> ContentsUnder(const std::string& root, std::vector<std::string>* outside) {
  std::set<std::string> out;
  const auto real_root = fs::canonical(root).string();
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_symlink() || !it->is_regular_file()) continue;
    auto real = fs::canonical(it->path()).string();
    if (real.rfind(real_root + "/", 0) != 0) outside->push_back(real);
    out.insert(ReadText(it->path().string()));
  }
  return out;
}

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    sandbox_ = tmp_.path();
    const std::string stage = sandbox_ + "/stage", box = stage + kBox;
    fs::create_directories(box);
    fs::create_directories(stage + "/var/lib/cyrus");
    WriteText(box + "/cyrus.header", kHeaderMagic + "%(T e N user.alice I abhostile A %(alice lrs))\n");
    WriteText(box + "/1.", "msg-plain\n");
    WriteText(box + "/11.", "msg-duplicate-first\n");
    WriteText(box + "/" + std::string(255, 'L'), "msg-255-bytes\n");
    // A legit name equal to what ".." is encoded as: the two must not collide.
    WriteText(box + "/" + SanitizeName(".."), "msg-encoded-lookalike\n");
    for (const auto& p : Plants()) WriteText(box + "/" + p.stand_in, p.content);
    // A symlink to outside, and a directory patched to carry the same name.
    fs::create_directories(sandbox_ + "/outside-dir");
    fs::create_symlink(sandbox_ + "/outside-dir", box + "/sl");
    WriteText(box + "/sk/inner.", "msg-inside-dir-named-like-symlink\n");
    WriteText(box + "/sk/evil", "msg-evil\n");
    img_ = sandbox_ + "/hostile.img";
    MakeImage(stage, img_, "8M", "-b 1024 -O ^metadata_csum,^dir_index");
    // Patch the mailbox directory's blocks.
    auto blocks = BlocksOf(img_, kBox);
    ASSERT_FALSE(blocks.empty());
    std::fstream f(img_, std::ios::in | std::ios::out | std::ios::binary);
    std::vector<std::pair<std::string, std::string>> unpatched;
    for (const auto& p : Plants()) unpatched.push_back({p.stand_in, p.name});
    unpatched.push_back({"sk", "sl"});
    for (auto b : blocks) {
      std::string block(1024, '\0');
      f.seekg(static_cast<std::streamoff>(b * 1024));
      f.read(block.data(), 1024);
      for (auto it = unpatched.begin(); it != unpatched.end();)
        it = PatchName(&block, it->first, it->second) ? unpatched.erase(it) : it + 1;
      f.seekp(static_cast<std::streamoff>(b * 1024));
      f.write(block.data(), 1024);
    }
    ASSERT_TRUE(unpatched.empty()) << "not planted: " << unpatched.front().first;
    f.close();
    sha_before_ = Sha256(img_);
    WriteText(sandbox_ + "/bait.txt", "bait\n");
  }

  void ExpectNothingOutside() {
    // The sandbox holds only what we put there.
    std::set<std::string> top;
    for (const auto& e : fs::directory_iterator(sandbox_)) top.insert(e.path().filename().string());
    EXPECT_EQ(top, (std::set<std::string>{"stage", "hostile.img", "outside-dir", "bait.txt", "out"}));
    EXPECT_TRUE(fs::is_empty(sandbox_ + "/outside-dir"));
    EXPECT_EQ(ReadText(sandbox_ + "/bait.txt"), "bait\n");
    EXPECT_EQ(Sha256(img_), sha_before_) << "the source changed";
  }

  TempDir tmp_;
  std::string sandbox_, img_, sha_before_;
};

TEST_F(Hostile, PlantedNamesStayInsideOutAndNoMessageIsLost) {
  const std::string out = sandbox_ + "/out";
  auto r = Salvage(img_, out, "--jobs 2");
  ASSERT_TRUE(r.rc == 0 || r.rc == 1) << r.out;
  ExpectNothingOutside();
  std::vector<std::string> outside;
  auto contents = ContentsUnder(out, &outside);
  EXPECT_TRUE(outside.empty()) << outside.front();
  for (std::string want : {"msg-plain\n", "msg-duplicate-first\n", "msg-255-bytes\n",
                           "msg-encoded-lookalike\n", "msg-inside-dir-named-like-symlink\n",
                           "msg-evil\n"})
    EXPECT_TRUE(contents.count(want)) << "lost: " << want;
  for (const auto& p : Plants()) EXPECT_TRUE(contents.count(p.content)) << "lost: " << p.content;
  // Unsafe names are stored encoded, never raw.
  const std::string obox = out + "/spool/uuid/a/b/abhostile";
  EXPECT_FALSE(fs::exists(obox + "/" + std::string(255, 'L')));
  EXPECT_TRUE(fs::exists(obox + "/" + SanitizeName(std::string(255, 'L'))));
  // The symlink from the image is a symlink in the output (under "sl" or, when the
  // directory of the same name came first, "sl%mr-dup-<ino>"), never followed.
  int symlinks = 0;
  for (const auto& e : fs::directory_iterator(obox))
    if (e.path().filename().string().starts_with("sl") && e.is_symlink()) ++symlinks;
  EXPECT_EQ(symlinks, 1);
  auto m0 = ReadText(out + "/salvage.json");
  EXPECT_NE(m0.find("\"name_collision\""), std::string::npos);
  EXPECT_NE(m0.find("\"unsafe_name\""), std::string::npos);
  // The manifest is valid JSON and every path in it is the file on disk (a name with
  // control or non-UTF-8 bytes is encoded, not written with U+FFFD replacements).
  auto m = nlohmann::json::parse(ReadText(out + "/salvage.json"), nullptr, false);
  ASSERT_FALSE(m.is_discarded()) << "salvage.json is not valid JSON";
  for (const auto& f : m["files"]) {
    const std::string p = f["path"].get<std::string>();
    EXPECT_TRUE(fs::exists(fs::symlink_status(out + "/" + p))) << "manifest path not on disk: " << p;
  }
  EXPECT_TRUE(fs::exists(obox + "/" + SanitizeName(std::string("\n\x01\xff\xfe", 4))));
  // A second run into the same output (resume) changes nothing outside either.
  auto r2 = Salvage(img_, out, "--jobs 1");
  EXPECT_TRUE(r2.rc == 0 || r2.rc == 1) << r2.out;
  ExpectNothingOutside();
}

TEST_F(Hostile, SymlinksPlantedInTheOutputAreNotFollowed) {
  const std::string out = sandbox_ + "/out";
  fs::create_directories(out);
  fs::create_symlink(sandbox_ + "/outside-dir", out + "/spool");
  fs::create_symlink(sandbox_ + "/outside-dir", out + "/lost+found");
  fs::create_symlink(sandbox_ + "/outside-dir", out + "/conf");
  fs::create_symlink(sandbox_ + "/bait.txt", out + "/salvage.json");
  fs::create_symlink(sandbox_ + "/bait.txt", out + "/salvage.json.tmp");
  auto r = Salvage(img_, out, "--jobs 2");
  // Either it refuses with one clear line, or it works around them; never through them.
  EXPECT_TRUE(r.rc >= 0 && r.rc <= 2) << r.out;
  if (r.rc == 2) {
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
  ExpectNothingOutside();
}

// A staging tree for MakeImage: alice's one folder (kBox) holding "1." and,
// with two_messages, "2.". Returns the stage directory.
std::string AliceStage(const TempDir& t, bool two_messages) {
  const std::string stage = t / "stage", box = stage + kBox;
  fs::create_directories(stage + "/var/lib/cyrus");
  WriteText(box + "/cyrus.header", kHeaderMagic + "%(T e N user.alice I abhostile A %(alice lrs))\n");
  WriteText(box + "/1.", "msg-one\n");
  if (two_messages) WriteText(box + "/2.", "msg-two\n");
  return stage;
}

// Found by the image fuzzer: an inode claiming i_size 2^60 made salvage hash
// 2^60 zero bytes (a hang) and ftruncate a sparse tail of that size. The claim
// is bounded by the filesystem's size and reported as damage.
TEST(HostileInode, HugeISizeIsBoundedByTheFilesystem) {
  TempDir t;
  const std::string stage = AliceStage(t, true), img = t / "big.img";
  MakeImage(stage, img, "8M", "-b 1024");
  auto d = Debugfs(img, "sif " + kBox + "/2. size 0x1000000000000000", true);
  ASSERT_EQ(d.rc, 0) << d.out;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = Sh("timeout 60 " + std::string(MR_CLI_PATH) + " -q salvage " + Quote(img) + " --out " +
              Quote(t / "out") + " --jobs 1");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_LT(secs, 10.0);
  auto m = ReadManifest(t / "out");
  bool seen = false;
  for (const auto& f : m["files"]) {
    if (f["path"].get<std::string>().ends_with("/2.")) {
      seen = true;
      EXPECT_LE(f["size"].get<std::uint64_t>(), 8u << 20);
      EXPECT_FALSE(f["damaged"].empty());
    }
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(ReadText(t / "out/spool/uuid/a/b/abhostile/1."), "msg-one\n");
  EXPECT_LE(fs::file_size(t / "out/spool/uuid/a/b/abhostile/2."), 8u << 20);
}

// Found by the image fuzzer (a helper's run of Replay.BoundedRandomMutations):
// with the superblock also claiming ~4 billion blocks, the filesystem bound above
// is 4 TiB, and hashing that many zeros never ended. The claim is also bounded by
// what the source holds.
TEST(HostileInode, HugeISizeUnderAHugeBlockCountIsBoundedByTheSource) {
  TempDir t;
  const std::string stage = AliceStage(t, true), img = t / "big.img";
  MakeImage(stage, img, "8M", "-b 1024");
  ASSERT_EQ(Debugfs(img, "sif " + kBox + "/2. size 0x3ffffffffff", true).rc, 0);
  ASSERT_EQ(Debugfs(img, "ssv blocks_count 4278196224", true).rc, 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = Sh("timeout 60 " + std::string(MR_CLI_PATH) + " -q salvage " + Quote(img) + " --out " +
              Quote(t / "out") + " --jobs 1");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.rc == 1 || r.rc == 3) << r.rc << r.out;
  EXPECT_LT(secs, 10.0);
  if (r.rc == 3) return;  // refused outright is bounded too
  auto m = ReadManifest(t / "out");
  for (const auto& f : m["files"]) {
    if (!f["path"].get<std::string>().ends_with("/2.")) continue;
    EXPECT_LE(f["size"].get<std::uint64_t>(), 8u << 20);
    EXPECT_FALSE(f["damaged"].empty());
  }
  EXPECT_LE(fs::file_size(t / "out/spool/uuid/a/b/abhostile/2."), 8u << 20);
}

// Found by the image fuzzer: one flipped superblock byte claimed 522,240 block
// groups, and salvage.json listed each one's bad descriptor (70 MB). The notes
// are bounded; the report stays small.
TEST(HostileSuperblock, MillionsOfClaimedGroupsGiveABoundedReport) {
  TempDir t;
  const std::string stage = AliceStage(t, false), img = t / "g.img";
  MakeImage(stage, img, "8M", "-b 1024");
  auto d = Debugfs(img, "ssv blocks_count 4294967295", true);
  ASSERT_EQ(d.rc, 0) << d.out;
  auto r = Sh("timeout 120 " + std::string(MR_CLI_PATH) + " -q salvage " + Quote(img) + " --out " +
              Quote(t / "out") + " --jobs 1");
  ASSERT_TRUE(r.rc == 1 || r.rc == 3) << r.out;
  if (r.rc == 1) {
    EXPECT_LT(fs::file_size(t / "out/salvage.json"), 1u << 20);
    EXPECT_EQ(ReadText(t / "out/spool/uuid/a/b/abhostile/1."), "msg-one\n");
  }
}

// Found by the image fuzzer: a 64bit superblock with s_desc_size 0 (one flipped
// byte) made ext2fs_open2 divide by zero (SIGFPE, exit 136). Such a superblock is
// refused and the backups are tried.
TEST(HostileSuperblock, ZeroDescriptorSizeIsRefusedNotASignal) {
  TempDir t;
  const std::string stage = AliceStage(t, false), img = t / "d.img";
  // Also (fuzz_image again): inodes_per_group 0xff0000xx made libext2fs's inode scan
  // memcpy a negative size.
  for (std::string field : {"desc_size 0", "inodes_per_group 4278190080", "blocks_per_group 4278190080"}) {
    fs::remove(img);
    fs::remove_all(t / "out");
    MakeImage(stage, img, "16M", "-b 1024 -O 64bit");
    auto d = Debugfs(img, "ssv " + field, true);
    ASSERT_EQ(d.rc, 0) << d.out;
    auto r = Sh("timeout 120 " + std::string(MR_CLI_PATH) + " -q salvage " + Quote(img) + " --out " +
                Quote(t / "out") + " --jobs 1");
    ASSERT_TRUE(r.rc == 1 || r.rc == 3) << field << ": rc=" << r.rc << "\n" << r.out;
    if (r.rc == 1) {
      EXPECT_EQ(ReadText(t / "out/spool/uuid/a/b/abhostile/1."), "msg-one\n") << field;
    }
  }
}

}  // namespace
}  // namespace mr::salvage
