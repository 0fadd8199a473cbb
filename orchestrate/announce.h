// Announcing users as they come back: JSON-lines events, the --on-user-done
// hook, and the proxy map (user -> target) for IMAP proxies and web front ends.
//
// EventLog appends one JSON object per line and flushes each line, so a
// follower (tail -f) sees a user the moment it is done. Thread-safe.
#pragma once

#include <cstdio>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace mr::orchestrate {

class EventLog {
 public:
  EventLog() = default;  // disabled: Emit does nothing
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;
  Status Open(const std::string& path);  // appends; "-" = stdout
  // Adds "event" and "time" (unix seconds) to `fields` and writes the line.
  void Emit(const std::string& event, nlohmann::json fields);

 private:
  std::mutex mu_;
  std::FILE* f_ = nullptr;
  bool own_ = false;
};

struct HookResult {
  int exit_code = 0;  // -1 when it could not be started or was killed
  std::string error;  // one line when it failed
};

// Runs `cmd` through /bin/sh -c with MAILRESCUE_USER, MAILRESCUE_TARGET and
// MAILRESCUE_STATUS set; waits for it; stdin is /dev/null.
HookResult RunUserHook(const std::string& cmd, const std::string& user, const std::string& target,
                       const std::string& status);

// Writes "user<TAB>target" lines sorted by user, atomically (temp + rename).
Status WriteProxyMap(const std::string& path, const std::map<std::string, std::string>& user_to_target);

}  // namespace mr::orchestrate
