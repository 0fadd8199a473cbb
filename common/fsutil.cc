#include "common/fsutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/sha1.h"

namespace mr {

Result<std::vector<std::uint8_t>> ReadFile(const std::string& path, std::uint64_t cap) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return ErrnoError(path, e);
  }
  if (static_cast<std::uint64_t>(st.st_size) > cap) {
    ::close(fd);
    return Error{Code::kCorrupt, path + ": file too large (" + std::to_string(st.st_size) + " bytes)"};
  }
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return ErrnoError(path, e);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  buf.resize(got);
  ::close(fd);
  return buf;
}

static std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WriteFileAtomic(const std::string& path, std::span<const std::uint8_t> data, bool do_fsync) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return ErrnoError(tmp, errno);
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoError(path, e);
    }
    done += static_cast<std::size_t>(n);
  }
  if (do_fsync && ::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return ErrnoError(path, e);
  }
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return ErrnoError(path, e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return ErrnoError(path, e);
  }
  if (do_fsync) return SyncDir(DirOf(path));
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, std::string_view data, bool do_fsync) {
  return WriteFileAtomic(
      path, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()),
      do_fsync);
}

Status MakeDirs(const std::string& path, unsigned mode) {
  if (path.empty()) return Status::Ok();
  std::string cur;
  std::size_t i = 0;
  if (path[0] == '/') {
    cur = "/";
    i = 1;
  }
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string part = path.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (!cur.empty() && cur.back() != '/') cur += '/';
    cur += part;
    struct stat st {};
    if (::lstat(cur.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return Error{Code::kExists, cur + ": exists and is not a directory"};
      continue;
    }
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return ErrnoError(cur, errno);
  }
  return Status::Ok();
}

Status SyncDir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(path, errno);
  ::fsync(fd);
  ::close(fd);
  return Status::Ok();
}

namespace {
// Well-formed UTF-8 without control bytes: what can travel through JSON (salvage.json)
// and a terminal unchanged. Cyrus itself only ever writes ASCII names.
bool PrintableUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c < 0x80) { ++i; continue; }
    const std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    // No overlong forms, UTF-16 surrogates or code points above U+10FFFF (RFC 3629).
    const auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) ||
        (c == 0xf4 && c1 > 0x8f))
      return false;
    i += n;
  }
  return true;
}
}  // namespace

std::string SanitizeName(std::string_view name, bool* changed) {
  bool bad = name.empty() || name == "." || name == ".." || name.size() > 200;
  for (char c : name)
    if (c == '/' || c == '\0') bad = true;
  if (!bad && !PrintableUtf8(name)) bad = true;  // control bytes, broken UTF-8
  if (changed) *changed = bad;
  if (!bad) return std::string(name);
  std::string hex = ToHex(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(name.data()), name.size() > 90 ? 90 : name.size()));
  auto d = Sha1Of(name);
  return "%mr-" + hex + "-" + ToHex(d).substr(0, 8);
}

Result<std::string> SafeJoin(const std::string& root, std::string_view rel) {
  if (!rel.empty() && rel[0] == '/') return Error{Code::kInvalidArgument, std::string(rel) + ": absolute path"};
  std::string out = root;
  std::size_t i = 0;
  while (i <= rel.size()) {
    std::size_t j = rel.find('/', i);
    if (j == std::string_view::npos) j = rel.size();
    std::string_view part = rel.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return Error{Code::kInvalidArgument, std::string(rel) + ": '..' in path"};
    if (out.empty() || out.back() != '/') out += '/';
    out += part;
  }
  return out;
}

}  // namespace mr
