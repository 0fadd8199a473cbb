// file_data: streams the bytes of a regular file (or a slow symlink) out of
// the filesystem in logical order, and says which byte ranges are not real.
//
// Data runs are read in large sequential chunks straight from the mapped
// physical blocks (not block by block through ext2fs_file_read). Holes and
// unwritten extents are not delivered (they read as zeros); the sink gets
// (file offset, bytes). Unreadable blocks arrive zero-filled and their byte
// ranges (file offsets) are returned in `damaged`, as are ranges whose block
// mapping was lost. Bytes the journal fallback replaced are returned in
// `journal_fallback` instead. Inline-data files are read with libext2fs and clamped to
// i_size (libext2fs 1.47.0 returns 60 bytes for tiny inline files).
// Thread-safety: one handle per thread.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "salvage/badmap.h"
#include "salvage/inode.h"

namespace mr::salvage {

// Returns false to abort the read (e.g. a write error on the output side).
using ChunkSink = std::function<bool(std::uint64_t offset, const std::uint8_t* data, std::size_t n)>;

struct FileReadResult {
  std::vector<ByteRange> damaged;  // file offsets, merged
  // File offsets whose unreadable live bytes were served from older journal
  // copies instead (journal_overlay.h), merged; not in `damaged`.
  std::vector<ByteRange> journal_fallback;
  bool map_from_journal = false;   // an extent-tree / indirect block was, too
  std::string problem;             // first problem met, "" if none
  bool aborted = false;            // the sink returned false
};

FileReadResult ReadFileData(ext2_filsys fs, const InodeInfo& inode, const ChunkSink& sink);

// A symlink's target; damaged targets come back with *damaged set.
Result<std::string> ReadSymlinkTarget(ext2_filsys fs, const InodeInfo& inode, bool* damaged);

}  // namespace mr::salvage
