// Quota roots: Cyrus 3.6's default quota database, `quota_db: quotalegacy`,
// one file per quota root under the config directory:
//   quota/<h>/<root>                               e.g. quota/b/user.bob
//   domain/<dh>/<domain>/quota/<h>/<root>           root "example.com!user.bob"
//   domain/<dh>/<domain>/quota/root                 the domain's own root "example.com!"
// <h> is Cyrus's dir_hash_c of the root after its first '.' (the whole root
// without one): its first letter lower-cased, 'q' for anything else, or with
// fulldirhash an upper-case letter from a hash of the name. The file is one
// dlist line,
//   %(S (<used bytes> <limit KiB>) M (<messages> [limit]) AS (<annot bytes> [limit])
//     NF (<folders> [limit]) MODSEQ <n>)\n
// a resource without a limit printed with its usage only; files of Cyrus
// before 2.5 hold "used limit [NAME used limit]..." instead (read here too).
// The usage is the sum over the mailboxes whose cyrus.header names the root:
// quota_mailbox_used, exists, quota_annot_used, and the count of mailboxes
// (what `quota -f` recomputes; imapd's GETQUOTAROOT reports it, KiB rounded
// down).
//
// Contract: pure functions except FindQuotaFile (stat) and ReadQuotaRecord
// (one read); parsing never crashes on damaged bytes. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mr::reconcile {

// Resources in Cyrus's order and their names in the file.
enum QuotaResource { kQuotaStorage = 0, kQuotaMessage, kQuotaAnnotStorage, kQuotaFolders, kQuotaResources };

struct QuotaRecord {
  std::array<std::uint64_t, kQuotaResources> used{};
  std::array<std::optional<std::int64_t>, kQuotaResources> limit{};  // nullopt = no limit
  std::optional<std::uint64_t> modseq;
  friend bool operator==(const QuotaRecord&, const QuotaRecord&) = default;
};

Result<QuotaRecord> ParseQuotaRecord(std::string_view text);
// The file's bytes, as Cyrus 3.6 writes them (dlist form, trailing newline).
std::string FormatQuotaRecord(const QuotaRecord& q);

// The root's file relative to the config directory. Empty for a root Cyrus
// cannot store (empty, or a path component that is "." / ".." or has a '/').
std::string QuotaRelPath(std::string_view root, bool fulldirhash);

// The root's file in `conf` (either hash scheme), relative to `conf`; nullopt
// when there is none.
std::optional<std::string> FindQuotaFile(const std::string& conf, std::string_view root);

// Mailboxes counted under one root.
struct QuotaUsage {
  std::uint64_t storage = 0, messages = 0, annot = 0, folders = 0;
};
void SetUsage(QuotaRecord& q, const QuotaUsage& u);

}  // namespace mr::reconcile
