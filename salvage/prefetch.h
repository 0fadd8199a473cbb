// prefetch: tells the kernel, in on-disk order and ahead of time, which source
// bytes the extraction workers are about to read, so a cold run streams from
// the device instead of waiting on one small read per file.
//
// Extraction workers take a group's items in inode order from one shared
// counter (extract.cc). A Prefetcher runs beside them on its own thread and
// its own libext2fs handle: it maps the blocks of the items ahead of that
// counter and hints them with posix_fadvise(POSIX_FADV_WILLNEED), adjacent
// runs merged, at most `window` bytes beyond the workers. It copies no data
// itself (the kernel reads into the page cache, not into our memory), never
// hints a range of the ddrescue badmap or past the end of the source, and
// changes nothing the workers produce: output is identical with or without
// it. Metadata it reads through the handle (inode table and extent blocks) is
// read by the workers anyway.
// When the first 64 hints of a group all find their data cached already (a
// warm run), the Prefetcher stops: mapping blocks twice would only cost CPU.
// (It used to decide on 4: on a spool whose folders are interleaved on disk,
// the first few files of a user are often cached by the readahead of earlier
// users' reads while the rest is not, and stopping there made cold runs ~20%
// slower.)
// Thread-safety: the constructor starts the thread, the destructor stops and
// joins it; `progress` is only read.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "salvage/source.h"
#include "salvage/volume.h"

namespace mr::salvage {

// Merges adjacent byte ranges of the source and hands them to the kernel as
// WILLNEED hints, minus badmap ranges and anything past the end. Before each
// hint it probes the range's first byte with RWF_NOWAIT (which never waits for
// the device): found() counts the hints whose data was in the page cache.
class RangeHinter {
 public:
  explicit RangeHinter(const Source& src) : src_(src) {}
  void Add(std::uint64_t offset, std::uint64_t length);
  void Flush();               // hints the pending range
  void Drop() { len_ = 0; }   // forgets it
  int hints() const { return hints_; }
  int found() const { return found_; }
  // The first kWarmProbes hints all found their data cached: a warm run.
  bool Warm() const { return hints_ >= kWarmProbes && found_ == hints_; }
  static constexpr int kWarmProbes = 64;

 private:
  // Hints start small (the first ones decide "warm" early) and double up to
  // 2 MiB, which keeps the pacing fine-grained.
  static constexpr std::uint64_t kFirstHint = 64u << 10, kMaxHint = 2u << 20;
  std::uint64_t MaxHint() const { return hints_ >= 5 ? kMaxHint : std::min(kMaxHint, kFirstHint << hints_); }
  const Source& src_;
  std::uint64_t off_ = 0, len_ = 0;
  int hints_ = 0, found_ = 0;
};

class Prefetcher {
 public:
  // Hints the data of items [0, count) in order; ino_of(i) is item i's inode.
  // `progress` is the workers' next item (it may run past count).
  Prefetcher(Volume* handle, std::size_t count, std::function<std::uint32_t(std::size_t)> ino_of,
             const std::atomic<std::size_t>* progress, std::uint64_t window);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

 private:
  void Run();

  Volume* v_;
  std::size_t count_;
  std::function<std::uint32_t(std::size_t)> ino_of_;
  const std::atomic<std::size_t>* progress_;
  std::uint64_t window_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mr::salvage
