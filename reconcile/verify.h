// verify: a replication-style consistency check of a Cyrus 3.6 store
// (a spool partition root plus its mailboxes.db), per user.
//
// What is checked, for every mailbox of a user (docs/verify.md has the full
// list and the exact wording of each finding):
//   mailboxes.db  every N record has its I record and they agree (uniqueid,
//                 V uidvalidity, T mbtype, P partition, A acl);
//   layout        the mailbox directory exists where the layout puts it
//                 (uuid, or legacy when mbtype has 'l');
//   cyrus.header  name, uniqueid and ACL equal the db's;
//   cyrus.index   header and record CRCs, uids strictly increasing and
//                 <= last_uid, uidvalidity = db, counts, quota, highestmodseq
//                 >= every modseq, header_file_crc = CRC32(cyrus.header),
//                 sync_crc and sync_crc_annot recomputed = stored;
//                 quota_annot_used = mailbox annotations (config annotations.db,
//                 when readable) + live message annotations; a quota root a
//                 header names has its record in the config directory;
//   messages      every live record (not EXPUNGED/UNLINKED) has `<uid>.` with
//                 the record's size and SHA1 = GUID; no `<uid>.` file
//                 without a record (Cyrus would re-append it);
//   cyrus.cache   records of live messages are in bounds, CRC = cache_crc;
//   spool         no mailbox directory (one holding cyrus.header) that the db
//                 does not list.
//
// Contract:
//  - Findings are data: each is one line "<mailbox>: <what>" (or
//    "<mailbox>: uid <n>: <what>"), collected per user in a fixed order
//    (mailboxes by name, then records by uid), so the outcome is identical
//    for any `jobs`. An Error is returned only when the store cannot be
//    examined at all (spool or db unreadable).
//  - Read-only; never writes anything.
//  - Memory is bounded by one folder's index (+ cache file) per worker;
//    message files are streamed through SHA1, big folders hashed in parallel.
//  - Thread-safe: VerifyUser may be called concurrently for different users.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace mr::verify {

struct StoreSnapshot;  // verify_store.h: the db read once, the spool scanned once

struct VerifyOptions {
  std::string spool;  // partition root (partition-default)
  std::string db;     // mailboxes.db (twoskip or flat)
  // Layout switches for legacy-layout mailboxes; nullopt = detect from the spool.
  std::optional<bool> hashimapspool;
  bool fulldirhash = false;
  // Only these users (as in UserOf: "bob", "fred^smith", or "%shared" for the
  // shared mailboxes); empty = every user in the db or on the spool.
  std::vector<std::string> users;
  int jobs = 0;  // 0 = TBB's default (number of cores)
  // Skip reading message files (structure-only check, much faster).
  bool skip_messages = false;
  // Optional: a snapshot already built by OpenStore (shares the db read and
  // the spool scan between many VerifyUser calls). Built on demand if null.
  std::shared_ptr<const StoreSnapshot> snapshot;
  // Optional: the uuid-layout mailbox directories (relative to spool) to look
  // at for orphans, instead of walking all of spool/uuid. Rescue's per-user
  // check right after a reconcile passes the directories that reconcile wrote
  // (a store of thousands of users is not walked once per user). Legacy
  // trees are walked as usual (per user when `users` is set).
  std::optional<std::vector<std::string>> uuid_dirs;
};

struct UserVerdict {
  // A user; kSharedUnit ("%shared") groups the shared (non-user) mailboxes;
  // "" holds store-wide findings (unreadable db records or spool directories).
  std::string user;
  std::vector<std::string> problems;  // one line each, in a fixed order
  std::uint64_t folders = 0;
  std::uint64_t messages = 0;  // live records checked
  std::uint64_t bytes = 0;     // bytes of live message files hashed
  bool ok() const { return problems.empty(); }
};

struct VerifyTotals {
  std::uint64_t users = 0;
  std::uint64_t users_ok = 0;
  std::uint64_t folders = 0;
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t problems = 0;
};

struct VerifyOutcome {
  std::vector<UserVerdict> users;  // sorted by user
  VerifyTotals totals;
  bool ok() const { return totals.problems == 0; }
};

// Reads the db and scans the spool once; pass the result in
// VerifyOptions::snapshot to verify many users cheaply.
Result<std::shared_ptr<const StoreSnapshot>> OpenStore(const VerifyOptions& opts);

Result<UserVerdict> VerifyUser(const VerifyOptions& opts, const std::string& user);
Result<VerifyOutcome> VerifyAll(const VerifyOptions& opts);

// The JSON report: {"tool":"mailrescue","version":..,"command":"verify",
// "spool":..,"db":..,"users":[{"user":..,"status":"ok|attention",
// "folders":N,"messages":N,"bytes":N,"problems":[..]}],"totals":{..}}.
std::string ReportJson(const VerifyOptions& opts, const VerifyOutcome& outcome);

}  // namespace mr::verify
