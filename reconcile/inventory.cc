#include "reconcile/inventory.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include "common/cyrus_layout.h"
#include "common/parallel.h"
#include "reconcile/cyrus/cache.h"
#include "reconcile/cyrus/message.h"
#include "reconcile/mapped_file.h"
#include "reconcile/verify_annot.h"

namespace mr::reconcile {

const char* SideName(Side s) { return s == Side::kSalvaged ? "salvage" : "backup"; }

const RecordInfo* FolderInventory::Record(std::uint32_t uid) const {
  auto it = std::lower_bound(records.begin(), records.end(), uid,
                             [](const RecordInfo& r, std::uint32_t u) { return r.rec.uid < u; });
  return it != records.end() && it->rec.uid == uid ? &*it : nullptr;
}

const FileInfo* FolderInventory::File(std::uint32_t uid) const {
  auto it = std::lower_bound(files.begin(), files.end(), uid,
                             [](const FileInfo& f, std::uint32_t u) { return f.uid < u; });
  return it != files.end() && it->uid == uid ? &*it : nullptr;
}

bool FolderInventory::Uncertain(std::uint32_t uid) const {
  // `uncertain` is sorted by lo and non-overlapping (ReadIndex merges it), so
  // only the last interval starting below uid can contain it.
  auto it = std::upper_bound(uncertain.begin(), uncertain.end(), uid,
                             [](std::uint32_t u, const UidInterval& iv) { return u <= iv.lo; });
  if (it == uncertain.begin()) return false;
  --it;
  return uid > it->lo && uid < it->hi;
}

std::optional<std::uint32_t> UidFromFileName(std::string_view name) {
  if (name.size() < 2 || name.size() > 11 || name.back() != '.') return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i + 1 < name.size(); ++i) {
    char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  if (name[0] == '0') return std::nullopt;  // Cyrus never writes leading zeros
  return static_cast<std::uint32_t>(v);
}

namespace {

// Directory fd for *at() calls: saves a path walk per message file.
class DirFd {
 public:
  explicit DirFd(const std::string& dir) : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}
  ~DirFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  DirFd(const DirFd&) = delete;
  DirFd& operator=(const DirFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void ListFiles(FolderInventory& inv, const DirFd& dfd) {
  if (dfd.get() < 0) {
    inv.dir_exists = false;
    return;
  }
  int dup = ::dup(dfd.get());
  DIR* d = dup >= 0 ? ::fdopendir(dup) : nullptr;
  if (!d) {
    if (dup >= 0) ::close(dup);
    inv.dir_exists = false;
    return;
  }
  inv.dir_exists = true;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    auto uid = UidFromFileName(n);
    if (n == "cyrus.annotations") inv.annotations_present = true;
    if (!uid) continue;
    struct stat st {};
    if (::fstatat(dfd.get(), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    FileInfo f;
    f.uid = *uid;
    f.size = static_cast<std::uint64_t>(st.st_size);
    f.mtime = st.st_mtime;
    inv.files.push_back(std::move(f));
  }
  ::closedir(d);
  std::sort(inv.files.begin(), inv.files.end(), [](const FileInfo& a, const FileInfo& b) { return a.uid < b.uid; });
}

void ReadIndex(FolderInventory& inv) {
  auto idx = cyrus::ReadIndexFile(inv.dir + "/cyrus.index");
  if (!idx) {
    inv.index_error = idx.error().message;
    return;
  }
  inv.index = idx->header;
  inv.problems = std::move(idx->problems);
  // Where each bad record sits between good ones (records keep file order).
  std::set<std::uint32_t> bad_pos;
  for (const auto& p : inv.problems) bad_pos.insert(p.record_no);
  std::vector<std::uint32_t> good_uids;
  good_uids.reserve(idx->records.size());
  for (const auto& r : idx->records) good_uids.push_back(r.uid);
  std::size_t good_seen = 0;
  std::uint32_t total = static_cast<std::uint32_t>(good_uids.size() + bad_pos.size());
  for (std::uint32_t pos = 0; pos < total; ++pos) {
    if (!bad_pos.count(pos)) {
      ++good_seen;
      continue;
    }
    UidInterval iv;
    iv.lo = good_seen > 0 ? good_uids[good_seen - 1] : 0;
    iv.hi = good_seen < good_uids.size() ? good_uids[good_seen] : std::numeric_limits<std::uint32_t>::max();
    if (!inv.uncertain.empty() && inv.uncertain.back().lo == iv.lo && inv.uncertain.back().hi == iv.hi) continue;
    inv.uncertain.push_back(iv);
  }
  // Sorted and merged, so Uncertain() is a binary search even when a
  // badly damaged index yields one interval per record.
  std::sort(inv.uncertain.begin(), inv.uncertain.end(),
            [](const UidInterval& a, const UidInterval& b) { return a.lo != b.lo ? a.lo < b.lo : a.hi < b.hi; });
  std::vector<UidInterval> merged;
  for (const auto& iv : inv.uncertain) {
    if (!merged.empty() && iv.lo < merged.back().hi) {
      merged.back().hi = std::max(merged.back().hi, iv.hi);
      continue;
    }
    merged.push_back(iv);
  }
  inv.uncertain = std::move(merged);
  inv.records.reserve(idx->records.size());
  for (auto& r : idx->records) inv.records.push_back(RecordInfo{r, false, 0});
  idx->records.clear();
  idx->records.shrink_to_fit();
  std::stable_sort(inv.records.begin(), inv.records.end(),
                   [](const RecordInfo& a, const RecordInfo& b) { return a.rec.uid < b.rec.uid; });
  // Duplicate uids (a corrupt index that still checks): keep the first.
  std::vector<RecordInfo> uniq;
  uniq.reserve(inv.records.size());
  for (auto& r : inv.records) {
    if (!uniq.empty() && uniq.back().rec.uid == r.rec.uid) {
      inv.problems.push_back({0, r.rec.uid, "duplicate uid " + std::to_string(r.rec.uid)});
      continue;
    }
    if (r.rec.uid == 0) {
      inv.problems.push_back({0, 0, "record with uid 0"});
      continue;
    }
    uniq.push_back(r);
  }
  inv.records = std::move(uniq);
}

void CheckCache(FolderInventory& inv) {
  std::string path = inv.dir + "/cyrus.cache";
  auto m = MappedFile::Open(path);
  if (!m) {
    inv.cache_present = false;
    inv.cache_error = m.error().message;
    return;
  }
  inv.cache_present = true;
  auto bytes = m->bytes();
  if (bytes.size() < cyrus::kCacheHeaderSize) {
    inv.cache_error = path + ": shorter than its header";
    return;
  }
  // Visit records in offset order so released pages are never needed again.
  std::vector<std::uint32_t> order(inv.records.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return inv.records[a].rec.cache_offset < inv.records[b].rec.cache_offset;
  });
  std::uint64_t bad = 0;
  for (std::uint32_t i : order) {
    auto& r = inv.records[i];
    auto rec = cyrus::CacheRecordAt(bytes, r.rec.cache_offset);
    if (!rec || rec->size() > std::numeric_limits<std::uint32_t>::max() || cyrus::CacheRecordCrc(*rec) != r.rec.cache_crc) {
      ++bad;
      continue;
    }
    r.cache_ok = true;
    r.cache_len = static_cast<std::uint32_t>(rec->size());
    m->Release(r.rec.cache_offset);
  }
  if (bad) inv.cache_error = path + ": " + std::to_string(bad) + " records missing or with a bad CRC";
}

void HashFiles(FolderInventory& inv, const InventoryOptions& opt, const DirFd& dfd) {
  // Which files have no good record: those need message facts too.
  std::vector<char> orphan(inv.files.size(), 0);
  for (std::size_t i = 0; i < inv.files.size(); ++i) orphan[i] = inv.Record(inv.files[i].uid) == nullptr;
  ParallelFor(0, inv.files.size(), [&](std::size_t i) {
    FileInfo& f = inv.files[i];
    std::string path = inv.dir + "/" + std::to_string(f.uid) + ".";
    if (opt.manifest) {
      if (const std::string* dmg = opt.manifest->Damage(opt.manifest_prefix + "/" + inv.rel_dir + "/" +
                                                         std::to_string(f.uid) + ".")) {
        f.damaged = true;
        f.damage = *dmg;
      }
    }
    if (orphan[i] && !f.damaged) {
      auto facts = cyrus::ParseMessageFile(path);
      if (!facts) {
        f.damaged = true;
        f.damage = facts.error().message;
        return;
      }
      f.sha1 = facts->guid;
      f.hashed = true;
      f.has_facts = true;
      f.header_size = facts->header_size;
      f.sentdate = facts->sentdate;
      f.gmtime = facts->gmtime;
      f.size = facts->size;
      return;
    }
    if (!opt.hash_files || f.damaged) return;
    std::uint64_t size = 0;
    std::string name = std::to_string(f.uid) + ".";
    int fd = ::openat(dfd.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      f.damaged = true;
      f.damage = ErrnoError(path, errno).message;
      return;
    }
    auto d = Sha1Fd(fd, &size);
    ::close(fd);
    if (!d) {
      f.damaged = true;
      f.damage = d.error().message;
      return;
    }
    f.sha1 = *d;
    f.size = size;
    f.hashed = true;
  });
}

}  // namespace

FolderInventory InventoryFolder(Side side, const std::string& spool_root, const std::string& rel_dir,
                                const std::string& name, const InventoryOptions& opt) {
  FolderInventory inv;
  inv.side = side;
  inv.name = name;
  inv.rel_dir = rel_dir;
  inv.dir = spool_root + "/" + rel_dir;
  if (opt.manifest) inv.dir_complete = opt.manifest->DirComplete(opt.manifest_prefix + "/" + rel_dir);
  DirFd dfd(inv.dir);
  ListFiles(inv, dfd);
  if (!inv.dir_exists) {
    inv.header_error = inv.dir + ": no such folder directory";
    inv.index_error = inv.header_error;
    return inv;
  }
  auto h = cyrus::ReadHeaderFile(inv.dir + "/cyrus.header");
  if (h) inv.header = std::move(h.value());
  else inv.header_error = h.error().message;
  ReadIndex(inv);
  CheckCache(inv);
  if (inv.annotations_present) {
    std::vector<std::string> problems;
    auto a = verify::ReadMessageAnnotations(inv.dir + "/cyrus.annotations", &problems);
    if (!a || !problems.empty()) {
      // Unreadable or partly damaged: not carried (its CRC could not be stated).
      inv.annotations_present = false;
      inv.annotations_error = !a ? a.error().message : "cyrus.annotations: " + problems.front();
    } else {
      inv.annotations = std::move(a.value());
      // Private annotations of the mailbox owner are keyed "[.OwNeR.]";
      // Cyrus counts them under the owner's userid (verified with reconstruct).
      std::string owner = UserOf(inv.header ? inv.header->name : inv.name);
      std::replace(owner.begin(), owner.end(), '^', '.');
      for (auto& an : inv.annotations)
        if (an.userid == "[.OwNeR.]") an.userid = owner;
    }
  }
  HashFiles(inv, opt, dfd);
  return inv;
}

}  // namespace mr::reconcile
