// The Plan: the value the pure planner returns and the applier executes.
//
// A UserPlan pairs each side's folders (FolderRef, built by discovery from the
// mailboxes.db and the spool) and says, per pair, whether the folder is
// emitted and why. A FolderPlan is the complete output folder: header,
// finalized index header, and one MessageAction per output message (already
// carrying its final index record), plus what was dropped, renumbered, lost or
// not merged. Every action and finding carries a Reason (reasons.h).
// The applier decides nothing: it links/copies the named files, carries or
// builds the named cache records (filling cache_offset/cache_crc only), and
// writes header + index exactly as planned.
// Plain values; copying is fine; no hidden state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/sha1.h"
#include "reconcile/cyrus/header.h"
#include "reconcile/cyrus/index.h"
#include "reconcile/cyrus/mboxdb.h"
#include "reconcile/inventory.h"
#include "reconcile/reasons.h"

namespace mr::reconcile {

// One side's view of one folder before its inventory is taken.
struct FolderRef {
  std::string name;       // internal name (user.bob.Sent)
  std::string uniqueid;   // "" when unknown
  std::uint32_t uidvalidity = 0;  // 0 when unknown
  std::string rel_dir;    // where its files are or would be, relative to the spool
  bool legacy = false;    // legacy (name-based) directory layout
  bool in_db = false;
  std::optional<cyrus::MboxEntry> db;  // that side's mailboxes.db entry
  bool header_found = false;  // a parsable cyrus.header was found at rel_dir
  bool dir_exists = false;
  bool dir_complete = true;   // salvage listed the directory (and its parents) in full
};

struct UserSide {
  bool present = false;
  // S only: the salvaged mailboxes.db was readable, salvage finished this
  // user, and every directory a folder of this user could live in was
  // listed in full. Absence of a folder is then evidence of deletion.
  bool tree_readable = false;
  std::vector<FolderRef> folders;        // live folders (sorted by name)
  std::vector<std::string> tombstones;   // names the db marks deleted (S only)
};

struct FolderPairing {
  std::optional<FolderRef> s;
  std::optional<FolderRef> b;
  bool emit = true;     // false: not in the output (deleted since backup)
  bool same_folder = false;  // s and b are one folder (same uniqueid/uidvalidity)
  Reason reason = Reason::kFolderMerged;
};

struct UserPlan {
  std::string user;
  Reason reason = Reason::kUserMerged;
  std::vector<FolderPairing> folders;  // by output name
};

// kNone: no valid cache record on either side; written uncached.
enum class CacheSource : std::uint8_t { kSalvaged = 0, kBackup = 1, kNone = 2 };

struct MessageAction {
  cyrus::IndexRecord record;   // final; cache_offset/cache_crc filled by the applier
  Side file_side = Side::kSalvaged;
  std::uint32_t file_uid = 0;  // source file <file_uid>. on file_side
  CacheSource cache_from = CacheSource::kNone;
  std::uint64_t cache_src_offset = 0;  // in that side's cyrus.cache
  std::uint32_t cache_len = 0;
  Reason reason = Reason::kSameMessage;
};

struct DroppedMessage {
  std::uint32_t uid = 0;
  Side side = Side::kBackup;
  Reason reason = Reason::kDeletedSinceBackup;
};

struct LostMessage {
  std::uint32_t uid = 0;
  std::uint64_t size = 0;
  std::string damage;  // what was seen
  Reason reason = Reason::kUnrecoverable;
};

struct RenumberedMessage {
  std::uint32_t from = 0;
  std::uint32_t to = 0;
  Side side = Side::kBackup;
  Reason reason = Reason::kUidConflictRenumbered;
};

struct NotMergedMessage {
  std::uint32_t uid = 0;  // uid in the backup folder
  mr::Digest guid{};
};

struct FolderCounts {
  std::uint32_t kept = 0;
  std::uint32_t from_salvage = 0;
  std::uint32_t from_backup = 0;
  std::uint32_t dropped_deleted = 0;
};

struct FolderPlan {
  bool emit = true;
  Reason reason = Reason::kFolderMerged;
  std::string name;
  std::string uniqueid;
  std::uint32_t uidvalidity = 0;
  std::string rel_dir;  // output directory relative to the output spool
  bool legacy = false;
  cyrus::MailboxHeader header;
  cyrus::IndexHeader index;  // finalized for `messages`
  std::vector<MessageAction> messages;  // by output uid
  std::vector<DroppedMessage> dropped;
  std::vector<LostMessage> unrecoverable;
  std::vector<RenumberedMessage> renumbered;
  std::vector<NotMergedMessage> not_merged;
  std::optional<Side> annotations_from;  // cyrus.annotations copied from
  // Mailbox annotations for the output annotations.db (keyed by `uniqueid`),
  // from the side that gives the folder; counted in index.quota_annot_used.
  std::vector<cyrus::AnnotationRecord> mailbox_annotations;
  std::optional<Side> mailbox_annotations_from;
  // The backup folder at this place is another folder (re-created since):
  // writing in place must set the old one aside, not delete it.
  bool preserve_replaced = false;
  cyrus::MboxEntry db;  // the output mailboxes.db entry
  FolderCounts counts;
  // Source folders (for the applier): rel_dir of each side, "" when absent.
  std::string s_rel_dir;
  std::string b_rel_dir;
};

}  // namespace mr::reconcile
