#include "reconcile/apply.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <mutex>
#include <optional>

#include "common/fsutil.h"
#include "common/parallel.h"
#include "reconcile/cyrus/cache.h"
#include "reconcile/mapped_file.h"

namespace mr::reconcile {
namespace {

std::string DirOf(const std::string& p) {
  auto s = p.rfind('/');
  return s == std::string::npos ? "." : p.substr(0, s);
}

bool Exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

bool SameRecordIgnoringCache(const cyrus::IndexRecord& a, const cyrus::IndexRecord& b) {
  return a.uid == b.uid && a.internaldate == b.internaldate && a.sentdate == b.sentdate && a.size == b.size &&
         a.header_size == b.header_size && a.gmtime == b.gmtime && a.last_updated == b.last_updated &&
         a.system_flags == b.system_flags && a.user_flags == b.user_flags && a.savedate == b.savedate &&
         a.cache_version == b.cache_version && a.guid == b.guid && a.modseq == b.modseq && a.thrid == b.thrid &&
         a.createdmodseq == b.createdmodseq;
}

// True when `dir` already holds exactly what `plan` describes.
bool AlreadyApplied(const FolderPlan& plan, const std::string& dir) {
  auto hdr = ReadFile(dir + "/cyrus.header", 1 << 20);
  if (!hdr) return false;
  std::string want = cyrus::SerializeHeader(plan.header);
  if (std::string(hdr->begin(), hdr->end()) != want) return false;
  auto idx = cyrus::ReadIndexFile(dir + "/cyrus.index");
  if (!idx || !idx->problems.empty()) return false;
  if (cyrus::SerializeIndex(idx->header, {}) != cyrus::SerializeIndex(plan.index, {})) return false;
  if (idx->records.size() != plan.messages.size()) return false;
  for (std::size_t i = 0; i < plan.messages.size(); ++i) {
    if (!SameRecordIgnoringCache(idx->records[i], plan.messages[i].record)) return false;
    struct stat st {};
    std::string f = dir + "/" + std::to_string(plan.messages[i].record.uid) + ".";
    if (::stat(f.c_str(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) != plan.messages[i].record.size)
      return false;
  }
  return Exists(dir + "/cyrus.cache") || plan.messages.empty();
}

Status CopyFile(const std::string& src, const std::string& dst, bool do_fsync) {
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return ErrnoError(src, errno);
  int out = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out < 0) {
    int e = errno;
    ::close(in);
    return ErrnoError(dst, e);
  }
  char buf[1 << 16];
  Status st;
  for (;;) {
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      st = ErrnoError(src, errno);
      break;
    }
    if (n == 0) break;
    ssize_t done = 0;
    while (done < n) {
      ssize_t w = ::write(out, buf + done, static_cast<std::size_t>(n - done));
      if (w < 0) {
        if (errno == EINTR) continue;
        st = ErrnoError(dst, errno);
        break;
      }
      done += w;
    }
    if (!st.ok()) break;
  }
  if (st.ok() && do_fsync && ::fsync(out) != 0) st = ErrnoError(dst, errno);
  ::close(in);
  if (::close(out) != 0 && st.ok()) st = ErrnoError(dst, errno);
  return st;
}

Status SetMtime(const std::string& path, std::int64_t t) {
  struct timespec ts[2];
  ts[0].tv_sec = static_cast<time_t>(t);
  ts[0].tv_nsec = 0;
  ts[1] = ts[0];
  if (::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoError(path, errno);
  return Status::Ok();
}

Status WriteWhole(const std::string& path, std::span<const std::uint8_t> data, bool do_fsync) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoError(path, errno);
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return ErrnoError(path, e);
    }
    done += static_cast<std::size_t>(n);
  }
  if (do_fsync && ::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    return ErrnoError(path, e);
  }
  if (::close(fd) != 0) return ErrnoError(path, errno);
  return Status::Ok();
}

// Moves child directories (legacy layout sub-folders) from `from` to `to`
// when `to` lacks them.
Status MoveChildDirs(const std::string& from, const std::string& to) {
  DIR* d = ::opendir(from.c_str());
  if (!d) return Status::Ok();
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st {};
    if (::lstat((from + "/" + n).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    if (Exists(to + "/" + n)) continue;
    if (::rename((from + "/" + n).c_str(), (to + "/" + n).c_str()) != 0) return ErrnoError(from + "/" + n, errno);
  }
  return Status::Ok();
}

class FolderWriter {
 public:
  FolderWriter(const FolderPlan& plan, const ApplyOptions& opt) : plan_(plan), opt_(opt) {}
  Result<ApplyStats> Run();

 private:
  std::string Source(Side side, std::uint32_t uid) const {
    const std::string& root = side == Side::kSalvaged ? opt_.s_spool : opt_.b_spool;
    const std::string& rel = side == Side::kSalvaged ? plan_.s_rel_dir : plan_.b_rel_dir;
    return root + "/" + rel + "/" + std::to_string(uid) + ".";
  }
  Status PlaceMessages();
  Status WriteCacheAndIndex();
  Status Own(const std::string& path) {
    if (!opt_.set_owner) return Status::Ok();
    if (::lchown(path.c_str(), opt_.owner, opt_.group) != 0) return ErrnoError(path, errno);
    return Status::Ok();
  }

  const FolderPlan& plan_;
  const ApplyOptions& opt_;
  std::string final_, tmp_;
  ApplyStats stats_;
};

Status FolderWriter::PlaceMessages() {
  std::atomic<std::uint64_t> linked{0}, copied{0};
  std::mutex mu;
  std::optional<Error> first_error;
  // Directory fds: one path walk per folder instead of one per message.
  auto open_dir = [](const std::string& p) { return ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); };
  int src_fd[2] = {plan_.s_rel_dir.empty() ? -1 : open_dir(opt_.s_spool + "/" + plan_.s_rel_dir),
                   plan_.b_rel_dir.empty() ? -1 : open_dir(opt_.b_spool + "/" + plan_.b_rel_dir)};
  int dst_fd = open_dir(tmp_);
  if (dst_fd < 0) {
    for (int fd : src_fd)
      if (fd >= 0) ::close(fd);
    return ErrnoError(tmp_, errno);
  }
  ParallelFor(0, plan_.messages.size(), [&](std::size_t i) {
    const MessageAction& a = plan_.messages[i];
    std::string src = Source(a.file_side, a.file_uid);
    std::string src_name = std::to_string(a.file_uid) + ".";
    std::string dst_name = std::to_string(a.record.uid) + ".";
    std::string dst = tmp_ + "/" + dst_name;
    int sfd = src_fd[a.file_side == Side::kSalvaged ? 0 : 1];
    auto fail = [&](Error e) {
      std::lock_guard<std::mutex> lk(mu);
      if (!first_error) first_error = std::move(e);
    };
    if (sfd < 0) return fail(Error{Code::kNotFound, src + ": source folder directory missing"});
    struct stat st {};
    if (::fstatat(sfd, src_name.c_str(), &st, 0) != 0) return fail(ErrnoError(src, errno));
    // A link shares the inode: only link when the mtime is already right, or
    // when re-timing the source is allowed (in-place onto the backup).
    bool may_link = opt_.in_place || st.st_mtime == a.record.internaldate;
    if (may_link && ::linkat(sfd, src_name.c_str(), dst_fd, dst_name.c_str(), 0) == 0) {
      if (st.st_mtime != a.record.internaldate) {
        if (Status s = SetMtime(dst, a.record.internaldate); !s.ok()) return fail(s.error());
      }
      ++linked;
      return;
    }
    if (Status s = CopyFile(src, dst, opt_.fsync); !s.ok()) return fail(s.error());
    if (Status s = SetMtime(dst, a.record.internaldate); !s.ok()) return fail(s.error());
    if (Status s = Own(dst); !s.ok()) return fail(s.error());
    ++copied;
  });
  for (int fd : src_fd)
    if (fd >= 0) ::close(fd);
  ::close(dst_fd);
  if (first_error) return *first_error;
  stats_.linked = linked;
  stats_.copied = copied;
  return Status::Ok();
}

Status FolderWriter::WriteCacheAndIndex() {
  std::optional<MappedFile> caches[2];
  auto cache_of = [&](CacheSource src) -> MappedFile* {
    int k = src == CacheSource::kSalvaged ? 0 : 1;
    if (!caches[k]) {
      const std::string& root = k == 0 ? opt_.s_spool : opt_.b_spool;
      const std::string& rel = k == 0 ? plan_.s_rel_dir : plan_.b_rel_dir;
      auto m = MappedFile::Open(root + "/" + rel + "/cyrus.cache");
      caches[k] = m ? std::move(m.value()) : MappedFile();
    }
    return &*caches[k];
  };
  std::string cache_path = tmp_ + "/cyrus.cache";
  int fd = ::open(cache_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoError(cache_path, errno);
  cyrus::CacheFdWriter writer(fd, plan_.index.generation_no);
  std::vector<cyrus::IndexRecord> recs;
  recs.reserve(plan_.messages.size());
  Status st = writer.status();
  for (const MessageAction& a : plan_.messages) {
    if (!st.ok()) break;
    cyrus::IndexRecord r = a.record;
    std::span<const std::uint8_t> rec;
    if (a.cache_from != CacheSource::kNone) {
      auto bytes = cache_of(a.cache_from)->bytes();
      auto got = cyrus::CacheRecordAt(bytes, a.cache_src_offset);
      if (got && got->size() == a.cache_len && cyrus::CacheRecordCrc(*got) == a.record.cache_crc) rec = *got;
    }
    if (rec.empty()) {
      // No valid record on either side: Cyrus's convention for "not cached"
      // (cache_offset 0, cache_crc 0); `reconstruct -r` can fill it later.
      r.cache_offset = 0;
      r.cache_crc = 0;
      recs.push_back(r);
      ++stats_.cache_missing;
      continue;
    }
    ++stats_.cache_carried;
    auto off = writer.Append(rec);
    if (!off) {
      st = off.error();
      break;
    }
    r.cache_offset = *off;
    r.cache_crc = cyrus::CacheRecordCrc(rec);
    recs.push_back(r);
  }
  if (st.ok() && opt_.fsync && ::fsync(fd) != 0) st = ErrnoError(cache_path, errno);
  if (::close(fd) != 0 && st.ok()) st = ErrnoError(cache_path, errno);
  if (!st.ok()) return st;
  if (Status s = Own(cache_path); !s.ok()) return s;
  if (plan_.annotations_from) {
    Side side = *plan_.annotations_from;
    std::string src = (side == Side::kSalvaged ? opt_.s_spool + "/" + plan_.s_rel_dir
                                               : opt_.b_spool + "/" + plan_.b_rel_dir) +
                      "/cyrus.annotations";
    if (Exists(src)) {
      if (Status s = CopyFile(src, tmp_ + "/cyrus.annotations", opt_.fsync); !s.ok()) return s;
      if (Status s = Own(tmp_ + "/cyrus.annotations"); !s.ok()) return s;
    }
  }
  std::string header = cyrus::SerializeHeader(plan_.header);
  if (Status s = WriteWhole(tmp_ + "/cyrus.header",
                            {reinterpret_cast<const std::uint8_t*>(header.data()), header.size()}, opt_.fsync);
      !s.ok())
    return s;
  if (Status s = Own(tmp_ + "/cyrus.header"); !s.ok()) return s;
  auto index = cyrus::SerializeIndex(plan_.index, recs);
  if (Status s = WriteWhole(tmp_ + "/cyrus.index", index, opt_.fsync); !s.ok()) return s;
  return Own(tmp_ + "/cyrus.index");
}

Result<ApplyStats> FolderWriter::Run() {
  if (!plan_.emit) return Error{Code::kInternal, plan_.name + ": applier asked to write a dropped folder"};
  auto fin = SafeJoin(opt_.out_spool, plan_.rel_dir);
  if (!fin) return fin.error();
  final_ = *fin;
  tmp_ = final_ + ".mrtmp";
  // 1. Leftovers of an interrupted run: either a half-built new folder (the
  //    target is still the old one) or the old folder after the swap.
  //    Child folder directories (legacy layout) only ever sit in the latter.
  if (Exists(tmp_)) {
    if (Exists(final_)) {
      if (Status s = MoveChildDirs(tmp_, final_); !s.ok()) return s.error();
    }
    if (Status s = RemoveTree(tmp_); !s.ok()) return s.error();
  }
  // 2. Done already?
  if (AlreadyApplied(plan_, final_)) {
    stats_.skipped = true;
    return stats_;
  }
  // 3. Build.
  if (Status s = MakeDirs(DirOf(final_), 0700); !s.ok()) return s.error();
  if (::mkdir(tmp_.c_str(), 0700) != 0) return ErrnoError(tmp_, errno);
  if (Status s = Own(tmp_); !s.ok()) return s.error();
  auto abandon = [&](const Status& s) {
    RemoveTree(tmp_);  // the target was not touched; drop the half-built copy
    return s.error();
  };
  if (Status s = PlaceMessages(); !s.ok()) return abandon(s);
  if (Status s = WriteCacheAndIndex(); !s.ok()) return abandon(s);
  if (opt_.fsync) SyncDir(tmp_);
  // 4. Swap.
  if (!Exists(final_)) {
    if (::rename(tmp_.c_str(), final_.c_str()) != 0) return ErrnoError(final_, errno);
  } else {
    if (::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, final_.c_str(), RENAME_EXCHANGE) != 0)
      return ErrnoError(final_ + ": atomic swap", errno);
    if (Status s = MoveChildDirs(tmp_, final_); !s.ok()) return s.error();
    if (opt_.in_place && plan_.preserve_replaced) {
      // The backup's own (older, re-created) folder: set aside, never deleted.
      std::string keep_dir = opt_.out_spool + "/lost+found/mailrescue";
      if (Status s = MakeDirs(keep_dir, 0700); !s.ok()) return s.error();
      std::string name = plan_.rel_dir;
      for (char& c : name)
        if (c == '/') c = '_';
      std::string dst = keep_dir + "/replaced-" + name;
      for (int i = 1; Exists(dst); ++i) dst = keep_dir + "/replaced-" + name + "." + std::to_string(i);
      if (::rename(tmp_.c_str(), dst.c_str()) != 0) return ErrnoError(dst, errno);
      stats_.set_aside = dst;
    } else if (Status s = RemoveTree(tmp_); !s.ok()) {
      return s.error();
    }
  }
  if (opt_.fsync) SyncDir(DirOf(final_));
  return stats_;
}

}  // namespace

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Error{Code::kIoError, path + ": " + ec.message()};
  return Status::Ok();
}

Result<std::string> SetAsideFolder(const std::string& spool, const std::string& rel_dir) {
  auto dir = SafeJoin(spool, rel_dir);
  if (!dir) return dir.error();
  DIR* d = ::opendir(dir->c_str());
  if (!d) {
    if (errno == ENOENT) return std::string();
    return ErrnoError(*dir, errno);
  }
  std::vector<std::string> files;
  bool has_subdirs = false;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st {};
    if (::lstat((*dir + "/" + n).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode))
      has_subdirs = true;
    else
      files.push_back(n);
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());
  std::string dst;
  if (!files.empty()) {
    std::string keep_dir = spool + "/lost+found/mailrescue";
    if (Status s = MakeDirs(keep_dir, 0700); !s.ok()) return s.error();
    std::string name = rel_dir;
    for (char& c : name)
      if (c == '/') c = '_';
    dst = keep_dir + "/removed-" + name;
    for (int i = 1; Exists(dst); ++i) dst = keep_dir + "/removed-" + name + "." + std::to_string(i);
    if (::mkdir(dst.c_str(), 0700) != 0) return ErrnoError(dst, errno);
    // cyrus.header first: once it is gone the directory is no mailbox any more.
    std::stable_partition(files.begin(), files.end(), [](const std::string& n) { return n == "cyrus.header"; });
    for (const auto& n : files)
      if (::rename((*dir + "/" + n).c_str(), (dst + "/" + n).c_str()) != 0) return ErrnoError(*dir + "/" + n, errno);
  }
  if (!has_subdirs && ::rmdir(dir->c_str()) != 0 && errno != ENOENT) return ErrnoError(*dir, errno);
  return dst;
}

Result<ApplyStats> ApplyFolder(const FolderPlan& plan, const ApplyOptions& opt) {
  FolderWriter w(plan, opt);
  return w.Run();
}

}  // namespace mr::reconcile
