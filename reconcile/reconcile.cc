#include "reconcile/reconcile.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <tbb/global_control.h>
#include <tbb/info.h>

#include "common/cyrus_layout.h"
#include "common/fsutil.h"
#include "common/parallel.h"
#include "reconcile/cyrus/annotations_db.h"
#include "reconcile/cyrus/imapd_conf.h"
#include "reconcile/cyrus/twoskip.h"
#include "reconcile/inventory.h"
#include "reconcile/planner.h"
#include "reconcile/quota_roots.h"
#include "reconcile/userfiles.h"

namespace mr::reconcile {
namespace {

// A user-name file (--priority): entries as UserFromListEntry names them.
std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto b = line.find_first_not_of(" \t\r");
    auto e = line.find_last_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    out.push_back(UserFromListEntry(line.substr(b, e - b + 1)));
  }
  return out;
}

// The output config directory: where the output mailboxes.db is.
std::string OutConfDir(const std::string& out_db) {
  const auto slash = out_db.rfind('/');
  return out_db.substr(0, slash == std::string::npos ? 0 : slash);
}

// The uniqueid a side's annotations.db keys this folder by: its header's,
// else the one its db entry (pairing) gives.
std::string InventoryUniqueid(const FolderInventory& inv, const std::string& from_db) {
  return inv.header && !inv.header->uniqueid.empty() ? inv.header->uniqueid : from_db;
}

Severity Worse(Severity a, Severity b) { return static_cast<int>(a) > static_cast<int>(b) ? a : b; }

std::vector<std::string> InventoryProblems(const FolderInventory& inv) {
  std::vector<std::string> out;
  std::string side = SideName(inv.side);
  if (!inv.dir_exists) {
    out.push_back(side + ": folder directory missing");
    return out;
  }
  if (!inv.dir_complete) out.push_back(side + ": directory listing incomplete (salvage)");
  if (!inv.header) out.push_back(side + ": " + inv.header_error);
  if (!inv.index) out.push_back(side + ": " + inv.index_error);
  for (const auto& p : inv.problems) out.push_back(side + ": cyrus.index record " + std::to_string(p.record_no) + ": " + p.what);
  if (!inv.cache_error.empty() && !inv.records.empty()) out.push_back(side + ": " + inv.cache_error);
  if (!inv.annotations_error.empty()) out.push_back(side + ": " + inv.annotations_error + " (not carried)");
  std::size_t damaged = 0;
  for (const auto& f : inv.files) damaged += f.damaged;
  if (damaged) out.push_back(side + ": " + std::to_string(damaged) + " damaged message files");
  return out;
}

// Owner of the backup's mail files: the first folder header found, else the spool root.
void BackupOwner(const StoreView& view, ApplyOptions& a) {
  if (::geteuid() != 0) return;
  struct stat st {};
  if (::stat(view.paths().backup_spool.c_str(), &st) != 0) return;
  a.set_owner = true;
  a.owner = st.st_uid;
  a.group = st.st_gid;
  // The first backup folder's owner (per user this runs once per Reconciler:
  // it must not list every user of the store first).
  view.ForEachBackupFolder([&](const std::string& rel_dir) {
    if (::stat((view.paths().backup_spool + "/" + rel_dir + "/cyrus.header").c_str(), &st) != 0) return false;
    a.owner = st.st_uid;
    a.group = st.st_gid;
    return true;
  });
}

}  // namespace

int RunOutcome::ExitCode() const {
  if (!errors.empty()) return 1;
  for (const auto& u : users)
    if (u.status != Severity::kInfo || !u.done || !u.errors.empty()) return 1;
  return 0;
}

namespace {

// `path` exists as a directory, or its nearest existing ancestor is a
// writable directory it can be made under.
Status CheckMakeableDir(const std::string& arg, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error{Code::kInvalidArgument, arg + ": " + path + " exists and is not a directory"};
    if (::access(path.c_str(), W_OK | X_OK) != 0)
      return Error{Code::kInvalidArgument, arg + ": " + path + " is not writable"};
    return {};
  }
  std::string up = path;
  while (true) {
    while (up.size() > 1 && up.back() == '/') up.pop_back();
    auto pos = up.find_last_of('/');
    up = pos == std::string::npos ? "." : pos == 0 ? "/" : up.substr(0, pos);
    if (::stat(up.c_str(), &st) == 0) break;
    if (up == "/" || up == ".") return Error{Code::kInvalidArgument, arg + ": no existing directory above " + path};
  }
  if (!S_ISDIR(st.st_mode))
    return Error{Code::kInvalidArgument, arg + ": " + up + " (above " + path + ") is not a directory"};
  if (::access(up.c_str(), W_OK | X_OK) != 0)
    return Error{Code::kInvalidArgument, arg + ": cannot create " + path + " (" + up + " is not writable)"};
  return {};
}

std::string DirOf(const std::string& path) {
  auto pos = path.find_last_of('/');
  return pos == std::string::npos ? "." : pos == 0 ? "/" : path.substr(0, pos);
}

}  // namespace

Status CheckTargetPaths(const std::string& backup_spool, const std::string& backup_db, const std::string& out_spool,
                        const std::string& out_db, bool outputs) {
  struct stat st {};
  if (::stat(backup_spool.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Error{Code::kInvalidArgument, "--backup-spool: " + backup_spool + " is not a directory"};
  if (::stat(backup_db.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(backup_db.c_str(), R_OK) != 0)
    return Error{Code::kInvalidArgument, "--backup-db: " + backup_db + " is not a readable file"};
  if (!outputs) return {};
  if (Status s = CheckMakeableDir("--out-spool", out_spool); !s.ok()) return s;
  if (::stat(out_db.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return Error{Code::kInvalidArgument, "--out-db: " + out_db + " exists and is not a regular file"};
  return CheckMakeableDir("--out-db", DirOf(out_db));
}

Result<Reconciler> Reconciler::Open(const ReconcileOptions& opts) { return Open(opts, std::nullopt); }

Result<Reconciler> Reconciler::Open(const ReconcileOptions& opts, StoreView view) {
  return Open(opts, std::optional<StoreView>(std::move(view)));
}

Result<Reconciler> Reconciler::Open(const ReconcileOptions& opts, std::optional<StoreView> view) {
  if (opts.paths.salvaged_dir.empty()) return Error{Code::kInvalidArgument, "--salvaged: required"};
  if (opts.paths.backup_spool.empty()) return Error{Code::kInvalidArgument, "--backup-spool: required"};
  if (opts.paths.backup_db.empty()) return Error{Code::kInvalidArgument, "--backup-db: required"};
  struct stat st {};
  if (::stat((opts.paths.salvaged_dir + "/spool").c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Error{Code::kInvalidArgument, "--salvaged: " + opts.paths.salvaged_dir + "/spool is not a directory"};
  if (::stat(opts.paths.backup_spool.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Error{Code::kInvalidArgument, "--backup-spool: " + opts.paths.backup_spool + " is not a directory"};
  Reconciler r;
  r.opts_ = opts;
  if (r.opts_.in_place) {
    if (!r.opts_.out_spool.empty() && r.opts_.out_spool != r.opts_.paths.backup_spool)
      return Error{Code::kInvalidArgument, "--in-place: --out-spool must be the backup spool (or omitted)"};
    r.opts_.out_spool = r.opts_.paths.backup_spool;
    if (r.opts_.out_db.empty()) r.opts_.out_db = r.opts_.paths.backup_db;
  }
  if (!r.opts_.dry_run) {
    if (r.opts_.out_spool.empty()) return Error{Code::kInvalidArgument, "--out-spool: required"};
    if (r.opts_.out_db.empty()) return Error{Code::kInvalidArgument, "--out-db: required"};
    if (!r.opts_.in_place && r.opts_.out_spool == r.opts_.paths.backup_spool)
      return Error{Code::kInvalidArgument, "--out-spool: is the backup spool; use --in-place to write onto it"};
  }
  if (Status s = CheckTargetPaths(r.opts_.paths.backup_spool, r.opts_.paths.backup_db, r.opts_.out_spool,
                                  r.opts_.out_db, !r.opts_.dry_run);
      !s.ok())
    return s.error();
  auto format = ResolveDbFormat(r.opts_);  // refuse an unwritable backend before any work
  if (!format) return format.error();
  if (view) {
    r.view_ = std::move(*view);
  } else {
    auto v = StoreView::Open(r.opts_.paths, r.opts_.users);
    if (!v) return v.error();
    r.view_ = std::move(v.value());
  }
  r.apply_.s_spool = r.view_.s_spool();
  r.apply_.b_spool = r.opts_.paths.backup_spool;
  r.apply_.out_spool = r.opts_.out_spool;
  r.apply_.in_place = r.opts_.in_place;
  r.apply_.fsync = r.opts_.fsync;
  BackupOwner(r.view_, r.apply_);
  return r;
}

std::vector<std::string> Reconciler::Users() const {
  std::vector<std::string> all = view_.Users();
  if (!opts_.users.empty()) {
    std::set<std::string> want(opts_.users.begin(), opts_.users.end());
    std::vector<std::string> keep;
    for (auto& u : all)
      if (want.count(u)) keep.push_back(u);
    all = std::move(keep);
  }
  if (opts_.priority_file.empty()) return all;
  std::vector<std::string> out;
  std::set<std::string> in(all.begin(), all.end()), placed;
  for (const auto& u : ReadLines(opts_.priority_file))
    if (in.count(u) && placed.insert(u).second) out.push_back(u);
  for (const auto& u : all)
    if (!placed.count(u)) out.push_back(u);
  return out;
}

Result<UserOutcome> Reconciler::ReconcileUser(const std::string& user, bool dry_run) const {
  UserOutcome out;
  out.user = user;
  auto [s, b] = view_.SidesFor(user);
  UserPlan up = PlanUser(user, s, b);
  out.reason = up.reason;
  out.status = Info(up.reason).severity;
  InventoryOptions sopt;
  sopt.hash_files = true;
  sopt.manifest = &view_.manifest();
  sopt.manifest_prefix = "spool";
  InventoryOptions bopt;
  bopt.hash_files = false;
  bool all_ok = true;
  std::string s_inbox_id, b_inbox_id, out_inbox_id;
  bool out_inbox_legacy = false;
  std::set<std::string> emitted_names, emitted_dirs;
  std::map<std::string, QuotaUsage> quota_usage;  // by quota root the output folders name
  for (const FolderPairing& p : up.folders) {
    FolderOutcome fo;
    fo.reason = p.reason;
    fo.emitted = p.emit;
    std::optional<FolderInventory> si, bi;
    if (p.emit) {
      if (p.s) si = InventoryFolder(Side::kSalvaged, view_.s_spool(), p.s->rel_dir, p.s->name, sopt);
      if (p.b) bi = InventoryFolder(Side::kBackup, opts_.paths.backup_spool, p.b->rel_dir, p.b->name, bopt);
      if (si) si->mailbox_annotations = view_.MailboxAnnotations(Side::kSalvaged, InventoryUniqueid(*si, p.s->uniqueid));
      if (bi) bi->mailbox_annotations = view_.MailboxAnnotations(Side::kBackup, InventoryUniqueid(*bi, p.b->uniqueid));
    }
    FolderPlan plan = PlanFolder(p, si ? &*si : nullptr, bi ? &*bi : nullptr);
    // The salvaged db names a folder whose directory salvage did not find and
    // the backup has no copy of: written empty, and what it held is lost.
    if (p.emit && p.s && !p.b && si && !si->dir_exists && plan.messages.empty()) plan.reason = Reason::kFolderLost;
    if (!p.emit && p.b) {
      // Deleted since the backup: count what the backup folder held.
      auto h = ReadFile(opts_.paths.backup_spool + "/" + p.b->rel_dir + "/cyrus.index");
      if (h) {
        auto ih = cyrus::ParseIndexHeader(*h);
        if (ih) plan.counts.dropped_deleted = ih->exists;
      }
    }
    fo.name = plan.name;
    fo.folder = FolderOf(plan.name);
    fo.uniqueid = plan.uniqueid;
    fo.uidvalidity = plan.uidvalidity;
    fo.reason = plan.reason;
    if (si) for (auto& pr : InventoryProblems(*si)) fo.problems.push_back(std::move(pr));
    if (bi) for (auto& pr : InventoryProblems(*bi)) fo.problems.push_back(std::move(pr));
    fo.counts = plan.counts;
    fo.renumbered = plan.renumbered;
    fo.unrecoverable = plan.unrecoverable;
    fo.not_merged = plan.not_merged;
    out.status = Worse(out.status, Info(plan.reason).severity);
    if (!plan.unrecoverable.empty()) out.status = Worse(out.status, Severity::kLost);
    if (!plan.not_merged.empty()) out.status = Worse(out.status, Severity::kAttention);
    if (fo.folder == "INBOX") {
      if (p.s) s_inbox_id = p.s->uniqueid;
      if (p.b) b_inbox_id = p.b->uniqueid;
      if (plan.emit) {
        out_inbox_id = plan.uniqueid;
        out_inbox_legacy = plan.legacy;
      }
    }
    if (plan.emit && (emitted_names.count(plan.name) || emitted_dirs.count(plan.rel_dir))) {
      // Two salvaged directories claim one name (or one directory): never
      // write both into one place; the operator decides.
      fo.error = "another folder of this user already has this name or directory; not written";
      out.errors.push_back(plan.name + " (" + plan.uniqueid + "): " + fo.error);
      out.status = Worse(out.status, Severity::kAttention);
      fo.emitted = false;
      out.folders.push_back(std::move(fo));
      continue;
    }
    // The plan is self-contained: drop the inventories before applying so a
    // huge folder is never held twice.
    si.reset();
    bi.reset();
    if (plan.emit) {
      emitted_names.insert(plan.name);
      emitted_dirs.insert(plan.rel_dir);
      if (!dry_run) {
        auto st = ApplyFolder(plan, apply_);
        if (!st) {
          fo.error = st.error().message;
          out.failed.push_back(plan.name);
          out.errors.push_back(plan.name + ": " + fo.error);
          out.status = Worse(out.status, Severity::kAttention);
          all_ok = false;
        } else {
          fo.apply = *st;
          fo.applied = true;
        }
      }
      // A folder that failed to apply keeps no db entry: the db never names
      // a folder the spool does not hold as planned.
      if (dry_run || fo.applied) {
        out.entries.push_back(plan.db);
        if (!plan.mailbox_annotations.empty()) out.annotations[plan.uniqueid] = std::move(plan.mailbox_annotations);
        if (!plan.header.quotaroot.empty()) {
          QuotaUsage& qu = quota_usage[plan.header.quotaroot];
          qu.storage += plan.index.quota_mailbox_used;
          qu.messages += plan.index.exists;
          qu.annot += plan.index.quota_annot_used;
          ++qu.folders;
        }
      }
    }
    out.folders.push_back(std::move(fo));
  }
  // In place, the output spool is the backup's: a backup folder that is not in
  // the output any more (deleted since the backup, or re-created under another
  // uniqueid) must not stay behind as a mailbox directory the db does not list.
  // Set aside before the db is rewritten: a crash in between leaves a db entry
  // without its directory, which the next run drops (S shows it absent).
  if (opts_.in_place && !dry_run && all_ok) {
    for (const FolderPairing& p : up.folders) {
      if (!p.b || p.b->rel_dir.empty() || emitted_dirs.count(p.b->rel_dir)) continue;
      auto moved = SetAsideFolder(opts_.paths.backup_spool, p.b->rel_dir);
      if (!moved) {
        out.errors.push_back(p.b->name + ": " + moved.error().message);
        out.status = Worse(out.status, Severity::kAttention);
        all_ok = false;
        continue;
      }
      for (auto& fo : out.folders)
        if (fo.name == p.b->name && fo.apply.set_aside.empty()) fo.apply.set_aside = *moved;
    }
  }
  // Nothing of the user was found anywhere, only the salvaged db's word that
  // it exists: the user is lost, not merely new.
  if (!out.folders.empty() && std::all_of(out.folders.begin(), out.folders.end(),
                                          [](const FolderOutcome& f) { return f.reason == Reason::kFolderLost; }))
    out.reason = Reason::kUserLost;
  for (auto& e : view_.Intermediates(user)) {
    bool clash = std::any_of(out.entries.begin(), out.entries.end(), [&](const auto& x) { return x.name == e.name; });
    if (!clash) out.entries.push_back(e);
  }
  std::sort(out.entries.begin(), out.entries.end(),
            [](const cyrus::MboxEntry& a, const cyrus::MboxEntry& b) { return a.name < b.name; });
  if (!dry_run && all_ok && !out_inbox_id.empty()) {
    UserFilesRequest req;
    req.user = user;
    req.s_conf = view_.s_conf();
    req.b_conf = view_.b_conf();
    req.out_conf = OutConfDir(opts_.out_db);
    req.s_inbox_uniqueid = s_inbox_id;
    req.b_inbox_uniqueid = b_inbox_id;
    req.out_inbox_uniqueid = out_inbox_id;
    req.out_legacy = out_inbox_legacy;
    req.s_readable = s.present;
    req.set_owner = apply_.set_owner;
    req.owner = apply_.owner;
    req.group = apply_.group;
    if (Status st = CopyUserFiles(req); !st.ok()) {
      out.errors.push_back(user + ": " + st.message());
      out.status = Worse(out.status, Severity::kAttention);
      all_ok = false;
    }
  }
  if (!dry_run && all_ok && !quota_usage.empty()) {
    QuotaRootsRequest qr;
    qr.unit = user;
    qr.s_conf = view_.s_conf();
    qr.b_conf = view_.b_conf();
    qr.out_conf = OutConfDir(opts_.out_db);
    qr.s_readable = s.present;
    qr.usage = std::move(quota_usage);
    qr.set_owner = apply_.set_owner;
    qr.owner = apply_.owner;
    qr.group = apply_.group;
    auto written = CarryQuotaRoots(qr);
    if (!written) {
      out.errors.push_back(user + ": " + written.error().message);
      out.status = Worse(out.status, Severity::kAttention);
      all_ok = false;
    } else {
      out.quota_roots = std::move(*written);
    }
  }
  out.done = all_ok;
  return out;
}

Result<cyrus::DbFormat> ResolveDbFormat(const ReconcileOptions& opts) {
  if (opts.db_format) return *opts.db_format;
  if (!opts.paths.backup_conf.empty()) {
    auto conf = cyrus::ReadImapdConf(opts.paths.backup_conf);
    if (!conf) return Error{Code::kInvalidArgument, "--backup-conf: " + conf.error().message};
    auto f = cyrus::DbFormatFromBackend(conf->mboxlist_db);
    if (!f) return Error{f.error().code, opts.paths.backup_conf + ": " + f.error().message};
    return f;
  }
  struct stat st {};
  for (const std::string* p : {&opts.out_db, &opts.paths.backup_db}) {
    if (p->empty() || ::stat(p->c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) continue;
    auto f = cyrus::DetectDbFormat(*p);
    if (!f) return Error{f.error().code, (p == &opts.out_db ? "--out-db: " : "--backup-db: ") + f.error().message};
    return f;
  }
  return cyrus::DbFormat::kTwoskip;
}

Status WriteOutputDb(const ReconcileOptions& opts, const std::vector<UserOutcome>& outcomes) {
  OutputDbWriter w;
  return w.Write(opts, outcomes);
}

std::optional<OutputDbWriter::FileId> OutputDbWriter::Identify(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{static_cast<unsigned long long>(st.st_dev), static_cast<unsigned long long>(st.st_ino),
                static_cast<unsigned long long>(st.st_size),
                static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
}

Status OutputDbWriter::Write(const ReconcileOptions& opts, const std::vector<UserOutcome>& outcomes) {
  auto now = Identify(opts.out_db);
  if (!loaded_ || path_ != opts.out_db || now != written_) {
    // Resolved with the db (it may read the backup's imapd.conf), not once per user.
    auto format = ResolveDbFormat(opts);
    if (!format) return format.error();
    format_ = *format;
    image_.Clear();
    names_of_user_.clear();
    annotations_.clear();
    const std::string annot_path = OutConfDir(opts.out_db) + "/annotations.db";
    if (struct stat st {}; ::stat(annot_path.c_str(), &st) == 0) {
      // Entries of mailboxes this run does not touch must survive the rewrite:
      // an unreadable file is an error, not an empty db.
      auto bytes = ReadFile(annot_path);
      if (!bytes) return Error{Code::kIoError, annot_path + ": " + bytes.error().message};
      if (!bytes->empty()) {
        std::vector<std::string> problems;
        auto kv = cyrus::ReadTwoskip(*bytes, &problems);
        if (!kv) return Error{Code::kIoError, annot_path + ": " + kv.error().message};
        for (auto& [k, v] : *kv) annotations_.emplace(std::move(k), std::move(v));
      }
    }
    if (now) {
      auto existing = cyrus::ReadMailboxesDb(opts.out_db);
      if (!existing) return Error{Code::kIoError, "--out-db: " + existing.error().message};
      for (auto& e : *existing) {
        std::string name = e.name;
        if (auto s = image_.Put(std::move(e)); !s.ok()) return s;
        names_of_user_[UnitOf(name)].insert(std::move(name));
      }
    }
    loaded_ = true;
    path_ = opts.out_db;
  }
  written_.reset();  // until this write is known to have landed
  loaded_ = false;   // until then, memory and file may differ
  std::set<std::string> failed;
  for (const auto& u : outcomes) failed.insert(u.failed.begin(), u.failed.end());
  // A user's old mailboxes are replaced by this run's, except folders it failed to write.
  // Their mailbox annotations go with them (keyed by uniqueid: the old entries'
  // and the new ones', so a folder re-created under a new uniqueid leaves none behind).
  std::set<std::string> replaced_ids;
  for (const auto& u : outcomes) {
    if (u.user.empty()) continue;
    auto it = names_of_user_.find(u.user);
    if (it == names_of_user_.end()) continue;
    for (auto n = it->second.begin(); n != it->second.end();) {
      if (failed.count(*n)) {
        ++n;
        continue;
      }
      if (auto e = image_.entries().find(*n); e != image_.entries().end() && !e->second.uniqueid.empty())
        replaced_ids.insert(e->second.uniqueid);
      image_.Erase(*n);
      n = it->second.erase(n);
    }
  }
  for (const auto& u : outcomes) {
    for (const auto& e : u.entries) {
      if (auto s = image_.Put(e); !s.ok()) return s;
      names_of_user_[UnitOf(e.name)].insert(e.name);
      if (!e.uniqueid.empty() && !failed.count(e.name)) replaced_ids.insert(e.uniqueid);
    }
  }
  bool annotations_changed = false;
  for (const auto& id : replaced_ids) {
    const std::string prefix = id + std::string(1, '\0');
    for (auto it = annotations_.lower_bound(prefix); it != annotations_.end() && it->first.starts_with(prefix);) {
      it = annotations_.erase(it);
      annotations_changed = true;
    }
  }
  for (const auto& u : outcomes)
    for (const auto& [id, recs] : u.annotations)
      for (const auto& r : recs) {
        annotations_[cyrus::AnnotationKey(id, r)] = r.data;
        annotations_changed = true;
      }
  auto slash = opts.out_db.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (Status s = MakeDirs(opts.out_db.substr(0, slash)); !s.ok()) return s;
  }
  if (annotations_changed) {
    // Before the mailboxes.db: a crash in between leaves annotations for
    // mailboxes the old db still names, which the next run replaces.
    std::vector<cyrus::KvView> kv;
    kv.reserve(annotations_.size());
    for (const auto& [k, v] : annotations_) kv.emplace_back(k, v);
    const std::string annot_path = OutConfDir(opts.out_db) + "/annotations.db";
    if (Status s = WriteFileAtomic(annot_path, cyrus::WriteTwoskipSorted(kv), opts.fsync); !s.ok()) return s;
  }
  if (Status s = image_.Write(opts.out_db, format_, opts.fsync); !s.ok()) return s;
  loaded_ = true;
  written_ = Identify(opts.out_db);
  return Status::Ok();
}

Result<RunOutcome> ReconcileAll(const ReconcileOptions& opts) {
  auto rec = Reconciler::Open(opts);
  if (!rec) return rec.error();
  const Reconciler& r = *rec;
  RunOutcome run;
  std::vector<std::string> base = r.Users();
  if (!opts.users.empty()) {
    const std::vector<std::string> all = r.view().Users();
    const std::set<std::string> known(all.begin(), all.end());
    for (const auto& u : opts.users)
      if (!known.count(u)) run.unknown_users.push_back(u);
  }
  // Work queue in priority order; the priority file is re-read whenever a
  // worker takes the next user, so appended lines promote users at once.
  std::mutex mu;
  std::set<std::string> taken;
  std::size_t next_base = 0;
  std::set<std::string> wanted(base.begin(), base.end());
  auto next_user = [&]() -> std::optional<std::string> {
    std::lock_guard<std::mutex> lk(mu);
    if (!opts.priority_file.empty())
      for (const auto& u : ReadLines(opts.priority_file))
        if (wanted.count(u) && taken.insert(u).second) return u;
    while (next_base < base.size()) {
      const std::string& u = base[next_base++];
      if (taken.insert(u).second) return u;
    }
    return std::nullopt;
  };
  std::vector<UserOutcome> outcomes;
  std::vector<std::string> errors;
  std::mutex out_mu;
  int jobs = opts.jobs > 0 ? opts.jobs : static_cast<int>(tbb::info::default_concurrency());
  InArena(jobs, [&] {
    TaskGroup tg;
    for (int w = 0; w < jobs; ++w) {
      tg.Run([&] {
        while (auto u = next_user()) {
          auto o = r.ReconcileUser(*u, opts.dry_run);
          std::lock_guard<std::mutex> lk(out_mu);
          if (!o) {
            errors.push_back(*u + ": " + o.error().message);
            continue;
          }
          if (opts.on_user_done) opts.on_user_done(*o);
          outcomes.push_back(std::move(o.value()));
        }
      });
    }
    tg.Wait();
  });
  std::sort(outcomes.begin(), outcomes.end(), [](const UserOutcome& a, const UserOutcome& b) { return a.user < b.user; });
  std::sort(errors.begin(), errors.end());
  run.users = std::move(outcomes);
  run.errors = std::move(errors);
  if (!opts.dry_run) {
    if (Status s = WriteOutputDb(r.options(), run.users); !s.ok()) run.errors.push_back(s.message());
    else run.db_written = true;
  }
  return run;
}

}  // namespace mr::reconcile
