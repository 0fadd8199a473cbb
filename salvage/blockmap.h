// blockmap: which physical blocks hold a file's (or directory's) logical
// blocks, read tolerantly from the inode's extent tree or indirect block map.
//
// Unlike ext2fs_block_iterate3, which stops at the first bad extent block,
// MapBlocks parses the tree itself: a damaged index/leaf block, an extent
// pointing outside the filesystem, or an unreadable indirect block costs only
// the logical range it covered, which is reported in `bad`. Every count is
// bounded by the file's own block count, never by a field read from disk.
// Only logical blocks < nblocks are returned. Not for inline-data inodes.
// Thread-safety: uses the handle's io channel; one handle per thread.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mr::salvage {

struct BlockRun {
  std::uint64_t lblk = 0;  // first logical block
  std::uint64_t pblk = 0;  // first physical block
  std::uint64_t len = 0;   // blocks
  bool uninit = false;     // allocated but unwritten: reads as zeros
};

struct LogicalRange {
  std::uint64_t start = 0;  // logical blocks [start, end)
  std::uint64_t end = 0;
};

struct BlockMap {
  std::vector<BlockRun> runs;     // sorted by lblk, non-overlapping, merged
  std::vector<LogicalRange> bad;  // logical ranges whose mapping could not be read
  std::string problem;            // first problem met, for the report ("" if none)
};

BlockMap MapBlocks(ext2_filsys fs, const ext2_inode& inode, std::uint64_t nblocks);
// Same, into *out (cleared first), reusing its vectors' capacity: no
// allocation per file on the extraction path.
void MapBlocks(ext2_filsys fs, const ext2_inode& inode, std::uint64_t nblocks, BlockMap* out);

// Reads one filesystem block through the handle's channel; returns false when
// any part of it was unreadable (zero-filled). buf must hold fs->blocksize.
bool ReadBlock(ext2_filsys fs, std::uint64_t blk, void* buf);

}  // namespace mr::salvage
