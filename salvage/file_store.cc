#include "salvage/file_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <queue>
#include <string_view>
#include <utility>

namespace mr::salvage {

// Record encoding (native, never leaves this process): u32 body length, then
// the fields as varints and length-prefixed bytes (see Encode).
struct FileStore::Run {
  int fd = -1;
  std::string name;  // the unlinked file's name, for messages
  std::uint64_t bytes = 0, count = 0;
  int level = 0;
  ~Run() {
    if (fd >= 0) ::close(fd);
  }
};

namespace {

// Spill-file failures are output errors (kIoError: exit 2), whatever errno says.
Error SpillError(const std::string& what, int err) { return Error{Code::kIoError, ErrnoError(what, err).message}; }

constexpr std::size_t kWriteBuf = 1 << 20;
constexpr std::size_t kReadBuf = 64 << 10;

void PutVar(std::string& b, std::uint64_t v) {
  while (v >= 0x80) {
    b.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  b.push_back(static_cast<char>(v));
}

void PutStr(std::string& b, std::string_view s) {
  PutVar(b, s.size());
  b.append(s);
}

void PutRanges(std::string& b, const std::vector<ByteRange>& v) {
  PutVar(b, v.size());
  for (const auto& r : v) {
    PutVar(b, r.offset);
    PutVar(b, r.length);
  }
}

void Encode(std::string& b, const FileRecord& f) {
  const std::size_t at = b.size();
  b.append(4, '\0');
  PutStr(b, f.path);
  PutVar(b, f.ino);
  PutVar(b, f.size);
  PutStr(b, f.sha1);
  PutVar(b, (static_cast<std::uint64_t>(f.mtime) << 1) ^ static_cast<std::uint64_t>(f.mtime >> 63));
  PutVar(b, f.mtime_ns);
  PutRanges(b, f.damaged);
  PutStr(b, f.problem);
  PutRanges(b, f.journal_fallback);
  b.push_back(static_cast<char>((f.map_from_journal ? 1 : 0) | (f.inode_from_journal ? 2 : 0)));
  PutVar(b, f.inode_journal_sequence);
  const auto len = static_cast<std::uint32_t>(b.size() - at - 4);
  std::memcpy(b.data() + at, &len, 4);
}

class Decoder {
 public:
  Decoder(const char* p, std::size_t n) : p_(p), e_(p + n) {}
  bool Var(std::uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= e_) return false;
      const auto c = static_cast<unsigned char>(*p_++);
      *v |= static_cast<std::uint64_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return true;
    }
    return false;
  }
  template <class T>
  bool Num(T* v) {
    std::uint64_t x;
    if (!Var(&x)) return false;
    *v = static_cast<T>(x);
    return true;
  }
  bool Str(std::string* s) {
    std::uint64_t n;
    if (!Var(&n) || n > static_cast<std::uint64_t>(e_ - p_)) return false;
    s->assign(p_, n);
    p_ += n;
    return true;
  }
  bool Ranges(std::vector<ByteRange>* v) {
    std::uint64_t n;
    if (!Var(&n) || n > static_cast<std::uint64_t>(e_ - p_)) return false;
    v->resize(n);
    for (auto& r : *v)
      if (!Var(&r.offset) || !Var(&r.length)) return false;
    return true;
  }
  bool Byte(std::uint8_t* b) {
    if (p_ >= e_) return false;
    *b = static_cast<std::uint8_t>(*p_++);
    return true;
  }
  bool done() const { return p_ == e_; }

 private:
  const char* p_;
  const char* e_;
};

bool Decode(const char* p, std::size_t n, FileRecord* f) {
  Decoder d(p, n);
  std::uint64_t mt;
  std::uint8_t flags;
  if (!d.Str(&f->path) || !d.Num(&f->ino) || !d.Num(&f->size) || !d.Str(&f->sha1) || !d.Var(&mt) ||
      !d.Num(&f->mtime_ns) || !d.Ranges(&f->damaged) || !d.Str(&f->problem) || !d.Ranges(&f->journal_fallback) ||
      !d.Byte(&flags) || !d.Num(&f->inode_journal_sequence) || !d.done())
    return false;
  f->mtime = static_cast<std::int64_t>((mt >> 1) ^ (~(mt & 1) + 1));
  f->map_from_journal = flags & 1;
  f->inode_from_journal = flags & 2;
  return true;
}

bool Before(const FileRecord& a, const FileRecord& b) {
  const int c = a.path.compare(b.path);
  return c != 0 ? c < 0 : a.ino < b.ino;
}

// Appends encoded records to a run through one buffer.
class RunWriter {
 public:
  explicit RunWriter(FileStore::Run* r) : r_(r) { buf_.reserve(kWriteBuf + 4096); }
  Status Put(const FileRecord& f) {
    Encode(buf_, f);
    ++r_->count;
    return buf_.size() >= kWriteBuf ? Flush() : Status();
  }
  Status Flush() {
    const char* p = buf_.data();
    std::size_t n = buf_.size();
    while (n > 0) {
      ssize_t w = ::pwrite(r_->fd, p, n, static_cast<off_t>(r_->bytes));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return SpillError("write spill file " + r_->name, w < 0 ? errno : ENOSPC);
      p += w;
      n -= static_cast<std::size_t>(w);
      r_->bytes += static_cast<std::uint64_t>(w);
    }
    buf_.clear();
    return {};
  }

 private:
  FileStore::Run* r_;
  std::string buf_;
};

// Reads a run's records back in order through one fixed buffer.
class RunReader {
 public:
  explicit RunReader(const FileStore::Run* r) : r_(r) {}
  // False at the end (status ok) or on an error (status set).
  bool Next(FileRecord* f, Status* st) {
    if (off_ + pos_ >= r_->bytes && pos_ == buf_.size()) return false;
    std::uint32_t len = 0;
    if (!Ensure(4, st)) return false;
    std::memcpy(&len, buf_.data() + pos_, 4);
    if (!Ensure(4 + static_cast<std::size_t>(len), st)) return false;
    if (!Decode(buf_.data() + pos_ + 4, len, f)) {
      *st = Error{Code::kIoError, "read spill file " + r_->name + ": record does not decode"};
      return false;
    }
    pos_ += 4 + len;
    return true;
  }

 private:
  // At least n bytes from pos_ in buf_.
  bool Ensure(std::size_t n, Status* st) {
    if (buf_.size() - pos_ >= n) return true;
    buf_.erase(0, pos_);
    off_ += pos_;
    pos_ = 0;
    const std::uint64_t file_at = off_ + buf_.size();
    const std::size_t want = std::max(n, kReadBuf) - buf_.size();
    const std::size_t have = buf_.size();
    const auto left = static_cast<std::size_t>(std::min<std::uint64_t>(want, r_->bytes - file_at));
    buf_.resize(have + left);
    std::size_t got = 0;
    while (got < left) {
      ssize_t k = ::pread(r_->fd, buf_.data() + have + got, left - got, static_cast<off_t>(file_at + got));
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        *st = SpillError("read spill file " + r_->name, k < 0 ? errno : EIO);
        return false;
      }
      got += static_cast<std::size_t>(k);
    }
    if (buf_.size() < n) {
      *st = Error{Code::kIoError, "read spill file " + r_->name + ": truncated record"};
      return false;
    }
    return true;
  }

  const FileStore::Run* r_;
  std::string buf_;
  std::size_t pos_ = 0;
  std::uint64_t off_ = 0;  // file offset of buf_[0]
};

}  // namespace

FileStore::FileStore(std::string dir, std::size_t chunk) : dir_(std::move(dir)), chunk_(std::max<std::size_t>(1, chunk)) {}

FileStore::~FileStore() = default;

Status FileStore::Add(std::vector<FileRecord>&& batch) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!failed_.ok()) return failed_;
  for (auto& f : batch) {
    totals_.Add(f);
    buf_.push_back(std::move(f));
    if (buf_.size() >= chunk_)
      if (Status s = SpillLocked(); !s.ok()) return s;
  }
  batch.clear();
  return {};
}

Status FileStore::Add(FileRecord rec) {
  std::vector<FileRecord> one;
  one.push_back(std::move(rec));
  return Add(std::move(one));
}

Status FileStore::Seal() {
  std::lock_guard<std::mutex> lk(mu_);
  if (!failed_.ok()) return failed_;
  if (!buf_.empty())
    if (Status s = SpillLocked(); !s.ok()) return s;
  if (Status c = CompactLocked(0); !c.ok()) return failed_ = c;
  sealed_runs_ = runs_.size();
  sealed_totals_ = totals_;
  return {};
}

void FileStore::Rollback() {
  std::lock_guard<std::mutex> lk(mu_);
  buf_.clear();
  runs_.resize(std::min(runs_.size(), sealed_runs_));
  totals_ = sealed_totals_;
}

FileTotals FileStore::totals() const {
  std::lock_guard<std::mutex> lk(mu_);
  return totals_;
}

std::size_t FileStore::runs() const {
  std::lock_guard<std::mutex> lk(mu_);
  return runs_.size();
}

std::uint64_t FileStore::spilled_bytes() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::uint64_t n = 0;
  for (const auto& r : runs_) n += r->bytes;
  return n;
}

Result<std::unique_ptr<FileStore::Run>> FileStore::NewRun(const std::string& dir) {
  std::string name = (dir.empty() ? std::string(".") : dir) + "/.salvage-spill-XXXXXX";
  int fd = ::mkstemp(name.data());
  if (fd < 0) return SpillError("create spill file " + name, errno);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::unlink(name.c_str());  // the open fd keeps it: nothing left behind
  auto r = std::make_unique<Run>();
  r->fd = fd;
  r->name = name + " (unlinked)";
  return r;
}

Status FileStore::SpillLocked() {
  std::vector<std::uint32_t> order(buf_.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return Before(buf_[a], buf_[b]); });
  auto run = NewRun(dir_);
  if (!run.ok()) return failed_ = run.error();
  RunWriter w(run->get());
  Status s;
  for (auto i : order)
    if (s = w.Put(buf_[i]); !s.ok()) break;
  if (s.ok()) s = w.Flush();
  if (!s.ok()) return failed_ = s;
  buf_.clear();
  // Keep the capacity only for a chunk-sized buffer (the big groups refill it).
  if (buf_.capacity() > chunk_) buf_.shrink_to_fit();
  runs_.push_back(std::move(*run));
  // A group's own runs merge among themselves (the sealed ones stay as they
  // are until Seal, so Rollback can drop the group).
  if (Status c = CompactLocked(sealed_runs_); !c.ok()) return failed_ = c;
  return {};
}

Status FileStore::CompactLocked(std::size_t from) {
  for (;;) {
    // The lowest level holding kFanIn runs in runs_[from, end), if any.
    int level = -1;
    for (std::size_t i = from; i < runs_.size(); ++i) {
      const int l = runs_[i]->level;
      const auto n = std::count_if(runs_.begin() + static_cast<std::ptrdiff_t>(from), runs_.end(),
                                   [&](auto& x) { return x->level == l; });
      if (static_cast<std::size_t>(n) >= kFanIn && (level < 0 || l < level)) level = l;
    }
    if (level < 0) return {};
    std::vector<Run*> in;
    for (std::size_t i = from; i < runs_.size(); ++i)
      if (runs_[i]->level == level && in.size() < kFanIn) in.push_back(runs_[i].get());
    auto out = NewRun(dir_);
    if (!out.ok()) return out.error();
    (*out)->level = level + 1;
    RunWriter w(out->get());
    Status ws;
    Status rs = Merge(in, [&](const FileRecord& f) { return (ws = w.Put(f)).ok(); });
    if (!rs.ok()) return rs;
    if (!ws.ok()) return ws;
    if (Status s = w.Flush(); !s.ok()) return s;
    std::erase_if(runs_, [&](const std::unique_ptr<Run>& r) {
      return std::find(in.begin(), in.end(), r.get()) != in.end();
    });
    runs_.push_back(std::move(*out));
  }
}

Status FileStore::Merge(std::vector<Run*> in, const std::function<bool(const FileRecord&)>& out) {
  std::vector<RunReader> readers;
  std::vector<FileRecord> head(in.size());
  readers.reserve(in.size());
  for (auto* r : in) readers.emplace_back(r);
  // Min-heap of run indexes by their head record; ties by run index, so the
  // order is a function of the runs alone.
  auto after = [&](std::size_t a, std::size_t b) {
    if (Before(head[b], head[a])) return true;
    if (Before(head[a], head[b])) return false;
    return a > b;
  };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(after)> heap(after);
  Status st;
  for (std::size_t i = 0; i < readers.size(); ++i) {
    if (readers[i].Next(&head[i], &st)) heap.push(i);
    if (!st.ok()) return st;
  }
  while (!heap.empty()) {
    const std::size_t i = heap.top();
    heap.pop();
    if (!out(head[i])) return {};
    if (readers[i].Next(&head[i], &st)) heap.push(i);
    if (!st.ok()) return st;
  }
  return {};
}

Status FileStore::ForEach(const std::function<bool(const FileRecord&)>& visit) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!failed_.ok()) return failed_;
  if (!buf_.empty())
    if (Status s = SpillLocked(); !s.ok()) return s;
  std::vector<Run*> in;
  for (const auto& r : runs_) in.push_back(r.get());
  return Merge(in, visit);
}

LinkedFiles::LinkedFiles(std::string dir) : dir_(std::move(dir)) {}

LinkedFiles::~LinkedFiles() = default;

Status LinkedFiles::Put(const FileRecord& f) {
  if (!failed_.ok()) return failed_;
  const std::uint64_t at = (file_ ? file_->bytes : 0) + pending_bytes_.size();
  const std::size_t before = pending_bytes_.size();
  Encode(pending_bytes_, f);
  pending_.push_back({f.ino, static_cast<std::uint32_t>(pending_bytes_.size() - before), at});
  return {};
}

Status LinkedFiles::Commit() {
  if (!failed_.ok()) return failed_;
  if (pending_.empty()) return {};
  if (!file_) {
    auto r = FileStore::NewRun(dir_);
    if (!r.ok()) return failed_ = r.error();
    file_ = std::move(*r);
  }
  const char* p = pending_bytes_.data();
  std::size_t n = pending_bytes_.size();
  while (n > 0) {
    ssize_t w = ::pwrite(file_->fd, p, n, static_cast<off_t>(file_->bytes));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return failed_ = SpillError("write spill file " + file_->name, w < 0 ? errno : ENOSPC);
    p += w;
    n -= static_cast<std::size_t>(w);
    file_->bytes += static_cast<std::uint64_t>(w);
  }
  pending_bytes_.clear();
  pending_bytes_.shrink_to_fit();
  auto by_ino = [](const Entry& a, const Entry& b) { return a.ino < b.ino; };
  std::stable_sort(pending_.begin(), pending_.end(), by_ino);
  std::vector<Entry> merged;
  merged.reserve(index_.size() + pending_.size());
  std::merge(index_.begin(), index_.end(), pending_.begin(), pending_.end(), std::back_inserter(merged), by_ino);
  // The first record of an inode wins (the index's come first in a merge).
  merged.erase(std::unique(merged.begin(), merged.end(), [](auto& a, auto& b) { return a.ino == b.ino; }),
               merged.end());
  index_ = std::move(merged);
  pending_.clear();
  pending_.shrink_to_fit();
  return {};
}

Result<std::optional<FileRecord>> LinkedFiles::Get(std::uint32_t ino) const {
  auto it = std::lower_bound(index_.begin(), index_.end(), ino, [](const Entry& e, std::uint32_t i) { return e.ino < i; });
  if (it == index_.end() || it->ino != ino) return std::optional<FileRecord>();
  std::string buf(it->len, '\0');
  std::size_t got = 0;
  while (got < buf.size()) {
    ssize_t k = ::pread(file_->fd, buf.data() + got, buf.size() - got, static_cast<off_t>(it->offset + got));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return SpillError("read spill file " + file_->name, k < 0 ? errno : EIO);
    got += static_cast<std::size_t>(k);
  }
  FileRecord f;
  if (buf.size() < 4 || !Decode(buf.data() + 4, buf.size() - 4, &f))
    return Error{Code::kIoError, "read spill file " + file_->name + ": record does not decode"};
  return std::optional<FileRecord>(std::move(f));
}

}  // namespace mr::salvage
