// The parts of salvage.json (docs/contracts.md, "salvage output") that
// reconcile needs: which directories could not be listed in full, which files
// are damaged, and which users salvage finished.
//
// Contract: a missing salvage.json is not an error (present = false: the tree
// counts as fully readable, as docs/contracts.md says). A salvage.json that
// exists but does not parse is an Error naming the file. Only the damaged
// file entries are kept in memory, so a manifest of millions of files stays
// small. Paths are relative to the salvage DIR ("spool/uuid/a/b/<id>/1.").
// Immutable after reading; thread-safe to share.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace mr::reconcile {

struct SalvageManifest {
  bool present = false;
  std::set<std::string> incomplete_dirs;
  std::map<std::string, std::string> damaged_files;  // path -> "damaged bytes at 4096+512"
  std::map<std::string, bool> users_done;
  bool rest_done = true;  // "rest_done" (absent = true: older salvage.json, or none)

  // True when `dir` and every ancestor directory were listed in full.
  bool DirComplete(const std::string& dir) const;
  // True when any incomplete directory lies at or under `dir`.
  bool AnyIncompleteUnder(const std::string& dir) const;
  // Damage description of a file, or nullptr when intact / not listed.
  const std::string* Damage(const std::string& path) const;
  // False only when salvage.json lists the user as not done; for the shared
  // unit (kSharedUnit), false when salvage has not finished its rest group.
  bool UserDone(const std::string& user) const;
};

// "damaged bytes at 4096+512 8192+4096" (at most four ranges, then "...").
std::string DescribeDamagedRanges(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges);

Result<SalvageManifest> ReadSalvageManifest(const std::string& path);
Result<SalvageManifest> ParseSalvageManifest(const std::string& text, const std::string& what);

}  // namespace mr::reconcile
