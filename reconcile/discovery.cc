#include "reconcile/discovery.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <set>

#include "common/cyrus_layout.h"
#include "reconcile/cyrus/header.h"
#include "reconcile/cyrus/imapd_conf.h"

namespace mr::reconcile {
namespace {

bool Exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

bool Has(const std::string& s, char c) { return s.find(c) != std::string::npos; }

// Folders reconcile treats as mail folders: live, not intermediate, local.
bool LiveFolder(const cyrus::MboxEntry& e) {
  return !Has(e.mbtype, 'd') && !Has(e.mbtype, 'i') && !Has(e.mbtype, 'r');
}

std::string Parent(const std::string& rel) {
  auto s = rel.rfind('/');
  return s == std::string::npos ? "" : rel.substr(0, s);
}

bool IsDeletedName(const std::string& name) {
  auto bang = name.find('!');
  std::string_view n = name;
  if (bang != std::string::npos) n.remove_prefix(bang + 1);
  return n.rfind("DELETED.", 0) == 0;
}

std::string ManifestPath(const std::string& rel) { return rel.empty() ? "spool" : "spool/" + rel; }

}  // namespace

std::vector<std::string> FindFolderDirs(const std::string& spool) {
  std::vector<std::string> out;
  std::function<void(const std::string&, int)> walk = [&](const std::string& rel, int depth) {
    if (depth > 64) return;
    std::string abs = rel.empty() ? spool : spool + "/" + rel;
    DIR* d = ::opendir(abs.c_str());
    if (!d) return;
    std::vector<std::string> subdirs;
    bool folder = false;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      if (n == "cyrus.header" || n == "cyrus.index") folder = true;
      if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) {
        struct stat st {};
        if (::lstat((abs + "/" + n).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (n.size() > 6 && n.compare(n.size() - 6, 6, ".mrtmp") == 0) continue;
        if (depth == 0 && (n == "lost+found" || n == "stage." || n == "sync.")) continue;
        subdirs.push_back(n);
      }
    }
    ::closedir(d);
    if (folder) out.push_back(rel);
    std::sort(subdirs.begin(), subdirs.end());
    for (const auto& s : subdirs) walk(rel.empty() ? s : rel + "/" + s, depth + 1);
  };
  walk("", 0);
  std::sort(out.begin(), out.end());
  return out;
}

std::string StoreView::b_conf() const {
  const std::string& db = dbs_->paths.backup_db;
  auto s = db.rfind('/');
  return s == std::string::npos ? "." : db.substr(0, s);
}

Result<std::shared_ptr<const StoreDbs>> StoreDbs::Load(const StorePaths& paths) {
  auto v = std::make_shared<StoreDbs>();
  v->paths = paths;
  if (!paths.backup_conf.empty()) {
    auto conf = cyrus::ReadImapdConf(paths.backup_conf);
    if (!conf) return Error{Code::kInvalidArgument, "--backup-conf: " + conf.error().message};
    v->b_hash = conf->hashimapspool;
  }
  auto bdb = cyrus::ReadMailboxesDb(paths.backup_db);
  if (!bdb) return Error{Code::kInvalidArgument, "--backup-db: " + bdb.error().message};
  for (auto& e : *bdb) {
    std::string u = UnitOf(e.name);
    if (u.empty()) continue;  // a pending delayed delete
    v->b_db[u].push_back(std::move(e));
  }
  std::string sdb_path = paths.salvaged_dir + "/conf/mailboxes.db";
  auto sdb = cyrus::ReadMailboxesDb(sdb_path, &v->s_db_problems);
  if (sdb) {
    v->s_db_ok = v->s_db_problems.empty();
    // Names the salvaged db gives each uniqueid (live or not), to spot folders
    // whose header still carries the old name after a delayed delete.
    for (const auto& e : *sdb) {
      if (e.uniqueid.empty()) continue;
      if (Has(e.mbtype, 'd')) v->s_tombstones.insert({e.name, e.uniqueid});
      else v->s_name_by_id[e.uniqueid] = e.name;
    }
    for (auto& e : *sdb) {
      std::string u = UnitOf(e.name);
      if (u.empty()) continue;
      if (!e.uniqueid.empty() && LiveFolder(e)) v->s_live_name_by_id[e.uniqueid] = e.name;
      v->s_db[u].push_back(std::move(e));
    }
  } else {
    v->s_db_problems.push_back(sdb.error().message);
  }
  LoadAnnotationSides(*v);
  return std::shared_ptr<const StoreDbs>(std::move(v));
}

void LoadAnnotationSides(StoreDbs& dbs) {
  auto load = [&](const std::string& path, bool strict) -> std::shared_ptr<const cyrus::AnnotationsDb> {
    auto db = cyrus::ReadAnnotationsDb(path);
    if (!db) {
      if (db.error().code != Code::kNotFound) dbs.annotations_problems.push_back(db.error().message);
      return nullptr;
    }
    // A salvaged db that read with damage may miss entries: the backup's
    // are then the better source for the folders both sides have.
    if (strict && !db->problems.empty()) {
      dbs.annotations_problems.push_back(path + ": " + db->problems.front());
      return nullptr;
    }
    return std::make_shared<const cyrus::AnnotationsDb>(std::move(db.value()));
  };
  dbs.s_annotations = load(dbs.paths.salvaged_dir + "/conf/annotations.db", true);
  const std::string& bdb = dbs.paths.backup_db;
  const auto slash = bdb.rfind('/');
  dbs.b_annotations = load((slash == std::string::npos ? std::string(".") : bdb.substr(0, slash)) + "/annotations.db", false);
}

std::optional<std::vector<cyrus::AnnotationRecord>> StoreView::MailboxAnnotations(Side side,
                                                                               const std::string& uniqueid) const {
  const auto& db = side == Side::kSalvaged ? dbs_->s_annotations : dbs_->b_annotations;
  if (!db) return std::nullopt;
  auto it = uniqueid.empty() ? db->by_mailbox.end() : db->by_mailbox.find(uniqueid);
  if (it == db->by_mailbox.end()) return std::vector<cyrus::AnnotationRecord>{};
  return it->second;
}

void FolderIndex::Add(const StoreDbs& dbs, const std::string& rel, const std::set<std::string>* only) {
  if (auto old = user_of_.find(rel); old != user_of_.end()) {
    by_user_[old->second].erase(rel);
    user_of_.erase(old);
  }
  if (IsDeletedName(rel) || rel.find("/DELETED/") != std::string::npos || rel.rfind("DELETED/", 0) == 0) return;
  const std::string spool = dbs.paths.salvaged_dir + "/spool";
  ScannedFolder sf;
  sf.rel_dir = rel;
  sf.legacy = rel.rfind("uuid/", 0) != 0;
  auto place = [&](const std::string& u) {
    user_of_[rel] = u;
    by_user_[u][rel] = std::move(sf);
  };
  // Cheap attribution first (no header read): the clean salvaged db knows
  // a uuid directory's mailbox; a legacy path names its user. Headers are
  // read only where needed, and not at all for users this run skips.
  if (!sf.legacy && dbs.s_db_ok) {
    auto id = UniqueidFromUuidRelDir(rel);
    auto it = id ? dbs.s_name_by_id.find(*id) : dbs.s_name_by_id.end();
    if (it != dbs.s_name_by_id.end()) {
      if (IsDeletedName(it->second)) return;
      std::string u = UnitOf(it->second);
      if (u.empty() || (only && !only->count(u))) return;
      sf.uniqueid = *id;
      sf.name = it->second;
      sf.header_ok = Exists(spool + "/" + rel + "/cyrus.header");
      place(u);
      return;
    }
  }
  if (sf.legacy && only) {
    auto n = MailboxFromLegacyRelDir(rel, true);
    if (!n) n = MailboxFromLegacyRelDir(rel, false);
    if (n && !only->count(UserOf(*n))) return;
  }
  auto h = cyrus::ReadHeaderFile(spool + "/" + rel + "/cyrus.header");
  if (h) {
    sf.header_ok = true;
    sf.name = h->name;
    sf.uniqueid = h->uniqueid;
    if (sf.legacy) {
      // Cyrus 3.6 renames a legacy folder by moving its directory and leaves
      // the old name in cyrus.header: the clean salvaged db, else where the
      // directory is, names the folder (the path is where Cyrus looks for it).
      if (auto it = dbs.s_live_name_by_id.find(sf.uniqueid); it != dbs.s_live_name_by_id.end())
        sf.name = it->second;
      else if (auto n = MailboxFromLegacyRelDir(rel, true))
        sf.name = *n;
      else if (auto n2 = MailboxFromLegacyRelDir(rel, false))
        sf.name = *n2;
    }
  } else if (!sf.legacy) {
    if (auto id = UniqueidFromUuidRelDir(rel)) sf.uniqueid = *id;
    if (auto it = dbs.s_live_name_by_id.find(sf.uniqueid); it != dbs.s_live_name_by_id.end()) sf.name = it->second;
  } else {
    if (auto n = MailboxFromLegacyRelDir(rel, true)) sf.name = *n;
    else if (auto n2 = MailboxFromLegacyRelDir(rel, false)) sf.name = *n2;
  }
  if (!sf.uniqueid.empty()) {
    auto it = dbs.s_name_by_id.find(sf.uniqueid);
    if (it != dbs.s_name_by_id.end() && IsDeletedName(it->second)) return;  // pending delayed delete
    if (dbs.s_tombstones.count({sf.name, sf.uniqueid}) && it == dbs.s_name_by_id.end()) return;
  }
  std::string u = UnitOf(sf.name);
  if (u.empty()) return;  // unnameable: no unit to put it in
  if (only && !only->count(u)) return;
  place(u);
}

void FolderIndex::AddWalk(const StoreDbs& dbs, const std::set<std::string>* only) {
  for (const std::string& rel : FindFolderDirs(dbs.paths.salvaged_dir + "/spool")) Add(dbs, rel, only);
}

std::vector<ScannedFolder> FolderIndex::Of(const std::string& user) const {
  std::vector<ScannedFolder> out;
  if (auto it = by_user_.find(user); it != by_user_.end())
    for (const auto& [rel, sf] : it->second) out.push_back(sf);
  return out;
}

std::map<std::string, std::vector<ScannedFolder>> FolderIndex::All() const {
  std::map<std::string, std::vector<ScannedFolder>> out;
  for (const auto& [u, m] : by_user_)
    if (!m.empty()) out[u] = Of(u);
  return out;
}

Result<StoreView> StoreView::Open(const StorePaths& paths, const std::vector<std::string>& only_users) {
  std::set<std::string> only_set(only_users.begin(), only_users.end());
  const std::set<std::string>* only = only_users.empty() ? nullptr : &only_set;
  auto man = ReadSalvageManifest(paths.salvaged_dir + "/salvage.json");
  if (!man) return Error{Code::kInvalidArgument, "--salvaged: " + man.error().message};
  auto dbs = StoreDbs::Load(paths);
  if (!dbs) return dbs.error();
  FolderIndex index;
  index.AddWalk(**dbs, only);
  return Compose(std::move(dbs.value()), std::move(man.value()), index.All());
}

StoreView StoreView::Compose(std::shared_ptr<const StoreDbs> dbs, SalvageManifest manifest,
                             std::map<std::string, std::vector<ScannedFolder>> s_scan) {
  StoreView v;
  v.dbs_ = std::move(dbs);
  v.manifest_ = std::move(manifest);
  v.s_scan_ = std::move(s_scan);
  return v;
}

std::vector<std::string> StoreView::Users() const {
  std::set<std::string> all;
  for (const auto& [u, l] : dbs_->s_db)
    for (const auto& e : l)
      if (LiveFolder(e)) all.insert(u);
  for (const auto& [u, l] : s_scan_) all.insert(u);
  for (const auto& [u, l] : dbs_->b_db)
    for (const auto& e : l)
      if (LiveFolder(e)) all.insert(u);
  return {all.begin(), all.end()};
}

void StoreView::ForEachBackupFolder(const std::function<bool(const std::string& rel_dir)>& fn) const {
  for (const auto& [u, l] : dbs_->b_db)
    for (const auto& f : BackupSide(u).folders)
      if (fn(f.rel_dir)) return;
}

std::string StoreView::BackupRelDir(const cyrus::MboxEntry& e) const {
  if (!Has(e.mbtype, 'l')) return MailboxRelDir(e.name, e.uniqueid, CyrusLayout::kUuid, false);
  if (dbs_->b_hash) return MailboxRelDir(e.name, e.uniqueid, CyrusLayout::kLegacy, *dbs_->b_hash);
  std::string hashed = MailboxRelDir(e.name, e.uniqueid, CyrusLayout::kLegacy, true);
  if (Exists(dbs_->paths.backup_spool + "/" + hashed)) return hashed;
  std::string flat = MailboxRelDir(e.name, e.uniqueid, CyrusLayout::kLegacy, false);
  return Exists(dbs_->paths.backup_spool + "/" + flat) ? flat : hashed;
}

UserSide StoreView::BackupSide(const std::string& user) const {
  UserSide side;
  auto it = dbs_->b_db.find(user);
  if (it == dbs_->b_db.end()) return side;
  for (const auto& e : it->second) {
    if (!LiveFolder(e)) continue;
    FolderRef r;
    r.name = e.name;
    r.uniqueid = e.uniqueid;
    r.uidvalidity = e.uidvalidity;
    r.rel_dir = BackupRelDir(e);
    r.legacy = Has(e.mbtype, 'l');
    r.in_db = true;
    r.db = e;
    std::string abs = dbs_->paths.backup_spool + "/" + r.rel_dir;
    r.dir_exists = Exists(abs);
    r.header_found = Exists(abs + "/cyrus.header");
    side.folders.push_back(std::move(r));
  }
  side.present = !side.folders.empty();
  side.tree_readable = true;
  return side;
}

UserSide StoreView::SalvagedSide(const std::string& user, const UserSide& b) const {
  UserSide side;
  std::vector<FolderRef> refs;
  if (auto it = dbs_->s_db.find(user); it != dbs_->s_db.end()) {
    for (const auto& e : it->second) {
      if (Has(e.mbtype, 'd')) {
        side.tombstones.push_back(e.name);
        continue;
      }
      if (!LiveFolder(e)) continue;
      FolderRef r;
      r.name = e.name;
      r.uniqueid = e.uniqueid;
      r.uidvalidity = e.uidvalidity;
      r.legacy = Has(e.mbtype, 'l');
      r.in_db = true;
      r.db = e;
      refs.push_back(std::move(r));
    }
  }
  std::vector<bool> scanned(refs.size(), false);
  if (auto it = s_scan_.find(user); it != s_scan_.end()) {
    for (const auto& sf : it->second) {
      FolderRef* match = nullptr;
      for (std::size_t i = 0; i < refs.size() && !match; ++i)
        if (!scanned[i] && ((!sf.uniqueid.empty() && refs[i].uniqueid == sf.uniqueid) ||
                            (sf.uniqueid.empty() && refs[i].name == sf.name))) {
          match = &refs[i];
          scanned[i] = true;
        }
      if (!match) {
        refs.push_back(FolderRef{});
        scanned.push_back(true);
        match = &refs.back();
        match->name = sf.name;
        match->uniqueid = sf.uniqueid;
      }
      if (sf.header_ok) match->name = sf.name;
      match->rel_dir = sf.rel_dir;
      match->legacy = sf.legacy;
      match->header_found = sf.header_ok;
      match->dir_exists = true;
    }
  }
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (scanned[i]) continue;
    FolderRef& r = refs[i];
    r.rel_dir = MailboxRelDir(r.name, r.uniqueid, r.legacy ? CyrusLayout::kLegacy : CyrusLayout::kUuid,
                              dbs_->b_hash.value_or(true));
    r.dir_exists = Exists(s_spool() + "/" + r.rel_dir);
  }
  // A backup folder whose directory exists in S without header or index
  // (damaged metadata): S still has the folder.
  for (const auto& bf : b.folders) {
    bool known = std::any_of(refs.begin(), refs.end(), [&](const FolderRef& r) {
      return (!bf.uniqueid.empty() && r.uniqueid == bf.uniqueid) || r.name == bf.name || r.rel_dir == bf.rel_dir;
    });
    if (known || !Exists(s_spool() + "/" + bf.rel_dir)) continue;
    // A readable header there names another mailbox (e.g. DELETED.user...),
    // and a tombstone says the folder was deleted: not this folder.
    if (cyrus::ReadHeaderFile(s_spool() + "/" + bf.rel_dir + "/cyrus.header")) continue;
    if (std::find(side.tombstones.begin(), side.tombstones.end(), bf.name) != side.tombstones.end()) continue;
    FolderRef r;
    r.name = bf.name;
    r.uniqueid = bf.uniqueid;
    r.rel_dir = bf.rel_dir;
    r.legacy = bf.legacy;
    r.dir_exists = true;
    refs.push_back(std::move(r));
  }
  bool readable = dbs_->s_db_ok && manifest_.UserDone(user);
  for (auto& r : refs) {
    r.dir_complete = manifest_.DirComplete(ManifestPath(r.rel_dir));
    if (!r.dir_complete) readable = false;
  }
  for (const auto& bf : b.folders)
    if (!manifest_.DirComplete(ManifestPath(Parent(bf.rel_dir)))) readable = false;
  side.folders = std::move(refs);
  side.present = !side.folders.empty() || !side.tombstones.empty();
  side.tree_readable = readable;
  return side;
}

std::pair<UserSide, UserSide> StoreView::SidesFor(const std::string& user) const {
  UserSide b = BackupSide(user);
  UserSide s = SalvagedSide(user, b);
  return {std::move(s), std::move(b)};
}

std::vector<cyrus::MboxEntry> StoreView::Intermediates(const std::string& user) const {
  std::vector<cyrus::MboxEntry> out;
  const std::vector<cyrus::MboxEntry>* list = nullptr;
  if (auto it = dbs_->s_db.find(user); it != dbs_->s_db.end() && !it->second.empty()) list = &it->second;
  else if (auto jt = dbs_->b_db.find(user); jt != dbs_->b_db.end()) list = &jt->second;
  if (!list) return out;
  for (const auto& e : *list)
    if (Has(e.mbtype, 'i') && !Has(e.mbtype, 'd')) out.push_back(e);
  return out;
}

}  // namespace mr::reconcile
