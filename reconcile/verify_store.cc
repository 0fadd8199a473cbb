// verify_store: db + spool scan, grouped by user. See verify_store.h.
#include "reconcile/verify_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>

#include "common/cyrus_layout.h"
#include "reconcile/cyrus/header.h"
#include "reconcile/verify_spool.h"

namespace mr::verify {
namespace {

bool Wanted(const VerifyOptions& opts, const std::string& user) {
  return opts.users.empty() ||
         std::find(opts.users.begin(), opts.users.end(), user) != opts.users.end();
}

FolderSpec SpecOf(const DbRecord& n) {
  FolderSpec s;
  s.name = n.name;
  s.uniqueid = n.uniqueid;
  s.uidvalidity = n.uidvalidity;
  s.mbtype = n.mbtype;
  s.acl = n.acl;
  return s;
}

// A spool directory holding cyrus.header that no N record claims.
void AddOrphan(const VerifyOptions& opts, StoreSnapshot& snap, const std::string& rel,
               const std::string& fallback_name) {
  std::string name = fallback_name;
  auto h = cyrus::ReadHeaderFile(snap.spool + "/" + rel + "/cyrus.header");
  if (h.ok() && !h->name.empty()) name = h->name;
  std::string user = UnitOfMailbox(name);
  if (!Wanted(opts, user)) return;
  std::string label = name.empty() ? rel : name;
  snap.users[user].orphan_dirs.push_back(
      label + ": mailbox directory " + rel +
      " holds cyrus.header but mailboxes.db does not list it");
}

}  // namespace

Result<std::shared_ptr<const StoreSnapshot>> BuildSnapshot(const VerifyOptions& opts) {
  auto snap = std::make_shared<StoreSnapshot>();
  snap->spool = opts.spool;
  snap->db = opts.db;
  snap->layout.spool = opts.spool;
  snap->layout.hashimapspool = opts.hashimapspool.value_or(DetectHashImapSpool(opts.spool, true));
  snap->layout.fulldirhash = opts.fulldirhash;
  {
    const auto slash = opts.db.rfind('/');
    snap->layout.conf = slash == std::string::npos ? "." : opts.db.substr(0, slash);
    auto annots = cyrus::ReadAnnotationsDb(snap->layout.conf + "/annotations.db");
    if (annots && annots->problems.empty())
      snap->annotations = std::make_shared<const cyrus::AnnotationsDb>(std::move(annots.value()));
  }
  // Verifying some users only: walk just their legacy trees.
  // The shared unit's mailboxes may sit anywhere outside the user trees:
  // then the whole legacy tree is walked.
  std::vector<std::string> legacy_roots;
  bool want_shared = std::find(opts.users.begin(), opts.users.end(), kSharedUnit) != opts.users.end();
  for (const auto& u : opts.users)
    if (!want_shared) legacy_roots.push_back(MailboxRelDir(InternalName(u, "INBOX"), "", CyrusLayout::kLegacy,
                                         snap->layout.hashimapspool, opts.fulldirhash));
  auto scan = ScanSpool(opts.spool, legacy_roots, /*walk_uuid=*/!opts.uuid_dirs);
  if (!scan.ok()) return scan.error();
  if (opts.uuid_dirs) {
    for (const auto& rel : *opts.uuid_dirs) {
      struct stat st {};
      if (rel.rfind("uuid/", 0) == 0 && ::lstat((opts.spool + "/" + rel).c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        scan->uuid_dirs.push_back(rel);
    }
    std::sort(scan->uuid_dirs.begin(), scan->uuid_dirs.end());
    scan->uuid_dirs.erase(std::unique(scan->uuid_dirs.begin(), scan->uuid_dirs.end()), scan->uuid_dirs.end());
  }

  auto db = LoadDbView(opts.db);
  if (!db.ok()) return db.error();
  snap->dbview = std::move(*db);
  const DbView& view = snap->dbview;
  for (const auto& p : view.problems) snap->users[""].db_problems.push_back(p);

  std::set<std::string> claimed_dirs;
  std::set<std::string> ids_with_n;
  for (const auto& n : view.n) {
    ids_with_n.insert(n.uniqueid);
    if (!HasNoDirectory(n)) claimed_dirs.insert(FolderRelDir(SpecOf(n), snap->layout));
    std::string user = UnitOfMailbox(n.name);
    if (!Wanted(opts, user)) continue;
    UserPart& part = snap->users[user];
    part.mailboxes.push_back(n);
    auto it = view.i.find(n.uniqueid);
    part.i_of[n.name] = it == view.i.end() ? nullptr : &it->second;
  }
  for (const auto& [id, rec] : view.i) {
    if (ids_with_n.count(id)) continue;
    std::string user = UnitOfMailbox(rec.name);
    if (!Wanted(opts, user)) continue;
    snap->users[user].db_problems.push_back(
        (rec.name.empty() ? "mailboxes.db" : rec.name) + ": I record for uniqueid " + id +
        " has no N record");
  }

  for (const auto& p : scan->problems)
    if (Wanted(opts, "")) snap->users[""].orphan_dirs.push_back("spool: " + p);
  for (const auto& rel : scan->uuid_dirs) {
    if (claimed_dirs.count(rel)) continue;
    if (::access((snap->spool + "/" + rel + "/cyrus.header").c_str(), F_OK) != 0) continue;
    AddOrphan(opts, *snap, rel, "");
  }
  for (const auto& rel : scan->legacy_dirs) {
    if (claimed_dirs.count(rel)) continue;
    auto name = MailboxFromLegacyRelDir(rel, snap->layout.hashimapspool, opts.fulldirhash);
    AddOrphan(opts, *snap, rel, name.value_or(""));
  }
  for (auto& [user, part] : snap->users)
    std::sort(part.mailboxes.begin(), part.mailboxes.end(),
              [](const DbRecord& a, const DbRecord& b) { return a.name < b.name; });
  return std::shared_ptr<const StoreSnapshot>(std::move(snap));
}

}  // namespace mr::verify
