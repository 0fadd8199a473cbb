// geometry: rebuilds an ext2/3/4 superblock from what survives on the disk,
// for the case where no superblock copy is readable at all (a filesystem of
// one block group has no backup: mke2fs makes one for anything under 128 MiB
// with 4 KiB blocks, 8 MiB with 1 KiB blocks). The data is all still there;
// only the numbers needed to find it are gone.
//
// How, in order; each step is checked against the disk before the next:
//  1. Block size and inode size. For every block size 1K..64K, group 0's
//     descriptor table is the block after the superblock's (block 2 for 1 KiB
//     blocks, else 1). Its first descriptor must point at an inode table in
//     which, for some inode size 128..1024, inode 2 is a directory whose first
//     block starts with "." -> 2 and ".." -> 2. A lost+found at inode 11 with
//     ".." -> 2 breaks ties. Nothing else is trusted until this holds.
//  2. Group count and descriptor size: consecutive descriptors whose
//     locations are sane, read with a 32-byte and a 64-byte stride (a 64-byte
//     table read as 32-byte has a zero "block bitmap" in entry 1). Blocks per
//     group is mke2fs's 8 * block size (the only layout that has a bitmap
//     block per group without bigalloc).
//  3. Inodes per group: the inode bitmap pads the bits past the last inode
//     with ones; the padding starts at (or, when the last inodes are in use,
//     after) the last zero bit. Cross-checked, when there is a second group
//     with flex_bg, by the distance between two inode tables, and bounded by
//     the first directory block after the inode table; with no usable bitmap
//     that bound is the answer.
//  4. Block count: the last group's block bitmap pads past the end of the
//     filesystem with ones; the source size is taken when it ends inside that
//     padding, else the larger bound (a few blocks too many cost nothing, too
//     few would cut files off).
//  5. Features from what the inodes and directories show: filetype from the
//     "." entry, extent / inline_data / huge_file / dir_index / ext_attr from
//     inode flags, has_journal when inode 8 holds a jbd2 superblock (its UUID
//     is the filesystem's for an internal journal; needs_recovery when its log
//     is not empty), 64bit from the descriptor size, flex_bg when the bitmaps
//     and inode table are not back to back. Checksum features are left off:
//     the checksum seed is lost with the superblock, so they could only fail.
// When no descriptor at block 1 (2 for 1 KiB blocks) checks out either (the
// first blocks overwritten), step 1 becomes one linear pass over the first
// 64 MiB for a block-aligned table whose inode 2 is the root directory (not
// inside its own journal: old copies live there; the pass stops once 1 MiB
// came back unreadable: a failing device); then only a source of one group
// is rebuilt (no table to count groups with), its inode bitmap is the block
// before the table that agrees with the first inodes; a descriptor
// pointing at the table is served with the superblock, and table_search.h
// completes it (its block bitmap is not looked for here).
// Limits: meta_bg, bigalloc and non-default blocks-per-group layouts are not
// rebuilt (the descriptor checks in step 2 then fail or find one group); the
// label, UUID (without a journal), hash seed and mount history are gone.
//
// Pure function of the source's bytes: reads at most a few MiB, bounded
// whatever the garbage; thread-safe.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "salvage/source.h"

namespace mr::salvage {

struct RebuiltSuperblock {
  ext2_super_block sb{};  // to be served at byte 1024 (meta_overlay.h)
  // When the table was found by scanning: group 0's descriptor block to serve
  // at byte descriptor_offset, pointing at that table (and the inode bitmap
  // when found; the block bitmap is left 0 for table_search.h to find).
  std::vector<std::uint8_t> descriptor_block;
  std::uint64_t descriptor_offset = 0;
  // What it was rebuilt from: "the group descriptors, bitmaps and inode table".
  std::string from;
  // One line for the damage note: "block size 4096, 16384 blocks in 1 group,
  // 16384 inodes of 256 bytes; inodes per group from the inode bitmap".
  std::string summary;
};

// kCorrupt, with a one-line reason naming what was tried, when no geometry checks out.
Result<RebuiltSuperblock> RebuildSuperblock(Source& src);

}  // namespace mr::salvage
