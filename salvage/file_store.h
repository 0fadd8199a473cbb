// file_store: the manifest's file records, kept on disk instead of the heap,
// handed back in path order.
//
// salvage.json lists every file (path, inode, size, SHA1, damage, ...) sorted
// by path; holding 200 bytes a record for the whole run made the peak RSS grow
// with the filesystem. Records come in (Add, from any thread), are buffered up
// to `chunk` of them, then sorted by path and written as one sorted run to an
// unlinked temporary file in `dir` (Seal at the end of each group spills
// whatever is buffered and commits the group; Rollback drops an unsealed
// group). ForEach streams a k-way merge of the runs. Runs are merged as they
// accumulate, `kFanIn` runs of one level into one run of the
// next (a log-structured merge; a group's own runs merge among themselves
// until Seal), so however many groups there are, fewer than 2 * kFanIn runs
// a level are open and ForEach reads them with one fixed buffer each: memory is O(chunk + kFanIn * levels * buffer), not O(records).
// Each record is written O(log_kFanIn(records / chunk)) times in total.
//
// Files: one per run, created with mkstemp as DIR/.salvage-spill-XXXXXX and
// unlinked at once (nothing is left behind, even by a killed run); the space
// is freed when the run is merged or the store destroyed. Nothing is created
// until the first spill (a store that never spills touches no disk).
// Errors (ENOSPC, EIO...) come back as kIoError naming the spill file; the
// store then refuses further work (every later call returns that error).
// Order: by path (bytewise), then inode; records with the same path and inode
// (not produced by salvage) come out in an unspecified order.
// Thread-safety: Add may be called concurrently; Seal/ForEach/totals from one
// thread, not concurrently with Add.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "salvage/manifest.h"

namespace mr::salvage {

class FileStore final : public FileSource {
 public:
  static constexpr std::size_t kDefaultChunk = 32768;  // ~7 MiB of records in memory
  static constexpr std::size_t kFanIn = 16;

  explicit FileStore(std::string dir, std::size_t chunk = kDefaultChunk);
  ~FileStore() override;
  FileStore(const FileStore&) = delete;
  FileStore& operator=(const FileStore&) = delete;

  // Takes the records (the vector is left empty). Spills a sorted run when
  // the buffer reaches `chunk` records.
  Status Add(std::vector<FileRecord>&& batch);
  Status Add(FileRecord rec);
  // Spills whatever is buffered as one sorted run and commits everything
  // added so far (the end of a group).
  Status Seal();
  // Forgets everything added since the last Seal (a group that failed).
  void Rollback();
  // Visits every record added so far in path order (buffered ones included);
  // stops early when visit returns false (still ok).
  Status ForEach(const std::function<bool(const FileRecord&)>& visit) override;
  FileTotals totals() const override;

  std::size_t runs() const;          // sorted runs on disk now (for tests)
  std::uint64_t spilled_bytes() const;  // bytes in those runs

  struct Run;  // an unlinked file holding records sorted by path
  // A new empty unlinked file in `dir`.
  static Result<std::unique_ptr<Run>> NewRun(const std::string& dir);

 private:
  Status SpillLocked();
  Status CompactLocked(std::size_t from);

  // Streams the runs' records in order to `out` until it returns false;
  // errors are the runs' read errors only.
  Status Merge(std::vector<Run*> in, const std::function<bool(const FileRecord&)>& out);

  const std::string dir_;
  const std::size_t chunk_;
  mutable std::mutex mu_;
  std::vector<FileRecord> buf_;
  std::vector<std::unique_ptr<Run>> runs_;
  FileTotals totals_;
  std::size_t sealed_runs_ = 0;  // runs_[0, sealed_runs_) hold sealed records only
  FileTotals sealed_totals_;
  Status failed_;
};

// The records of hard-linked inodes (links > 1) extracted in earlier groups,
// by inode, so a later group links to them instead of copying the data again
// (a Cyrus spool hard-links a message delivered to several users). The
// records are in an unlinked file in `dir`; memory is 16 bytes an inode.
// Thread-safety: Get from many threads between Commit calls; Put and Commit
// from one thread while no Get runs.
class LinkedFiles {
 public:
  explicit LinkedFiles(std::string dir);
  ~LinkedFiles();
  LinkedFiles(const LinkedFiles&) = delete;
  LinkedFiles& operator=(const LinkedFiles&) = delete;

  bool empty() const { return index_.empty(); }
  // The first record put for an inode wins; visible to Get after Commit.
  Status Put(const FileRecord& f);
  Status Commit();
  // The record of `ino`, if one was committed.
  Result<std::optional<FileRecord>> Get(std::uint32_t ino) const;

 private:
  struct Entry {
    std::uint32_t ino, len;
    std::uint64_t offset;
  };
  const std::string dir_;
  std::unique_ptr<FileStore::Run> file_;
  std::string pending_bytes_;
  std::vector<Entry> index_, pending_;  // index_ sorted by inode
  Status failed_;
};

}  // namespace mr::salvage
