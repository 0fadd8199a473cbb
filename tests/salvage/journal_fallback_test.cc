// Journal fallback end to end (`mailrescue salvage` on a tiny image): an
// inode-table block under a ddrescue badmap, with a committed copy of it in
// the journal, comes back from that copy; its files are extracted whole and
// marked, the block is named in salvage.json; --journal=ignore does without;
// an unreadable journal copy leaves the damage reported. The image's SHA-256
// is the same after every run.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <sstream>

#include "test_util.h"

namespace mr::salvage {
namespace {

using namespace test;

constexpr unsigned long kBs = 4096;
constexpr int kFiles = 60;

std::string MessageName(int i) {
  char b[64];
  std::snprintf(b, sizeof b, "message-%04d.", i);
  return b;
}

std::string Body(int i) {
  std::string s;
  while (s.size() < 3000 + 97 * static_cast<size_t>(i)) s += "message " + std::to_string(i) + " line\r\n";
  return s;
}

// Inode-table block holding PATH's inode (debugfs imap).
unsigned long ItbOf(const std::string& img, const std::string& path) {
  auto r = Debugfs(img, "imap " + path);
  auto p = r.out.find("located at block ");
  if (p == std::string::npos) return 0;
  return std::stoul(r.out.substr(p + 17));
}

// Physical block of journal block LBLK (debugfs bmap on the journal inode).
unsigned long JournalPhysical(const std::string& img, unsigned long lblk) {
  std::istringstream in(Debugfs(img, "bmap <8> " + std::to_string(lblk)).out);
  for (std::string tok; in >> tok;)  // skip debugfs's banner line
    if (tok.find_first_not_of("0123456789") == std::string::npos) return std::stoul(tok);
  return 0;
}

std::string BlockBytes(const std::string& img, unsigned long blk) {
  return ReadText(img).substr(blk * kBs, kBs);
}

class SalvageJournalFallback : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kFiles; ++i) WriteText(t_ / ("stage/f/" + MessageName(i)), Body(i));
    MakeImage(t_ / "stage", img_, "16M");
    itb_ = ItbOf(img_, "/f/" + MessageName(30));
    ASSERT_NE(itb_, 0u);
    for (int i = 0; i < kFiles; ++i)
      if (ItbOf(img_, "/f/" + MessageName(i)) == itb_) in_itb_.insert(MessageName(i));
    ASSERT_GE(in_itb_.size(), 8u);  // 16 inodes of 256 bytes a block
    ASSERT_LT(in_itb_.size(), static_cast<size_t>(kFiles));
  }

  // One debugfs session: `copies` transactions, each a copy of fs block
  // `blk` as it is now (jo, jw -b BLK, ..., jc).
  void JournalBlock(unsigned long blk, int copies) {
    WriteText(t_ / "blk.bin", BlockBytes(img_, blk));
    std::string cmds = "jo\n";
    for (int i = 0; i < copies; ++i) cmds += "jw -b " + std::to_string(blk) + " " + t_ / "blk.bin" + "\n";
    cmds += "jc\n";
    WriteText(t_ / "cmds", cmds);
    auto r = Sh("/usr/sbin/debugfs -w -f " + Quote(t_ / "cmds") + " " + Quote(img_));
    ASSERT_EQ(r.rc, 0) << r.out;
    ASSERT_EQ(r.out.find("rror"), std::string::npos) << r.out;
  }

  // e2fsck replays the log and empties it: the transaction stays in the
  // journal area only as an old, checkpointed one.
  void Checkpoint() {
    auto r = Sh("/usr/sbin/e2fsck -y -E journal_only " + Quote(img_));
    ASSERT_LE(r.rc, 1) << r.out;
    ASSERT_EQ(Debugfs(img_, "logdump").out.find("Found expected sequence"), std::string::npos);
  }

  // A ddrescue mapfile marking these fs blocks bad ('-').
  void WriteBadmap(std::set<unsigned long> bad) {
    const unsigned long long size = fs::file_size(img_);
    std::string map = "# mapfile\n0x0 +\n";
    unsigned long long pos = 0;
    char line[128];
    for (unsigned long b : bad) {
      const unsigned long long off = b * 4096ull;
      if (off > pos) {
        std::snprintf(line, sizeof line, "0x%llx 0x%llx +\n", pos, off - pos);
        map += line;
      }
      std::snprintf(line, sizeof line, "0x%llx 0x1000 -\n", off);
      map += line;
      pos = off + 4096;
    }
    std::snprintf(line, sizeof line, "0x%llx 0x%llx +\n", pos, size - pos);
    map += line;
    WriteText(t_ / "map", map);
  }

  nlohmann::json Run(const std::string& out, const std::string& extra = "") {
    const std::string before = Sha256(img_);
    auto r = Salvage(img_, t_ / out, "--badmap " + Quote(t_ / "map") + " " + extra);
    EXPECT_EQ(r.rc, 1) << r.out;  // done; the bad area is still reported
    EXPECT_EQ(Sha256(img_), before);
    return ReadManifest(t_ / out);
  }

  int MissingInodes(const nlohmann::json& m) {
    int n = 0;
    for (const auto& d : m["filesystem"]["damage"]) n += d["kind"] == "missing_inode";
    return n;
  }

  void ExpectEverythingBack(const std::string& out, const nlohmann::json& m) {
    for (int i = 0; i < kFiles; ++i)
      EXPECT_EQ(ReadText(t_ / (out + "/spool/f/" + MessageName(i))), Body(i)) << MessageName(i);
    EXPECT_EQ(MissingInodes(m), 0);
    EXPECT_EQ(m["totals"]["damaged_files"], 0);
    // The files whose inodes came from the journal, and only those, are marked.
    std::set<std::string> marked;
    for (const auto& f : m["files"]) {
      if (!f.contains("journal_fallback")) continue;
      const std::string path = f["path"];
      marked.insert(path.substr(path.rfind('/') + 1));
      EXPECT_TRUE(f["journal_fallback"].contains("inode_sequence")) << f.dump();
      EXPECT_TRUE(f["journal_fallback"]["ranges"].empty()) << f.dump();  // data came from live blocks
      EXPECT_TRUE(f["damaged"].empty());
    }
    EXPECT_EQ(marked, in_itb_);
    EXPECT_EQ(m["totals"]["journal_fallback_files"], in_itb_.size());
    EXPECT_EQ(m["totals"]["journal_fallback_blocks"], 1);
    bool unreadable = false, noted = false;
    const std::string itb_bytes = "bytes " + std::to_string(itb_ * kBs) + "+";
    for (const auto& d : m["filesystem"]["damage"]) {
      unreadable |= d["kind"] == "unreadable" && d["detail"].get<std::string>().rfind(itb_bytes, 0) == 0;
      noted |= d["kind"] == "journal_fallback";
    }
    EXPECT_FALSE(unreadable) << "the block was replaced: not zero-filled";
    EXPECT_TRUE(noted);
  }

  TempDir t_;
  std::string img_ = t_ / "img";
  unsigned long itb_ = 0;
  std::set<std::string> in_itb_;
};

TEST_F(SalvageJournalFallback, InodeTableBlockComesBackFromACheckpointedTransaction) {
  JournalBlock(itb_, 1);
  Checkpoint();
  WriteBadmap({itb_});
  auto m = Run("out");
  ExpectEverythingBack("out", m);
  ASSERT_EQ(m["filesystem"]["journal_fallback"].size(), 1u) << m["filesystem"].dump();
  EXPECT_EQ(m["filesystem"]["journal_fallback"][0][0], itb_);
  EXPECT_FALSE(m["filesystem"]["journal"]["needs_recovery"].get<bool>());
  EXPECT_TRUE(m["filesystem"]["journal"]["blocks_from_journal"].empty());  // nothing replayed

  // --journal=ignore: no journal at all, so those inodes are lost.
  auto ig = Run("ignored", "--journal=ignore");
  EXPECT_TRUE(ig["filesystem"]["journal_fallback"].empty());
  EXPECT_EQ(MissingInodes(ig), static_cast<int>(in_itb_.size()));
  for (int i = 0; i < kFiles; ++i)
    EXPECT_EQ(fs::exists(t_ / ("ignored/spool/f/" + MessageName(i))), !in_itb_.count(MessageName(i)))
        << MessageName(i);
  EXPECT_EQ(ig["totals"]["journal_fallback_files"], 0);
}

TEST_F(SalvageJournalFallback, UnreadableJournalCopyLeavesTheDamageReported) {
  JournalBlock(itb_, 1);
  Checkpoint();
  // Log: descriptor at journal block 1, the copy at 2, commit at 3.
  const unsigned long copy = JournalPhysical(img_, 2);
  ASSERT_EQ(BlockBytes(img_, copy), BlockBytes(img_, itb_)) << "the copy is not where expected";
  WriteBadmap({itb_, copy});
  auto m = Run("out");
  EXPECT_TRUE(m["filesystem"]["journal_fallback"].empty());
  EXPECT_EQ(MissingInodes(m), static_cast<int>(in_itb_.size()));
  for (int i = 0; i < kFiles; ++i)
    EXPECT_EQ(fs::exists(t_ / ("out/spool/f/" + MessageName(i))), !in_itb_.count(MessageName(i)))
        << MessageName(i);
  std::set<std::string> unreadable;
  for (const auto& d : m["filesystem"]["damage"])
    if (d["kind"] == "unreadable") unreadable.insert(d["detail"].get<std::string>().substr(0, 40));
  EXPECT_EQ(unreadable.size(), 2u);  // the inode-table block and the journal copy
  EXPECT_EQ(m["totals"]["journal_fallback_files"], 0);
}

// A journal area that will not read: the look for older copies stops on its error
// budget (64 unreadable journal blocks) instead of retrying the whole journal on a dying
// disk, and the report says where it stopped.
TEST_F(SalvageJournalFallback, UnreadableJournalAreaStopsOnTheErrorBudget) {
  JournalBlock(itb_, 1);
  Checkpoint();
  std::set<unsigned long> bad = {itb_};
  for (unsigned long lblk = 1; lblk <= 100; ++lblk) {  // the journal is not one extent here
    const unsigned long phys = JournalPhysical(img_, lblk);
    ASSERT_NE(phys, 0u) << lblk;
    bad.insert(phys);
  }
  WriteBadmap(bad);
  auto m = Run("out");
  EXPECT_TRUE(m["filesystem"]["journal_fallback"].empty());
  EXPECT_EQ(MissingInodes(m), static_cast<int>(in_itb_.size()));
  std::string note;
  for (const auto& d : m["filesystem"]["damage"])
    if (d["kind"] == "journal_fallback") note = d["detail"];
  EXPECT_NE(note.find("stopped looking for older journal copies at journal block 65 "), std::string::npos)
      << m["filesystem"]["damage"].dump();
  EXPECT_NE(note.find("after 64 unreadable journal blocks"), std::string::npos) << note;
}

TEST_F(SalvageJournalFallback, UnreadableReplayCopyFallsBackToTheOlderTransaction) {
  JournalBlock(itb_, 2);  // live log, not checkpointed: replay is on
  // Transaction 1: blocks 1-3, transaction 2: blocks 4-6; replay serves block 5.
  const unsigned long older = JournalPhysical(img_, 2), newer = JournalPhysical(img_, 5);
  ASSERT_EQ(BlockBytes(img_, older), BlockBytes(img_, itb_));
  ASSERT_EQ(BlockBytes(img_, newer), BlockBytes(img_, itb_));
  WriteBadmap({itb_, newer});
  auto m = Run("out");
  ExpectEverythingBack("out", m);
  const auto& j = m["filesystem"]["journal"];
  EXPECT_TRUE(j["needs_recovery"].get<bool>());
  ASSERT_EQ(j["transactions"], 2);
  ASSERT_EQ(m["filesystem"]["journal_fallback"].size(), 1u);
  EXPECT_EQ(m["filesystem"]["journal_fallback"][0][0], itb_);
  EXPECT_EQ(m["filesystem"]["journal_fallback"][0][1], j["first_transaction"]);
  bool replayed = false;
  for (const auto& b : j["blocks_from_journal"])
    replayed |= b[0] == itb_ && b[1] == j["last_transaction"];
  EXPECT_TRUE(replayed);
}

TEST_F(SalvageJournalFallback, DirectoryBlockFromTheJournalMarksTheDirectory) {
  const auto dir_blocks = BlocksOf(img_, "/f");
  ASSERT_EQ(dir_blocks.size(), 1u);
  JournalBlock(dir_blocks[0], 1);
  Checkpoint();
  WriteBadmap({dir_blocks[0]});
  auto m = Run("out");
  for (int i = 0; i < kFiles; ++i)
    EXPECT_EQ(ReadText(t_ / ("out/spool/f/" + MessageName(i))), Body(i)) << MessageName(i);
  ASSERT_EQ(m["filesystem"]["journal_fallback"].size(), 1u);
  EXPECT_EQ(m["filesystem"]["journal_fallback"][0][0], dir_blocks[0]);
  EXPECT_EQ(m["totals"]["lost_found"], 0);
  bool seen = false;
  for (const auto& d : m["dirs"])
    if (d["path"] == "spool/f") {
      seen = true;
      EXPECT_TRUE(d["complete"].get<bool>());
      EXPECT_TRUE(d.value("journal_fallback", false)) << d.dump();
    } else {
      EXPECT_FALSE(d.contains("journal_fallback")) << d.dump();
    }
  EXPECT_TRUE(seen);
  // Without the journal the listing is gone: the folder is incomplete.
  auto ig = Run("ignored", "--journal=ignore");
  for (const auto& d : ig["dirs"]) {
    if (d["path"] == "spool/f") {
      EXPECT_FALSE(d["complete"].get<bool>());
    }
  }
  EXPECT_GT(ig["totals"]["lost_found"], 0);
}

}  // namespace
}  // namespace mr::salvage
