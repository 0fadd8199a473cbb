// verify_annot: the per-message annotations of a folder's cyrus.annotations
// (twoskip), as they enter sync_crc_annot.
//
// A per-mailbox annotation key is "<uid>\0<entry>\0<userid>\0"; the value is
// an 8-byte length field (the low 4 bytes big-endian, as Cyrus on 64-bit
// Linux writes it), the value bytes, then metadata (modseq, flags) that the
// CRC ignores. Deleted (tombstone) and empty values do not count. Keys with
// uid 0 (mailbox annotations) are not message annotations and are skipped.
//
// Contract: ReadMessageAnnotations returns an empty list when the file does
// not exist; malformed keys/values are reported in *problems (one line each)
// and skipped; Error only when the file exists but cannot be read at all.
// Pure apart from reading the one file; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "reconcile/cyrus/index.h"

namespace mr::verify {

// Private annotations of the mailbox owner are stored under the userid
// "[.OwNeR.]" and count in sync_crc_annot under the owner's userid (checked
// with reconstruct): pass `owner` ("fred.smith" for user.fred^smith) to get
// them so; empty leaves the stored userid.
Result<cyrus::AnnotationsForCrc> ReadMessageAnnotations(const std::string& path,
                                                        std::vector<std::string>* problems,
                                                        const std::string& owner = "");

}  // namespace mr::verify
