// The queue of users to bring back, in priority order.
//
// Base order is the stable order given at construction. A priority file (users
// trying to log in, appended by a login handler) is re-read on every Next():
// lines appended since the last read promote those users ahead of the base
// order, in the order they arrived; a user already promoted keeps its place.
// Each user belongs to one target; Next(target) returns the first waiting user
// of that target. Thread-safe (one mutex); callers are one worker per target.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mr::orchestrate {

class UserQueue {
 public:
  // users: (user, target) in base order. priority_file may be empty.
  UserQueue(std::vector<std::pair<std::string, std::string>> users, std::string priority_file);

  // Highest-priority waiting user of `target`, now marked in progress.
  std::optional<std::string> Next(const std::string& target);
  // Marks a user finished (done or given up); it will not be handed out again.
  void Finish(const std::string& user);
  // Puts an in-progress user back (e.g. stopped by a signal before finishing).
  void Requeue(const std::string& user);
  std::size_t Waiting() const;
  // Users promoted by the priority file so far, in promotion order.
  std::vector<std::string> Promoted() const;

 private:
  void RefreshPriorityLocked();

  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> base_;
  std::map<std::string, std::string> target_of_;
  std::map<std::string, std::size_t> base_pos_;
  std::vector<std::string> promoted_;
  std::set<std::string> promoted_set_;
  std::set<std::string> taken_;  // in progress or finished
  struct Cursor {
    std::size_t promoted = 0, base = 0;  // entries before these are taken or another target's
  };
  std::map<std::string, Cursor> cursor_;  // by target
  std::string priority_file_;
  std::uint64_t priority_offset_ = 0;
  std::string partial_line_;
};

}  // namespace mr::orchestrate
