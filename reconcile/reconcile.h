// The reconcile driver: one user at a time, inventory -> plan -> apply, and
// the output mailboxes.db; ReconcileAll runs every user over TBB.
//
// Public API (used by cli/cmd_reconcile.cc and the rescue orchestrator):
//   auto r = Reconciler::Open(opts);            // reads both dbs, walks S once
//   auto u = r->ReconcileUser("bob", dry_run);  // plans (and applies) bob
//   WriteOutputDb(opts, {u...});                // (re)writes the output db
//   auto run = ReconcileAll(opts);              // all of the above, --jobs N
// A user is finished as one unit: each of its folders is swapped in
// atomically (apply.h) and UserOutcome::done says all of them made it.
// Rerunning the same command redoes only folders whose output differs from
// the plan; nothing is lost or duplicated (the plan is a pure function of the
// inputs, and for --in-place the applied output plans to itself).
// Output is identical for any --jobs: results are sorted by user, folders by
// name. A "user" is a reconcile unit (UnitOf): the non-user mailboxes
// (shared.*, Public, ...) form one more unit, kSharedUnit ("%shared"),
// reconciled by the same rules; it is done when no --users filter is given
// or when the filter lists "%shared". Reconciler is immutable after Open; ReconcileUser is thread-safe for
// distinct users.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "reconcile/apply.h"
#include "reconcile/cyrus/mboxdb.h"
#include "reconcile/cyrus/mboxdb_image.h"
#include "reconcile/discovery.h"
#include "reconcile/plan.h"

namespace mr::reconcile {

struct UserOutcome;

struct ReconcileOptions {
  StorePaths paths;
  std::string out_spool;
  std::string out_db;
  bool in_place = false;           // output onto the backup spool
  std::vector<std::string> users;  // only these units (empty = every user and kSharedUnit)
  std::string priority_file;       // users to do first; re-read while running
  int jobs = 0;                    // 0 = number of cores
  // Output mailboxes.db format; unset = ResolveDbFormat's rule.
  std::optional<cyrus::DbFormat> db_format;
  bool dry_run = false;
  bool fsync = true;
  std::function<void(const UserOutcome&)> on_user_done;  // called from workers, serialized
};

// The output database format: db_format when set; else the backend named by
// the backup's imapd.conf (`mboxlist_db`, when paths.backup_conf is given);
// else the format of an existing out_db; else the backup db's; else twoskip.
// So the output is what the backup's Cyrus is configured to read. Errors:
// a backend we cannot write (skiplist, lmdb, ...), named with its source.
Result<cyrus::DbFormat> ResolveDbFormat(const ReconcileOptions& opts);

struct FolderOutcome {
  std::string name;    // internal name
  std::string folder;  // relative to the user: INBOX, INBOX.Sent
  std::string uniqueid;
  std::uint32_t uidvalidity = 0;
  bool emitted = true;
  Reason reason = Reason::kFolderMerged;
  FolderCounts counts;
  std::vector<RenumberedMessage> renumbered;
  std::vector<LostMessage> unrecoverable;
  std::vector<NotMergedMessage> not_merged;
  std::vector<std::string> problems;  // damage seen in the inputs, one line each
  bool applied = false;  // ApplyFolder ran (not a dry run)
  ApplyStats apply;
  std::string error;  // apply failure (the folder was left as it was)
};

struct UserOutcome {
  std::string user;
  Reason reason = Reason::kUserMerged;
  Severity status = Severity::kInfo;
  std::vector<FolderOutcome> folders;      // by name
  std::vector<cyrus::MboxEntry> entries;   // this user's output db entries, by name
  // Mailbox annotations of the folders written (and of those planned, in a
  // dry run), by output uniqueid: the output annotations.db entries.
  std::map<std::string, std::vector<cyrus::AnnotationRecord>> annotations;
  std::vector<std::string> quota_roots;    // quota root files written (quota.h)
  bool done = false;                       // every folder planned (and applied)
  std::vector<std::string> failed;         // folders whose apply failed (left as they were)
  std::vector<std::string> errors;
};

struct RunOutcome {
  // By user name; the shared unit (kSharedUnit, every non-user mailbox) is
  // one of them and sorts first.
  std::vector<UserOutcome> users;
  std::vector<std::string> errors;          // run-level (db write, ...)
  std::vector<std::string> unknown_users;   // --users names that match no user: skipped
  bool db_written = false;
  // 0 ok, 1 attention (or lost), per SPEC's exit codes.
  int ExitCode() const;
};

class Reconciler {
 public:
  static Result<Reconciler> Open(const ReconcileOptions& opts);
  // With a view the caller composed (rescue: shared dbs, one user's folders);
  // opts.paths must be the view's paths.
  static Result<Reconciler> Open(const ReconcileOptions& opts, StoreView view);
  const StoreView& view() const { return view_; }
  const ReconcileOptions& options() const { return opts_; }
  // Users to do, in priority order of the priority file at this moment,
  // then by name; restricted to opts.users when given.
  std::vector<std::string> Users() const;
  Result<UserOutcome> ReconcileUser(const std::string& user, bool dry_run) const;

 private:
  static Result<Reconciler> Open(const ReconcileOptions& opts, std::optional<StoreView> view);
  ReconcileOptions opts_;
  StoreView view_;
  ApplyOptions apply_;
};

// Checks one target's paths before any work starts, so a typo costs a one-line
// error (kInvalidArgument, naming the argument) and not a salvage followed by
// every user failing: the backup spool is a directory, the backup db a readable
// regular file and, when `outputs`, the output spool is or can be made a
// directory and the output db is or can be made a regular file (its nearest
// existing ancestor is a writable directory). Creates nothing.
Status CheckTargetPaths(const std::string& backup_spool, const std::string& backup_db, const std::string& out_spool,
                        const std::string& out_db, bool outputs);

// Writes opts.out_db (temp + rename) from the existing out_db's entries for
// users not in `outcomes` (and for folders an outcome failed to write, which
// were left as they were) plus every outcome's entries. Entries are sorted
// and de-duplicated by name, so the result does not depend on order.
// annotations.db next to out_db is rewritten the same way (temp + rename):
// the entries of every uniqueid an outcome's user had in the old out_db or
// has now are replaced by the outcome's; entries of other mailboxes (and of
// the server) stay. It is written when this call changed an entry.
Status WriteOutputDb(const ReconcileOptions& opts, const std::vector<UserOutcome>& outcomes);

// WriteOutputDb for a caller that writes the same out_db after every user
// (rescue): the entries stay in memory between writes, and the file is read
// again only when it is no longer the one this object wrote last (another
// process, e.g. a second shard on the same target, wrote it meanwhile: the
// caller holds the target lock around each Write). Not thread-safe.
class OutputDbWriter {
 public:
  Status Write(const ReconcileOptions& opts, const std::vector<UserOutcome>& outcomes);

 private:
  struct FileId {
    unsigned long long dev = 0, ino = 0, size = 0;
    long long mtime_ns = 0;
    bool operator==(const FileId&) const = default;
  };
  static std::optional<FileId> Identify(const std::string& path);
  bool loaded_ = false;
  std::string path_;
  std::optional<FileId> written_;
  cyrus::DbFormat format_ = cyrus::DbFormat::kTwoskip;  // ResolveDbFormat's, at the last (re)load
  // The db as encoded records (only what changed is re-encoded per write), and each
  // user's mailbox names in it, so replacing a user does not look at the others.
  cyrus::MboxDbImage image_;
  std::map<std::string, std::string> annotations_;  // annotations.db: key -> value
  std::map<std::string, std::set<std::string>> names_of_user_;  // by UnitOf ("" = DELETED.*)
};

Result<RunOutcome> ReconcileAll(const ReconcileOptions& opts);

}  // namespace mr::reconcile
