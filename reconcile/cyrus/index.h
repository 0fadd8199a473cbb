// cyrus.index: parse (minor versions 12-17) and serialize (always 17).
//
// Byte layout (big-endian, CRC32 = zlib crc32) is documented in
// docs/formats.md. Contract:
//  - ParseIndex returns an Error only when the header itself is unusable
//    (too short, header CRC mismatch, unsupported version, record_size or
//    start_offset out of range). A record whose CRC does not check, or that
//    is cut short by the end of the file, is reported in IndexFile::problems
//    and left out of records; every other record is kept, in file order.
//  - SerializeIndex writes a v17 file: start_offset 160, record_size 112, both
//    header and record CRCs filled in. It writes the header fields as given
//    (call FinalizeIndexHeader first to make counts and CRCs consistent).
//  - FinalizeIndexHeader recomputes what Cyrus derives from the records:
//    num_records, exists, deleted/answered/flagged/unseen, quota_mailbox_used,
//    last_uid (max with existing), highestmodseq (max with existing),
//    first_expunged, sync_crc, sync_crc_annot, and sets the v17 geometry. It
//    does not touch header_file_crc (set that from the cyrus.header bytes you
//    write: Crc32(SerializeHeader(...))). Pass the folder's per-message
//    annotations (reconcile/verify_annot.h ReadMessageAnnotations) whenever
//    cyrus.annotations is kept: reconstruct checks sync_crc_annot.
//  - Records are expected in ascending uid order (Cyrus requires it).
// Pure functions over bytes; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/sha1.h"
#include "common/status.h"

namespace mr::cyrus {

// System flags (low bits of IndexRecord::system_flags).
inline constexpr std::uint32_t kFlagAnswered = 1u << 0;
inline constexpr std::uint32_t kFlagFlagged = 1u << 1;
inline constexpr std::uint32_t kFlagDeleted = 1u << 2;
inline constexpr std::uint32_t kFlagDraft = 1u << 3;
inline constexpr std::uint32_t kFlagSeen = 1u << 4;
// Internal flags (high bits of the same word).
inline constexpr std::uint32_t kFlagSnoozed = 1u << 26;
inline constexpr std::uint32_t kFlagSplitConversation = 1u << 27;
inline constexpr std::uint32_t kFlagNeedsCleanup = 1u << 28;
inline constexpr std::uint32_t kFlagArchived = 1u << 29;
inline constexpr std::uint32_t kFlagUnlinked = 1u << 30;
inline constexpr std::uint32_t kFlagExpunged = 1u << 31;

inline constexpr std::uint32_t kIndexMinorVersion = 17;
inline constexpr std::uint32_t kIndexHeaderSize = 160;   // v17
inline constexpr std::uint32_t kIndexRecordSize = 112;   // v17
inline constexpr std::uint32_t kMaxUserFlags = 128;
inline constexpr std::uint16_t kCacheVersion = 11;

struct IndexHeader {
  std::uint32_t generation_no = 0;
  std::uint32_t format = 0;
  std::uint32_t minor_version = kIndexMinorVersion;
  std::uint32_t start_offset = kIndexHeaderSize;
  std::uint32_t record_size = kIndexRecordSize;
  std::uint32_t num_records = 0;
  std::uint32_t last_appenddate = 0;
  std::uint32_t last_uid = 0;
  std::uint64_t quota_mailbox_used = 0;
  std::uint32_t pop3_last_login = 0;
  std::uint32_t uidvalidity = 0;
  std::uint32_t deleted = 0;
  std::uint32_t answered = 0;
  std::uint32_t flagged = 0;
  std::uint32_t options = 0;
  std::uint32_t leaked_cache = 0;
  std::uint64_t highestmodseq = 0;
  std::uint64_t deletedmodseq = 0;
  std::uint32_t exists = 0;
  std::uint32_t first_expunged = 0;
  std::uint32_t last_repack_time = 0;
  std::uint32_t header_file_crc = 0;
  std::uint32_t sync_crc = 0;
  std::uint32_t recentuid = 0;
  std::uint32_t recenttime = 0;
  std::uint32_t pop3_show_after = 0;
  std::uint32_t quota_annot_used = 0;
  std::uint32_t sync_crc_annot = 0;
  std::uint32_t unseen = 0;
  std::uint64_t createdmodseq = 0;
  std::uint32_t changes_epoch = 0;
};

struct IndexRecord {
  std::uint32_t uid = 0;
  std::int64_t internaldate = 0;  // seconds; stored as u32 on disk
  std::int64_t sentdate = 0;
  std::uint64_t size = 0;         // stored as u32 on disk
  std::uint32_t header_size = 0;
  std::int64_t gmtime = 0;
  std::uint64_t cache_offset = 0; // 48 bits on disk (low 32 at 24, high 16 at 56)
  std::int64_t last_updated = 0;
  std::uint32_t system_flags = 0; // kFlag* incl. internal flags
  std::array<std::uint32_t, 4> user_flags{};  // flag i = bit (i&31) of word i/32
  std::int64_t savedate = 0;
  std::uint16_t cache_version = kCacheVersion;
  mr::Digest guid{};
  std::uint64_t modseq = 0;
  std::uint64_t thrid = 0;
  std::uint64_t createdmodseq = 0;
  std::uint32_t cache_crc = 0;
};

// IndexProblem::record_no of a problem about the header itself.
inline constexpr std::uint32_t kHeaderProblem = 0xffffffffu;

struct IndexProblem {
  std::uint32_t record_no = 0;  // 0-based position in the file (or kHeaderProblem);
                                // a run of all-zero records is one problem at its first
  std::uint32_t uid = 0;        // as read (may be garbage when the CRC is bad)
  std::string what;             // one line, e.g. "record CRC mismatch"
};

struct IndexFile {
  IndexHeader header;
  std::vector<IndexRecord> records;
  std::vector<IndexProblem> problems;
  // false only from ParseIndexSalvage when the header did not check: then
  // `header` holds whatever its bytes said (untrusted) and only the records,
  // each with a good CRC, are evidence.
  bool header_ok = true;
};

// One per-message annotation as it enters sync_crc_annot (cyrus.annotations
// entries for a message uid; the savedate/createdmodseq/thrid pseudo
// annotations are added by FinalizeIndexHeader itself).
struct MessageAnnotation {
  std::uint32_t uid = 0;
  std::string entry;   // e.g. "/vendor/cmu/cyrus-imapd/foo"
  std::string userid;  // "" for shared
  std::string value;
};
using AnnotationsForCrc = std::vector<MessageAnnotation>;

Result<IndexFile> ParseIndex(std::span<const std::uint8_t> bytes);
Result<IndexFile> ReadIndexFile(const std::string& path);

// For a damaged file: like ParseIndex when the header checks; otherwise
// (bad header CRC, truncated header, impossible geometry) it still recovers
// every record whose own CRC checks, assuming the geometry of the minor
// version named at offset 8 (17 when that is not 12-17), scanning to the end
// of the file, and sets header_ok = false with a problem explaining why.
// Error only when the file is shorter than one header of that version.
Result<IndexFile> ParseIndexSalvage(std::span<const std::uint8_t> bytes);

// Parses just the header (same checks as ParseIndex).
Result<IndexHeader> ParseIndexHeader(std::span<const std::uint8_t> bytes);

std::vector<std::uint8_t> SerializeIndex(const IndexHeader& header,
                                         std::span<const IndexRecord> records);

void FinalizeIndexHeader(IndexHeader& h, std::span<const IndexRecord> recs,
                         const std::vector<std::string>& user_flag_names,
                         const AnnotationsForCrc* annots = nullptr);

// CRC32 contribution of one record to sync_crc (0 for expunged records is the
// caller's business: FinalizeIndexHeader skips them).
std::uint32_t RecordSyncCrc(const IndexRecord& r,
                            const std::vector<std::string>& user_flag_names);

// sync_crc_annot contribution of one record (savedate/createdmodseq/thrid
// pseudo annotations) and of one real annotation.
std::uint32_t RecordAnnotCrc(const IndexRecord& r);
std::uint32_t AnnotationCrc(const MessageAnnotation& a);

// Removes gaps ("" names) from a user-flag table and renumbers the bits of
// `recs` to match; bits that have no name are cleared (Cyrus ignores them).
// Returns the new table. Needed before SerializeHeader, which (like Cyrus)
// writes names only up to the first gap.
std::vector<std::string> CompactUserFlags(const std::vector<std::string>& names,
                                          std::span<IndexRecord> recs);

// Initial value of sync_crc_annot before any XOR.
inline constexpr std::uint32_t kSyncCrcAnnotSeed = 12345678;

}  // namespace mr::cyrus
