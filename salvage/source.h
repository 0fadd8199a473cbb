// The salvage source: a block device or image file, opened O_RDONLY and never
// written, plus the read-error policy every libext2fs read goes through.
//
// SourceIoManager() is a libext2fs io_manager whose channels read from a
// Source by pread on its single O_RDONLY descriptor (shared by all channels;
// pread keeps no file position, so that is thread-safe). Policy per read:
//  - byte ranges listed in the ddrescue badmap are never read: zero-filled;
//  - an I/O error is retried (bounded: 1 + retries attempts), then the region
//    is re-read sector by sector, one attempt per sector, and only the
//    failing sectors are zero-filled;
//  - short reads are continued and EINTR is retried (at most kMaxInterrupts
//    times in a row, then it counts as an I/O error);
//  - bytes beyond the end of the source read as zeros (a truncated image);
//  - any write is refused with EXT2_ET_RO_FILSYS.
// Every zero-filled range is recorded in the Source (Unreadable()) and in the
// calling thread's ReadDamageScope, if one is active, so the code that asked
// for the bytes learns which of them are not real. Reads never fail: damage
// is data.
// Options::read_fn is a test seam (fault injection, tests/salvage/fault_plan.h):
// when set, it is called instead of ::pread for every read of the source; it
// must be thread-safe (workers read concurrently). Unset in production.
// Pass Source::channel_name() as the device name to ext2fs_open2 together
// with SourceIoManager(); the Source must outlive the handles (channels hold
// a shared_ptr to it).
#pragma once

#include <ext2fs/ext2fs.h>

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "salvage/badmap.h"

namespace mr::salvage {

// Reads like pread(2): bytes read, 0 at the end, -1 with errno set.
using PreadFn = std::function<ssize_t(int fd, void* buf, std::size_t len, off_t offset)>;

class Source : public std::enable_shared_from_this<Source> {
 public:
  static constexpr int kMaxInterrupts = 64;  // EINTRs in a row before it counts as an error
  struct Options {
    std::string path;
    BadMap badmap;
    int retries = 2;  // extra attempts after an EIO before going sector by sector
    PreadFn read_fn;  // test seam: replaces ::pread when set (see above)
  };
  // kCannotOpen when the path cannot be opened read-only or is not a regular
  // file / block device.
  static Result<std::shared_ptr<Source>> Open(Options opts);
  ~Source();
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  int fd() const { return fd_; }
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return opts_.path; }
  const BadMap& badmap() const { return opts_.badmap; }
  const std::string& channel_name() const { return channel_name_; }

  // Reads [offset, offset+len) into buf, applying the policy above; returns
  // the ranges (absolute offsets) that were zero-filled.
  std::vector<ByteRange> ReadAt(std::uint64_t offset, void* buf, std::uint64_t len);
  // Every range zero-filled so far, merged.
  std::vector<ByteRange> Unreadable() const;

  // Looks up a live Source by channel name (used by the io_manager's open).
  static std::shared_ptr<Source> FromChannelName(const std::string& name);

 private:
  explicit Source(Options opts) : opts_(std::move(opts)) {}
  void Record(const std::vector<ByteRange>& r);
  struct RegionRead {
    bool ok;
    std::uint64_t got;
    bool end_of_source;
  };
  RegionRead ReadRegion(std::uint64_t off, char* buf, std::uint64_t len, int attempts);
  ssize_t Pread(char* buf, std::uint64_t len, std::uint64_t off);

  Options opts_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::string channel_name_;
  mutable std::mutex mu_;
  std::vector<ByteRange> unreadable_;
};

io_manager SourceIoManager();

// While alive, reads done by this thread through a Source append their
// zero-filled ranges (absolute byte offsets) to ranges(). Nests: a range is
// noted in every enclosing scope, up to and including the innermost one
// made with isolate = true (the journal fallback reads under such a scope,
// then notes only what it could not replace).
class ReadDamageScope {
 public:
  explicit ReadDamageScope(bool isolate = false);
  ~ReadDamageScope();
  ReadDamageScope(const ReadDamageScope&) = delete;
  ReadDamageScope& operator=(const ReadDamageScope&) = delete;
  const std::vector<ByteRange>& ranges() const { return ranges_; }
  void clear() { ranges_.clear(); }
  static void Note(const std::vector<ByteRange>& r);

 private:
  std::vector<ByteRange> ranges_;
  ReadDamageScope* prev_;
  bool isolate_;
};

}  // namespace mr::salvage
