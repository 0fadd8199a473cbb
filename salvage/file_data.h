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
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "common/status.h"
#include "salvage/badmap.h"
#include "salvage/inode.h"

namespace mr::salvage {

// bool(offset, data, n); returns false to abort the read (e.g. a write error
// on the output side). A non-owning reference to a callable (no std::function
// allocation per file): the callable must outlive the ReadFileData call.
class ChunkSink {
 public:
  template <typename F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, ChunkSink>)
  ChunkSink(F&& f)  // NOLINT: implicit, like std::function; a temporary lives to the end of the call
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* o, std::uint64_t off, const std::uint8_t* d, std::size_t n) -> bool {
          return (*static_cast<std::remove_reference_t<F>*>(o))(off, d, n);
        }) {}
  bool operator()(std::uint64_t off, const std::uint8_t* d, std::size_t n) const { return call_(obj_, off, d, n); }

 private:
  void* obj_;
  bool (*call_)(void*, std::uint64_t, const std::uint8_t*, std::size_t);
};

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
