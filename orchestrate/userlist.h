// User lists and shard selection for rescue/batch runs.
//
// A user list file has one user a line; blank lines and lines starting with '#'
// are ignored; surrounding whitespace is trimmed. Shards take a stable hash
// slice of the users so N independent processes cover each user exactly once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mr::orchestrate {

Result<std::vector<std::string>> ReadUserList(const std::string& path);
// Parses the lines of a user list held in memory (same rules as the file).
std::vector<std::string> ParseUserLines(std::string_view text);
// The same for files of user names (--users, --priority): each entry as the
// stores name the user (UserFromListEntry: "fred.smith@example.org" ->
// "fred^smith@example.org"), so login ids and internal names both work.
Result<std::vector<std::string>> ReadUserNames(const std::string& path);
std::vector<std::string> ParseUserNames(std::string_view text);

struct Shard {
  unsigned index = 0;  // 0-based K
  unsigned count = 1;  // N
};

// Parses "K/N" (0 <= K < N). "auto" takes K from JOB_COMPLETION_INDEX
// (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID, and N from
// MAILRESCUE_SHARDS, SLURM_ARRAY_TASK_COUNT or the "auto/N" suffix.
Result<Shard> ParseShard(std::string_view spec);
// Stable across machines and releases: FNV-1a 64 of the user name.
std::uint64_t StableUserHash(std::string_view user);
bool InShard(std::string_view user, const Shard& shard);

}  // namespace mr::orchestrate
