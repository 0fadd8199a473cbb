// A per-target lock: at most one user at a time is being written onto one
// target store, across threads of this process and across other mailrescue
// processes (flock on a lock file beside the target's mailboxes.db).
#pragma once

#include <string>

#include "common/status.h"

namespace mr::orchestrate {

class TargetLock {
 public:
  // Blocks until the lock on `lock_path` is held.
  static Result<TargetLock> Acquire(const std::string& lock_path);
  // Returns kExists immediately when another holder has it.
  static Result<TargetLock> TryAcquire(const std::string& lock_path);
  TargetLock(TargetLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  TargetLock& operator=(TargetLock&& o) noexcept;
  TargetLock(const TargetLock&) = delete;
  ~TargetLock();

 private:
  explicit TargetLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace mr::orchestrate
