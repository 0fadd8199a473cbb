// volume: a read-only libext2fs handle on a Source, opened with every fallback
// a damaged filesystem needs.
//
// Volume::Plan() decides HOW to open, once: the primary superblock, else the
// backups (sparse_super / sparse_super2 rules from whatever geometry is still
// readable), else probing like e2fsck (block 8*bs (+1 for 1 KiB) for every block
// size 1K–64K and the further sparse_super groups); or the forced
// --superblock/--blocksize. When no copy is readable at all (a filesystem of
// one group has no backup), the superblock is rebuilt from the descriptors,
// bitmaps and inode table (geometry.h), checked through libext2fs (the root
// directory must read back as itself), and served from memory to every
// handle by a MetaOverlay (meta_overlay.h). It then checks every group
// descriptor (locations in range, per-group checksum) and replaces bad ones
// in memory from a backup copy; a descriptor with no sane copy has its inode
// table (and bitmaps) searched for on the disk (table_search.h), and only
// when that finds nothing is its inode table disabled (reads of it return
// EXT2_ET_MISSING_INODE_TABLE instead of garbage). What it found goes into
// FsInfo::damage.
// Volume::Open(plan) then opens one more identical handle: one per worker,
// because a libext2fs handle must never be shared between threads.
// Handles are opened without EXT2_FLAG_RW, with EXT2_FLAG_64BITS |
// IGNORE_CSUM_ERRORS (checksum failures become data) and freed with
// ext2fs_free (never writes). A Volume is move-only and not thread-safe.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "salvage/journal_overlay.h"
#include "salvage/meta_overlay.h"
#include "salvage/source.h"

namespace mr::salvage {

struct DamageNote {
  std::string kind;    // "superblock", "group_descriptor", "unreadable", ...
  std::string detail;  // one line
};

struct FsInfo {
  std::string source_path;
  std::uint64_t source_size = 0;
  std::uint64_t superblock_used = 0;  // in blocks of `blocksize`; 0 = primary
  bool superblock_rebuilt = false;    // no copy was readable: geometry.h rebuilt it
  unsigned blocksize = 0;
  std::uint64_t blocks_count = 0;
  std::uint32_t inodes_count = 0;
  std::uint32_t groups = 0;
  std::uint32_t inodes_per_group = 0;
  std::uint32_t blocks_per_group = 0;
  unsigned inode_size = 0;
  std::vector<std::string> features;
  std::string label;
  std::string uuid;
  std::string state;  // "clean", "not clean", "errors"
  bool has_journal = false;
  bool needs_recovery = false;
  std::shared_ptr<const Journal> journal;  // null: no journal or unreadable (see damage)
  std::uint64_t image_bytes_needed = 0;  // blocks_count * blocksize
  std::vector<DamageNote> damage;
};

struct OpenPlan {
  std::uint64_t superblock = 0;  // 0 = primary (then blocksize is 0 too)
  unsigned blocksize = 0;
  // Group descriptors replaced in memory (raw descriptor bytes per group).
  std::vector<std::pair<std::uint32_t, std::vector<std::uint8_t>>> desc_patches;
  std::vector<std::uint32_t> disabled_groups;  // inode table unusable
  // Optional replacement for the channel (e.g. a journal overlay stacked on
  // SourceIoManager()); null means SourceIoManager() on source->channel_name().
  io_manager manager = nullptr;
  std::string device_name;
  // Set when the superblock was rebuilt: serves it at byte 1024. manager/device_name
  // point into it, or into the journal overlay stacked on it.
  std::shared_ptr<MetaOverlay> meta_overlay;
  // Set when the journal is replayed: manager/device_name above point into it.
  std::shared_ptr<JournalOverlay> journal_overlay;
};

struct VolumeOptions {
  std::optional<std::uint64_t> superblock;  // forced; REQUIRES blocksize too
  std::optional<unsigned> blocksize;
  JournalMode journal = JournalMode::kAuto;  // --journal=replay|ignore
};

class Volume {
 public:
  // kCannotOpen (one line naming the source) when nothing usable is found;
  // kInvalidArgument for an inconsistent forced superblock/blocksize.
  static Result<std::pair<OpenPlan, FsInfo>> Plan(const std::shared_ptr<Source>& src,
                                                  const VolumeOptions& opts);
  static Result<Volume> Open(const std::shared_ptr<Source>& src, const OpenPlan& plan);

  Volume(Volume&& o) noexcept : fs_(std::exchange(o.fs_, nullptr)), src_(std::move(o.src_)) {}
  Volume& operator=(Volume&& o) noexcept;
  Volume(const Volume&) = delete;
  Volume& operator=(const Volume&) = delete;
  ~Volume();

  ext2_filsys fs() const { return fs_; }
  const std::shared_ptr<Source>& source() const { return src_; }

 private:
  Volume(ext2_filsys fs, std::shared_ptr<Source> src) : fs_(fs), src_(std::move(src)) {}
  ext2_filsys fs_ = nullptr;
  std::shared_ptr<Source> src_;
};

// Feature names of a superblock, e.g. {"has_journal", "extent", "64bit", ...}.
std::vector<std::string> FeatureNames(const ext2_super_block* sb);

}  // namespace mr::salvage
