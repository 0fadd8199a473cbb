// table_search: finds a block group's inode table (and its bitmaps where it
// can) when the group's descriptor has no sane copy, instead of giving up
// its inodes. The common case: a filesystem of one group has no backup
// descriptor table, and one zeroed block 1 would otherwise lose every file.
//
// Group 0: a linear search from the end of the descriptor table (and the
// reserved GDT blocks) over at most the first group, or 256 MiB, whichever
// is less (stopping once 1 MiB came back unreadable: a failing device), for
// the block where inode 2 is a directory whose first block starts with
// "." -> 2 and ".." -> 2, and which is not inside the journal
// that the candidate's own inode 8 describes (the journal holds older copies
// of inode-table blocks). A cheap test on the mode of inode 2 runs on every
// block; the full check on at most 256 candidates.
// Other groups: the position a sane descriptor at most 64 groups away
// predicts (the next table in the same flex group, or the same offset in a
// group of the same kind), accepted when every in-use inode of the table's
// first block looks written by ext4 and at least one of its first 8192
// inodes is in use (an all-zero table proves nothing).
// Bitmaps: the blocks before the inode table are tested: an inode bitmap
// marks the reserved inodes used, pads past the group's inodes with ones,
// and agrees with the first inodes of the table; a block bitmap marks the
// superblock, the descriptors and the whole inode table used. Not found
// means 0 (nothing on the salvage path reads bitmaps).
//
// Reads the source directly (never writes), bounded as above. Thread-safe.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "salvage/source.h"

namespace mr::salvage {

struct FoundTables {
  blk64_t inode_table = 0;
  blk64_t block_bitmap = 0;  // 0: not found
  blk64_t inode_bitmap = 0;  // 0: not found
  std::string how;           // one line, e.g. "inode table found by scanning at block 41 (root directory checks out)"
};

// `fs`: a handle whose superblock is trusted; `sane[h]`: group h's descriptor
// in fs is sane (for predictions from neighbours).
std::optional<FoundTables> FindGroupTables(ext2_filsys fs, Source& src, dgrp_t group,
                                           const std::vector<bool>& sane);

}  // namespace mr::salvage
