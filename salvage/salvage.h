// salvage: the public API of the salvage module — read a damaged ext2/3/4
// Cyrus spool through libext2fs, strictly read-only, and copy everything
// readable to DIR/{spool,conf,lost+found} with DIR/salvage.json
// (docs/contracts.md, "salvage output"). Nothing else in the project includes
// libext2fs.
//
// Use (the CLI and the rescue orchestrator):
//   auto s = Salvager::Open(opts);          // kCannotOpen -> exit 3
//   s->Scan();                              // walk + inode scan + discovery + rehome; no data yet
//   for (user : s->Users()) s->ExtractUser(user, sink);   // in any (priority) order
//   s->ExtractConfig(sink); s->ExtractRest(sink);         // rest = non-user spool + lost+found
//   s->WriteManifest();                     // also written after a user when >= 10 s passed
// Each Extract* finishes its files completely before returning, and records
// the user as done in the manifest; extracting a group twice is a no-op.
// Extract* calls must come from one thread at a time; each uses --jobs
// workers internally, each with its own libext2fs handle. ExtractRest sets
// the spool's top directories' times last, so call it after the users.
// A rerun into the same DIR resumes: files already complete per the previous
// salvage.json (inode, size, SHA1 of the output) are not read again.
// Memory: file records live in a FileStore (sorted runs in unlinked temporary
// files in the spill directory), the previous manifest in a PreviousIndex
// and the catalog's per-node arrays in a SpillSpace (same directory, beyond
// a threshold), not on the heap. What still grows is per directory
// (catalog), per damage note, and per file of the group being extracted.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "salvage/catalog.h"
#include "salvage/extract.h"
#include "salvage/file_store.h"
#include "salvage/manifest.h"
#include "salvage/previous.h"
#include "salvage/source.h"
#include "salvage/volume.h"

namespace mr::salvage {

struct SalvageOptions {
  std::string source;                        // block device or image file
  std::string out_dir;                       // DIR
  std::optional<std::string> spool_path;     // inside the filesystem
  std::optional<std::string> config_path;
  std::optional<std::string> badmap_path;    // GNU ddrescue mapfile
  std::optional<std::uint64_t> superblock;   // forced, with blocksize
  std::optional<unsigned> blocksize;
  JournalMode journal = JournalMode::kAuto;  // replay committed transactions in memory
  int jobs = 0;                              // 0 = number of cores
  bool dry_run = false;                      // read and report, write nothing
  bool hash_source = false;                  // record sha256 of the source (slow on big devices)
  PreadFn source_read;                       // test seam: replaces pread on the source (faults)
  // Where the file records and the resume index spill (unlinked temporary
  // files); "" = out_dir when writing, else $TMPDIR or /tmp.
  std::string spill_dir;
  std::size_t spill_chunk = FileStore::kDefaultChunk;  // records held before a spill
  // The catalog's per-node arrays (salvage/spill_array.h): heap bytes before
  // they move to unlinked files in the spill directory, resident bytes before
  // a trim. Its `dir` is ignored: they spill where the file records do.
  SpillSpace::Options catalog_spill;
};

// What one Extract* call added to the manifest, for callers that keep their
// own running view of it (rescue reconciles each user right after salvaging
// it, without re-reading salvage.json): every directory record and the
// damaged file records.
struct ExtractDelta {
  std::vector<DirRecord> dirs;
  std::vector<FileRecord> damaged_files;
};

// A mailbox directory of the spool (it holds cyrus.header or cyrus.index) and
// the group it is extracted with.
struct FolderDirGroup {
  std::int32_t node = -1;
  std::string path;  // relative to DIR: "spool/uuid/a/b/ab..."
  std::string user;  // its user group; "" = the rest group
};

class Salvager {
 public:
  static Result<std::unique_ptr<Salvager>> Open(const SalvageOptions& opts);
  ~Salvager();

  const FsInfo& info() const { return info_; }
  Status Scan();
  const Catalog& catalog() const { return cat_; }
  std::vector<std::string> Users() const;  // sorted
  bool HasUser(const std::string& user) const;

  // Sets the totals progress reports count against (ETA): the users about to
  // be extracted, plus the config and rest groups when `with_rest`.
  void PlanProgress(const std::vector<std::string>& users, bool with_rest);

  // Every folder directory of the spool with its group, by path. After Scan.
  std::vector<FolderDirGroup> FolderDirs() const;
  // Moves folder directories (FolderDirGroup::node), each with the nodes below
  // it that share its group, into a user's group (created when the catalog
  // has none for that user; "" = the rest group). For a caller that knows a
  // folder's user better than the catalog, which only reads cyrus.header
  // (rescue: the salvaged mailboxes.db names a uuid directory whose header is
  // garbage), so the folder is extracted with its user. Every group involved
  // must be unextracted: kInternal otherwise (a caller bug), and nothing moves.
  Status AssignFolders(const std::vector<std::pair<std::int32_t, std::string>>& moves);

  Status ExtractUser(const std::string& user, ProgressSink* progress = nullptr, ExtractDelta* delta = nullptr);
  Status ExtractConfig(ProgressSink* progress = nullptr);
  // `delta` (optional) as for ExtractUser: rescue reconciles the shared
  // mailboxes, which live in the rest group, right after it.
  Status ExtractRest(ProgressSink* progress = nullptr, ExtractDelta* delta = nullptr);
  // Sorted, deterministic manifest of what has been extracted so far (a
  // reference to the Salvager's own copy; valid until the next Extract*).
  const Manifest& BuildManifest();
  Status WriteManifest();  // DIR/salvage.json; no-op in dry-run
  // True when anything needs an operator: damaged files, incomplete dirs,
  // lost+found entries, or filesystem damage.
  bool NeedsAttention();

 private:
  explicit Salvager(SalvageOptions o) : opts_(std::move(o)) {}
  Status ExtractGroupOnce(std::int32_t group, ProgressSink* progress, ExtractDelta* delta = nullptr);
  SpillArray<std::int32_t> GroupOfNodes() const;  // per node, from the member lists

  SalvageOptions opts_;
  std::shared_ptr<Source> src_;
  OpenPlan plan_;
  FsInfo info_;
  std::unique_ptr<HandlePool> pool_;
  std::unique_ptr<OutputTree> out_;
  Catalog cat_;
  bool scanned_ = false;
  std::unique_ptr<PreviousIndex> previous_;
  std::unique_ptr<FileStore> files_;  // every file record of the groups done so far
  std::unique_ptr<LinkedFiles> linked_;  // hard-linked inodes of earlier groups
  std::vector<char> group_done_;
  Manifest manifest_;                 // dirs, symlinks... of the groups done so far
  std::vector<DamageNote> extract_damage_;
  ProgressSnapshot snapshot_;
  std::string sha256_before_;
  double last_manifest_write_ = 0;  // steady seconds
};

// Reads a --users / --priority file: one user a line; blank lines and
// "#" comments ignored; login ids name users too (UserFromListEntry:
// "fred.smith@example.org" is the user "fred^smith@example.org").
Result<std::vector<std::string>> ReadUserList(const std::string& path);

}  // namespace mr::salvage
