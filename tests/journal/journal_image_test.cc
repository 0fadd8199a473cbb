// Journal replay through the overlay on real ext4 images (mke2fs + debugfs
// jo/jw/jc), checked against e2fsck's own replay on a copy.
#include <gtest/gtest.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "image_fixture.h"
#include "salvage/ext2_error.h"
#include "salvage/journal.h"
#include "salvage/journal_overlay.h"

namespace mr::salvage {
namespace {

using namespace testing;

struct ImageVariant {
  const char* name;
  const char* mke2fs_features;
  int csum;  // journal checksum version requested from debugfs (0 = none)
  bool fs64;
  unsigned bs = 4096;
};

void PrintTo(const ImageVariant& v, std::ostream* os) { *os << v.name; }

// Access mode of every descriptor this process holds on `path`.
std::vector<int> OpenModesOf(const std::string& path) {
  std::vector<int> modes;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (ec || target != std::filesystem::path(path)) continue;
    std::ifstream info("/proc/self/fdinfo/" + e.path().filename().string());
    std::string key;
    while (info >> key) {
      if (key == "flags:") {
        std::string octal;
        info >> octal;
        modes.push_back(static_cast<int>(std::stol(octal, nullptr, 8)) & O_ACCMODE);
      }
    }
  }
  return modes;
}

// Expected tree: every staged file and directory.
std::map<std::string, std::string> ExpectedTree() {
  std::map<std::string, std::string> t;
  for (const auto& [path, content] : StagingFiles()) {
    t[path] = content;
    for (auto p = std::filesystem::path(path).parent_path(); !p.empty(); p = p.parent_path())
      t[p.string()] = "<dir>";
  }
  return t;
}

struct FsCloser {
  ext2_filsys fs;
  ~FsCloser() {
    if (fs) ext2fs_close_free(&fs);
  }
};

// One image per test: the staging tree, its bob directory block and the
// three data blocks of bob/3.
class ImageCase {
 protected:
  void Build(const char* features, unsigned bs = 4096) {
    EnsureExt2ErrorTable();
    bs_ = bs;
    img_ = dir_ / "fs.img";
    MakeImage(dir_, img_, features, bs);
    dir_block_ = BlocksOf(img_, "/mail/user/bob").at(0);
    file_blocks_ = BlocksOf(img_, "/mail/user/bob/3.");
    if (file_blocks_.size() != (9000 + bs - 1) / bs) throw std::runtime_error("bob/3. has an odd block count");
  }
  void LogTxns(int csum, const std::vector<Jw>& txns) { JournalTransactions(dir_, img_, csum, txns, bs_); }
  void Zero(const std::vector<uint64_t>& blocks) { ZeroBlocks(img_, blocks, bs_); }

  std::shared_ptr<const Journal> Load(const std::string& img) {
    FsCloser plain{OpenPlain(img)};
    auto j = LoadJournal(plain.fs);
    if (!j.ok()) throw std::runtime_error(j.error().message);
    return *j;
  }

  // e2fsck's replay on a copy (journal_only: replay and nothing else).
  std::string FsckCopy() {
    const std::string copy = dir_ / "fsck.img";
    Sh("cp " + img_ + " " + copy);
    Sh("(e2fsck -y -E journal_only " + copy + " >/dev/null; test $? -le 1)");
    return copy;
  }

  ImageDir dir_;
  unsigned bs_ = 4096;
  std::string img_;
  uint64_t dir_block_ = 0;
  std::vector<uint64_t> file_blocks_;
};

class JournalImage : public ::testing::TestWithParam<ImageVariant>, public ImageCase {
 protected:
  void SetUp() override { Build(GetParam().mke2fs_features, GetParam().bs); }
};

class JournalImageV3 : public ::testing::Test, public ImageCase {
 protected:
  void SetUp() override { Build(""); }
};

TEST_P(JournalImage, OverlayRecoversDirectoryAndFileWithoutWriting) {
  LogTxns(GetParam().csum, {Jw{{dir_block_}}, Jw{file_blocks_}});
  std::vector<uint64_t> lost = file_blocks_;
  lost.push_back(dir_block_);
  Zero(lost);
  const std::string sha_before = Sha256(img_);
  const auto expected = ExpectedTree();

  FsCloser plain{OpenPlain(img_)};
  EXPECT_NE(ReadPath(plain.fs, "mail/user/bob/1."), expected.at("mail/user/bob/1."));
  EXPECT_EQ(ReadPath(plain.fs, "mail/user/amy/1."), expected.at("mail/user/amy/1."));

  auto jr = LoadJournal(plain.fs);
  ASSERT_TRUE(jr.ok()) << jr.error().message;
  std::shared_ptr<const Journal> j = *jr;
  const JournalInfo& info = j->info();
  EXPECT_TRUE(info.present);
  EXPECT_TRUE(info.needs_recovery);
  EXPECT_EQ(info.inode, 8u);
  EXPECT_EQ(info.transactions, 2u);
  EXPECT_EQ(info.end, "clean") << info.end_detail;
  EXPECT_EQ(info.blocks_to_replay, file_blocks_.size() + 1);
  EXPECT_TRUE(info.problems.empty());
  EXPECT_TRUE(info.superblock_checksum_ok);
  auto has = [&](const char* f) {
    return std::find(info.features.begin(), info.features.end(), f) != info.features.end();
  };
  EXPECT_EQ(has("64bit"), GetParam().fs64);
  EXPECT_EQ(has("csum_v3"), GetParam().csum == 3);
  EXPECT_EQ(has("csum_v2"), GetParam().csum == 2);
  EXPECT_EQ(info.checksum, GetParam().csum ? "crc32c" : "none");
  EXPECT_TRUE(j->ShouldReplay(JournalMode::kAuto));
  EXPECT_TRUE(j->ShouldReplay(JournalMode::kReplay));
  EXPECT_NE(j->Summary().find("2 committed transactions"), std::string::npos) << j->Summary();
  EXPECT_FALSE(j->ShouldReplay(JournalMode::kIgnore));
  ASSERT_NE(j->Lookup(dir_block_), nullptr);
  EXPECT_EQ(j->Lookup(dir_block_)->sequence, info.first_transaction);
  auto json = j->ToJson();
  EXPECT_EQ(json["blocks_from_journal"].size(), file_blocks_.size() + 1);
  EXPECT_EQ(json["needs_recovery"], true);

  auto ov = JournalOverlay::Create(j, img_, unix_io_manager);
  ASSERT_TRUE(ov.ok()) << ov.error().message;
  {
    auto fs = OpenWithJournalOverlay(**ov, 0);
    ASSERT_TRUE(fs.ok()) << fs.error().message;
    FsCloser over{*fs};
    EXPECT_EQ(Tree(over.fs), expected);
    EXPECT_EQ(OpenModesOf(img_), (std::vector<int>{O_RDONLY, O_RDONLY}));  // plain + overlay
  }
  EXPECT_GE((*ov)->blocks_served(), file_blocks_.size() + 1);
  EXPECT_EQ(Sha256(img_), sha_before);
}

TEST_P(JournalImage, OverlayMatchesE2fsckReplay) {
  LogTxns(GetParam().csum, {Jw{{dir_block_}}, Jw{file_blocks_}});
  std::vector<uint64_t> lost = file_blocks_;
  lost.push_back(dir_block_);
  Zero(lost);
  const std::string copy = FsckCopy();

  auto j = Load(img_);
  auto ov = JournalOverlay::Create(j, img_, unix_io_manager);
  ASSERT_TRUE(ov.ok());
  auto fs = OpenWithJournalOverlay(**ov, 0);
  ASSERT_TRUE(fs.ok()) << fs.error().message;
  FsCloser over{*fs};
  FsCloser fixed{OpenPlain(copy)};
  EXPECT_EQ(Tree(over.fs), Tree(fixed.fs));

  // Block by block, only the superblock (needs_recovery cleared) and the
  // journal superblock (log emptied) may differ.
  const uint64_t n = ext2fs_blocks_count(over.fs->super);
  // (With 1 KiB blocks the superblock is block 1.)
  std::set<uint64_t> allowed = {over.fs->super->s_first_data_block, j->PhysicalOf(0)};
  std::vector<uint8_t> a(bs_), b(bs_);
  std::vector<uint64_t> differing;
  for (uint64_t blk = 0; blk < n; ++blk) {
    ASSERT_EQ(io_channel_read_blk64(over.fs->io, blk, 1, a.data()), 0);
    ASSERT_EQ(io_channel_read_blk64(fixed.fs->io, blk, 1, b.data()), 0);
    if (a != b && !allowed.count(blk)) differing.push_back(blk);
  }
  EXPECT_TRUE(differing.empty()) << differing.size() << " blocks differ, first " << differing.front();
}

TEST_P(JournalImage, CorruptCommitReplaysOnlyEarlierTransactions) {
  LogTxns(GetParam().csum, {Jw{{dir_block_}}, Jw{file_blocks_}});
  std::vector<uint64_t> lost = file_blocks_;
  lost.push_back(dir_block_);
  Zero(lost);
  {
    auto j = Load(img_);
    ASSERT_EQ(j->transactions().size(), 2u);
    const uint64_t commit = j->PhysicalOf(j->transactions()[1].commit_block);
    ASSERT_NE(commit, 0u);
    if (GetParam().csum)
      WriteImageBytes(img_, commit * bs_ + 100, {0x5a});  // under the commit checksum
    else
      WriteImageBytes(img_, commit * bs_, {0, 0, 0, 0});  // no checksum: break the magic
  }
  const std::string copy = FsckCopy();
  auto j = Load(img_);
  EXPECT_EQ(j->info().transactions, 1u);
  EXPECT_EQ(j->info().end, GetParam().csum ? "bad_checksum" : "incomplete") << j->info().end_detail;
  EXPECT_EQ(j->info().blocks_to_replay, 1u);
  {
    FsCloser plain{OpenPlain(img_)};
    JournalSetup js = PrepareJournal(plain.fs, JournalMode::kAuto, img_, unix_io_manager);
    EXPECT_EQ(js.damage.size(), GetParam().csum ? 1u : 0u);  // without checksums it looks like a crash
    EXPECT_NE(js.overlay, nullptr);
  }

  auto ov = JournalOverlay::Create(j, img_, unix_io_manager);
  ASSERT_TRUE(ov.ok());
  auto fs = OpenWithJournalOverlay(**ov, 0);
  ASSERT_TRUE(fs.ok());
  FsCloser over{*fs};
  const auto expected = ExpectedTree();
  EXPECT_EQ(ReadPath(over.fs, "mail/user/bob/1."), expected.at("mail/user/bob/1."));
  EXPECT_EQ(ReadPath(over.fs, "mail/user/bob/3."), std::string(9000, '\0'));
  FsCloser fixed{OpenPlain(copy)};
  EXPECT_EQ(Tree(over.fs), Tree(fixed.fs));
}

TEST_P(JournalImage, RevokeRecordIsHonoured) {
  // T1 logs the directory block, T2 revokes it, T3 logs the file blocks.
  LogTxns(GetParam().csum,
                      {Jw{{dir_block_}}, Jw{{}, {dir_block_}}, Jw{file_blocks_}});
  Zero({dir_block_});
  const std::string copy = FsckCopy();
  auto j = Load(img_);
  EXPECT_EQ(j->info().transactions, 3u);
  EXPECT_EQ(j->info().revoked_blocks, 1u);
  EXPECT_EQ(j->Lookup(dir_block_), nullptr);
  EXPECT_NE(j->Lookup(file_blocks_[0]), nullptr);
  auto ov = JournalOverlay::Create(j, img_, unix_io_manager);
  ASSERT_TRUE(ov.ok());
  auto fs = OpenWithJournalOverlay(**ov, 0);
  ASSERT_TRUE(fs.ok());
  FsCloser over{*fs};
  EXPECT_NE(ReadPath(over.fs, "mail/user/bob/1.").rfind("ERR:", 0), std::string::npos);
  FsCloser fixed{OpenPlain(copy)};
  EXPECT_EQ(Tree(over.fs), Tree(fixed.fs));
}

INSTANTIATE_TEST_SUITE_P(
    Formats, JournalImage,
    ::testing::Values(ImageVariant{"csum_v3_64bit", "", 3, true},
                      ImageVariant{"csum_v3_32bit", "^64bit", 3, false},
                      ImageVariant{"csum_v2_32bit", "^64bit", 2, false},
                      ImageVariant{"csum_v2_64bit", "", 2, true},
                      ImageVariant{"nocsum_32bit", "^metadata_csum,^64bit", 0, false},
                      // ext3-style: block-mapped journal inode and files
                      ImageVariant{"blockmap_nocsum", "^extent,^metadata_csum,^64bit,^flex_bg", 0, false},
                      ImageVariant{"csum_v3_64bit_1k", "", 3, true, 1024},
                      ImageVariant{"blockmap_nocsum_1k", "^extent,^metadata_csum,^64bit,^flex_bg", 0, false, 1024}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(JournalImageV3, WritesThroughTheOverlayAreRefused) {
  LogTxns(3, {Jw{{dir_block_}}});
  const std::string sha_before = Sha256(img_);
  auto j = Load(img_);
  auto ov = JournalOverlay::Create(j, img_, unix_io_manager);
  ASSERT_TRUE(ov.ok());
  EXPECT_FALSE(OpenWithJournalOverlay(**ov, EXT2_FLAG_RW).ok());
  ext2_filsys rw = nullptr;
  EXPECT_EQ(ext2fs_open2((*ov)->name().c_str(), nullptr, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0,
                         (*ov)->manager(), &rw),
            EROFS);
  auto fs = OpenWithJournalOverlay(**ov, 0);
  ASSERT_TRUE(fs.ok());
  FsCloser over{*fs};
  std::vector<uint8_t> buf(4096, 0xee);
  EXPECT_EQ(io_channel_write_blk64(over.fs->io, dir_block_, 1, buf.data()), EXT2_ET_RO_FILSYS);
  EXPECT_EQ(io_channel_write_byte(over.fs->io, 0, 4, buf.data()), EXT2_ET_RO_FILSYS);
  EXPECT_EQ(io_channel_discard(over.fs->io, dir_block_, 1), EXT2_ET_RO_FILSYS);
  EXPECT_EQ(io_channel_zeroout(over.fs->io, dir_block_, 1), EXT2_ET_RO_FILSYS);
  EXPECT_EQ(ext2fs_flush(over.fs), EXT2_ET_RO_FILSYS);
  EXPECT_EQ(Sha256(img_), sha_before);
}

int g_read_errors = 0;
errcode_t ZeroFillOnError(io_channel, unsigned long, int, void* data, size_t size, int, errcode_t) {
  ++g_read_errors;
  std::memset(data, 0, size);
  return 0;
}

TEST_F(JournalImageV3, InnerReadErrorsReachTheOverlaysReadErrorHook) {
  LogTxns(3, {Jw{{dir_block_}}});
  Zero({dir_block_});
  auto j = Load(img_);
  const std::string cut = dir_ / "cut.img";
  Sh("cp " + img_ + " " + cut + " && truncate -s 60M " + cut);  // the last 4 MiB are gone
  auto ov = JournalOverlay::Create(j, cut, unix_io_manager);
  ASSERT_TRUE(ov.ok());
  auto fs = OpenWithJournalOverlay(**ov, 0);
  ASSERT_TRUE(fs.ok()) << fs.error().message;
  FsCloser over{*fs};
  const uint64_t last = ext2fs_blocks_count(over.fs->super) - 1;
  std::vector<uint8_t> buf(4096, 0xaa);
  EXPECT_NE(io_channel_read_blk64(over.fs->io, last, 1, buf.data()), 0);  // no hook: the error
  EXPECT_EQ(io_channel_read_blk64(over.fs->io, 1ULL << 62, 1, buf.data()), EXT2_ET_INVALID_ARGUMENT);
  over.fs->io->read_error = ZeroFillOnError;
  g_read_errors = 0;
  EXPECT_EQ(io_channel_read_blk64(over.fs->io, last, 1, buf.data()), 0);
  EXPECT_EQ(g_read_errors, 1);
  EXPECT_EQ(buf, std::vector<uint8_t>(4096, 0));
  // A read mixing journal-served and live blocks still works.
  std::vector<uint8_t> two(8192);
  EXPECT_EQ(io_channel_read_blk64(over.fs->io, dir_block_, 2, two.data()), 0);
  std::vector<uint8_t> first(two.begin(), two.begin() + 4096);
  std::vector<uint8_t> dir(4096);
  ASSERT_TRUE(j->ReadCopy(over.fs, *j->Lookup(dir_block_), dir).ok());
  EXPECT_EQ(first, dir);
  EXPECT_EQ(g_read_errors, 1);
}

TEST_F(JournalImageV3, UnknownOverlayNameIsRejected) {
  LogTxns(3, {Jw{{dir_block_}}});
  auto j = Load(img_);
  io_manager m = nullptr;
  {
    auto ov = JournalOverlay::Create(j, img_, unix_io_manager);
    ASSERT_TRUE(ov.ok());
    m = (*ov)->manager();
  }
  ext2_filsys fs = nullptr;
  EXPECT_EQ(ext2fs_open2("mailrescue-journal-overlay-999999", nullptr, EXT2_FLAG_64BITS, 0, 0, m, &fs),
            EXT2_ET_BAD_DEVICE_NAME);
}

TEST_F(JournalImageV3, LiveLogWithoutNeedsRecoveryFlagStillReplaysByDefault) {
  LogTxns(3, {Jw{{dir_block_}}});
  Sh("debugfs -w -R 'feature -needs_recovery' " + img_);
  auto j = Load(img_);
  EXPECT_FALSE(j->info().needs_recovery);
  EXPECT_NE(j->info().start, 0u);
  EXPECT_TRUE(j->ShouldReplay(JournalMode::kAuto));
  EXPECT_FALSE(j->ShouldReplay(JournalMode::kIgnore));
}

// The kernel journals block 0 (the superblock lives at byte 1024 of it);
// ext2fs_open2 reads it as 1024 bytes before it knows the block size, so the
// overlay must serve part of a journalled block.
TEST_F(JournalImageV3, JournalledSuperblockIsServedToOpen) {
  const std::string other = dir_ / "relabelled.img";
  Sh("cp " + img_ + " " + other);
  Sh("debugfs -w -R 'ssv volume_name journalled' " + other);
  const auto block0 = ReadImageBlock(other, 0);
  {
    std::ofstream(dir_ / "sb.bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(block0.data()), static_cast<std::streamsize>(block0.size()));
  }
  std::ofstream(dir_ / "sb.cmds") << "jo -c\njw -b 0 " << (dir_ / "sb.bin") << "\njc\n";
  Sh("debugfs -w -f " + (dir_ / "sb.cmds") + " " + img_);
  const std::string copy = FsckCopy();
  auto j = Load(img_);
  ASSERT_NE(j->Lookup(0), nullptr);
  auto ov = JournalOverlay::Create(j, img_, unix_io_manager);
  ASSERT_TRUE(ov.ok());
  auto fs = OpenWithJournalOverlay(**ov, 0);
  ASSERT_TRUE(fs.ok()) << fs.error().message;
  FsCloser over{*fs};
  EXPECT_STREQ(reinterpret_cast<const char*>(over.fs->super->s_volume_name), "journalled");
  FsCloser plain{OpenPlain(img_)};
  EXPECT_STRNE(reinterpret_cast<const char*>(plain.fs->super->s_volume_name), "journalled");
  FsCloser fixed{OpenPlain(copy)};
  EXPECT_STREQ(reinterpret_cast<const char*>(fixed.fs->super->s_volume_name), "journalled");
  EXPECT_EQ(Tree(over.fs), Tree(fixed.fs));
}

TEST_F(JournalImageV3, UncommittedTransactionIsNotReplayed) {
  LogTxns(3, {Jw{{dir_block_}}, Jw{file_blocks_, {}, false}});
  auto j = Load(img_);
  EXPECT_EQ(j->info().transactions, 1u);
  EXPECT_EQ(j->info().end, "incomplete");
  EXPECT_NE(j->info().end_detail.find("transaction 2"), std::string::npos) << j->info().end_detail;
  EXPECT_EQ(j->Lookup(file_blocks_[0]), nullptr);
  EXPECT_NE(j->Lookup(dir_block_), nullptr);
}

TEST_F(JournalImageV3, OlderCopiesSurviveCheckpoint) {
  const auto original = ReadImageBlock(img_, dir_block_);
  LogTxns(3, {Jw{{dir_block_}}, Jw{{dir_block_}}});
  {
    auto j = Load(img_);
    FsCloser plain{OpenPlain(img_)};
    auto older = j->OlderCopies(plain.fs, dir_block_);  // the newest is the one replay serves
    ASSERT_EQ(older.size(), 1u);
    EXPECT_EQ(older[0].sequence, j->info().first_transaction);
  }
  Sh("(e2fsck -y -E journal_only " + img_ + " >/dev/null; test $? -le 1)");  // checkpoint: the log is emptied
  Zero({dir_block_});                                // and then the live block dies
  auto j = Load(img_);
  EXPECT_FALSE(j->info().needs_recovery);
  EXPECT_EQ(j->info().start, 0u);
  EXPECT_TRUE(j->replay_map().empty());
  EXPECT_FALSE(j->ShouldReplay(JournalMode::kReplay));
  FsCloser plain{OpenPlain(img_)};
  auto copies = j->OlderCopies(plain.fs, dir_block_);
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_GT(static_cast<int32_t>(copies[0].sequence - copies[1].sequence), 0);
  std::vector<uint8_t> buf(4096);
  ASSERT_TRUE(j->ReadCopy(plain.fs, copies[0], buf).ok());
  EXPECT_EQ(buf, original);
  EXPECT_TRUE(j->OlderCopies(plain.fs, file_blocks_[0]).empty());
}

TEST_F(JournalImageV3, JournalInodeLostFallsBackToSuperblockBackup) {
  LogTxns(3, {Jw{{dir_block_}}});
  Zero({dir_block_});
  Sh("debugfs -w -R 'clri <8>' " + img_);
  auto j = Load(img_);
  EXPECT_TRUE(j->info().inode_from_backup);
  EXPECT_EQ(j->info().transactions, 1u);
  auto ov = JournalOverlay::Create(j, img_, unix_io_manager);
  ASSERT_TRUE(ov.ok());
  auto fs = OpenWithJournalOverlay(**ov, 0);
  ASSERT_TRUE(fs.ok());
  FsCloser over{*fs};
  EXPECT_EQ(ReadPath(over.fs, "mail/user/bob/2."), ExpectedTree().at("mail/user/bob/2."));
}

TEST_F(JournalImageV3, DamagedJournalSuperblockIsAnErrorValue) {
  LogTxns(3, {Jw{{dir_block_}}});
  uint64_t jsb = Load(img_)->PhysicalOf(0);
  Zero({jsb});
  FsCloser plain{OpenPlain(img_)};
  auto j = LoadJournal(plain.fs);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().message.find("journal superblock"), std::string::npos) << j.error().message;
}

TEST_F(JournalImageV3, AbortedJournalAndBadSuperblockChecksumAreReported) {
  LogTxns(3, {Jw{{dir_block_}}});
  const uint64_t jsb = Load(img_)->PhysicalOf(0);
  auto block = ReadImageBlock(img_, jsb);
  jbd2::PutBe32(block, 0x20, static_cast<uint32_t>(-5));  // s_errno = -EIO
  jbd2::PutBe32(block, 0xFC, 0);
  jbd2::PutBe32(block, 0xFC, jbd2::Crc32c(~0u, std::span<const uint8_t>(block.data(), 1024)));
  WriteImageBytes(img_, jsb * 4096, block);
  auto j = Load(img_);
  EXPECT_EQ(j->info().error, -5);
  ASSERT_FALSE(j->info().problems.empty());
  EXPECT_NE(j->info().problems[0].find("s_errno -5"), std::string::npos);
  EXPECT_EQ(j->info().transactions, 1u);

  WriteImageBytes(img_, jsb * 4096 + 0x200, {0x77});  // under the checksum, not a parsed field
  j = Load(img_);
  EXPECT_FALSE(j->info().superblock_checksum_ok);
  EXPECT_EQ(j->info().end, "bad_checksum");
  EXPECT_TRUE(j->replay_map().empty());
  EXPECT_FALSE(j->ShouldReplay(JournalMode::kReplay));
}

TEST_F(JournalImageV3, OneOverlayBacksAHandlePerThread) {
  LogTxns(3, {Jw{{dir_block_}}, Jw{file_blocks_}});
  Zero({dir_block_});
  auto j = Load(img_);
  auto ov = JournalOverlay::Create(j, img_, unix_io_manager);
  ASSERT_TRUE(ov.ok());
  std::map<std::string, std::string> trees[3];
  std::vector<std::thread> threads;
  for (auto& t : trees)
    threads.emplace_back([&ov, &t] {
      auto fs = OpenWithJournalOverlay(**ov, 0);
      if (!fs.ok()) return;
      FsCloser c{*fs};
      for (int i = 0; i < 5; ++i) t = Tree(c.fs);
    });
  for (auto& t : threads) t.join();
  for (const auto& t : trees) EXPECT_EQ(t, ExpectedTree());
}

TEST_F(JournalImageV3, PrepareJournalFollowsTheMode) {
  LogTxns(3, {Jw{{dir_block_}}});
  Zero({dir_block_});
  FsCloser plain{OpenPlain(img_)};
  JournalSetup ignore = PrepareJournal(plain.fs, JournalMode::kIgnore, img_, unix_io_manager);
  ASSERT_NE(ignore.journal, nullptr);
  EXPECT_EQ(ignore.overlay, nullptr);
  EXPECT_TRUE(ignore.damage.empty());
  JournalSetup replay = PrepareJournal(plain.fs, JournalMode::kAuto, img_, unix_io_manager);
  ASSERT_NE(replay.overlay, nullptr);
  auto fs = OpenWithJournalOverlay(*replay.overlay, 0);
  ASSERT_TRUE(fs.ok());
  FsCloser over{*fs};
  EXPECT_EQ(ReadPath(over.fs, "mail/user/bob/3."), ExpectedTree().at("mail/user/bob/3."));
  EXPECT_NE(ReadPath(plain.fs, "mail/user/bob/3."), ExpectedTree().at("mail/user/bob/3."));

  Zero({Load(img_)->PhysicalOf(0)});
  FsCloser broken{OpenPlain(img_)};
  JournalSetup none = PrepareJournal(broken.fs, JournalMode::kReplay, img_, unix_io_manager);
  EXPECT_EQ(none.journal, nullptr);
  EXPECT_EQ(none.overlay, nullptr);
  ASSERT_EQ(none.damage.size(), 1u);
  EXPECT_NE(none.damage[0].find("journal superblock"), std::string::npos) << none.damage[0];
}

TEST(JournalImageNoJournal, ReportsAbsence) {
  ImageDir d;
  const std::string img = d / "nj.img";
  MakeImage(d, img, "^has_journal");
  FsCloser plain{OpenPlain(img)};
  auto j = LoadJournal(plain.fs);
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_FALSE((*j)->info().present);
  EXPECT_FALSE((*j)->ShouldReplay(JournalMode::kReplay));
  EXPECT_EQ((*j)->ToJson()["present"], false);
}

TEST(JournalMode, ParsesCliValues) {
  EXPECT_EQ(*ParseJournalMode("replay"), JournalMode::kReplay);
  EXPECT_EQ(*ParseJournalMode("ignore"), JournalMode::kIgnore);
  auto bad = ParseJournalMode("maybe");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("--journal"), std::string::npos);
}

}  // namespace
}  // namespace mr::salvage
