#include "orchestrate/target_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

namespace mr::orchestrate {

static Result<TargetLock> Lock(const std::string& path, bool wait, TargetLock (*make)(int)) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return ErrnoError("target lock " + path, errno);
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) return Error{Code::kExists, "target lock " + path + ": held by another process"};
    return ErrnoError("target lock " + path, e);
  }
  return make(fd);
}

Result<TargetLock> TargetLock::Acquire(const std::string& lock_path) {
  return Lock(lock_path, true, [](int fd) { return TargetLock(fd); });
}

Result<TargetLock> TargetLock::TryAcquire(const std::string& lock_path) {
  return Lock(lock_path, false, [](int fd) { return TargetLock(fd); });
}

TargetLock& TargetLock::operator=(TargetLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

TargetLock::~TargetLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace mr::orchestrate
