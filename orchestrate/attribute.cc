#include "orchestrate/attribute.h"

#include "common/cyrus_layout.h"
#include "reconcile/cyrus/mboxdb.h"

namespace mr::orchestrate {
namespace {

bool Has(const std::string& s, char c) { return s.find(c) != std::string::npos; }

// As reconcile/discovery.cc: a pending delayed delete, by name or directory.
bool IsDeletedName(const std::string& name) {
  auto bang = name.find('!');
  std::string_view n = name;
  if (bang != std::string::npos) n.remove_prefix(bang + 1);
  return n.rfind("DELETED.", 0) == 0;
}

bool IsDeletedDir(const std::string& rel) {
  return IsDeletedName(rel) || rel.find("/DELETED/") != std::string::npos || rel.rfind("DELETED/", 0) == 0;
}

}  // namespace

SalvagedDb ReadSalvagedDb(const std::string& path) {
  SalvagedDb db;
  std::vector<std::string> problems;
  auto entries = cyrus::ReadMailboxesDb(path, &problems);
  if (!entries) return db;
  db.ok = problems.empty();
  for (const auto& e : *entries) {
    if (Has(e.mbtype, 'd')) continue;
    if (!e.uniqueid.empty()) db.name_by_id[e.uniqueid] = e.name;
    if (Has(e.mbtype, 'i') || Has(e.mbtype, 'r')) continue;
    if (!e.uniqueid.empty()) db.live_name_by_id[e.uniqueid] = e.name;
    if (std::string u = UnitOf(e.name); !u.empty()) db.units.insert(u);
  }
  return db;
}

std::optional<std::string> FolderUnit(const SalvagedDb& db, const std::string& rel, const std::string& header_user) {
  if (IsDeletedDir(rel)) return std::nullopt;
  const bool legacy = rel.rfind("uuid/", 0) != 0;
  const auto id = legacy ? std::nullopt : UniqueidFromUuidRelDir(rel);
  auto unit_of = [](const std::string& name) -> std::optional<std::string> {
    if (IsDeletedName(name)) return std::nullopt;
    std::string u = UnitOf(name);
    if (u.empty()) return std::nullopt;
    return u;
  };
  // The clean db names a uuid directory's mailbox: reconcile believes it over the header.
  if (id && db.ok)
    if (auto it = db.name_by_id.find(*id); it != db.name_by_id.end()) return unit_of(it->second);
  if (!header_user.empty()) return std::nullopt;  // the header (or the legacy parent) named the user
  if (id) {
    if (auto it = db.live_name_by_id.find(*id); it != db.live_name_by_id.end()) return unit_of(it->second);
    return std::nullopt;
  }
  if (legacy) {
    auto n = MailboxFromLegacyRelDir(rel, true);
    if (!n) n = MailboxFromLegacyRelDir(rel, false);
    if (n) return unit_of(*n);
  }
  return std::nullopt;
}

std::vector<std::pair<std::int32_t, std::string>> FolderMoves(const SalvagedDb& db,
                                                              const std::vector<salvage::FolderDirGroup>& dirs) {
  std::vector<std::pair<std::int32_t, std::string>> moves;
  for (const auto& d : dirs) {
    if (d.path.rfind("spool/", 0) != 0) continue;
    auto unit = FolderUnit(db, d.path.substr(6), d.user);
    if (!unit) continue;
    std::string user = *unit == kSharedUnit ? std::string() : *unit;  // shared folders: the rest group
    if (user != d.user) moves.emplace_back(d.node, std::move(user));
  }
  return moves;
}

}  // namespace mr::orchestrate
