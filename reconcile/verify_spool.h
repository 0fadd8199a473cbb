// verify_spool: finds every mailbox directory on a spool partition (a
// directory holding cyrus.header), in both layouts, for the "directory not in
// mailboxes.db" check, and detects whether the legacy tree is hashed.
//
// Contract: ScanSpool never follows symlinks, never descends deeper than
// kMaxScanDepth, skips Cyrus's own non-mailbox directories (stage., sync.,
// lost+found) and returns directories relative to the spool root, sorted.
// uuid_dirs lists every uuid/<a>/<b>/<id> directory by readdir alone (the
// caller checks cyrus.header only for the ones the db does not claim, so a
// store of 100,000 mailboxes costs ~1,300 readdirs, not 100,000 stats);
// legacy_dirs holds only directories that have a cyrus.header. With
// `legacy_roots` non-empty only those subtrees are walked for the legacy
// layout (one user's tree when verifying one user).
// An unreadable subdirectory is reported in SpoolScan::problems and skipped.
// Error only when the spool root itself cannot be opened. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace mr::verify {

inline constexpr int kMaxScanDepth = 48;

struct SpoolScan {
  std::vector<std::string> uuid_dirs;    // "uuid/a/b/ab..." (cyrus.header not checked)
  std::vector<std::string> legacy_dirs;  // "b/user/bob/Sent" holding cyrus.header
  std::vector<std::string> problems;     // "<rel dir>: unreadable (...)"
};

// walk_uuid = false leaves uuid_dirs empty (the caller knows which to look at).
Result<SpoolScan> ScanSpool(const std::string& spool,
                            const std::vector<std::string>& legacy_roots = {}, bool walk_uuid = true);

// true when legacy user directories sit under one-letter hash directories
// ("b/user/bob"), false when directly under the root ("user/bob"); `dflt`
// when the spool holds no legacy user tree at all.
bool DetectHashImapSpool(const std::string& spool, bool dflt);

}  // namespace mr::verify
