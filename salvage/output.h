// output: the safe writer for DIR/ (salvaged files never escape it).
//
// Every directory is created with mkdirat and entered with openat(O_DIRECTORY|
// O_NOFOLLOW) relative to its parent's held fd, so a symlink planted in the
// output (salvaged symlinks are real symlinks) is never followed. Files are
// created with O_CREAT|O_EXCL|O_NOFOLLOW; a leftover from a killed run is
// unlinked first. Directories are created 0700 and get their real mode and
// times at the end (SetDirMeta) so a read-only source dir cannot block its
// own extraction. Owners are set only when running as root. Names passed in
// are single, already sanitised path components.
// Thread-safety: MakeDir/DropCache from one thread; the rest may run from many
// threads between them (the fd cache is read-only then). In dry-run mode
// nothing touches the disk.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"
#include "salvage/inode.h"

namespace mr::salvage {

struct OutputMeta {
  std::uint16_t mode = 0;
  std::uint32_t uid = 0, gid = 0;
  Timestamp atime, mtime;
};

class OutputTree {
 public:
  static Result<std::unique_ptr<OutputTree>> Open(const std::string& root, bool dry_run);
  ~OutputTree();
  OutputTree(const OutputTree&) = delete;
  OutputTree& operator=(const OutputTree&) = delete;

  bool dry_run() const { return dry_run_; }
  const std::string& root() const { return root_; }

  Status MakeDir(const std::string& rel);  // "spool/uuid/a" (creates parents)
  // A held fd for rel (cached) or a freshly opened one (*owned = true).
  Result<int> DirFd(std::string_view rel, bool* owned) const;
  void DropCache();

  // Created with the file's permission bits (the umask may narrow them; FinishFile fixes that).
  Result<int> CreateFile(int dirfd, const char* name, std::uint16_t mode) const;
  // Sets size (sparse tail), owner, mode, times; closes fd in every case.
  Status FinishFile(int fd, std::uint64_t size, std::uint64_t written_end, const OutputMeta& m,
                    const std::string& what) const;
  Status Link(int from_dir, const std::string& from, int to_dir, const std::string& to) const;
  Status Symlink(const std::string& target, int dirfd, const std::string& name,
                 const OutputMeta& m) const;
  Status SetDirMeta(const std::string& rel, const OutputMeta& m) const;

 private:
  OutputTree(std::string root, bool dry_run) : root_(std::move(root)), dry_run_(dry_run) {}
  Result<int> OpenChain(const std::string& rel, bool create);

  std::string root_;
  bool dry_run_;
  int root_fd_ = -1;
  bool as_root_ = false;
  uid_t euid_ = 0;
  gid_t egid_ = 0;
  mode_t umask_ = 022;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int, Hash, std::equal_to<>> cache_;
  std::size_t fd_budget_ = 512;
};

}  // namespace mr::salvage
