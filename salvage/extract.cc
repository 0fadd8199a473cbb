#include "salvage/extract.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <span>
#include <string_view>

#include "common/parallel.h"
#include "common/sha1.h"
#include "salvage/file_data.h"
#include "salvage/inode.h"
#include "salvage/prefetch.h"
#include "salvage/walker.h"

namespace mr::salvage {

HandlePool::HandlePool(std::vector<Volume> handles) : all_(std::move(handles)) {
  for (auto& v : all_) free_.push_back(&v);
}

Volume* HandlePool::Acquire() {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return !free_.empty(); });
  Volume* v = free_.back();
  free_.pop_back();
  return v;
}

Volume* HandlePool::TryAcquire() {
  std::lock_guard<std::mutex> lk(mu_);
  if (free_.empty()) return nullptr;
  Volume* v = free_.back();
  free_.pop_back();
  return v;
}

void HandlePool::Release(Volume* v) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    free_.push_back(v);
  }
  cv_.notify_one();
}

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kChunk = 16;  // items a worker takes at a time
constexpr std::uint64_t kPrefetchWindow = 32u << 20;  // hinted bytes ahead of the workers

// An inode and its names: nodes[first, first + count) of GroupRunner::nodes_,
// sorted by output path (the first is the one whose bytes are written).
struct Item {
  std::uint32_t ino = 0;
  std::uint32_t first = 0, count = 0;
};

struct ItemOut {
  std::vector<FileRecord> files;
  std::vector<SymlinkRecord> symlinks;
  std::vector<DamageNote> damage;
  std::vector<std::int32_t> incomplete_parents;
  bool share = false;  // links > 1: remember for later groups
  std::uint64_t bytes = 0;
  Status error;        // output-side failure (fatal for the group)
};

// The output paths of the item a worker is on: its first name's, and
// another name's (buffers reused: no allocation per file).
thread_local std::string tl_primary, tl_other;

constexpr std::size_t kFlush = 2048;  // file records a worker hands to the store at once

// One worker's share of a group's output (file records only until flushed).
struct WorkerOut {
  std::vector<FileRecord> files;
  std::vector<FileRecord> shared;   // links > 1: remembered for later groups
  std::vector<FileRecord> damaged;  // for ExtractDelta
  std::vector<SymlinkRecord> symlinks;
  std::vector<std::pair<std::size_t, DamageNote>> damage;  // by item
  std::vector<std::int32_t> incomplete_parents;
  Status error;                     // the first output-side failure (by item)
  std::size_t error_item = 0;
  Status store_error;
  void FlushFiles(FileStore* store) {
    if (files.empty()) return;
    Status s = store->Add(std::move(files));
    files.clear();
    if (!s.ok() && store_error.ok()) store_error = std::move(s);
  }
};

// An output path's directory and last component, without copying: base is
// the tail of the path's own NUL-terminated buffer.
struct OutName {
  std::string_view dir;
  const char* base;
};

OutName SplitOut(const std::string& path) {
  size_t s = path.rfind('/');
  if (s == std::string::npos) return {std::string_view(), path.c_str()};
  return {std::string_view(path).substr(0, s), path.c_str() + s + 1};
}

OutputMeta MetaOf(const InodeInfo& in) {
  return OutputMeta{in.mode, in.uid, in.gid, in.atime, in.mtime};
}

const std::uint8_t kZeros[65536] = {};

void HashZeros(Sha1& h, std::uint64_t n) {
  while (n > 0) {
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, sizeof kZeros));
    h.Update(kZeros, k);
    n -= k;
  }
}

bool WriteAll(int fd, const std::uint8_t* p, std::size_t n, std::uint64_t off) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
    off += static_cast<std::uint64_t>(w);
  }
  return true;
}

class GroupRunner {
 public:
  GroupRunner(std::int32_t group, ExtractEnv& env)
      : group_(group), env_(env), c_(*env.cat), source_size_(env.pool->any().source()->size()) {}

  Status Run(GroupResult* res) {
    Collect();
    for (auto d : dirs_)
      if (Status s = env_.out->MakeDir(c_.OutPath(d)); !s.ok()) return s;
    // Parents that are not nodes of this group (lost+found/, a folder in another group).
    // Neighbouring items mostly share one: skip repeats before the set.
    std::set<std::string> parents;
    std::int32_t last = -1;
    for (auto n : nodes_) {
      if (c_.OutRoot(n)) {  // lost+found/#<ino>
        const std::string_view name = c_.OutName(n);
        const auto slash = name.rfind('/');
        if (slash != std::string_view::npos) parents.emplace(name.substr(0, slash));
        continue;
      }
      const std::int32_t p = c_.tree.nodes[n].parent;
      if (p == last) continue;
      last = p;
      parents.insert(c_.OutPath(p));
    }
    for (const auto& p : parents)
      if (Status s = env_.out->MakeDir(p); !s.ok()) return s;
    if (env_.snapshot) env_.snapshot->phase = c_.group_names[group_];
    if (Status s = LoadPrevious(); !s.ok()) return s;
    // Workers take the next kChunk items from one counter, so together they
    // move through the group in inode (and mostly on-disk) order: one forward
    // stream for the kernel's readahead and for Prefetcher.
    const std::size_t n = items_.size();
    const int workers = static_cast<int>(std::min<std::size_t>(std::max(1, env_.jobs), (n + kChunk - 1) / kChunk));
    std::vector<WorkerOut> wouts(static_cast<std::size_t>(std::max(1, workers)));
    std::atomic<std::size_t> next{0};
    Volume* pv = env_.pool->TryAcquire();
    std::optional<Prefetcher> prefetch;
    if (pv) prefetch.emplace(pv, n, [this](std::size_t i) { return items_[i].ino; }, &next, kPrefetchWindow);
    InArena(std::max(1, env_.jobs), [&] {
      ParallelFor(0, wouts.size(), [&](std::size_t w) {
        Volume* v = env_.pool->Acquire();
        WorkerOut& wo = wouts[w];
        for (std::size_t b; (b = next.fetch_add(kChunk)) < n;)
          for (std::size_t i = b, e = std::min(n, b + kChunk); i < e; ++i) {
            ItemOut o;
            c_.Tick();
            DoItem(*v, items_[i], &o);
            Fold(i, std::move(o), &wo);
          }
        wo.FlushFiles(env_.files);
        env_.pool->Release(v);
      });
    });
    if (pv) {
      prefetch.reset();  // joins its thread
      env_.pool->Release(pv);
    }
    // The first failure in item order, as if the items had run one by one.
    const WorkerOut* failed = nullptr;
    for (const auto& wo : wouts)
      if (!wo.error.ok() && (!failed || wo.error_item < failed->error_item)) failed = &wo;
    if (failed) return failed->error;
    for (const auto& wo : wouts)
      if (!wo.store_error.ok()) return wo.store_error;
    std::vector<std::int32_t> incomplete;  // parents with an entry that could not be extracted
    std::vector<std::pair<std::size_t, DamageNote>> damage;
    for (auto& wo : wouts) {
      if (env_.linked)
        for (auto& f : wo.shared)
          if (Status ls = env_.linked->Put(f); !ls.ok()) return ls;
      for (auto& f : wo.damaged) res->damaged_files.push_back(std::move(f));
      for (auto& sl : wo.symlinks) res->symlinks.push_back(std::move(sl));
      for (auto& d : wo.damage) damage.push_back(std::move(d));
      for (auto p : wo.incomplete_parents) if (p >= 0) incomplete.push_back(p);
    }
    std::sort(incomplete.begin(), incomplete.end());
    incomplete.erase(std::unique(incomplete.begin(), incomplete.end()), incomplete.end());
    // One item's notes all come from one worker, in order.
    std::stable_sort(damage.begin(), damage.end(), [](auto& a, auto& b) { return a.first < b.first; });
    for (auto& d : damage) res->damage.push_back(std::move(d.second));
    if (env_.linked)
      if (Status ls = env_.linked->Commit(); !ls.ok()) return ls;
    if (env_.snapshot) {
      env_.snapshot->files_done += items_.size();
      env_.snapshot->bytes_done += bytes_.load();
    }
    FinishDirs(incomplete, res);
    env_.out->DropCache();  // bound open fds across thousands of groups
    std::sort(res->symlinks.begin(), res->symlinks.end(), [](auto& a, auto& b) { return a.path < b.path; });
    std::sort(res->damaged_files.begin(), res->damaged_files.end(), [](auto& a, auto& b) { return a.path < b.path; });
    return {};
  }

 private:
  void Collect() {
    for (std::int32_t i : c_.Members(group_)) {
      if (c_.tree.nodes[i].type == NodeType::kDir) dirs_.push_back(i);
      else nodes_.push_back(i);
    }
    {
      std::vector<std::pair<std::string, std::int32_t>> by_path;
      for (auto d : dirs_) by_path.emplace_back(c_.OutPath(d), d);
      std::sort(by_path.begin(), by_path.end());
      for (std::size_t k = 0; k < by_path.size(); ++k) dirs_[k] = by_path[k].second;
    }
    // By inode, then (names of one inode) by output path.
    std::sort(nodes_.begin(), nodes_.end(), [&](auto a, auto b) {
      const std::uint32_t ia = c_.tree.nodes[a].ino, ib = c_.tree.nodes[b].ino;
      return ia != ib ? ia < ib : c_.OutPath(a) < c_.OutPath(b);  // hard links only
    });
    for (std::uint32_t k = 0; k < nodes_.size(); ++k) {
      const std::uint32_t ino = c_.tree.nodes[nodes_[k]].ino;
      if (items_.empty() || items_.back().ino != ino) items_.push_back({ino, k, 0});
      ++items_.back().count;
    }
  }

  // The previous run's records of this group's files (resume), by item.
  Status LoadPrevious() {
    if (!env_.previous || env_.out->dry_run() || items_.empty()) return {};
    std::vector<std::pair<std::string, std::uint32_t>> keys(items_.size());
    for (std::uint32_t i = 0; i < items_.size(); ++i) keys[i] = {c_.OutPath(nodes_[items_[i].first]), i};
    std::sort(keys.begin(), keys.end());
    std::vector<std::string_view> paths(keys.size());
    for (std::size_t k = 0; k < keys.size(); ++k) paths[k] = keys[k].first;
    std::vector<PreviousFile> found;
    if (Status s = env_.previous->Lookup(paths, &found); !s.ok()) return s;
    prev_.assign(items_.size(), PreviousFile{});
    for (std::size_t k = 0; k < keys.size(); ++k) prev_[keys[k].second] = std::move(found[k]);
    return {};
  }

  // Moves item i's output into its worker's; file records go on to the store
  // every kFlush of them.
  void Fold(std::size_t i, ItemOut&& o, WorkerOut* wo) {
    if (!o.error.ok() && (wo->error.ok() || i < wo->error_item)) {
      wo->error = std::move(o.error);
      wo->error_item = i;
    }
    for (auto& f : o.files) {
      if (o.share && env_.linked) wo->shared.push_back(f);
      if (!f.damaged.empty() || !f.problem.empty()) wo->damaged.push_back(f);
      wo->files.push_back(std::move(f));
    }
    for (auto& sl : o.symlinks) wo->symlinks.push_back(std::move(sl));
    for (auto& d : o.damage) wo->damage.emplace_back(i, std::move(d));
    for (auto p : o.incomplete_parents) wo->incomplete_parents.push_back(p);
    if (wo->files.size() >= kFlush) wo->FlushFiles(env_.files);
  }

  std::span<const std::int32_t> NodesOf(const Item& it) const {
    return std::span<const std::int32_t>(nodes_).subspan(it.first, it.count);
  }

  void Tick(std::uint64_t bytes) {
    bytes_ += bytes;
    ++files_;
    if (!env_.progress || !env_.snapshot) return;
    const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 Clock::now().time_since_epoch()).count();
    std::int64_t last = last_ms_.load();
    if (now - last < 500 || !last_ms_.compare_exchange_strong(last, now)) return;
    ProgressSnapshot s = *env_.snapshot;  // totals only change between groups
    s.files_done += files_.load();
    s.bytes_done += bytes_.load();
    env_.progress->Update(s);
  }

  void DoItem(Volume& v, const Item& it, ItemOut* o) {
    ext2_filsys fs = v.fs();
    const auto names = NodesOf(it);
    c_.OutPathInto(names.front(), &tl_primary);
    const std::string& primary = tl_primary;
    auto parents = [&] {
      for (auto n : names) o->incomplete_parents.push_back(c_.tree.nodes[n].parent);
    };
    // Already extracted for an earlier group (hard link across users).
    if (env_.linked && !env_.linked->empty()) {
      auto f = env_.linked->Get(it.ino);
      if (!f.ok()) { o->error = f.error(); return; }
      if (f->has_value()) {
        const FileRecord& first = **f;
        for (auto n : names) {
          c_.OutPathInto(n, &tl_other);
          if (Status s = LinkPaths(first.path, tl_other); !s.ok()) { o->error = s; return; }
          FileRecord r = first;
          r.path = tl_other;
          o->files.push_back(std::move(r));
        }
        Tick(0);
        return;
      }
    }
    auto in = ReadInode(fs, it.ino);
    if (!in.ok() || !in->live) {
      o->damage.push_back({"missing_inode", primary + ": inode " + std::to_string(it.ino) +
                                                (in.ok() ? " is not in use" : ": " + in.error().message)});
      parents();
      Tick(0);
      return;
    }
    const NodeType t = TypeFromMode(in->mode);
    const NodeType claimed = c_.tree.nodes[names.front()].type;
    if (claimed != NodeType::kUnknown && claimed != t) {
      o->damage.push_back({"type_mismatch", primary + ": the entry and inode " + std::to_string(it.ino) +
                                                " disagree on the file type; not extracted"});
      parents();
      Tick(0);
      return;
    }
    if (t == NodeType::kFile) {
      DoFile(fs, *in, it, o);
    } else if (t == NodeType::kSymlink) {
      bool damaged = false;
      auto target = ReadSymlinkTarget(fs, *in, &damaged);
      if (!target.ok()) {
        o->damage.push_back({"symlink", primary + ": " + target.error().message});
        parents();
      } else {
        if (damaged) o->damage.push_back({"symlink", primary + ": target partly unreadable"});
        for (auto n : names) {
          c_.OutPathInto(n, &tl_other);
          const OutName on = SplitOut(tl_other);
          bool owned = false;
          auto fd = env_.out->DirFd(on.dir, &owned);
          if (!fd.ok()) { o->error = fd.error(); return; }
          Status s = env_.out->Symlink(*target, *fd, on.base, MetaOf(*in));
          if (owned) ::close(*fd);
          if (!s.ok()) { o->error = s; return; }
          o->symlinks.push_back({tl_other, it.ino, *target});
        }
      }
    } else {
      o->damage.push_back({"special_file", primary + ": device, fifo or socket (inode " +
                                               std::to_string(it.ino) + ") not extracted"});
    }
    Tick(in->size);
  }

  Status LinkPaths(const std::string& from, const std::string& to) {
    const OutName f = SplitOut(from), t = SplitOut(to);
    bool o1 = false, o2 = false;
    auto a = env_.out->DirFd(f.dir, &o1);
    if (!a.ok()) return a.error();
    auto b = env_.out->DirFd(t.dir, &o2);
    if (!b.ok()) { if (o1) ::close(*a); return b.error(); }
    Status s = env_.out->Link(*a, f.base, *b, t.base);
    if (o1) ::close(*a);
    if (o2) ::close(*b);
    return s;
  }

  // True (and fills *rec) when the previous run's copy is complete and intact.
  bool Resumable(const InodeInfo& in, const Item& it, const std::string& path, FileRecord* rec) {
    if (prev_.empty()) return false;
    const PreviousFile& p = prev_[static_cast<std::size_t>(&it - items_.data())];
    if (!p.found || !p.intact || p.ino != in.ino || p.size != in.size) return false;
    const OutName on = SplitOut(path);
    bool owned = false;
    auto dfd = env_.out->DirFd(on.dir, &owned);
    if (!dfd.ok()) return false;
    int fd = ::openat(*dfd, on.base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (owned) ::close(*dfd);
    if (fd < 0) return false;
    std::uint64_t size = 0;
    auto d = Sha1Fd(fd, &size);
    ::close(fd);
    if (!d.ok() || size != in.size || ToHex(*d) != p.sha1) return false;
    rec->sha1 = p.sha1;
    return true;
  }

  void DoFile(ext2_filsys fs, const InodeInfo& in, const Item& it, ItemOut* o) {
    const auto names = NodesOf(it);
    const std::string& primary = tl_primary;  // DoItem's: names.front()'s path
    FileRecord rec;
    rec.path = primary;
    rec.ino = in.ino;
    // An inode may claim any i_size (2^60 bytes); a file cannot hold more than the
    // filesystem (ReadFileData reads no further), nor more than the source holds when
    // the superblock claims more than that (a garbage block count on a 6 MiB image
    // claimed 4 TiB: hashing that many zeros never ended), so the rest of the claim is
    // damage and is neither hashed nor written as a sparse tail.
    const std::uint64_t fs_bytes = ext2fs_blocks_count(fs->super) * fs->blocksize;
    const std::uint64_t size =
        std::min<std::uint64_t>(in.size, std::min(fs_bytes, std::max<std::uint64_t>(source_size_, fs->blocksize)));
    rec.size = size;
    rec.mtime = in.mtime.sec;
    rec.mtime_ns = in.mtime.nsec;
    rec.inode_from_journal = in.from_journal;
    rec.inode_journal_sequence = in.journal_sequence;
    if (!Resumable(in, it, primary, &rec)) {
      const OutName on = SplitOut(primary);
      int fd = -1;
      bool owned = false;
      int dfd = -1;
      if (!env_.out->dry_run()) {
        auto d = env_.out->DirFd(on.dir, &owned);
        if (!d.ok()) { o->error = d.error(); return; }
        dfd = *d;
        auto f = env_.out->CreateFile(dfd, on.base, in.mode);
        if (owned) ::close(dfd);
        if (!f.ok()) { o->error = f.error(); return; }
        fd = *f;
      }
      thread_local Sha1 h;  // Final() resets it: one OpenSSL context per thread, not per file
      std::uint64_t hashed = 0;
      bool write_failed = false;
      FileReadResult r = ReadFileData(fs, in, [&](std::uint64_t off, const std::uint8_t* p, std::size_t n) -> bool {
        if (off > hashed) HashZeros(h, off - hashed);
        h.Update(p, n);
        hashed = off + n;
        if (fd >= 0 && !WriteAll(fd, p, n, off)) {
          write_failed = true;
          return false;
        }
        return true;
      });
      if (write_failed) {
        o->error = ErrnoError("write " + env_.out->root() + "/" + primary, errno);
        h.Final();  // leave the per-thread context clean for the next file
        ::close(fd);
        return;
      }
      if (hashed < size) HashZeros(h, size - hashed);
      rec.sha1 = ToHex(h.Final());
      if (Status s = env_.out->FinishFile(fd, size, hashed, MetaOf(in), primary); !s.ok()) {
        o->error = s;
        return;
      }
      rec.damaged = r.damaged;
      rec.problem = r.problem;
      rec.journal_fallback = r.journal_fallback;
      rec.map_from_journal = r.map_from_journal;
      if (in.csum_bad) o->damage.push_back({"inode_checksum", primary + ": inode " + std::to_string(in.ino) +
                                                                   " fails its checksum"});
      if (in.csum_bad && in.size > 0) {  // size or block map may be wrong: not intact
        rec.damaged = {ByteRange{0, in.size}};
        rec.problem = "inode checksum mismatch" + (r.problem.empty() ? "" : "; " + r.problem);
        r.damaged = rec.damaged;
        r.problem = rec.problem;
      }
      if (size < in.size) {
        rec.damaged.push_back({size, in.size - size});
        if (rec.problem.empty())
          rec.problem = size < fs_bytes ? "i_size larger than the source holds" : "i_size larger than the filesystem";
      }
      if (!rec.damaged.empty())
        o->damage.push_back({"damaged_file", primary + ": " + rec.problem});
    }
    o->share = in.links > 1;
    for (std::size_t k = 1; k < names.size(); ++k) {
      c_.OutPathInto(names[k], &tl_other);
      if (Status s = LinkPaths(primary, tl_other); !s.ok()) { o->error = s; return; }
      FileRecord extra = rec;
      extra.path = tl_other;
      o->files.push_back(std::move(extra));
    }
    o->files.insert(o->files.begin(), std::move(rec));
  }

  // `incomplete`: sorted.
  void FinishDirs(const std::vector<std::int32_t>& incomplete, GroupResult* res) {
    Volume* v = env_.pool->Acquire();
    // Deepest first: setting a child's times must not be undone by the parent's.
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      const std::int32_t d = *it;
      const Node& n = c_.tree.nodes[d];
      DirRecord rec;
      rec.path = c_.OutPath(d);
      rec.ino = n.ino;
      std::int32_t di = c_.tree.DirIndex(d);
      if (di >= 0) {
        rec.complete = c_.tree.dirs[di].complete;
        rec.problem = c_.tree.dirs[di].problem;
        rec.journal_fallback = c_.tree.dirs[di].from_journal;
      }
      if (rec.complete && std::binary_search(incomplete.begin(), incomplete.end(), d)) {
        rec.complete = false;
        rec.problem = "an entry's inode is missing or unreadable";
      }
      if (n.ino != 0) {
        auto in = ReadInode(v->fs(), n.ino);
        if (in.ok() && in->live && IsDir(in->mode)) {
          if (Status s = env_.out->SetDirMeta(rec.path, MetaOf(*in)); !s.ok())
            res->damage.push_back({"output", s.message()});
        }
      }
      res->dirs.push_back(std::move(rec));
    }
    env_.pool->Release(v);
    std::sort(res->dirs.begin(), res->dirs.end(), [](auto& a, auto& b) { return a.path < b.path; });
  }

  std::int32_t group_;
  ExtractEnv& env_;
  const Catalog& c_;
  const std::uint64_t source_size_;  // bytes the source holds
  std::vector<std::int32_t> dirs_;
  std::vector<std::int32_t> nodes_;  // non-directory nodes, grouped by inode (see Item)
  std::vector<Item> items_;
  std::vector<PreviousFile> prev_;  // by item; empty when not resuming
  std::atomic<std::uint64_t> bytes_{0}, files_{0};
  std::atomic<std::int64_t> last_ms_{0};
};

}  // namespace

Status ExtractGroup(std::int32_t group, ExtractEnv& env, GroupResult* result) {
  return GroupRunner(group, env).Run(result);
}

}  // namespace mr::salvage
