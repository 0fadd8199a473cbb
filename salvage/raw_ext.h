// raw_ext: ext2/3/4 on-disk structures read straight from a Source, for the
// moments libext2fs cannot help: no superblock copy to open with, or a group
// descriptor with no sane copy. Used by geometry (superblock rebuild) and
// table_search (inode-table search); both must decide from raw bytes whether
// a guess (block size, inode size, inode-table block) is the real thing.
//
// Contract: every function takes the geometry to test as arguments, reads
// through Source::ReadAt (never writes; unreadable bytes read as zeros) and
// never reads a block at or past `max_block` (the caller's bound: the source
// size or the filesystem's block count), so garbage pointers cost nothing but
// a "no". Work is bounded: extent trees are followed at most 5 levels deep,
// block-map walks stop after a caller-given number of blocks. Stateless and
// thread-safe (Source reads are). REQUIRES a little-endian host (as volume.cc).
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "salvage/source.h"

namespace mr::salvage::raw {

// Reads [off, off+len) into buf; what lies past the end of the source is zero
// without being read (so it is not recorded as unreadable: it is not damage).
// Returns how many bytes came back unreadable (zero-filled by the Source).
std::uint64_t ReadWithin(Source& src, std::uint64_t off, void* buf, std::uint64_t len);

// Scans that read a lot (tens of MiB) stop once this much came back unreadable:
// on a failing device every bad read costs retries and sector-by-sector reads.
constexpr std::uint64_t kMaxUnreadableInScan = 1ull << 20;

// Reads block `blk` of size `bs` into *buf; false when it lies at or past max_block.
bool ReadBlock(Source& src, std::uint64_t blk, unsigned bs, std::uint64_t max_block,
               std::vector<std::uint8_t>* buf);

// The inode at byte offset `off` (isz bytes; the rest of the struct zeroed).
ext2_inode_large ReadInodeAt(Source& src, std::uint64_t off, unsigned isz);

// Inode `ino` of a group whose table starts at block `table` (ino counted from
// the group's first inode: 1 for group 0).
ext2_inode_large ReadTableInode(Source& src, std::uint64_t table, unsigned bs, unsigned isz,
                                std::uint32_t ino);

// True when an in-use inode looks like ext2/3/4 wrote it: a known file type,
// a link, no deletion time, and (for extent-mapped inodes) a valid extent
// header. All-zero inodes are not "sane": callers count them separately.
bool InodeSane(const ext2_inode_large& in, unsigned isz);
bool InodeAllZero(const std::uint8_t* p, unsigned isz);

// Calls fn(logical, physical, count) for each mapped run of `in` (extents or
// the ext2/3 block map), in logical order, until fn returns false. Reads at
// most `max_meta_reads` index/indirect blocks. Returns false when the map is
// malformed (bad extent header, pointer at or past max_block, budget spent).
using RunFn = std::function<bool(std::uint64_t logical, std::uint64_t physical, std::uint64_t count)>;
bool ForEachRun(Source& src, unsigned bs, const ext2_inode_large& in, std::uint64_t max_block,
                unsigned max_meta_reads, const RunFn& fn);

// The physical runs (start, count) of `in`, at most max_runs of them.
std::vector<std::pair<std::uint64_t, std::uint64_t>> PhysicalRuns(Source& src, unsigned bs,
                                                                  const ext2_inode_large& in,
                                                                  std::uint64_t max_block, std::size_t max_runs);

// Inode `jino` of the table at `table` is a regular file owning block `table`
// itself: the "table" is an old copy of an inode-table block kept in the journal.
bool TableInsideItsJournal(Source& src, std::uint64_t table, unsigned bs, unsigned isz, std::uint32_t jino,
                           std::uint64_t max_block);

// Physical block of logical block `lblk`, if mapped.
std::optional<std::uint64_t> MapBlock(Source& src, unsigned bs, const ext2_inode_large& in,
                                      std::uint64_t lblk, std::uint64_t max_block);

// What a directory check found.
struct DirCheck {
  bool ok = false;
  bool filetype = false;          // "." carries EXT2_FT_DIR in its file-type byte
  std::uint64_t first_block = 0;  // physical block of logical block 0 (0: inline)
};

// Inode `ino` of the table at `table` is a directory whose first block starts
// with "." -> ino and ".." -> parent (or, inline, whose parent field is parent).
DirCheck CheckDir(Source& src, std::uint64_t table, unsigned bs, unsigned isz, std::uint32_t ino,
                  std::uint32_t parent, std::uint64_t max_block);

// Inode `ino` is a jbd2 journal: a regular file whose first block holds a
// jbd2 superblock (v1 or v2) for block size bs. Fills *jsb with that block.
bool IsJournalInode(Source& src, const ext2_inode_large& in, unsigned bs, std::uint64_t max_block,
                    std::vector<std::uint8_t>* jsb);

std::uint32_t Le32(const std::uint8_t* p);
std::uint16_t Le16(const std::uint8_t* p);
std::uint32_t Be32(const std::uint8_t* p);

}  // namespace mr::salvage::raw
