// verify_spool: finds every mailbox directory on a spool partition (a
// directory holding cyrus.header), in both layouts, for the "directory not in
// mailboxes.db" check, and detects whether the legacy tree is hashed.
//
// Contract: ScanSpool never follows symlinks, never descends deeper than
// kMaxScanDepth, skips Cyrus's own non-mailbox directories (stage., sync.,
// lost+found) and returns directories relative to the spool root, sorted.
// An unreadable subdirectory is reported in SpoolScan::problems and skipped.
// Error only when the spool root itself cannot be opened. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace mr::verify {

inline constexpr int kMaxScanDepth = 48;

struct SpoolScan {
  std::vector<std::string> uuid_dirs;    // "uuid/a/b/ab..." holding cyrus.header
  std::vector<std::string> legacy_dirs;  // "b/user/bob/Sent" holding cyrus.header
  std::vector<std::string> problems;     // "<rel dir>: unreadable (...)"
};

Result<SpoolScan> ScanSpool(const std::string& spool);

// true when legacy user directories sit under one-letter hash directories
// ("b/user/bob"), false when directly under the root ("user/bob"); `dflt`
// when the spool holds no legacy user tree at all.
bool DetectHashImapSpool(const std::string& spool, bool dflt);

}  // namespace mr::verify
