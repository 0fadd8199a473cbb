#include "reconcile/planner.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "common/cyrus_layout.h"
#include "reconcile/cyrus/annotations_db.h"
#include "reconcile/cyrus/crc32.h"

namespace mr::reconcile {
namespace {

struct DigestHash {
  std::size_t operator()(const mr::Digest& d) const {
    std::size_t h;
    std::memcpy(&h, d.data(), sizeof h);
    return h;
  }
};
using GuidSet = std::unordered_set<mr::Digest, DigestHash>;

bool RefLess(const FolderRef& a, const FolderRef& b) {
  if (a.name != b.name) return a.name < b.name;
  if (a.uniqueid != b.uniqueid) return a.uniqueid < b.uniqueid;
  return a.rel_dir < b.rel_dir;
}

std::string OutName(const FolderPairing& p) { return p.s ? p.s->name : p.b->name; }

}  // namespace

std::string DeriveUniqueid(const std::string& name) {
  mr::Digest d = Sha1Of("mailrescue-uniqueid:" + name);
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out;
  for (int i = 0; i < 24; ++i) out += kAlphabet[d[static_cast<std::size_t>(i) % d.size()] % 36];
  // Mix the tail bytes in so ids differ beyond the first 20 characters.
  for (int i = 20; i < 24; ++i) out[static_cast<std::size_t>(i)] = kAlphabet[(d[static_cast<std::size_t>(i - 20)] / 36 + static_cast<unsigned>(i)) % 36];
  return out;
}

UserPlan PlanUser(const std::string& user, const UserSide& s, const UserSide& b) {
  UserPlan up;
  up.user = user;
  up.reason = s.present && b.present ? Reason::kUserMerged
              : s.present            ? Reason::kUserSalvageOnly
                                     : Reason::kUserBackupOnly;
  std::vector<FolderRef> sf = s.present ? s.folders : std::vector<FolderRef>{};
  std::vector<FolderRef> bf = b.present ? b.folders : std::vector<FolderRef>{};
  std::sort(sf.begin(), sf.end(), RefLess);
  std::sort(bf.begin(), bf.end(), RefLess);
  std::vector<int> s_for_b(bf.size(), -1);
  std::vector<bool> s_used(sf.size(), false);
  // Pass 1: same uniqueid (a renamed folder keeps its uniqueid). Pass 2: same name.
  for (std::size_t j = 0; j < bf.size(); ++j) {
    if (bf[j].uniqueid.empty()) continue;
    for (std::size_t i = 0; i < sf.size(); ++i)
      if (!s_used[i] && sf[i].uniqueid == bf[j].uniqueid) {
        s_used[i] = true;
        s_for_b[j] = static_cast<int>(i);
        break;
      }
  }
  for (std::size_t j = 0; j < bf.size(); ++j) {
    if (s_for_b[j] >= 0) continue;
    for (std::size_t i = 0; i < sf.size(); ++i)
      if (!s_used[i] && sf[i].name == bf[j].name) {
        s_used[i] = true;
        s_for_b[j] = static_cast<int>(i);
        break;
      }
  }
  std::vector<std::string> tomb = s.tombstones;
  std::sort(tomb.begin(), tomb.end());
  for (std::size_t j = 0; j < bf.size(); ++j) {
    FolderPairing p;
    p.b = bf[j];
    if (s_for_b[j] >= 0) {
      const FolderRef& a = sf[static_cast<std::size_t>(s_for_b[j])];
      p.s = a;
      bool id_diff = !a.uniqueid.empty() && !bf[j].uniqueid.empty() && a.uniqueid != bf[j].uniqueid;
      bool uv_diff = a.uidvalidity && bf[j].uidvalidity && a.uidvalidity != bf[j].uidvalidity;
      p.same_folder = !id_diff && !uv_diff;
      p.reason = !p.same_folder ? Reason::kFolderRecreated
                 : a.name != bf[j].name ? Reason::kFolderRenamed
                                        : Reason::kFolderMerged;
    } else if (!s.present) {
      p.reason = Reason::kRestoredFromBackup;
    } else if (std::binary_search(tomb.begin(), tomb.end(), bf[j].name)) {
      p.emit = false;
      p.reason = Reason::kFolderDeletedInSalvage;
    } else if (s.tree_readable) {
      p.emit = false;
      p.reason = Reason::kFolderDeletedSinceBackup;
    } else {
      p.reason = Reason::kFolderKeptDamagedTree;
    }
    up.folders.push_back(std::move(p));
  }
  for (std::size_t i = 0; i < sf.size(); ++i) {
    if (s_used[i]) continue;
    FolderPairing p;
    p.s = sf[i];
    p.reason = Reason::kFolderNewSinceBackup;
    up.folders.push_back(std::move(p));
  }
  std::sort(up.folders.begin(), up.folders.end(), [](const FolderPairing& x, const FolderPairing& y) {
    std::string nx = OutName(x), ny = OutName(y);
    if (nx != ny) return nx < ny;
    if (x.emit != y.emit) return x.emit > y.emit;
    return (x.b ? x.b->uniqueid : x.s->uniqueid) < (y.b ? y.b->uniqueid : y.s->uniqueid);
  });
  return up;
}

namespace {

// Maps user-flag bits from one flag-name table into the output table,
// appending names the output does not have yet (up to 128).
class FlagMapper {
 public:
  explicit FlagMapper(std::vector<std::string>* out) : out_(out) {}
  std::array<std::uint32_t, 4> Map(const std::array<std::uint32_t, 4>& bits, const std::vector<std::string>& from) {
    std::array<std::uint32_t, 4> r{};
    for (std::uint32_t i = 0; i < cyrus::kMaxUserFlags; ++i) {
      if (!(bits[i / 32] & (1u << (i & 31)))) continue;
      if (i >= from.size() || from[i].empty()) continue;  // a bit without a name: dropped
      int o = IndexOf(from[i]);
      if (o < 0) continue;
      r[static_cast<std::size_t>(o) / 32] |= 1u << (o & 31);
    }
    return r;
  }

 private:
  int IndexOf(const std::string& name) {
    for (std::size_t i = 0; i < out_->size(); ++i)
      if ((*out_)[i] == name) return static_cast<int>(i);
    for (std::size_t i = 0; i < out_->size(); ++i)
      if ((*out_)[i].empty()) {
        (*out_)[i] = name;
        return static_cast<int>(i);
      }
    if (out_->size() >= cyrus::kMaxUserFlags) return -1;
    out_->push_back(name);
    return static_cast<int>(out_->size() - 1);
  }
  std::vector<std::string>* out_;
};

bool Expunged(const cyrus::IndexRecord& r) { return (r.system_flags & cyrus::kFlagExpunged) != 0; }

struct Pending {
  MessageAction action;
  std::uint32_t from = 0;
  Side side = Side::kBackup;
};

class FolderPlanner {
 public:
  FolderPlanner(const FolderPairing& p, const FolderInventory* s, const FolderInventory* b)
      : p_(p), s_(p.s ? s : nullptr), b_(p.b ? b : nullptr) {}

  FolderPlan Run();

 private:
  void ChooseIdentity();
  void BuildHeader();
  void PlanSalvagedRecords();
  void PlanOrphanFiles();
  void PlanBackupRecords();
  void Renumber();
  void FinishIndex();
  // quota_annot_used as reconstruct recomputes it from what is carried: the
  // value octets of the mailbox annotations plus those of the per-message
  // annotations of live records (expunged ones do not count).
  std::uint32_t AnnotationUsage(std::span<const cyrus::IndexRecord> recs,
                                const cyrus::AnnotationsForCrc* annots) const;

  bool BFileOk(const cyrus::IndexRecord& r) const {
    const FileInfo* f = b_ ? b_->File(r.uid) : nullptr;
    return f && !f->damaged && f->size == r.size;
  }
  const RecordInfo* BByGuid(const mr::Digest& g) const {
    auto it = b_guid_.find(g);
    return it == b_guid_.end() ? nullptr : it->second;
  }
  // Fills the cache source of `a` from a record of the given side if its cache checks.
  static bool CacheFrom(MessageAction& a, const RecordInfo* ri, CacheSource src) {
    if (!ri || !ri->cache_ok) return false;
    a.cache_from = src;
    a.cache_src_offset = ri->rec.cache_offset;
    a.cache_len = ri->cache_len;
    a.record.cache_crc = ri->rec.cache_crc;
    return true;
  }
  cyrus::IndexRecord FromB(const cyrus::IndexRecord& r) {
    cyrus::IndexRecord out = r;
    out.user_flags = mapper_.Map(r.user_flags, b_flags_);
    return out;
  }
  cyrus::IndexRecord FromS(const cyrus::IndexRecord& r) {
    cyrus::IndexRecord out = r;
    out.user_flags = mapper_.Map(r.user_flags, s_flags_);
    return out;
  }
  void Emit(MessageAction a, bool from_s) {
    used_.insert(a.record.uid);
    if (from_s) s_guids_.insert(a.record.guid);
    out_guids_.insert(a.record.guid);
    out_.push_back(std::move(a));
  }
  void Lost(std::uint32_t uid, std::uint64_t size, std::string damage, Reason r) {
    plan_.unrecoverable.push_back({uid, size, std::move(damage), r});
  }

  const FolderPairing& p_;
  const FolderInventory* s_;
  const FolderInventory* b_;
  FolderPlan plan_;
  bool same_ = false;        // S and B are one folder (uids comparable)
  bool s_index_ok_ = false;
  bool restore_ = false;     // nothing usable on the S side: B is the folder
  std::vector<std::string> s_flags_, b_flags_;
  std::vector<std::string> out_flags_;
  FlagMapper mapper_{&out_flags_};
  std::unordered_map<mr::Digest, const RecordInfo*, DigestHash> b_guid_;
  std::unordered_set<std::uint32_t> used_;
  std::unordered_set<std::uint32_t> consumed_b_;
  std::unordered_set<std::uint32_t> s_expunged_;
  GuidSet s_guids_, out_guids_;
  std::vector<MessageAction> out_;
  std::vector<Pending> pending_;
  std::vector<std::uint32_t> bumped_;  // output uids whose modseq is raised
};

void FolderPlanner::ChooseIdentity() {
  plan_.name = OutName(p_);
  s_index_ok_ = s_ && s_->index.has_value();
  std::uint32_t s_uv = s_index_ok_ ? s_->index->uidvalidity : (p_.s ? p_.s->uidvalidity : 0);
  std::uint32_t b_uv = b_ && b_->index ? b_->index->uidvalidity : (p_.b ? p_.b->uidvalidity : 0);
  std::string s_id = s_ && s_->header ? s_->header->uniqueid : (p_.s ? p_.s->uniqueid : "");
  std::string b_id = b_ && b_->header ? b_->header->uniqueid : (p_.b ? p_.b->uniqueid : "");
  if (s_id.empty() && p_.s) s_id = p_.s->uniqueid;
  if (b_id.empty() && p_.b) b_id = p_.b->uniqueid;
  same_ = p_.s && p_.b && p_.same_folder && !(s_uv && b_uv && s_uv != b_uv) &&
          !(!s_id.empty() && !b_id.empty() && s_id != b_id);
  if (p_.s && p_.b && !same_) {
    plan_.reason = Reason::kFolderRecreated;
    plan_.preserve_replaced = true;
  }
  // With no S side, or an S side that is only a name (no directory, no
  // header, no index), the backup is the folder.
  restore_ = !p_.s || (s_ && !s_->dir_exists && !s_index_ok_ && p_.b && same_);
  bool s_has_identity = p_.s && !restore_;
  plan_.uniqueid = s_has_identity && !s_id.empty() ? s_id : !b_id.empty() && (same_ || !p_.s) ? b_id : s_id;
  if (plan_.uniqueid.empty()) plan_.uniqueid = DeriveUniqueid(plan_.name);
  plan_.uidvalidity = s_has_identity && s_uv ? s_uv : (same_ || !p_.s) && b_uv ? b_uv : s_uv;
  if (!plan_.uidvalidity) plan_.uidvalidity = 1 + cyrus::Crc32(plan_.name) % 1000000000u;
  if (s_ && s_->header) s_flags_ = s_->header->user_flags;
  if (b_ && b_->header) b_flags_ = b_->header->user_flags;
  // The S table keeps its bit positions; without one, B's (the older
  // version of the same table) is the best guess for S's bits too.
  if (s_ && s_->header) out_flags_ = s_flags_;
  else if (same_ || restore_) {
    out_flags_ = b_flags_;
    if (s_flags_.empty()) s_flags_ = b_flags_;
  }
}

void FolderPlanner::BuildHeader() {
  cyrus::MailboxHeader h;
  const cyrus::MailboxHeader* sh = s_ && s_->header ? &*s_->header : nullptr;
  const cyrus::MailboxHeader* bh = b_ && b_->header && (same_ || restore_) ? &*b_->header : nullptr;
  const FolderRef* sref = p_.s ? &*p_.s : nullptr;
  const FolderRef* bref = p_.b ? &*p_.b : nullptr;
  h.name = plan_.name;
  h.uniqueid = plan_.uniqueid;
  if (sh && !restore_) {
    h.quotaroot = sh->quotaroot;
    h.acl = sh->acl;
  } else if (sref && sref->db && !restore_) {
    h.acl = sref->db->acl;
    if (bh) h.quotaroot = bh->quotaroot;
  } else if (bh) {
    h.quotaroot = bh->quotaroot;
    h.acl = bh->acl;
  } else if (bref && bref->db) {
    h.acl = bref->db->acl;
  }
  plan_.header = std::move(h);
  // Where the output lives: S's directory when S has one, else B's.
  if (s_ && s_->dir_exists && !restore_) {
    plan_.rel_dir = s_->rel_dir;
    plan_.legacy = sref->legacy;
  } else if (bref && (same_ || restore_ || !sref)) {
    plan_.rel_dir = bref->rel_dir;
    plan_.legacy = bref->legacy;
  } else {
    plan_.rel_dir = sref->rel_dir;
    plan_.legacy = sref->legacy;
  }
  plan_.s_rel_dir = s_ && s_->dir_exists ? s_->rel_dir : "";
  plan_.b_rel_dir = b_ && b_->dir_exists ? b_->rel_dir : "";
  const cyrus::MboxEntry* db = sref && sref->db && !restore_ ? &*sref->db : bref && bref->db ? &*bref->db : nullptr;
  if (db) plan_.db = *db;
  plan_.db.name = plan_.name;
  plan_.db.uniqueid = plan_.uniqueid;
  plan_.db.history.clear();
  plan_.db.uidvalidity = plan_.uidvalidity;
  plan_.db.acl = plan_.header.acl;
  // The layout flag must say where the directory really is.
  std::string t = plan_.db.mbtype;
  std::erase(t, 'l');
  if (t.empty()) t.push_back('e');
  if (plan_.legacy) t.push_back('l');
  plan_.db.mbtype = std::move(t);
  if (s_ && s_->annotations_present && !restore_) plan_.annotations_from = Side::kSalvaged;
  else if (b_ && b_->annotations_present && (same_ || restore_)) plan_.annotations_from = Side::kBackup;
  // Mailbox annotations (config annotations.db) follow the same rule, but S's
  // count only when S's db could be read: a folder S has with no entry there
  // has none (removed since the backup); an unreadable db says nothing, so
  // the backup's are carried for the same folder.
  if (s_ && !restore_ && s_->mailbox_annotations) {
    plan_.mailbox_annotations = *s_->mailbox_annotations;
    plan_.mailbox_annotations_from = Side::kSalvaged;
  } else if (b_ && (same_ || restore_) && b_->mailbox_annotations) {
    plan_.mailbox_annotations = *b_->mailbox_annotations;
    plan_.mailbox_annotations_from = Side::kBackup;
  }
}

void FolderPlanner::PlanSalvagedRecords() {
  if (!s_index_ok_ || restore_) return;
  for (const RecordInfo& ri : s_->records) {
    const auto& r = ri.rec;
    if (Expunged(r)) {
      s_expunged_.insert(r.uid);
      continue;
    }
    const FileInfo* f = s_->File(r.uid);
    bool intact = f && f->hashed && !f->damaged && f->sha1 == r.guid;
    const RecordInfo* bsame = same_ ? b_->Record(r.uid) : nullptr;
    if (bsame && (Expunged(bsame->rec) || bsame->rec.guid != r.guid)) bsame = nullptr;
    MessageAction a;
    a.record = FromS(r);
    if (intact) {
      // Unchanged message: link the backup's file when it is there (cheap,
      // and identical by GUID); the record (flags, modseq) is S's.
      if (bsame && BFileOk(bsame->rec)) {
        a.file_side = Side::kBackup;
        a.file_uid = r.uid;
        consumed_b_.insert(r.uid);
      } else {
        a.file_side = Side::kSalvaged;
        a.file_uid = r.uid;
        if (bsame) consumed_b_.insert(r.uid);
      }
      a.reason = bsame ? Reason::kSameMessage : Reason::kNewSinceBackup;
      if (!CacheFrom(a, &ri, CacheSource::kSalvaged)) CacheFrom(a, bsame, CacheSource::kBackup);
      Emit(std::move(a), true);
      continue;
    }
    const RecordInfo* bg = bsame && BFileOk(bsame->rec) ? bsame : BByGuid(r.guid);
    if (bg && BFileOk(bg->rec)) {
      a.file_side = Side::kBackup;
      a.file_uid = bg->rec.uid;
      a.reason = Reason::kDamagedTakenFromBackup;
      if (same_) consumed_b_.insert(bg->rec.uid);
      if (!CacheFrom(a, &ri, CacheSource::kSalvaged)) CacheFrom(a, bg, CacheSource::kBackup);
      Emit(std::move(a), true);
      continue;
    }
    used_.insert(r.uid);
    Lost(r.uid, r.size, !f ? "message file missing" : f->damaged ? f->damage : "SHA1 does not match the index GUID",
         Reason::kUnrecoverable);
  }
}

void FolderPlanner::PlanOrphanFiles() {
  if (!s_ || restore_) return;
  for (const FileInfo& f : s_->files) {
    if (s_->Record(f.uid)) continue;  // has a good record (live or expunged)
    const RecordInfo* brec = same_ ? b_->Record(f.uid) : nullptr;
    if (brec && Expunged(brec->rec)) brec = nullptr;
    auto take_backup = [&] {
      MessageAction a;
      a.record = FromB(brec->rec);
      a.file_side = Side::kBackup;
      a.file_uid = f.uid;
      a.reason = Reason::kDamagedTakenFromBackup;
      CacheFrom(a, brec, CacheSource::kBackup);
      consumed_b_.insert(f.uid);
      Emit(std::move(a), true);
    };
    if (f.damaged || !f.hashed) {
      if (brec && brec->rec.size == f.size && BFileOk(brec->rec)) {
        take_backup();
      } else {
        used_.insert(f.uid);
        Lost(f.uid, f.size, f.damage.empty() ? "message file unreadable" : f.damage, Reason::kUnrecoverable);
      }
      continue;
    }
    MessageAction a;
    if (brec && brec->rec.guid == f.sha1) {
      // The file is the backup's message: its record (flags) is the best we have.
      a.record = FromB(brec->rec);
      a.file_side = BFileOk(brec->rec) ? Side::kBackup : Side::kSalvaged;
      a.file_uid = f.uid;
      a.reason = Reason::kSameMessage;
      CacheFrom(a, brec, CacheSource::kBackup);
      consumed_b_.insert(f.uid);
      Emit(std::move(a), true);
      continue;
    }
    if (brec && brec->rec.size == f.size && brec->rec.internaldate == f.mtime && BFileOk(brec->rec)) {
      // A uid names one message of a folder for ever: a file at the backup's
      // uid with its size and date but another SHA1 is that message damaged
      // where salvage could not see it (a block overwritten, not unreadable).
      // The backup's record contradicts it, so it is not intact (SPEC).
      take_backup();
      continue;
    }
    cyrus::IndexRecord r;
    r.uid = f.uid;
    r.internaldate = f.mtime;
    r.sentdate = f.sentdate;
    r.size = f.size;
    r.header_size = f.header_size;
    r.gmtime = f.gmtime;
    r.last_updated = f.mtime;
    r.savedate = f.mtime;
    r.guid = f.sha1;
    a.record = r;
    a.file_side = Side::kSalvaged;
    a.file_uid = f.uid;
    a.cache_from = CacheSource::kNone;
    if (used_.count(f.uid)) {
      a.reason = Reason::kOrphanFileRenumbered;
      pending_.push_back({std::move(a), f.uid, Side::kSalvaged});
      continue;
    }
    a.reason = Reason::kOrphanFileKept;
    bumped_.push_back(f.uid);
    Emit(std::move(a), true);
  }
}

void FolderPlanner::PlanBackupRecords() {
  if (!b_) return;
  bool evidence = !restore_ && s_index_ok_ && s_->dir_complete;
  std::uint32_t s_last = s_index_ok_ ? s_->index->last_uid : 0;
  for (const RecordInfo& ri : b_->records) {
    const auto& r = ri.rec;
    if (Expunged(r) || consumed_b_.count(r.uid)) continue;
    if (!restore_ && !same_) {
      if (!out_guids_.count(r.guid)) plan_.not_merged.push_back({r.uid, r.guid});
      continue;
    }
    if (!restore_ && s_guids_.count(r.guid)) {
      plan_.dropped.push_back({r.uid, Side::kBackup, Reason::kAlreadyPresent});
      continue;
    }
    Reason keep_reason = Reason::kRestoredFromBackup;
    if (!restore_) {
      if (s_expunged_.count(r.uid)) {
        plan_.dropped.push_back({r.uid, Side::kBackup, Reason::kExpungedSinceBackup});
        ++plan_.counts.dropped_deleted;
        continue;
      }
      if (!used_.count(r.uid) && evidence && r.uid <= s_last && !s_->Uncertain(r.uid) && !s_->File(r.uid)) {
        plan_.dropped.push_back({r.uid, Side::kBackup, Reason::kDeletedSinceBackup});
        ++plan_.counts.dropped_deleted;
        continue;
      }
      keep_reason = s_index_ok_ && r.uid > s_last ? Reason::kBackupAboveLastUid : Reason::kBackupOnlyNoEvidence;
    }
    if (!BFileOk(r)) {
      if (!used_.count(r.uid)) used_.insert(r.uid);
      const FileInfo* f = b_->File(r.uid);
      Lost(r.uid, r.size, !f ? "backup message file missing" : "backup message file has the wrong size",
           Reason::kBackupFileMissing);
      continue;
    }
    MessageAction a;
    a.record = FromB(r);
    a.file_side = Side::kBackup;
    a.file_uid = r.uid;
    CacheFrom(a, &ri, CacheSource::kBackup);
    if (used_.count(r.uid)) {
      a.reason = Reason::kUidConflictRenumbered;
      pending_.push_back({std::move(a), r.uid, Side::kBackup});
      continue;
    }
    a.reason = keep_reason;
    Emit(std::move(a), false);
  }
}

void FolderPlanner::Renumber() {
  std::uint32_t next = 0;
  if (s_index_ok_ && !restore_) next = std::max(next, s_->index->last_uid);
  if (b_ && b_->index && (same_ || restore_)) next = std::max(next, b_->index->last_uid);
  for (auto u : used_) next = std::max(next, u);
  // Orphans (S) first, then B conflicts, each in uid order: deterministic.
  std::stable_sort(pending_.begin(), pending_.end(), [](const Pending& x, const Pending& y) {
    if (x.side != y.side) return x.side < y.side;
    return x.from < y.from;
  });
  for (auto& pd : pending_) {
    if (pd.side == Side::kBackup && out_guids_.count(pd.action.record.guid)) {
      plan_.dropped.push_back({pd.from, Side::kBackup, Reason::kAlreadyPresent});
      continue;
    }
    pd.action.record.uid = ++next;
    plan_.renumbered.push_back({pd.from, next, pd.side, pd.action.reason});
    bumped_.push_back(next);
    Emit(std::move(pd.action), pd.side == Side::kSalvaged);
  }
}

void FolderPlanner::FinishIndex() {
  // Lookup tables are done with: free them before the big copies below, so
  // a huge folder's peak memory stays low.
  decltype(b_guid_)().swap(b_guid_);
  decltype(used_)().swap(used_);
  decltype(consumed_b_)().swap(consumed_b_);
  decltype(s_expunged_)().swap(s_expunged_);
  GuidSet().swap(s_guids_);
  GuidSet().swap(out_guids_);
  std::sort(out_.begin(), out_.end(),
            [](const MessageAction& x, const MessageAction& y) { return x.record.uid < y.record.uid; });
  cyrus::IndexHeader h;
  if (s_index_ok_ && !restore_) h = *s_->index;
  else if (b_ && b_->index && (same_ || restore_)) h = *b_->index;
  std::uint64_t top = h.highestmodseq;
  if (b_ && b_->index && (same_ || restore_)) top = std::max(top, b_->index->highestmodseq);
  for (const auto& a : out_) top = std::max(top, a.record.modseq);
  // Messages placed at a uid the salvaged side never had get a modseq above
  // everything, so CONDSTORE clients see them as changed.
  std::sort(bumped_.begin(), bumped_.end());
  std::uint64_t bump = top + 1;
  bool any_bump = false;
  for (auto& a : out_) {
    if (std::binary_search(bumped_.begin(), bumped_.end(), a.record.uid)) {
      a.record.modseq = bump;
      if (a.record.createdmodseq == 0 || a.file_side == Side::kSalvaged) a.record.createdmodseq = bump;
      any_bump = true;
    }
  }
  std::uint32_t last_uid = h.last_uid;
  if (b_ && b_->index && (same_ || restore_)) last_uid = std::max(last_uid, b_->index->last_uid);
  for (const auto& a : out_) last_uid = std::max(last_uid, a.record.uid);
  h.minor_version = cyrus::kIndexMinorVersion;
  h.start_offset = cyrus::kIndexHeaderSize;
  h.record_size = cyrus::kIndexRecordSize;
  h.uidvalidity = plan_.uidvalidity;
  h.last_uid = last_uid;
  h.highestmodseq = any_bump ? bump : top;
  std::uint64_t used = 0;
  for (const auto& a : out_) used += a.record.size;
  h.quota_mailbox_used = used;
  h.leaked_cache = 0;
  plan_.header.user_flags = out_flags_;
  while (!plan_.header.user_flags.empty() && plan_.header.user_flags.back().empty()) plan_.header.user_flags.pop_back();
  h.header_file_crc = cyrus::Crc32(cyrus::SerializeHeader(plan_.header));
  std::vector<cyrus::IndexRecord> recs;
  recs.reserve(out_.size());
  for (const auto& a : out_) recs.push_back(a.record);
  // The annotations file we carry is the one reconstruct will read back.
  const cyrus::AnnotationsForCrc* annots = nullptr;
  if (plan_.annotations_from == Side::kSalvaged && s_) annots = &s_->annotations;
  if (plan_.annotations_from == Side::kBackup && b_) annots = &b_->annotations;
  cyrus::FinalizeIndexHeader(h, recs, plan_.header.user_flags, annots);
  h.quota_annot_used = AnnotationUsage(recs, annots);
  plan_.index = h;
  plan_.messages = std::move(out_);
  for (const auto& a : plan_.messages) {
    ++plan_.counts.kept;
    switch (a.reason) {
      case Reason::kNewSinceBackup:
      case Reason::kOrphanFileKept:
      case Reason::kOrphanFileRenumbered: ++plan_.counts.from_salvage; break;
      case Reason::kBackupOnlyNoEvidence:
      case Reason::kBackupAboveLastUid:
      case Reason::kUidConflictRenumbered:
      case Reason::kDamagedTakenFromBackup:
      case Reason::kRestoredFromBackup: ++plan_.counts.from_backup; break;
      default: break;
    }
  }
  auto by_uid = [](const auto& x, const auto& y) { return x.uid < y.uid; };
  std::sort(plan_.dropped.begin(), plan_.dropped.end(), by_uid);
  std::sort(plan_.unrecoverable.begin(), plan_.unrecoverable.end(), by_uid);
  std::sort(plan_.not_merged.begin(), plan_.not_merged.end(), by_uid);
  if (plan_.db.createdmodseq == 0) plan_.db.createdmodseq = h.createdmodseq;
}

std::uint32_t FolderPlanner::AnnotationUsage(std::span<const cyrus::IndexRecord> recs,
                                             const cyrus::AnnotationsForCrc* annots) const {
  std::uint64_t used = 0;
  for (const auto& a : plan_.mailbox_annotations) used += cyrus::AnnotationQuotaSize(a);
  if (annots) {
    std::vector<std::uint32_t> live;
    for (const auto& r : recs)
      if (!Expunged(r)) live.push_back(r.uid);
    std::sort(live.begin(), live.end());
    for (const auto& a : *annots)
      if (a.uid && std::binary_search(live.begin(), live.end(), a.uid)) used += a.value.size();
  }
  // The on-disk field is 32 bits wide.
  return static_cast<std::uint32_t>(used);
}

FolderPlan FolderPlanner::Run() {
  plan_.reason = p_.reason;
  plan_.emit = p_.emit;
  if (!p_.emit) {
    plan_.name = OutName(p_);
    plan_.uniqueid = p_.b ? p_.b->uniqueid : p_.s->uniqueid;
    plan_.uidvalidity = p_.b ? p_.b->uidvalidity : p_.s->uidvalidity;
    return plan_;
  }
  ChooseIdentity();
  if (b_ && (same_ || restore_ || (s_ && !same_))) {
    for (const RecordInfo& ri : b_->records)
      if (!Expunged(ri.rec)) b_guid_.emplace(ri.rec.guid, &ri);
  }
  BuildHeader();
  PlanSalvagedRecords();
  PlanOrphanFiles();
  PlanBackupRecords();
  Renumber();
  FinishIndex();
  return std::move(plan_);
}

}  // namespace

FolderPlan PlanFolder(const FolderPairing& pairing, const FolderInventory* s, const FolderInventory* b) {
  FolderPlanner fp(pairing, s, b);
  return fp.Run();
}

}  // namespace mr::reconcile
