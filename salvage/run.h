// run: the whole `mailrescue salvage` and `mailrescue inspect` flows on top of
// Salvager, so cli/ only wires options and maps outcomes to exit codes.
//
// RunSalvage: open → scan → users in order (--users limits; --priority file is
// re-read before each user and its users go first) → config → rest → manifest;
// writes the JSON report (--report, "-" = stdout) and returns the summary
// table text. Progress goes to the given sink.
// Inspect: open → scan, no file data; text or JSON description.
#pragma once

#include <cstdio>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"
#include "salvage/salvage.h"

namespace mr::salvage {

struct RunOptions {
  std::optional<std::string> users_file;
  std::optional<std::string> priority_file;
  std::optional<std::string> report;  // "-" = stdout
};

struct RunOutcome {
  bool needs_attention = false;
  std::string summary;   // human table
  Manifest::Totals totals;
  std::vector<std::string> missing_users;  // named by --users/--priority, not in the spool
};

Result<RunOutcome> RunSalvage(const SalvageOptions& opts, const RunOptions& run, ProgressSink* progress);

// Text (or JSON with json=true) description of the filesystem and the spool in it.
Result<std::string> Inspect(const SalvageOptions& opts, bool json, bool* damaged);

// Progress on a stream: a redrawn line on a terminal, plain lines otherwise
// (at most one every few seconds, plus one per finished user).
class StreamProgress : public ProgressSink {
 public:
  StreamProgress(std::FILE* f, bool tty) : f_(f), tty_(tty) {}
  ~StreamProgress() override;
  void Update(const ProgressSnapshot& s) override;

 private:
  std::FILE* f_;
  bool tty_;
  std::mutex mu_;
  double last_line_ = -10;
  std::uint64_t last_groups_ = 0;
  bool drew_ = false;
};

}  // namespace mr::salvage
