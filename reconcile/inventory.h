// Inventory: what one side (S = salvaged, B = backup) holds for one folder.
//
// Reads a folder directory read-only and records, without judging:
//  - cyrus.header (parsed, or why not), cyrus.index header and its good
//    records (sorted by uid) plus the records whose CRC failed, with the uid
//    interval each bad record may hide;
//  - the message files `<uid>.` present (size, mtime, SHA1 when asked,
//    salvage damage from the manifest), and for files without a good record
//    the facts a new index record needs (message.h);
//  - for every good record whether its cyrus.cache record is there and its
//    CRC checks (cache_crc), and the record's length.
// Damage is data: InventoryFolder fails only on a bug-level problem (never on
// damaged input). Files are hashed with TBB in parallel inside a big folder.
// Memory is one folder's records + files (a 180,000-record folder is ~40 MB);
// cyrus.cache is streamed, never held whole.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/sha1.h"
#include "common/status.h"
#include "reconcile/cyrus/annotations_db.h"
#include "reconcile/cyrus/header.h"
#include "reconcile/cyrus/index.h"
#include "reconcile/salvage_manifest.h"

namespace mr::reconcile {

enum class Side : std::uint8_t { kSalvaged = 0, kBackup = 1 };
const char* SideName(Side s);  // "salvage" | "backup"

struct FileInfo {
  std::uint32_t uid = 0;
  std::uint64_t size = 0;
  std::int64_t mtime = 0;
  mr::Digest sha1{};
  bool hashed = false;   // sha1 is the SHA1 of the whole readable file
  bool damaged = false;  // salvage reported damaged ranges, or a read failed
  std::string damage;    // one line when damaged
  // Filled only for files without a good record (orphans), from message.h.
  bool has_facts = false;
  std::uint32_t header_size = 0;
  std::int64_t sentdate = 0;
  std::int64_t gmtime = 0;
};

struct RecordInfo {
  cyrus::IndexRecord rec;
  bool cache_ok = false;        // cache record present and cache_crc checks
  std::uint32_t cache_len = 0;  // its length when cache_ok
};

// uids strictly between lo and hi may belong to a record whose CRC failed.
struct UidInterval {
  std::uint32_t lo = 0;
  std::uint32_t hi = 0;
};

struct FolderInventory {
  Side side = Side::kSalvaged;
  std::string name;     // internal name as the caller knows it
  std::string rel_dir;  // relative to the spool root
  std::string dir;      // absolute
  bool dir_exists = false;
  bool dir_complete = true;  // salvage read the directory listing in full
  std::optional<cyrus::MailboxHeader> header;
  std::string header_error;
  std::optional<cyrus::IndexHeader> index;
  std::string index_error;
  std::vector<RecordInfo> records;             // good records, by uid, unique
  std::vector<cyrus::IndexProblem> problems;   // bad records (+ duplicate uids)
  std::vector<UidInterval> uncertain;
  std::vector<FileInfo> files;                 // by uid
  bool cache_present = false;
  std::string cache_error;
  bool annotations_present = false;   // cyrus.annotations exists and reads
  cyrus::AnnotationsForCrc annotations; // its per-message annotations (for sync_crc_annot)
  std::string annotations_error;
  // The folder's mailbox annotations in its side's config annotations.db
  // (filled by the caller, not by InventoryFolder); nullopt when that db is
  // absent or unreadable, so nothing is known about them.
  std::optional<std::vector<cyrus::AnnotationRecord>> mailbox_annotations;

  const RecordInfo* Record(std::uint32_t uid) const;
  const FileInfo* File(std::uint32_t uid) const;
  bool Uncertain(std::uint32_t uid) const;
};

struct InventoryOptions {
  bool hash_files = true;                    // SHA1 every message file
  const SalvageManifest* manifest = nullptr; // damage + completeness (S only)
  std::string manifest_prefix;               // manifest path of the spool root, e.g. "spool"
};

// Takes the folder at spool_root/rel_dir. Never fails on damaged input.
FolderInventory InventoryFolder(Side side, const std::string& spool_root, const std::string& rel_dir,
                                const std::string& name, const InventoryOptions& opt);

// Parses "<digits>." file names; nullopt for anything else.
std::optional<std::uint32_t> UidFromFileName(std::string_view name);

}  // namespace mr::reconcile
