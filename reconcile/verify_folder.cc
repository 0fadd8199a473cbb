// verify_folder: checks one mailbox directory. See verify_folder.h.
#include "reconcile/verify_folder.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <set>


#include "common/cyrus_layout.h"
#include "common/fsutil.h"
#include "common/parallel.h"
#include "common/sha1.h"
#include "reconcile/cyrus/cache.h"
#include "reconcile/cyrus/crc32.h"
#include "reconcile/cyrus/header.h"
#include "reconcile/cyrus/index.h"
#include "reconcile/verify_annot.h"
#include "reconcile/quota.h"
#include "reconcile/verify_db.h"

namespace mr::verify {
namespace {

using cyrus::IndexFile;
using cyrus::IndexHeader;
using cyrus::IndexRecord;

constexpr std::uint64_t kHeaderCap = 16ull << 20;  // a cyrus.header is < 1 KiB in practice
constexpr std::size_t kParallelHashMin = 32;        // live records before hashing in parallel

bool IsLive(const IndexRecord& r) {
  return (r.system_flags & (cyrus::kFlagExpunged | cyrus::kFlagUnlinked)) == 0;
}

std::string Hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

// Collects lines prefixed with the mailbox name.
class Findings {
 public:
  Findings(const std::string& name, std::vector<std::string>* out) : name_(name), out_(out) {}
  void Add(const std::string& what) { out_->push_back(name_ + ": " + what); }
  void AddUid(std::uint32_t uid, const std::string& what) {
    out_->push_back(name_ + ": uid " + std::to_string(uid) + ": " + what);
  }

 private:
  const std::string& name_;
  std::vector<std::string>* out_;
};

// Compares a stored field with the value recomputed from the records.
template <class T>
void CompareField(Findings& f, const char* field, T stored, T computed, bool hex = false) {
  if (stored == computed) return;
  auto show = [hex](T v) {
    return hex ? Hex32(static_cast<std::uint32_t>(v)) : std::to_string(v);
  };
  f.Add(std::string("cyrus.index ") + field + " mismatch (index says " + show(stored) +
        ", records give " + show(computed) + ")");
}

// Parses a message file name "<uid>." into its uid.
std::optional<std::uint32_t> UidOfFileName(const char* n) {
  std::size_t len = std::strlen(n);
  if (len < 2 || len > 11 || n[len - 1] != '.' || n[0] == '0') return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i + 1 < len; ++i) {
    if (n[i] < '0' || n[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(n[i] - '0');
  }
  if (v > 0xffffffffull) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

// Cyrus renames a folder to DELETED.<name>.<hex time> on a delayed delete;
// in the legacy layout it moves the directory and leaves the old name in
// cyrus.header (reconstruct accepts that), so that pair is not a mismatch.
bool IsDeletedRenameOf(const std::string& db_name, const std::string& header_name) {
  std::string_view n = db_name;
  std::string_view h = header_name;
  if (auto bang = n.find('!'); bang != std::string_view::npos) {
    if (h.substr(0, bang + 1) != n.substr(0, bang + 1)) return false;
    n.remove_prefix(bang + 1);
    h.remove_prefix(bang + 1);
  }
  constexpr std::string_view kDeleted = "DELETED.";
  if (n.substr(0, kDeleted.size()) != kDeleted) return false;
  n.remove_prefix(kDeleted.size());
  auto dot = n.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == n.size()) return false;
  for (char c : n.substr(dot + 1))
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return n.substr(0, dot) == h;
}

struct HeaderCheck {
  bool read = false;
  std::uint32_t crc = 0;
  std::vector<std::string> user_flags;
  std::string quotaroot;
};

HeaderCheck CheckHeader(const FolderSpec& spec, const std::string& dir, Findings& f) {
  HeaderCheck hc;
  auto bytes = ReadFile(dir + "/cyrus.header", kHeaderCap);
  if (!bytes.ok()) {
    f.Add("cyrus.header unreadable (" + bytes.error().message + ")");
    return hc;
  }
  hc.crc = cyrus::Crc32(std::span<const std::uint8_t>(*bytes));
  auto h = cyrus::ParseHeader(*bytes);
  if (!h.ok()) {
    f.Add("cyrus.header: " + h.error().message);
    return hc;
  }
  hc.read = true;
  hc.user_flags = h->user_flags;
  hc.quotaroot = h->quotaroot;
  if (h->name != spec.name && !IsDeletedRenameOf(spec.name, h->name))
    f.Add("cyrus.header name mismatch (header says " + h->name + ", mailboxes.db says " +
          spec.name + ")");
  if (h->uniqueid != spec.uniqueid)
    f.Add("cyrus.header uniqueid mismatch (header says " + h->uniqueid +
          ", mailboxes.db says " + spec.uniqueid + ")");
  std::string hacl = AclString(h->acl), dacl = AclString(spec.acl);
  if (hacl != dacl)
    f.Add("cyrus.header ACL mismatch (header says \"" + hacl + "\", mailboxes.db says \"" +
          dacl + "\")");
  return hc;
}

void CheckIndexHeader(const FolderSpec& spec, const IndexFile& ix, const HeaderCheck& hc,
                      Findings& f) {
  const IndexHeader& h = ix.header;
  if (h.uidvalidity != spec.uidvalidity)
    f.Add("uidvalidity mismatch (mailboxes.db says " + std::to_string(spec.uidvalidity) +
          ", cyrus.index says " + std::to_string(h.uidvalidity) + ")");
  if (hc.read && h.header_file_crc != hc.crc)
    f.Add("cyrus.index header_file_crc mismatch (index says " + Hex32(h.header_file_crc) +
          ", cyrus.header is " + Hex32(hc.crc) + ")");
}

void CheckRecords(const IndexFile& ix, const HeaderCheck& hc, Findings& f) {
  const IndexHeader& h = ix.header;
  for (const auto& p : ix.problems) {
    if (p.uid == 0)
      f.Add("cyrus.index " + p.what);
    else
      f.AddUid(p.uid, "cyrus.index " + p.what);
  }
  std::uint32_t prev = 0;
  for (std::size_t i = 0; i < ix.records.size(); ++i) {
    const IndexRecord& r = ix.records[i];
    if (r.uid == 0) f.AddUid(r.uid, "record with uid 0");
    if (i > 0 && r.uid <= prev)
      f.AddUid(r.uid, "records out of order (uid " + std::to_string(r.uid) + " after uid " +
                          std::to_string(prev) + ")");
    prev = std::max(prev, r.uid);
    if (r.uid > h.last_uid)
      f.AddUid(r.uid, "uid above last_uid " + std::to_string(h.last_uid));
    if (r.modseq > h.highestmodseq)
      f.AddUid(r.uid, "modseq " + std::to_string(r.modseq) + " above highestmodseq " +
                          std::to_string(h.highestmodseq));
    if (hc.read) {
      for (unsigned bit = 0; bit < cyrus::kMaxUserFlags; ++bit) {
        if (!(r.user_flags[bit / 32] & (1u << (bit & 31)))) continue;
        if (bit >= hc.user_flags.size() || hc.user_flags[bit].empty())
          f.AddUid(r.uid, "user flag " + std::to_string(bit) + " set but cyrus.header names no "
                          "flag " + std::to_string(bit));
      }
    }
  }
}

// Counts, quota and sync CRCs as Cyrus derives them from the records. Only
// meaningful when every record was read.
void CheckAggregates(const FolderSpec& spec, const IndexFile& ix, const HeaderCheck& hc,
                     const std::string& dir, Findings& f) {
  std::vector<std::string> annot_problems;
  std::string owner = UserOfMailbox(spec.name);
  std::replace(owner.begin(), owner.end(), '^', '.');
  auto annots = ReadMessageAnnotations(dir + "/cyrus.annotations", &annot_problems, owner);
  for (const auto& p : annot_problems) f.Add(p);
  if (!annots.ok()) f.Add("cyrus.annotations unreadable (" + annots.error().message + ")");
  IndexHeader c = ix.header;
  cyrus::FinalizeIndexHeader(c, ix.records, hc.user_flags, annots.ok() ? &*annots : nullptr);
  const IndexHeader& h = ix.header;
  CompareField(f, "num_records", h.num_records, c.num_records);
  CompareField(f, "exists", h.exists, c.exists);
  CompareField(f, "deleted", h.deleted, c.deleted);
  CompareField(f, "answered", h.answered, c.answered);
  CompareField(f, "flagged", h.flagged, c.flagged);
  CompareField(f, "unseen", h.unseen, c.unseen);
  std::uint64_t quota = 0;
  for (const auto& r : ix.records)
    if (!(r.system_flags & cyrus::kFlagExpunged)) quota += r.size;
  CompareField(f, "quota_mailbox_used", h.quota_mailbox_used, quota);
  if (hc.read) CompareField(f, "sync_crc", h.sync_crc, c.sync_crc, true);
  if (annots.ok() && annot_problems.empty())
    CompareField(f, "sync_crc_annot", h.sync_crc_annot, c.sync_crc_annot, true);
  // reconstruct recomputes it: mailbox annotations + live records' message annotations.
  if (spec.mailbox_annot_bytes && annots.ok() && annot_problems.empty()) {
    std::vector<std::uint32_t> live;
    for (const auto& r : ix.records)
      if (!(r.system_flags & cyrus::kFlagExpunged)) live.push_back(r.uid);
    std::sort(live.begin(), live.end());
    std::uint64_t used = *spec.mailbox_annot_bytes;
    for (const auto& a : *annots)
      if (std::binary_search(live.begin(), live.end(), a.uid)) used += a.value.size();
    CompareField(f, "quota_annot_used", std::uint64_t{h.quota_annot_used}, used & 0xffffffffu);
  }
}

void CheckCache(const IndexFile& ix, const std::string& dir, Findings& f) {
  bool any = std::any_of(ix.records.begin(), ix.records.end(),
                         [](const IndexRecord& r) { return IsLive(r) && r.cache_offset != 0; });
  if (!any) return;
  auto cache = ReadFile(dir + "/cyrus.cache");
  if (!cache.ok()) {
    f.Add("cyrus.cache unreadable (" + cache.error().message + ")");
    return;
  }
  std::span<const std::uint8_t> bytes(*cache);
  for (const auto& r : ix.records) {
    if (!IsLive(r) || r.cache_offset == 0) continue;
    auto rec = cyrus::CacheRecordAt(bytes, r.cache_offset);
    if (!rec.ok()) {
      f.AddUid(r.uid, "cyrus.cache record at offset " + std::to_string(r.cache_offset) + ": " +
                          rec.error().message);
      continue;
    }
    std::uint32_t crc = cyrus::CacheRecordCrc(*rec);
    if (crc != r.cache_crc)
      f.AddUid(r.uid, "cyrus.cache record CRC mismatch (index says " + Hex32(r.cache_crc) +
                          ", cache gives " + Hex32(crc) + ")");
  }
}

// One live record's message file: missing, not regular, wrong size, wrong SHA1.
std::vector<std::string> CheckMessage(const std::string& dir, const IndexRecord& r,
                                      std::uint64_t* bytes) {
  std::vector<std::string> out;
  std::string fname = std::to_string(r.uid) + ".";
  std::string path = dir + "/" + fname;
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT)
      out.push_back("message file " + fname + " missing");
    else
      out.push_back("message file " + fname + " unreadable (" + std::strerror(e) + ")");
    return out;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    out.push_back("message file " + fname + " is not a regular file");
    return out;
  }
  std::uint64_t size = 0;
  auto d = Sha1Fd(fd, &size);
  ::close(fd);
  if (!d.ok()) {
    out.push_back("message file " + fname + " unreadable (" + d.error().message + ")");
    return out;
  }
  *bytes = size;
  if (size != r.size)
    out.push_back("size mismatch (index says " + std::to_string(r.size) + ", file is " +
                  std::to_string(size) + ")");
  if (*d != r.guid)
    out.push_back("SHA1 mismatch (index says " + ToHex(r.guid) + ", file is " + ToHex(*d) + ")");
  return out;
}

void CheckMessages(const IndexFile& ix, const std::string& dir, Findings& f,
                   FolderVerdict& v) {
  std::vector<const IndexRecord*> live;
  for (const auto& r : ix.records)
    if (IsLive(r)) live.push_back(&r);
  std::vector<std::vector<std::string>> found(live.size());
  std::vector<std::uint64_t> sizes(live.size(), 0);
  auto one = [&](std::size_t i) { found[i] = CheckMessage(dir, *live[i], &sizes[i]); };
  if (live.size() >= kParallelHashMin) {
    ParallelForChunks(0, live.size(), 8, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i != e; ++i) one(i);
    });
  } else {
    for (std::size_t i = 0; i < live.size(); ++i) one(i);
  }
  for (std::size_t i = 0; i < live.size(); ++i) {
    for (const auto& line : found[i]) f.AddUid(live[i]->uid, line);
    v.bytes += sizes[i];
  }
  v.messages += live.size();
}

void CheckStrays(const IndexFile& ix, const std::string& dir, Findings& f) {
  std::set<std::uint32_t> known;
  for (const auto& r : ix.records) known.insert(r.uid);
  for (const auto& p : ix.problems) known.insert(p.uid);
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) {
    f.Add("mailbox directory unreadable (" + std::string(std::strerror(errno)) + ")");
    return;
  }
  std::set<std::uint32_t> strays;
  while (dirent* e = ::readdir(d.get())) {
    auto uid = UidOfFileName(e->d_name);
    if (uid && !known.count(*uid)) strays.insert(*uid);
  }
  for (std::uint32_t uid : strays)
    f.AddUid(uid, "stray message file " + std::to_string(uid) +
                      ". without an index record (Cyrus would re-append it)");
}

}  // namespace

std::string AclString(std::vector<std::pair<std::string, std::string>> acl) {
  std::sort(acl.begin(), acl.end());
  std::string s;
  for (const auto& [id, rights] : acl) {
    if (!s.empty()) s += ' ';
    s += id + ' ' + rights;
  }
  return s;
}

std::string FolderRelDir(const FolderSpec& spec, const FolderLayout& layout) {
  bool legacy = spec.mbtype.find('l') != std::string::npos;
  return MailboxRelDir(spec.name, spec.uniqueid, legacy ? CyrusLayout::kLegacy : CyrusLayout::kUuid,
                       layout.hashimapspool, layout.fulldirhash);
}

FolderVerdict VerifyFolder(const FolderSpec& spec, const FolderLayout& layout,
                           bool skip_messages) {
  FolderVerdict v;
  Findings f(spec.name, &v.problems);
  std::string rel = FolderRelDir(spec, layout);
  auto joined = SafeJoin(layout.spool, rel);
  if (!joined.ok()) {
    f.Add("mailbox name gives an unsafe directory (" + joined.error().message + ")");
    return v;
  }
  const std::string& dir = *joined;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    f.Add("mailbox directory missing (" + rel + ")");
    return v;
  }
  HeaderCheck hc = CheckHeader(spec, dir, f);
  if (!layout.conf.empty() && !hc.quotaroot.empty() && !reconcile::FindQuotaFile(layout.conf, hc.quotaroot))
    f.Add("quota root " + hc.quotaroot + " named by cyrus.header has no quota record in the config directory");
  auto ix = cyrus::ReadIndexFile(dir + "/cyrus.index");
  if (!ix.ok()) {
    f.Add("cyrus.index unusable (" + ix.error().message + ")");
    return v;
  }
  CheckIndexHeader(spec, *ix, hc, f);
  CheckRecords(*ix, hc, f);
  // Counts and sync CRCs as 3.6 derives them; an older index (Cyrus upgrades
  // it on first open) is checked for everything but these.
  if (ix->problems.empty() && ix->header.minor_version == cyrus::kIndexMinorVersion)
    CheckAggregates(spec, *ix, hc, dir, f);
  CheckCache(*ix, dir, f);
  if (!skip_messages) CheckMessages(*ix, dir, f, v);
  CheckStrays(*ix, dir, f);
  return v;
}

}  // namespace mr::verify
