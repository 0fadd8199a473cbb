// extract: copies one group of the catalog (one user, the config dir, or the
// rest) from the filesystem to DIR/, in parallel, byte-exact.
//
// Work items are inodes (a hard-linked inode is read once and linked), sorted
// by inode number so reads follow the inode tables and mostly the data layout
// (measured 18x faster than directory order on a cold cache). Each worker
// takes a libext2fs handle from the HandlePool (one per worker, never shared)
// and then the next 16 items from one shared counter, so together the workers
// move forward through the group; a Prefetcher (salvage/prefetch.h) on one
// more handle, when the pool has one free, hints the data ahead of them.
// Every file's bytes are hashed (SHA1)
// while written; unreadable parts are written as zeros and listed as damaged
// byte ranges. A file already complete from a previous run (same inode, size
// and SHA1 as the previous manifest, and the output file still hashes to it)
// is not read again; the previous run's records are looked up once per
// group (salvage/previous.h). File records go to the FileStore as workers
// finish them (a few thousand at a time, so a 180,000-file group is not held
// in memory), which sorts them by path; dirs, symlinks and damage notes come
// back in the GroupResult sorted by path (damage in item order): the result
// is identical for any number of jobs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "salvage/catalog.h"
#include "salvage/file_store.h"
#include "salvage/manifest.h"
#include "salvage/output.h"
#include "salvage/previous.h"
#include "salvage/volume.h"

namespace mr::salvage {

class HandlePool {
 public:
  explicit HandlePool(std::vector<Volume> handles);
  Volume* Acquire();     // blocks until one is free
  Volume* TryAcquire();  // nullptr when none is free
  void Release(Volume* v);
  std::size_t size() const { return all_.size(); }
  Volume& any() { return all_.front(); }

 private:
  std::vector<Volume> all_;
  std::vector<Volume*> free_;
  std::mutex mu_;
  std::condition_variable cv_;
};

struct ProgressSnapshot {
  std::string phase;  // user name or "(config)", "(rest)"
  std::uint64_t files_done = 0, files_total = 0;
  std::uint64_t bytes_done = 0, bytes_total = 0;
  std::uint64_t groups_done = 0, groups_total = 0;
  double elapsed = 0;
};

// Receives progress from worker threads; implementations must be thread-safe.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void Update(const ProgressSnapshot& s) = 0;
};

struct GroupResult {
  std::vector<FileRecord> damaged_files;  // copies of the records with damage or a problem, by path
  std::vector<SymlinkRecord> symlinks;
  std::vector<DirRecord> dirs;
  std::vector<DamageNote> damage;
};

struct ExtractEnv {
  const Catalog* cat = nullptr;
  OutputTree* out = nullptr;
  HandlePool* pool = nullptr;
  int jobs = 1;
  FileStore* files = nullptr;                 // receives every file record (REQUIRED)
  const PreviousIndex* previous = nullptr;    // a killed run's files, for resume
  // Inodes extracted in earlier groups (hard links across users): ino -> record.
  LinkedFiles* linked = nullptr;
  ProgressSink* progress = nullptr;
  ProgressSnapshot* snapshot = nullptr;  // totals maintained by the caller
};

Status ExtractGroup(std::int32_t group, ExtractEnv& env, GroupResult* result);

}  // namespace mr::salvage
