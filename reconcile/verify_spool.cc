// verify_spool: mailbox directories on a spool. See verify_spool.h.
#include "reconcile/verify_spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace mr::verify {
namespace {

using DirPtr = std::unique_ptr<DIR, int (*)(DIR*)>;

// Subdirectory names of `path` (no "." / "..", no symlinks).
Result<std::vector<std::string>> Subdirs(const std::string& path, bool* has_header) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoError(path, errno);
  DirPtr d(::fdopendir(fd), ::closedir);
  if (!d) {
    int e = errno;
    ::close(fd);
    return ErrnoError(path, e);
  }
  std::vector<std::string> out;
  if (has_header) *has_header = false;
  errno = 0;
  while (dirent* e = ::readdir(d.get())) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (has_header && n == "cyrus.header") *has_header = true;
    unsigned char type = e->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st {};
      if (::fstatat(::dirfd(d.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
    }
    if (type == DT_DIR) out.push_back(std::move(n));
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool IsSkipped(const std::string& name) {
  return name == "stage." || name == "sync." || name == "lost+found";
}

void WalkLegacy(const std::string& root, const std::string& rel, int depth, SpoolScan& scan) {
  if (depth > kMaxScanDepth) {
    scan.problems.push_back(rel + ": directory tree deeper than " +
                            std::to_string(kMaxScanDepth) + " levels, not scanned further");
    return;
  }
  bool has_header = false;
  auto subs = Subdirs(rel.empty() ? root : root + "/" + rel, &has_header);
  if (!subs.ok()) {
    scan.problems.push_back((rel.empty() ? "." : rel) + ": unreadable (" +
                            subs.error().message + ")");
    return;
  }
  if (has_header && !rel.empty()) scan.legacy_dirs.push_back(rel);
  for (const auto& s : *subs) {
    if (rel.empty() && (s == "uuid" || IsSkipped(s))) continue;
    if (IsSkipped(s)) continue;
    WalkLegacy(root, rel.empty() ? s : rel + "/" + s, depth + 1, scan);
  }
}

void WalkUuid(const std::string& root, SpoolScan& scan) {
  struct stat st {};
  if (::lstat((root + "/uuid").c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
  auto l1 = Subdirs(root + "/uuid", nullptr);
  if (!l1.ok()) {
    scan.problems.push_back("uuid: unreadable (" + l1.error().message + ")");
    return;
  }
  for (const auto& a : *l1) {
    auto l2 = Subdirs(root + "/uuid/" + a, nullptr);
    if (!l2.ok()) {
      scan.problems.push_back("uuid/" + a + ": unreadable (" + l2.error().message + ")");
      continue;
    }
    for (const auto& b : *l2) {
      std::string rel2 = "uuid/" + a + "/" + b;
      auto l3 = Subdirs(root + "/" + rel2, nullptr);
      if (!l3.ok()) {
        scan.problems.push_back(rel2 + ": unreadable (" + l3.error().message + ")");
        continue;
      }
      for (const auto& id : *l3) scan.uuid_dirs.push_back(rel2 + "/" + id);
    }
  }
}

}  // namespace

Result<SpoolScan> ScanSpool(const std::string& spool,
                            const std::vector<std::string>& legacy_roots, bool walk_uuid) {
  struct stat st {};
  if (::stat(spool.c_str(), &st) != 0) return ErrnoError("spool " + spool, errno);
  if (!S_ISDIR(st.st_mode))
    return Error{Code::kInvalidArgument, "spool " + spool + ": not a directory"};
  SpoolScan scan;
  if (walk_uuid) WalkUuid(spool, scan);
  if (legacy_roots.empty()) {
    WalkLegacy(spool, "", 0, scan);
  } else {
    for (const auto& r : legacy_roots) {
      struct stat rs {};
      if (r.empty() || ::lstat((spool + "/" + r).c_str(), &rs) != 0 || !S_ISDIR(rs.st_mode))
        continue;
      WalkLegacy(spool, r, 1, scan);
    }
  }
  std::sort(scan.uuid_dirs.begin(), scan.uuid_dirs.end());
  std::sort(scan.legacy_dirs.begin(), scan.legacy_dirs.end());
  scan.legacy_dirs.erase(std::unique(scan.legacy_dirs.begin(), scan.legacy_dirs.end()),
                         scan.legacy_dirs.end());
  return scan;
}

bool DetectHashImapSpool(const std::string& spool, bool dflt) {
  struct stat st {};
  if (::lstat((spool + "/user").c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return false;
  auto subs = Subdirs(spool, nullptr);
  if (!subs.ok()) return dflt;
  for (const auto& s : *subs) {
    if (s.size() != 1) continue;
    if (::lstat((spool + "/" + s + "/user").c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      return true;
  }
  return dflt;
}

}  // namespace mr::verify
