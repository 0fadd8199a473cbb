// rescue: the one-command rescue boot. salvage -> reconcile -> verify, streamed
// user by user, so the first user is back long before the last one is read.
//
// Flow (docs/runbook.md has the operator's view):
//   1. Open the source read-only and scan it (salvage/: walk + inode scan, no
//      data yet); extract the config directory (the salvaged mailboxes.db).
//   2. Targets: the stores the backups were restored onto (one, from
//      --backup-*/--out-*, or several --target NAME=IMAPD_CONF, reconciled in
//      place). Each user belongs to the target whose backup db lists it; users
//      found on none are placed by a stable hash (reported).
//   3. One worker per target, all targets in parallel (TBB), at most one user
//      at a time per target (TargetLock, respected by other processes too).
//      Each worker takes the next user of its target from the UserQueue
//      (priority file re-read on every pick), then:
//        salvage the user's files -> reconcile the user onto the target and
//        rewrite the target's mailboxes.db -> verify the user -> event +
//        --on-user-done hook. A user is "done" only after its own verify.
//      The shared (non-user) mailboxes are one more unit, "%shared"
//      (kSharedUnit), on the target whose backup db lists a shared mailbox
//      (else placed like a user): salvage keeps them in its rest group, so
//      that unit goes through the same phases only after every user is out
//      and ExtractRest has run. It is in the report's "shared" element, not
//      users[], nor the proxy map; --users limits it like a user ("%shared").
//   4. Every phase change is committed to the SQLite RunState in --workdir
//      before the next begins; a rerun of the same command skips finished
//      phases, so after SIGKILL nothing is lost or duplicated. SIGINT/SIGTERM
//      stop the run after the current phase of each worker.
//   5. Proxy map (user -> target), JSON report, HTML report, summary table.
// --dry-run stages the salvage under --workdir (scratch space) and plans each
// user without touching any target; it writes no state beyond the staging.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "reconcile/cyrus/mboxdb.h"

namespace mr::orchestrate {

struct RescueTarget {
  std::string name;
  std::string backup_spool;
  std::string backup_db;
  std::string backup_conf;  // imapd.conf of the backup, when given
  std::string out_spool;
  std::string out_db;
  bool in_place = false;
};

// "NAME=/etc/cyrus/imapd-NAME.conf": the backup restored on that server,
// reconciled in place.
Result<RescueTarget> TargetFromImapdConf(const std::string& spec);

struct RescueOptions {
  // salvage
  std::string source;
  std::optional<std::string> badmap;
  std::optional<std::string> spool_path, config_path;
  std::optional<std::uint64_t> superblock;
  std::optional<unsigned> blocksize;
  std::string journal = "auto";  // replay | ignore | auto (replay when the journal holds transactions)
  // targets
  std::vector<RescueTarget> targets;
  std::optional<cyrus::DbFormat> db_format;  // unset: reconcile::ResolveDbFormat per target
  // run
  std::string workdir;
  std::optional<std::string> users_file;
  std::optional<std::string> priority_file;
  std::optional<std::string> shard;  // "K/N" or "auto"
  int jobs = 0;
  bool dry_run = false;
  bool quiet = false;
  std::optional<std::string> report;       // JSON; "-" = stdout
  std::optional<std::string> html_report;
  std::optional<std::string> events;       // JSON lines
  std::optional<std::string> on_user_done;
  std::optional<std::string> proxy_map;
  bool fsync = true;
};

struct RescueOutcome {
  int exit_code = 0;     // SPEC exit codes
  std::string summary;   // per-user table for stdout
};

// Stops the run after the current phase of every worker (signal-safe).
void RequestStop();
bool StopRequested();

Result<RescueOutcome> RunRescue(const RescueOptions& opts);

}  // namespace mr::orchestrate
