// Discovery: which users and folders each side holds, before any folder is
// read in detail.
//
//  - S (salvaged DIR): folders come from DIR/conf/mailboxes.db AND from the
//    cyrus.header files found by walking DIR/spool (the db may be damaged,
//    and a folder whose header is damaged is still found by its index or,
//    for a backup folder, by its directory). DIR/salvage.json says which
//    directories were listed in full; S's tree counts as readable for a user
//    only when its db read cleanly, salvage finished the user, and every
//    directory a folder of the user could live in was listed in full.
//  - B (backup): folders come from the backup mailboxes.db; each folder's
//    directory from its uniqueid/name and the `l` (legacy dirs) flag.
// StoreView::Open reads both dbs (StoreDbs) and walks the salvaged spool once
// (FolderIndex); SidesFor then builds one user's UserSide pair with a few
// stat() calls. Immutable after Open; SidesFor is thread-safe. A long run
// (rescue) keeps the StoreDbs and a FolderIndex it extends per user and
// composes a small view per user instead.
// "User" below means a reconcile unit (common/cyrus_layout.h UnitOf): every
// non-user mailbox (shared.*, Public, ...) belongs to the one pseudo-user
// kSharedUnit ("%shared") and is discovered, paired and judged exactly like a
// user's folders; its tree counts as readable only when salvage finished the
// rest group that holds it (SalvageManifest::UserDone).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "reconcile/cyrus/annotations_db.h"
#include "reconcile/cyrus/mboxdb.h"
#include "reconcile/plan.h"
#include "reconcile/salvage_manifest.h"

namespace mr::reconcile {

struct StorePaths {
  std::string salvaged_dir;   // DIR: DIR/spool, DIR/conf/mailboxes.db, DIR/salvage.json
  std::string backup_spool;
  std::string backup_db;
  std::string backup_conf;    // optional imapd.conf of the backup (hashimapspool etc.)
};

// A folder directory found in the salvaged spool.
struct ScannedFolder {
  std::string rel_dir;
  std::string name;      // "" when neither header nor db nor path names it
  std::string uniqueid;  // "" when unknown
  bool header_ok = false;
  bool legacy = false;
};

// The database half of a StoreView: both mailboxes.db read once and grouped
// by user, and the salvaged db's uniqueid maps used to attribute folder
// directories. Immutable after Load; shared by the per-user views of a long
// run (rescue loads it once per target instead of once per user).
struct StoreDbs {
  StorePaths paths;
  bool s_db_ok = false;
  std::vector<std::string> s_db_problems;
  // By unit (UnitOf: a user, or kSharedUnit for every non-user mailbox).
  std::map<std::string, std::vector<cyrus::MboxEntry>> s_db;
  std::map<std::string, std::vector<cyrus::MboxEntry>> b_db;
  std::optional<bool> b_hash;       // hashimapspool from --backup-conf
  std::map<std::string, std::string> s_name_by_id;       // every non-tombstone entry's name
  std::map<std::string, std::string> s_live_name_by_id;  // live folders only
  std::set<std::pair<std::string, std::string>> s_tombstones;  // (name, uniqueid)
  // Each side's config annotations.db (mailbox annotations by uniqueid), read
  // once; null when absent or unreadable (S: also when it read with damage).
  std::shared_ptr<const cyrus::AnnotationsDb> s_annotations, b_annotations;
  std::vector<std::string> annotations_problems;  // why a side's db is not used

  static Result<std::shared_ptr<const StoreDbs>> Load(const StorePaths& paths);
};

// Fills dbs.s_annotations / b_annotations from the salvaged DIR/conf and the
// backup db's directory (part of StoreDbs::Load).
void LoadAnnotationSides(StoreDbs& dbs);

// Salvaged folder directories (relative to the salvaged spool) attributed to
// users: by the clean salvaged db for a uuid directory, else by its
// cyrus.header, else by the db or the legacy path. Add() may be called again
// for a directory whose content changed (it is re-attributed). Users() lists
// folders sorted by directory. Not thread-safe; one per run or per target.
class FolderIndex {
 public:
  // `only`: attribute to these users only, and read no header of other users'
  // folders that can be attributed cheaply.
  void Add(const StoreDbs& dbs, const std::string& rel_dir, const std::set<std::string>* only = nullptr);
  // Every folder directory under the salvaged spool (FindFolderDirs).
  void AddWalk(const StoreDbs& dbs, const std::set<std::string>* only = nullptr);
  std::vector<ScannedFolder> Of(const std::string& user) const;
  std::map<std::string, std::vector<ScannedFolder>> All() const;

 private:
  std::map<std::string, std::map<std::string, ScannedFolder>> by_user_;  // user -> rel -> folder
  std::map<std::string, std::string> user_of_;                            // rel -> user
};

class StoreView {
 public:
  // only_users (optional): the walk attributes folders to these users only
  // and reads no header of other users' folders it can attribute cheaply.
  static Result<StoreView> Open(const StorePaths& paths, const std::vector<std::string>& only_users = {});
  // A view from parts already loaded: the dbs, the salvage manifest (or what
  // the caller knows of it) and the salvaged folders of the users it needs.
  static StoreView Compose(std::shared_ptr<const StoreDbs> dbs, SalvageManifest manifest,
                           std::map<std::string, std::vector<ScannedFolder>> s_scan);

  const StorePaths& paths() const { return dbs_->paths; }
  std::string s_spool() const { return dbs_->paths.salvaged_dir + "/spool"; }
  std::string s_conf() const { return dbs_->paths.salvaged_dir + "/conf"; }
  std::string b_conf() const;
  const SalvageManifest& manifest() const { return manifest_; }
  bool s_db_readable() const { return dbs_->s_db_ok; }
  const std::vector<std::string>& s_db_problems() const { return dbs_->s_db_problems; }

  // Every unit either side knows, sorted: users, and kSharedUnit when either
  // side has a non-user mailbox (it sorts first: '%' < any name character).
  std::vector<std::string> Users() const;
  // Calls fn(rel_dir) for the backup's folders, unit by unit in sorted order,
  // until it returns true (without listing every unit first).
  void ForEachBackupFolder(const std::function<bool(const std::string& rel_dir)>& fn) const;
  // (S, B) for one user.
  std::pair<UserSide, UserSide> SidesFor(const std::string& user) const;
  // Intermediate ('i') db entries of a user, from S's db when the user is
  // there, else B's.
  std::vector<cyrus::MboxEntry> Intermediates(const std::string& user) const;
  // A folder's entries in one side's annotations.db (by its uniqueid);
  // nullopt when that side's db is not usable (StoreDbs).
  std::optional<std::vector<cyrus::AnnotationRecord>> MailboxAnnotations(Side side,
                                                                         const std::string& uniqueid) const;

 private:
  UserSide SalvagedSide(const std::string& user, const UserSide& b) const;
  UserSide BackupSide(const std::string& user) const;
  std::string BackupRelDir(const cyrus::MboxEntry& e) const;

  std::shared_ptr<const StoreDbs> dbs_ = std::make_shared<const StoreDbs>();
  SalvageManifest manifest_;
  std::map<std::string, std::vector<ScannedFolder>> s_scan_;  // by user
};

// Walks a spool for folder directories (holding cyrus.header or cyrus.index),
// skipping our own "*.mrtmp" leftovers.
std::vector<std::string> FindFolderDirs(const std::string& spool);

}  // namespace mr::reconcile
