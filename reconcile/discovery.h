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
// StoreView::Open reads both dbs and walks the salvaged spool once; SidesFor
// then builds one user's UserSide pair with a few stat() calls. Immutable
// after Open; SidesFor is thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
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

class StoreView {
 public:
  // only_users (optional): the walk attributes folders to these users only
  // and reads no header of other users' folders it can attribute cheaply.
  static Result<StoreView> Open(const StorePaths& paths, const std::vector<std::string>& only_users = {});

  const StorePaths& paths() const { return paths_; }
  std::string s_spool() const { return paths_.salvaged_dir + "/spool"; }
  std::string s_conf() const { return paths_.salvaged_dir + "/conf"; }
  std::string b_conf() const;
  const SalvageManifest& manifest() const { return manifest_; }
  bool s_db_readable() const { return s_db_ok_; }
  const std::vector<std::string>& s_db_problems() const { return s_db_problems_; }

  // Every user either side knows, sorted.
  std::vector<std::string> Users() const;
  // (S, B) for one user.
  std::pair<UserSide, UserSide> SidesFor(const std::string& user) const;
  // Intermediate ('i') db entries of a user, from S's db when the user is
  // there, else B's.
  std::vector<cyrus::MboxEntry> Intermediates(const std::string& user) const;
  // Mailboxes that belong to no user (shared folders): not reconciled.
  std::vector<std::string> SharedMailboxes() const;

 private:
  UserSide SalvagedSide(const std::string& user, const UserSide& b) const;
  UserSide BackupSide(const std::string& user) const;
  std::string BackupRelDir(const cyrus::MboxEntry& e) const;

  StorePaths paths_;
  SalvageManifest manifest_;
  bool s_db_ok_ = false;
  std::vector<std::string> s_db_problems_;
  std::map<std::string, std::vector<cyrus::MboxEntry>> s_db_;  // by user
  std::map<std::string, std::vector<cyrus::MboxEntry>> b_db_;  // by user
  std::map<std::string, std::vector<ScannedFolder>> s_scan_;   // by user
  std::vector<std::string> shared_;
  std::optional<bool> b_hash_;  // hashimapspool from --backup-conf
};

// Walks a spool for folder directories (holding cyrus.header or cyrus.index),
// skipping our own "*.mrtmp" leftovers.
std::vector<std::string> FindFolderDirs(const std::string& spool);

}  // namespace mr::reconcile
