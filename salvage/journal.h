// Journal-aware salvage: read an ext3/ext4 internal JBD2 journal read-only and
// describe what replaying it would change, without writing anything.
//
//   auto j = LoadJournal(fs);            // fs: any read-only ext2_filsys
//   j->info()                            // for `inspect` / the report (ToJson)
//   j->replay_map()                      // fs block -> newest committed journal copy
//   JournalOverlay (journal_overlay.h)   // serves the map under ext2fs_open2
//   j->OlderCopies(fs, blk)              // fallback copies when a live block is unreadable
//
// Contract: a Journal is immutable after LoadJournal and safe to share between
// threads (OlderCopies builds its index once, under a lock). Nothing here
// writes to the device. Damage found in the journal (bad checksums, a
// missing commit, unreadable blocks) is data in info(), never an exception.
#pragma once

#include <ext2fs/ext2fs.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "salvage/journal_format.h"
#include "salvage/journal_scan.h"
#include "salvage/journal_source.h"

namespace mr::salvage {

// --journal=replay|ignore. kAuto (no option given) replays when the
// superblock says needs_recovery, or when the journal holds a live log anyway
// (s_start != 0 with committed transactions: the flag is missing from backup
// superblocks; e2fsck too offers to "run journal anyway" then).
enum class JournalMode { kAuto, kReplay, kIgnore };
Result<JournalMode> ParseJournalMode(std::string_view s);
const char* JournalModeName(JournalMode m);

struct JournalInfo {
  bool present = false;         // the filesystem has an internal journal
  bool needs_recovery = false;  // superblock feature flag
  uint32_t inode = 0;
  uint64_t size_bytes = 0;
  bool inode_from_backup = false;  // mapped from the superblock's s_jnl_blocks
  // Journal superblock.
  uint32_t blocksize = 0, maxlen = 0, first = 0, sequence = 0, start = 0;
  int32_t error = 0;
  std::vector<std::string> features;
  std::string checksum;  // "none", "crc32" (v1), "crc32c" (v2/v3)
  bool superblock_checksum_ok = true;
  // Log scan.
  size_t transactions = 0;  // committed transactions found in the live log
  uint32_t first_transaction = 0, last_transaction = 0;  // valid when transactions > 0
  std::string end;         // JournalEndName
  std::string end_detail;  // why the log ended, when not clean
  size_t blocks_to_replay = 0;  // distinct fs blocks in the replay map
  size_t revoked_blocks = 0;
  std::vector<std::string> problems;
};

class Journal {
 public:
  const JournalInfo& info() const { return info_; }
  // What replay would write; empty when nothing is committed or the journal
  // could not be trusted.
  const std::map<uint64_t, JournalCopy>& replay_map() const { return replay_; }
  // The committed transactions of the live log, in order.
  const std::vector<JournalTransaction>& transactions() const { return committed_; }
  // Whether `mode` asks for an overlay on this filesystem (and there is something to serve).
  bool ShouldReplay(JournalMode mode) const;
  // The copy replay would serve for `fs_block`, or nullptr.
  const JournalCopy* Lookup(uint64_t fs_block) const;
  uint32_t blocksize() const { return info_.blocksize; }
  // Device block holding journal block `lblk` (0 when unmapped).
  uint64_t PhysicalOf(uint32_t journal_block) const { return loc_.Physical(journal_block); }

  // Reads a copy's content (escape undone) through `fs`.
  Status ReadCopy(ext2_filsys fs, const JournalCopy& c, std::span<uint8_t> out) const;
  // Every committed copy of `fs_block` anywhere in the journal (live log and
  // old, checkpointed transactions), newest first, except the one the replay
  // map serves. The first call reads the whole journal through `fs`.
  std::vector<JournalCopy> OlderCopies(ext2_filsys fs, uint64_t fs_block) const;
  // The same, reading the journal (on the first call) through `read` instead
  // (the overlay's fallback reads below libext2fs, on its inner channel).
  std::vector<JournalCopy> OlderCopies(const JournalBlockReader& read, uint64_t fs_block) const;
  // "" unless the look for older copies stopped early on its error budget
  // (ScavengeCopies); then one line saying where. Safe from any thread.
  std::string ScavengeNote() const;

  // One line for humans: "journal: inode 8, 4096 KiB, features revoke 64bit
  // csum_v3, sequence 1, start 1; 2 committed transactions (1..2), 4 blocks to
  // replay; log end: clean".
  std::string Summary() const;
  // {"present":..,"needs_recovery":..,"inode":..,...,"blocks_from_journal":[[blk,seq],..]}
  nlohmann::json ToJson(bool with_blocks = true) const;

 private:
  friend Result<std::shared_ptr<const Journal>> LoadJournal(ext2_filsys fs);
  JournalInfo info_;
  jbd2::Superblock sb_;
  JournalLocation loc_;
  uint64_t fs_blocks_ = 0;
  std::map<uint64_t, JournalCopy> replay_;
  std::vector<JournalTransaction> committed_;
  mutable std::once_flag scavenged_;
  mutable std::unordered_map<uint64_t, std::vector<JournalCopy>> history_;
  mutable std::string scavenge_note_;
  mutable std::atomic<bool> scavenged_done_{false};
};

// Reads and scans the journal of `fs` (opened read-only; fs->io is used).
// No journal: ok, info().present == false. Errors name the damaged part
// ("journal superblock: bad magic", "journal inode 8: block 0 is not mapped");
// the caller records them as damage and carries on without the journal.
Result<std::shared_ptr<const Journal>> LoadJournal(ext2_filsys fs);

}  // namespace mr::salvage
