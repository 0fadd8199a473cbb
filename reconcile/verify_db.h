// verify_db: the mailboxes.db side of verify — its N and I records, checked
// against each other and grouped by user.
//
// Contract: LoadDbView reads the db once (twoskip or flat, through
// reconcile/cyrus/mboxdb) and never fails on damaged content: unreadable
// records become lines in DbView::problems. Error only when the file cannot
// be opened or is not a mailboxes.db at all. CheckNI compares an N record with
// the I record of its uniqueid (uniqueid, V, T, P, A) and returns one line per
// disagreement, "<name>: <what>". Pure apart from reading the file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace mr::verify {

// One decoded N or I record.
struct DbRecord {
  std::string name;       // internal name (for I records: the N it points to)
  std::string uniqueid;
  std::string partition;
  std::string mbtype;
  std::uint32_t uidvalidity = 0;
  std::vector<std::pair<std::string, std::string>> acl;
};

struct DbView {
  std::vector<DbRecord> n;                 // sorted by name
  std::map<std::string, DbRecord> i;       // by uniqueid
  std::vector<std::string> problems;       // "mailboxes.db: ..." lines
};

Result<DbView> LoadDbView(const std::string& path);

// Differences between an N record and its I record.
std::vector<std::string> CheckNI(const DbRecord& n, const DbRecord* i);

// True for N records that have no directory on the spool: delayed-delete
// tombstones ('d'), intermediates ('i'), remote mailboxes ('r').
bool HasNoDirectory(const DbRecord& n);

// User a mailbox belongs to ("bob" for user.bob.Sent and for
// DELETED.user.bob.Sent.5F1A2B3C), "" for shared mailboxes.
std::string UserOfMailbox(const std::string& name);
// The unit verify groups a mailbox under (as reconcile does, UnitOf): its
// user, else kSharedUnit ("%shared") for shared mailboxes (DELETED.shared...
// included); "" for an empty name.
std::string UnitOfMailbox(const std::string& name);

}  // namespace mr::verify
