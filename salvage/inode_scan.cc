#include "salvage/inode_scan.h"

#include <ext2fs/ext2_err.h>

#include <algorithm>
#include <cstring>

namespace mr::salvage {

InodeScanResult ScanInodes(ext2_filsys fs, const std::function<bool(std::uint32_t)>& reached) {
  InodeScanResult out;
  ext2_inode_scan scan = nullptr;
  if (ext2fs_open_inode_scan(fs, 32, &scan) != 0) {
    // Group 0's inode table is unusable: scan is impossible as a whole.
    out.unreadable_groups.push_back(0);
    return out;
  }
  ext2fs_inode_scan_flags(scan, EXT2_SF_SKIP_MISSING_ITABLE | EXT2_SF_WARN_GARBAGE_INODES, 0);
  const std::uint32_t first_ino = EXT2_FIRST_INO(fs->super);
  const std::uint64_t cap = std::uint64_t(fs->super->s_inodes_count) + 4ull * fs->group_desc_count + 16;
  ext2_inode_large inode;
  dgrp_t cur_group = 0;  // the group the scan is in, tracked by the done-group callback
  ext2fs_set_inode_callback(
      scan,
      [](ext2_filsys, ext2_inode_scan, dgrp_t group, void* priv) -> errcode_t {
        *static_cast<dgrp_t*>(priv) = group + 1;
        return 0;
      },
      &cur_group);
  for (std::uint64_t iter = 0; iter < cap; ++iter) {
    ext2_ino_t ino = 0;
    std::memset(&inode, 0, sizeof inode);
    errcode_t rc = ext2fs_get_next_inode_full(scan, &ino, reinterpret_cast<ext2_inode*>(&inode),
                                              sizeof inode);
    if (rc != 0 && rc != EXT2_ET_INODE_CSUM_INVALID && rc != EXT2_ET_INODE_IS_GARBAGE &&
        rc != EXT2_ET_BAD_BLOCK_IN_INODE_TABLE) {
      // EXT2_ET_NEXT_INODE_READ and friends do not advance: skip the group.
      out.unreadable_groups.push_back(cur_group);
      if (cur_group + 1 >= fs->group_desc_count) break;
      ++cur_group;
      if (ext2fs_inode_scan_goto_blockgroup(scan, static_cast<int>(cur_group)) != 0) break;
      continue;
    }
    if (ino == 0) break;  // end of scan
    if (rc == EXT2_ET_INODE_IS_GARBAGE || rc == EXT2_ET_BAD_BLOCK_IN_INODE_TABLE) continue;
    if (ino < first_ino && ino != EXT2_ROOT_INO) continue;
    if (inode.i_mode == 0 || inode.i_links_count == 0 || inode.i_dtime != 0) continue;
    ++out.live;
    if (reached(ino)) continue;
    out.lost.push_back({ino, inode.i_mode,
                        std::uint64_t(inode.i_size) | (std::uint64_t(inode.i_size_high) << 32)});
  }
  ext2fs_close_inode_scan(scan);
  std::sort(out.unreadable_groups.begin(), out.unreadable_groups.end());
  out.unreadable_groups.erase(std::unique(out.unreadable_groups.begin(), out.unreadable_groups.end()),
                              out.unreadable_groups.end());
  return out;
}

}  // namespace mr::salvage
