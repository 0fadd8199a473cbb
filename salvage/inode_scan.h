// inode_scan: every live inode in the inode tables that the walk did not reach.
//
// Uses ext2fs_open_inode_scan with SKIP_MISSING_ITABLE | WARN_GARBAGE_INODES.
// On EXT2_ET_NEXT_INODE_READ (which does not advance and would loop forever)
// it jumps to the next block group and records the group as unreadable; a
// hard cap on iterations makes a hang impossible. "Live" is decided from the
// inode itself (mode != 0, links > 0, dtime == 0), not from the bitmaps (one
// bad bitmap block fails them all). Inodes from blocks libext2fs flags as
// garbage (every checksum in the block wrong) are not reported as lost.
// Thread-safety: one handle per call.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace mr::salvage {

struct LostInode {
  std::uint32_t ino = 0;
  std::uint16_t mode = 0;
  std::uint64_t size = 0;
};

struct InodeScanResult {
  std::vector<LostInode> lost;                 // sorted by inode
  std::vector<std::uint32_t> unreadable_groups;
  std::uint64_t live = 0;                      // live inodes seen (reached or not)
};

// `reached(ino)`: whether the walk already has that inode (not reported as lost).
InodeScanResult ScanInodes(ext2_filsys fs, const std::function<bool(std::uint32_t)>& reached);

}  // namespace mr::salvage
