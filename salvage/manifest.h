// manifest: salvage.json, exactly as docs/contracts.md ("salvage output")
// describes it (salvage/previous.h reads it back for resume).
//
// Written by streaming (no JSON DOM of 200,000 files in memory) to a temp
// file renamed over DIR/salvage.json. Paths are relative to DIR. Records are
// written sorted by path so the file is identical for any --jobs. File
// records are not held in the Manifest: a FileSource hands them over in path
// order (salvage/file_store.h keeps them on disk; MemoryFileSource below is
// the in-memory one).
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <string>
#include <vector>

#include "common/status.h"
#include "salvage/badmap.h"
#include "salvage/volume.h"

namespace mr::salvage {

struct FileRecord {
  std::string path;
  std::uint32_t ino = 0;
  std::uint64_t size = 0;
  std::string sha1;  // hex
  std::int64_t mtime = 0;
  std::uint32_t mtime_ns = 0;
  std::vector<ByteRange> damaged;  // file offsets
  std::string problem;             // why damaged, "" if intact
  // Not damaged, not quite intact either: bytes (file offsets) whose live
  // blocks were unreadable and came from older journal copies, whether the
  // block map did, and the transaction whose copy of the inode was used.
  std::vector<ByteRange> journal_fallback;
  bool map_from_journal = false;
  bool inode_from_journal = false;
  std::uint32_t inode_journal_sequence = 0;
  bool FromJournal() const { return !journal_fallback.empty() || map_from_journal || inode_from_journal; }
};

// Counts over file records (the manifest's "totals" that depend on files).
struct FileTotals {
  std::uint64_t files = 0, bytes = 0, damaged_files = 0, journal_fallback_files = 0;
  void Add(const FileRecord& f) {
    ++files;
    bytes += f.size;
    if (!f.damaged.empty()) ++damaged_files;
    if (f.FromJournal()) ++journal_fallback_files;
  }
};

// File records in path order, for the manifest writer.
class FileSource {
 public:
  virtual ~FileSource() = default;
  // Visits the records in path order until visit returns false; an error
  // only when the records could not be read back.
  virtual Status ForEach(const std::function<bool(const FileRecord&)>& visit) = 0;
  virtual FileTotals totals() const = 0;
};

// Records held in memory, sorted by path (then inode) on construction.
class MemoryFileSource final : public FileSource {
 public:
  explicit MemoryFileSource(std::vector<FileRecord> files);
  Status ForEach(const std::function<bool(const FileRecord&)>& visit) override;
  FileTotals totals() const override { return totals_; }

 private:
  std::vector<FileRecord> files_;
  FileTotals totals_;
};

struct DirRecord {
  std::string path;
  std::uint32_t ino = 0;  // 0 for a directory salvage had to create (its own was lost)
  bool complete = true;
  std::string problem;
  bool journal_fallback = false;  // its inode or listing came (partly) from older journal copies
};

struct LostRecord {
  std::string path;
  std::uint32_t ino = 0;
  std::string note;
};

struct SymlinkRecord {
  std::string path;
  std::uint32_t ino = 0;
  std::string target;
};

struct UserRecord {
  std::string user;
  bool done = false;
};

struct Manifest {
  std::string source_path;
  std::uint64_t source_size = 0;
  std::string sha256_before;  // optional
  FsInfo fs;
  std::vector<DamageNote> damage;  // everything found (fs.damage + walk + unreadable areas)
  // Filesystem blocks served from older journal copies (the fallback), by block.
  std::vector<JournalCopy> journal_fallback;
  std::string spool_path, config_path;
  std::vector<DirRecord> dirs;
  FileSource* files = nullptr;  // not owned; null: no files
  std::vector<SymlinkRecord> symlinks;
  std::vector<LostRecord> lost_found;
  std::vector<UserRecord> users;
  // The rest group (spool outside user mailboxes: shared mailboxes; and
  // lost+found) was extracted in full.
  bool rest_done = false;

  struct Totals {
    std::uint64_t files = 0, bytes = 0, damaged_files = 0, incomplete_dirs = 0, lost_found = 0;
    std::uint64_t journal_fallback_files = 0, journal_fallback_blocks = 0;
  };
  Totals ComputeTotals() const;
};

Result<std::string> ManifestJson(const Manifest& m, const std::string& command = "salvage");
// Streams the JSON to `sink` in ~1 MiB pieces. kIoError with an empty
// message when the sink failed (the caller names its file); the file
// source's error when its records could not be read back.
Status EmitManifestJson(const Manifest& m, const std::string& command,
                        const std::function<bool(std::string_view)>& sink);
// Temp file + rename: on any error `path` keeps its previous content.
Status WriteManifest(const Manifest& m, const std::string& path);

std::string JsonEscape(const std::string& s);

}  // namespace mr::salvage
