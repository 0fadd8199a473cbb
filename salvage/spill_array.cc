#include "salvage/spill_array.h"

#include "common/fsutil.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <stdexcept>

namespace mr::salvage {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kMinGrow = 64u << 10;

std::size_t RoundUp(std::size_t n) { return (n + kPage - 1) / kPage * kPage; }

Error SpillError(const std::string& what, int err) { return Error{Code::kIoError, ErrnoError(what, err).message}; }

// Resident file and shmem pages of this process (statm's third field).
long SharedPages() {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (!f) return 0;
  long size = 0, resident = 0, shared = 0;
  const int got = std::fscanf(f, "%ld %ld %ld", &size, &resident, &shared);
  std::fclose(f);
  return got == 3 ? shared : 0;
}

SpillSpace::Options Checked(SpillSpace::Options o) {
  o.tick_every = std::max<std::uint64_t>(o.tick_every, 1);
  return o;
}

}  // namespace

SpillSpace::SpillSpace(Options o) : opts_(Checked(std::move(o))) {}

SpillSpace::~SpillSpace() = default;

const std::shared_ptr<SpillSpace>& SpillSpace::Heap() {
  static const std::shared_ptr<SpillSpace> heap = std::make_shared<SpillSpace>(Options{});
  return heap;
}

Status SpillSpace::status() const {
  std::lock_guard<std::mutex> lk(mu_);
  return failed_;
}

std::size_t SpillSpace::files() const {
  std::lock_guard<std::mutex> lk(mu_);
  return files_;
}

void SpillSpace::Fail(Status s) {
  std::lock_guard<std::mutex> lk(mu_);
  if (failed_.ok()) failed_ = std::move(s);
}

bool SpillSpace::WouldSpill(std::size_t bytes) const {
  if (opts_.dir.empty() || heap_bytes_.load() + bytes <= opts_.threshold) return false;
  std::lock_guard<std::mutex> lk(mu_);
  return failed_.ok();
}

void SpillSpace::Register(Bytes* b) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    spilled_.push_back(b);
    ++files_;
  }
  if (!spilled_any_.exchange(true)) baseline_pages_ = SharedPages();
}

void SpillSpace::Unregister(Bytes* b) {
  std::lock_guard<std::mutex> lk(mu_);
  std::erase(spilled_, b);
}

void SpillSpace::CheckResident() {
  if (opts_.budget > 0 &&
      (SharedPages() - baseline_pages_.load()) * static_cast<long>(kPage) <= static_cast<long>(opts_.budget))
    return;
  Trim();
}

void SpillSpace::Trim() {
  std::unique_lock<std::mutex> tl(trim_mu_, std::try_to_lock);
  if (!tl.owns_lock()) return;  // another thread is trimming right now
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (Bytes* b : spilled_) b->DropPages();
  }
  ++trims_;
  // What stays resident is not ours (program text, libraries): the new level.
  baseline_pages_ = SharedPages();
}

SpillSpace::Bytes::Bytes(std::shared_ptr<SpillSpace> space, std::size_t max_bytes)
    : space_(std::move(space)), max_(max_bytes) {
  reserved_ = RoundUp(std::max<std::size_t>(max_bytes, kPage));
  void* p = ::mmap(nullptr, reserved_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  base_ = static_cast<char*>(p);
}

SpillSpace::Bytes::~Bytes() {
  if (fd_ >= 0) space_->Unregister(this);
  if (heap_ > 0) space_->heap_bytes_.fetch_sub(heap_);
  if (base_) ::munmap(base_, reserved_);
  if (fd_ >= 0) ::close(fd_);
}

void SpillSpace::Bytes::Commit(std::size_t n, std::size_t used) {
  if (n <= committed_) return;
  if (n > max_) throw std::length_error("salvage: spill array beyond its maximum size");  // a bug, not damage
  std::size_t want = std::max(n, committed_ + std::max(committed_ / 2, kMinGrow));
  want = std::min(RoundUp(want), reserved_);
  const std::size_t grow = want - committed_;
  if (fd_ < 0 && space_->WouldSpill(grow)) Spill(used);
  if (fd_ >= 0 && file_mapped_.load() == committed_ && GrowFile(want)) return;
  // On the heap (also after a file failure: the caller finds out from status()).
  if (::mprotect(base_ + committed_, grow, PROT_READ | PROT_WRITE) != 0) throw std::bad_alloc();
  space_->heap_bytes_.fetch_add(grow);
  heap_ += grow;
  committed_ = want;
}

bool SpillSpace::Bytes::Spill(std::size_t used) {
  const std::string tmpl = space_->opts_.dir + "/.salvage-catalog-XXXXXX";
  std::string name = tmpl;
  int fd = ::mkstemp(name.data());
  if (fd < 0 && errno == ENOENT && space_->opts_.create_dir && MakeDirs(space_->opts_.dir).ok()) {
    name = tmpl;
    fd = ::mkstemp(name.data());
  }
  if (fd < 0) {
    space_->Fail(SpillError("create catalog spill file " + name, errno));
    return false;
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::unlink(name.c_str());  // the open fd keeps it: nothing left behind
  name_ = name + " (unlinked)";
  auto fail = [&](const std::string& what, int err) {
    space_->Fail(SpillError(what + " " + name_, err));
    ::close(fd);
    return false;
  };
  if (committed_ > 0) {
    if (int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(committed_)); rc != 0)
      return fail("write catalog spill file", rc);
    for (std::size_t off = 0; off < used;) {
      const ssize_t w = ::pwrite(fd, base_ + off, used - off, static_cast<off_t>(off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return fail("write catalog spill file", w < 0 ? errno : ENOSPC);
      off += static_cast<std::size_t>(w);
    }
    if (::mmap(base_, committed_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
      return fail("map catalog spill file", errno);
  }
  fd_ = fd;
  space_->heap_bytes_.fetch_sub(heap_);
  heap_ = 0;
  file_mapped_ = committed_;
  space_->Register(this);
  return true;
}

bool SpillSpace::Bytes::GrowFile(std::size_t want) {
  const std::size_t from = committed_;
  if (int rc = ::posix_fallocate(fd_, static_cast<off_t>(from), static_cast<off_t>(want - from)); rc != 0) {
    space_->Fail(SpillError("write catalog spill file " + name_, rc));
    return false;
  }
  if (::mmap(base_ + from, want - from, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd_,
             static_cast<off_t>(from)) == MAP_FAILED) {
    space_->Fail(SpillError("map catalog spill file " + name_, errno));
    return false;
  }
  committed_ = want;
  file_mapped_ = want;
  return true;
}

void SpillSpace::Bytes::DropPages() {
  const std::size_t n = file_mapped_.load();
  if (n > 0) ::madvise(base_, n, MADV_DONTNEED);
}

}  // namespace mr::salvage
