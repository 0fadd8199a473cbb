#include "salvage/output.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fsutil.h"

namespace mr::salvage {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

timespec Ts(const Timestamp& t) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(t.sec);
  ts.tv_nsec = static_cast<long>(t.nsec);
  return ts;
}

}  // namespace

Result<std::unique_ptr<OutputTree>> OutputTree::Open(const std::string& root, bool dry_run) {
  std::unique_ptr<OutputTree> t(new OutputTree(root, dry_run));
  if (dry_run) return t;
  if (Status s = MakeDirs(root); !s.ok()) return s.error();
  t->root_fd_ = ::open(root.c_str(), kDirFlags);
  if (t->root_fd_ < 0) return ErrnoError("output " + root, errno);
  t->as_root_ = geteuid() == 0;
  t->euid_ = geteuid();
  t->egid_ = getegid();
  t->umask_ = ::umask(022);
  ::umask(t->umask_);
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 65536) {
      rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 65536);
      setrlimit(RLIMIT_NOFILE, &rl);
      getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur > 256) t->fd_budget_ = std::min<std::size_t>(rl.rlim_cur / 2, 16384);
  }
  return t;
}

OutputTree::~OutputTree() {
  DropCache();
  if (root_fd_ >= 0) ::close(root_fd_);
}

void OutputTree::DropCache() {
  for (auto& [k, fd] : cache_) ::close(fd);
  cache_.clear();
}

// Opens rel component by component from the root (creating when asked),
// caching what fits in the budget. Returns the last fd if the caller owns it
// (it did not fit in the cache), else -1.
Result<int> OutputTree::OpenChain(const std::string& rel, bool create) {
  int cur = root_fd_;
  bool cur_owned = false;
  std::string prefix;
  size_t pos = 0;
  while (pos < rel.size()) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string::npos) slash = rel.size();
    std::string comp = rel.substr(pos, slash - pos);
    pos = slash + 1;
    if (comp.empty()) continue;
    prefix += (prefix.empty() ? "" : "/") + comp;
    auto it = cache_.find(prefix);
    if (it != cache_.end()) {
      if (cur_owned) ::close(cur);
      cur = it->second;
      cur_owned = false;
      continue;
    }
    if (create && ::mkdirat(cur, comp.c_str(), 0700) != 0 && errno != EEXIST) {
      int e = errno;
      if (cur_owned) ::close(cur);
      return ErrnoError("mkdir " + root_ + "/" + prefix, e);
    }
    int fd = ::openat(cur, comp.c_str(), kDirFlags);
    int e = errno;
    if (cur_owned) ::close(cur);
    if (fd < 0) return ErrnoError("open directory " + root_ + "/" + prefix, e);
    if (cache_.size() < fd_budget_) {
      cache_.emplace(prefix, fd);
      cur_owned = false;
    } else {
      cur_owned = true;
    }
    cur = fd;
  }
  return cur_owned ? cur : -1;
}

Status OutputTree::MakeDir(const std::string& rel) {
  if (dry_run_) return {};
  auto r = OpenChain(rel, true);
  if (!r.ok()) return r.error();
  if (*r >= 0) ::close(*r);  // not cached (over budget)
  return {};
}

Result<int> OutputTree::DirFd(std::string_view rel, bool* owned) const {
  *owned = false;
  if (dry_run_) return -1;
  if (rel.empty()) return root_fd_;
  auto it = cache_.find(rel);
  if (it != cache_.end()) return it->second;
  // Slow path: walk from the root without caching (const: no cache mutation).
  int cur = root_fd_;
  bool cur_owned = false;
  size_t pos = 0;
  while (pos < rel.size()) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string_view::npos) slash = rel.size();
    std::string comp(rel.substr(pos, slash - pos));
    pos = slash + 1;
    if (comp.empty()) continue;
    int fd = ::openat(cur, comp.c_str(), kDirFlags);
    int e = errno;
    if (cur_owned) ::close(cur);
    if (fd < 0) return ErrnoError("open directory " + root_ + "/" + std::string(rel), e);
    cur = fd;
    cur_owned = true;
  }
  *owned = cur_owned;
  return cur;
}

Result<int> OutputTree::CreateFile(int dirfd, const char* name, std::uint16_t mode) const {
  if (dry_run_) return -1;
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  const mode_t create_mode = (mode & 0777) | 0200;  // we must be able to write it
  int fd = ::openat(dirfd, name, flags, create_mode);
  if (fd < 0 && errno == EEXIST) {  // leftover of a killed run
    if (::unlinkat(dirfd, name, 0) != 0) return ErrnoError(std::string("replace ") + name, errno);
    fd = ::openat(dirfd, name, flags, create_mode);
  }
  if (fd < 0) return ErrnoError(std::string("create ") + name, errno);
  return fd;
}

Status OutputTree::FinishFile(int fd, std::uint64_t size, std::uint64_t written_end,
                              const OutputMeta& m, const std::string& what) const {
  if (dry_run_ || fd < 0) return {};
  Status st;
  if (written_end < size && ::ftruncate(fd, static_cast<off_t>(size)) != 0)
    st = ErrnoError("truncate " + what, errno);
  const bool chown_needed = as_root_ && (m.uid != euid_ || m.gid != egid_);
  if (st.ok() && chown_needed && ::fchown(fd, m.uid, m.gid) != 0) st = ErrnoError("chown " + what, errno);
  // The create mode already holds the bits unless the umask removed some, the
  // file is not owner-writable, it has setuid/setgid/sticky, or chown cleared them.
  const mode_t mode = m.mode & 07777;
  const mode_t created = ((m.mode & 0777) | 0200) & ~umask_;
  if (st.ok() && (created != mode || (chown_needed && (mode & 06000))) && ::fchmod(fd, mode) != 0)
    st = ErrnoError("chmod " + what, errno);
  timespec ts[2] = {Ts(m.atime), Ts(m.mtime)};
  if (st.ok() && ::futimens(fd, ts) != 0) st = ErrnoError("set times of " + what, errno);
  if (::close(fd) != 0 && st.ok()) st = ErrnoError("close " + what, errno);
  return st;
}

Status OutputTree::Link(int from_dir, const std::string& from, int to_dir, const std::string& to) const {
  if (dry_run_) return {};
  if (::linkat(from_dir, from.c_str(), to_dir, to.c_str(), 0) == 0) return {};
  if (errno == EEXIST && ::unlinkat(to_dir, to.c_str(), 0) == 0 &&
      ::linkat(from_dir, from.c_str(), to_dir, to.c_str(), 0) == 0)
    return {};
  return ErrnoError("link " + to + " to " + from, errno);
}

Status OutputTree::Symlink(const std::string& target, int dirfd, const std::string& name,
                           const OutputMeta& m) const {
  if (dry_run_) return {};
  if (::symlinkat(target.c_str(), dirfd, name.c_str()) != 0) {
    if (errno != EEXIST || ::unlinkat(dirfd, name.c_str(), 0) != 0 ||
        ::symlinkat(target.c_str(), dirfd, name.c_str()) != 0)
      return ErrnoError("symlink " + name, errno);
  }
  if (as_root_) ::fchownat(dirfd, name.c_str(), m.uid, m.gid, AT_SYMLINK_NOFOLLOW);
  timespec ts[2] = {Ts(m.atime), Ts(m.mtime)};
  if (::utimensat(dirfd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
    return ErrnoError("set times of symlink " + name, errno);
  return {};
}

Status OutputTree::SetDirMeta(const std::string& rel, const OutputMeta& m) const {
  if (dry_run_) return {};
  bool owned = false;
  auto fd = DirFd(rel, &owned);
  if (!fd.ok()) return fd.error();
  Status st;
  if (as_root_ && ::fchown(*fd, m.uid, m.gid) != 0) st = ErrnoError("chown " + rel, errno);
  if (st.ok() && ::fchmod(*fd, m.mode & 07777) != 0) st = ErrnoError("chmod " + rel, errno);
  timespec ts[2] = {Ts(m.atime), Ts(m.mtime)};
  if (st.ok() && ::futimens(*fd, ts) != 0) st = ErrnoError("set times of " + rel, errno);
  if (owned) ::close(*fd);
  return st;
}

}  // namespace mr::salvage
