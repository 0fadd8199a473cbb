// annotations.db: Cyrus 3.6's global annotations database (config directory,
// twoskip), which holds the mailbox-scope annotations (METADATA on folders:
// /private/specialuse from CREATE ... (USE (\Sent)), /private/comment,
// /shared/comment, vendor entries) and the server-scope ones. Per-message
// annotations live in each folder's cyrus.annotations instead (same value
// format, key starting with the uid).
//
// Format (verified on stores written by Cyrus 3.6 in both layouts, with
// cyr_dbtool and by reconstruct reading back what we write):
//   key   = <mailbox> NUL <entry> NUL <userid> NUL
//           <mailbox> is the folder's uniqueid — also for mailbox_legacy_dirs
//           stores — and "" for server-scope entries; <userid> is "" for a
//           shared value and "[.OwNeR.]" for the folder owner's private one
//           (another user's private value is stored under their userid).
//   value = 8-byte length field (low 4 bytes big-endian, as 64-bit Cyrus
//           writes an unsigned long holding htonl(len)), the value bytes,
//           NUL, then metadata: (older records) content-type NUL + 8 bytes,
//           modseq (8), flags (1; bit 0 = deleted, a tombstone).
// A folder's mailbox annotations count in its cyrus.index quota_annot_used
// (value length, tombstones 0), together with the per-message annotations of
// its live records; reconstruct recomputes it that way.
//
// Contract: ReadAnnotationsDb groups the entries by mailbox; malformed keys are
// skipped with a problem line; it never crashes on a damaged file (twoskip.h).
// Values are carried byte for byte (AnnotationRecord::data). Pure functions
// apart from reading one file; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mr::cyrus {

// One stored annotation of a mailbox (the mailbox part of the key is held by
// the caller, so a record can be re-keyed to another uniqueid).
struct AnnotationRecord {
  std::string entry;   // "/specialuse", "/comment", "/vendor/cmu/..."
  std::string userid;  // "" shared, "[.OwNeR.]" the owner's private value
  std::string data;    // the stored value record, carried as is
  friend bool operator==(const AnnotationRecord&, const AnnotationRecord&) = default;
};

struct AnnotationsDb {
  // By mailbox key part (uniqueid; "" = server scope), entries in key order.
  std::map<std::string, std::vector<AnnotationRecord>> by_mailbox;
  std::vector<std::string> problems;  // damage seen (twoskip, malformed keys)
};

// Reads `path`; an empty or missing file is an error (kNotFound for missing):
// the caller decides whether "none" is evidence.
Result<AnnotationsDb> ReadAnnotationsDb(const std::string& path);

// The db key of `r` under `mailbox`.
std::string AnnotationKey(std::string_view mailbox, const AnnotationRecord& r);

// The value bytes of a stored record and its tombstone flag; false when the
// length field overruns the record.
bool ParseAnnotationData(std::string_view data, std::string* value, bool* deleted);

// Octets `r` counts in quota_annot_used: its value length, 0 for a tombstone
// or a malformed record.
std::uint64_t AnnotationQuotaSize(const AnnotationRecord& r);

}  // namespace mr::cyrus
