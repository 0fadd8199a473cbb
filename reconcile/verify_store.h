// verify_store: the store as verify sees it before looking inside folders —
// the db's mailboxes grouped by user, the N<->I findings, and the mailbox
// directories on the spool that the db does not list.
//
// Contract: BuildSnapshot reads the db once and scans the spool once; the
// snapshot is immutable afterwards and shared by concurrent VerifyUser calls.
// Findings that belong to no user (an unreadable db record, an unreadable
// spool directory) are kept under the user "".
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "reconcile/cyrus/annotations_db.h"
#include "reconcile/verify.h"
#include "reconcile/verify_db.h"
#include "reconcile/verify_folder.h"

namespace mr::verify {

struct UserPart {
  std::vector<DbRecord> mailboxes;       // N records, sorted by name
  std::map<std::string, const DbRecord*> i_of;  // name -> its I record (absent: none)
  std::vector<std::string> db_problems;  // I records without N, ...
  std::vector<std::string> orphan_dirs;  // spool dirs not in the db, as finding lines
};

struct StoreSnapshot {
  std::string spool;
  std::string db;
  FolderLayout layout;
  DbView dbview;                          // owns the I records i_of points into
  std::map<std::string, UserPart> users;  // by user; "" = store-wide findings
  // The config annotations.db next to the db (mailbox annotations by
  // uniqueid); null when absent or unreadable: quota_annot_used not checked.
  std::shared_ptr<const cyrus::AnnotationsDb> annotations;
};

// `only_users` empty = everyone.
Result<std::shared_ptr<const StoreSnapshot>> BuildSnapshot(const VerifyOptions& opts);

}  // namespace mr::verify
