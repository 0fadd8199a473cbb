// Test helpers: in-memory folder inventories and plan serialization for the
// planner tests (no I/O: the planner is pure).
#pragma once

#include <string>
#include <vector>

#include "common/sha1.h"
#include "reconcile/cyrus/crc32.h"
#include "reconcile/cyrus/mboxdb.h"
#include "reconcile/inventory.h"
#include "reconcile/plan.h"
#include "reconcile/planner.h"

namespace mr::reconcile::testing {

inline mr::Digest G(int content) { return Sha1Of("message body " + std::to_string(content)); }

struct Msg {
  std::uint32_t uid = 0;
  int content = 0;
  std::uint32_t flags = 0;
  std::uint64_t modseq = 1;
  bool expunged = false;
  std::uint32_t user_flags0 = 0;
};

struct InvOpts {
  bool index_ok = true;
  std::uint32_t last_uid = 0;  // 0: max uid
  std::uint32_t uidvalidity = 1000;
  std::string uniqueid = "uid0000000000000000000001";
  std::string name = "user.bob";
  bool header_ok = true;
  bool dir_complete = true;
  bool files = true;  // every non-expunged record has its intact file
  std::vector<std::string> user_flags = {"$Label1", "Junk"};
  std::uint64_t highestmodseq = 0;  // 0: max modseq
};

inline FolderInventory MakeInv(Side side, const std::vector<Msg>& msgs, const InvOpts& o = {}) {
  FolderInventory inv;
  inv.side = side;
  inv.name = o.name;
  inv.rel_dir = "uuid/" + o.uniqueid.substr(0, 1) + "/" + o.uniqueid.substr(1, 1) + "/" + o.uniqueid;
  inv.dir = "/nonexistent/" + inv.rel_dir;
  inv.dir_exists = true;
  inv.dir_complete = o.dir_complete;
  if (o.header_ok) {
    cyrus::MailboxHeader h;
    h.name = o.name;
    h.uniqueid = o.uniqueid;
    h.acl = {{"bob", "lrswipkxtecdan"}};
    h.user_flags = o.user_flags;
    inv.header = h;
  } else {
    inv.header_error = "cyrus.header: bad magic";
  }
  std::uint32_t maxuid = 0;
  std::uint64_t maxmod = 0;
  for (const auto& m : msgs) {
    maxuid = std::max(maxuid, m.uid);
    maxmod = std::max(maxmod, m.modseq);
  }
  if (o.index_ok) {
    cyrus::IndexHeader h;
    h.uidvalidity = o.uidvalidity;
    h.last_uid = o.last_uid ? o.last_uid : maxuid;
    h.highestmodseq = o.highestmodseq ? o.highestmodseq : maxmod;
    h.generation_no = 7;
    inv.index = h;
    for (const auto& m : msgs) {
      RecordInfo ri;
      ri.rec.uid = m.uid;
      ri.rec.internaldate = 1700000000 + m.content;
      ri.rec.size = 100 + static_cast<std::uint64_t>(m.content % 50);
      ri.rec.guid = G(m.content);
      ri.rec.system_flags = m.flags | (m.expunged ? cyrus::kFlagExpunged : 0);
      ri.rec.user_flags[0] = m.user_flags0;
      ri.rec.modseq = m.modseq;
      ri.rec.createdmodseq = 1;
      ri.rec.cache_offset = 4 + 64ull * m.uid;
      ri.rec.cache_crc = 0x1000 + m.uid;
      ri.cache_ok = true;
      ri.cache_len = 64;
      inv.records.push_back(ri);
    }
    std::sort(inv.records.begin(), inv.records.end(),
              [](const RecordInfo& a, const RecordInfo& b) { return a.rec.uid < b.rec.uid; });
  } else {
    inv.index_error = "cyrus.index: header CRC mismatch";
  }
  if (o.files) {
    for (const auto& m : msgs) {
      if (m.expunged) continue;
      FileInfo f;
      f.uid = m.uid;
      f.size = 100 + static_cast<std::uint64_t>(m.content % 50);
      f.mtime = 1700000000 + m.content;
      f.sha1 = G(m.content);
      f.hashed = side == Side::kSalvaged || !o.index_ok;
      f.has_facts = !o.index_ok;
      inv.files.push_back(f);
    }
    std::sort(inv.files.begin(), inv.files.end(), [](const FileInfo& a, const FileInfo& b) { return a.uid < b.uid; });
  }
  return inv;
}

inline FolderRef RefOf(const FolderInventory& inv, const InvOpts& o) {
  FolderRef r;
  r.name = o.name;
  r.uniqueid = o.uniqueid;
  r.uidvalidity = o.index_ok ? o.uidvalidity : 0;
  r.rel_dir = inv.rel_dir;
  r.header_found = o.header_ok;
  r.dir_exists = true;
  r.dir_complete = o.dir_complete;
  return r;
}

inline FolderPairing Pair(const FolderInventory* s, const InvOpts& so, const FolderInventory* b, const InvOpts& bo) {
  FolderPairing p;
  if (s) p.s = RefOf(*s, so);
  if (b) p.b = RefOf(*b, bo);
  p.same_folder = s && b && so.uniqueid == bo.uniqueid && so.uidvalidity == bo.uidvalidity;
  p.reason = !s ? Reason::kRestoredFromBackup : !b ? Reason::kFolderNewSinceBackup
             : p.same_folder ? Reason::kFolderMerged : Reason::kFolderRecreated;
  return p;
}

// Everything observable in a plan, as bytes: equal strings <=> equal plans.
inline std::string PlanBytes(const FolderPlan& p) {
  std::string out = p.name + "|" + p.uniqueid + "|" + std::to_string(p.uidvalidity) + "|" + p.rel_dir + "|" +
                    std::to_string(p.emit) + std::string(Code(p.reason)) + "\n";
  out += cyrus::SerializeHeader(p.header);
  std::vector<cyrus::IndexRecord> recs;
  for (const auto& a : p.messages) {
    recs.push_back(a.record);
    out += std::to_string(a.record.uid) + ":" + SideName(a.file_side) + ":" + std::to_string(a.file_uid) + ":" +
           std::to_string(static_cast<int>(a.cache_from)) + ":" + std::to_string(a.cache_src_offset) + ":" +
           std::string(Code(a.reason)) + "\n";
  }
  auto idx = cyrus::SerializeIndex(p.index, recs);
  out.append(idx.begin(), idx.end());
  for (const auto& d : p.dropped) out += "D" + std::to_string(d.uid) + std::string(Code(d.reason)) + "\n";
  for (const auto& l : p.unrecoverable) out += "L" + std::to_string(l.uid) + l.damage + "\n";
  for (const auto& r : p.renumbered) out += "R" + std::to_string(r.from) + ">" + std::to_string(r.to) + "\n";
  for (const auto& n : p.not_merged) out += "N" + std::to_string(n.uid) + ToHex(n.guid) + "\n";
  out += "C" + std::to_string(p.counts.kept) + "," + std::to_string(p.counts.from_salvage) + "," +
         std::to_string(p.counts.from_backup) + "," + std::to_string(p.counts.dropped_deleted);
  return out;
}

// What the applier would leave on disk, seen again by the inventory: the
// output folder as a fully readable salvaged side.
inline FolderInventory AsApplied(const FolderPlan& p, Side side) {
  FolderInventory inv;
  inv.side = side;
  inv.name = p.name;
  inv.rel_dir = p.rel_dir;
  inv.dir = "/nonexistent/" + p.rel_dir;
  inv.dir_exists = true;
  inv.header = p.header;
  inv.index = p.index;
  std::uint64_t off = 4;
  for (const auto& a : p.messages) {
    RecordInfo ri;
    ri.rec = a.record;
    ri.cache_ok = a.cache_from != CacheSource::kNone;
    ri.rec.cache_offset = ri.cache_ok ? off : 0;
    ri.cache_len = ri.cache_ok ? a.cache_len : 0;
    if (!ri.cache_ok) ri.rec.cache_crc = 0;
    off += ri.cache_len;
    inv.records.push_back(ri);
    FileInfo f;
    f.uid = a.record.uid;
    f.size = a.record.size;
    f.mtime = a.record.internaldate;
    f.sha1 = a.record.guid;
    f.hashed = side == Side::kSalvaged;
    inv.files.push_back(f);
  }
  return inv;
}

// The pairing of `name` in a user plan (by S's name, else B's), nullptr if none.
inline const FolderPairing* FindPairing(const UserPlan& up, const std::string& name) {
  for (const auto& f : up.folders)
    if ((f.s ? f.s->name : f.b->name) == name) return &f;
  return nullptr;
}

// A mailboxes.db entry with one ACL entry.
inline cyrus::MboxEntry DbEntry(const std::string& name, const std::string& id, std::uint32_t uv,
                                const std::string& acl_id = "anyone") {
  cyrus::MboxEntry e;
  e.name = name;
  e.uniqueid = id;
  e.uidvalidity = uv;
  e.acl = {{acl_id, "lrs"}};
  return e;
}

}  // namespace mr::reconcile::testing
