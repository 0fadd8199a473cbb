// attribute: which user each salvaged folder directory belongs to, decided
// in rescue before any user's files are extracted.
//
// The salvage catalog groups a folder with the user its cyrus.header names.
// Reconcile attributes a salvaged folder directory with more evidence
// (reconcile/discovery.h FolderIndex): the clean salvaged mailboxes.db by a
// uuid directory's uniqueid first, then the header, then the db's live name
// or the legacy path. In the batch path both meet after the whole image is
// extracted; rescue reconciles each user right after its group, so a folder
// whose header is garbage (or names another user than the db) would only
// arrive with the rest group, after its user was announced. FolderMoves says
// which directories must change group so each is extracted with the user
// reconcile will look for it under (Salvager::AssignFolders applies them).
// Pure functions over values; no I/O except ReadSalvagedDb.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "salvage/salvage.h"

namespace mr::orchestrate {

// What rescue needs of the salvaged mailboxes.db before reconciling anyone.
struct SalvagedDb {
  bool ok = false;  // read without a problem (reconcile's s_db_ok)
  std::map<std::string, std::string> name_by_id;       // every non-tombstone entry's name
  std::map<std::string, std::string> live_name_by_id;  // live folders only
  std::set<std::string> units;  // UnitOf of every live folder (users, kSharedUnit)
};

// Missing or unreadable: ok = false and whatever could be read.
SalvagedDb ReadSalvagedDb(const std::string& path);

// The unit (user, kSharedUnit) reconcile will attribute the salvaged folder
// directory `rel` (relative to the salvaged spool) to, given the user its
// group has now (`header_user`, "" = the rest group: no header naming a
// user). nullopt: no evidence beyond the header; leave it where it is.
std::optional<std::string> FolderUnit(const SalvagedDb& db, const std::string& rel, const std::string& header_user);

// The (node, user) moves for Salvager::AssignFolders ("" = the rest group,
// where shared folders are extracted).
std::vector<std::pair<std::int32_t, std::string>> FolderMoves(const SalvagedDb& db,
                                                              const std::vector<salvage::FolderDirGroup>& dirs);

}  // namespace mr::orchestrate
