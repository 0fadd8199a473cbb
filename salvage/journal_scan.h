// JBD2 log walker: from the journal superblock's s_start/s_sequence, collect
// the committed transactions in order, their block copies and revoke records,
// and derive the replay map (fs block -> newest surviving journal copy).
//
// Pure logic over a block-reader callback: no libext2fs handle, no writes, so
// tests can feed it synthetic journals. Rules (as the kernel's recovery does):
//  - a transaction counts only once its commit block is seen with the expected
//    sequence; the walk ends at the first block whose magic or sequence does
//    not match, or at a bad descriptor/revoke/commit checksum, a read error or
//    a malformed block: that transaction and everything after it are not
//    replayed, and JournalScan::end/end_detail say why;
//  - a data block whose tag checksum fails is skipped (reported), the rest of
//    its transaction still counts;
//  - a revoke record for block B in transaction R cancels every copy of B in
//    transactions <= R (sequence numbers compared with 32-bit wrap-around);
//  - fast-commit blocks are never replayed; their presence is reported.
// Every loop is bounded by the journal length; no allocation is sized by an
// on-disk field beyond one journal block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "salvage/journal_format.h"

namespace mr::salvage {

// Reads journal block `lblk` (0 = the journal superblock) into `buf`, which is
// exactly one journal block long.
using JournalBlockReader = std::function<Status(uint32_t lblk, std::span<uint8_t> buf)>;

// One copy of a filesystem block held in the journal.
struct JournalCopy {
  uint64_t fs_block = 0;
  uint32_t journal_block = 0;  // logical block inside the journal
  uint32_t sequence = 0;       // transaction that wrote it
  bool escaped = false;        // first 4 bytes must be restored to the JBD2 magic
};

struct JournalTransaction {
  uint32_t sequence = 0;
  uint32_t first_block = 0;   // journal block of its first descriptor/revoke block
  uint32_t commit_block = 0;  // journal block of its commit block
  uint32_t data_blocks = 0;   // block copies accepted from it
  uint32_t revoke_records = 0;
  uint64_t commit_sec = 0;
};

enum class JournalEnd {
  kClean,        // the log ends where a following block does not continue it
  kIncomplete,   // a transaction was started but has no commit block
  kBadChecksum,  // a descriptor, revoke or commit block fails its checksum
  kReadError,    // a log block could not be read
  kMalformed,    // a block breaks the format (bad counts, unknown type, log loops)
};
const char* JournalEndName(JournalEnd e);

struct JournalScan {
  std::vector<JournalTransaction> committed;  // log order
  std::vector<JournalCopy> copies;            // from committed transactions, log order
  // fs block -> newest sequence that revoked it (committed transactions only).
  std::unordered_map<uint64_t, uint32_t> revoked;
  std::vector<std::string> problems;  // one line each; the scan carried on past them
  JournalEnd end = JournalEnd::kClean;
  std::string end_detail;      // one line
  uint32_t next_sequence = 0;  // first transaction not replayed
};

// Walks the live log. Returns an empty scan (end kClean) when sb.start == 0.
// `fs_blocks` bounds valid filesystem block numbers in tags and revokes.
JournalScan ScanLog(const jbd2::Superblock& sb, uint64_t fs_blocks, const JournalBlockReader& read);

// true when a revoke at `revoke_seq` cancels a copy written at `copy_seq`.
bool RevokeCancels(uint32_t revoke_seq, uint32_t copy_seq);

// What replay would write: for each fs block the newest copy not revoked.
std::map<uint64_t, JournalCopy> BuildReplayMap(const JournalScan& scan);

// Every block copy in any complete (committed, checksums passing) transaction
// found anywhere in the log area, including old ones already checkpointed,
// grouped by fs block, newest first (sequence order relative to sb.sequence).
// Copies cancelled by a revoke record of an equal or later transaction found
// there are left out (the block was freed after them).
// Reads the whole journal: call it lazily, only when a live block is unreadable.
// Error budget: on a failing disk every unreadable block can cost seconds of device
// retries, so after `max_unreadable` unreadable journal blocks the scavenge stops; the
// copies found up to there are kept and `gave_up` says where it stopped (one line).
struct Scavenged {
  std::unordered_map<uint64_t, std::vector<JournalCopy>> copies;
  uint32_t unreadable = 0;  // journal blocks that could not be read
  std::string gave_up;      // "" when the whole log area was looked at
};
inline constexpr uint32_t kScavengeUnreadableBudget = 64;
Scavenged ScavengeCopies(const jbd2::Superblock& sb, uint64_t fs_blocks, const JournalBlockReader& read,
                         uint32_t max_unreadable = kScavengeUnreadableBudget);

}  // namespace mr::salvage
