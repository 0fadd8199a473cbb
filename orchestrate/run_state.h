// Run state of a rescue/batch run, kept in SQLite under --workdir so a killed
// run resumes where it stopped.
//
// One row per user: its target and the last phase it completed
// (queued < salvaged < reconciled < verified < announced), plus a status
// ("ok", "attention", "lost", "failed") and a JSON detail (counts). Every
// phase change is one committed transaction, so after SIGKILL the database
// says exactly which step of which user must be repeated.
//
// A workdir is owned by one process at a time: Open() takes an exclusive
// flock on WORKDIR/lock and refuses ("another mailrescue (pid N) is using
// WORKDIR") while it is held. RunState is thread-safe (one mutex around the
// connection).
#pragma once

#include <sqlite3.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace mr::orchestrate {

enum class Phase { kQueued = 0, kSalvaged = 1, kReconciled = 2, kVerified = 3, kAnnounced = 4 };
const char* PhaseName(Phase p);

struct UserState {
  std::string user;
  std::string target;
  Phase phase = Phase::kQueued;
  std::string status;  // empty until verified
  std::string detail;  // JSON text
  std::int64_t updated = 0;  // unix time
};

class RunState {
 public:
  static Result<std::unique_ptr<RunState>> Open(const std::string& workdir);
  ~RunState();
  RunState(const RunState&) = delete;
  RunState& operator=(const RunState&) = delete;

  // Inserts the user if unknown (phase queued); keeps existing progress.
  Status Enqueue(const std::string& user, const std::string& target);
  Status SetPhase(const std::string& user, Phase phase, const std::string& status = "",
                  const std::string& detail = "");
  std::optional<UserState> Get(const std::string& user) const;
  std::vector<UserState> All() const;  // sorted by user
  // Key/value for run-wide facts (e.g. the command line that created it).
  Status PutMeta(const std::string& key, const std::string& value);
  std::optional<std::string> GetMeta(const std::string& key) const;

 private:
  RunState() = default;
  Status Exec(const std::string& sql);
  mutable std::mutex mu_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
};

}  // namespace mr::orchestrate
