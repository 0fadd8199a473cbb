#include "salvage/file_data.h"

#include <algorithm>
#include <cstring>

#include "salvage/blockmap.h"
#include "salvage/ext2_error.h"
#include "salvage/journal_overlay.h"
#include "salvage/source.h"

namespace mr::salvage {
namespace {

constexpr std::uint64_t kChunkBytes = 1u << 20;

bool IsInline(const InodeInfo& in) { return (in.flags & EXT4_INLINE_DATA_FL) != 0; }

FileReadResult ReadInline(ext2_filsys fs, const InodeInfo& in, const ChunkSink& sink) {
  FileReadResult r;
  size_t sz = 0;
  ext2_inode_large raw = in.raw;
  errcode_t rc = ext2fs_inline_data_size(fs, in.ino, &sz);
  if (rc != 0 || sz > fs->blocksize) {
    r.problem = rc ? Ext2Error("inline data", rc).message : "inline data larger than a block";
    if (in.size) r.damaged.push_back({0, in.size});
    return r;
  }
  std::vector<std::uint8_t> buf(std::max<size_t>(fs->blocksize, EXT4_MIN_INLINE_DATA_SIZE));
  size_t got = buf.size();
  rc = ext2fs_inline_data_get(fs, in.ino, reinterpret_cast<ext2_inode*>(&raw), buf.data(), &got);
  if (rc != 0) {
    r.problem = Ext2Error("inline data", rc).message;
    if (in.size) r.damaged.push_back({0, in.size});
    return r;
  }
  got = std::min<std::uint64_t>({got, in.size, buf.size()});  // clamp the 1.47.0 60-byte bug
  if (got < in.size) {
    r.damaged.push_back({got, in.size - got});
    if (r.problem.empty()) r.problem = "inline data shorter than i_size";
  }
  if (got && !sink(0, buf.data(), got)) r.aborted = true;
  return r;
}

thread_local std::vector<std::uint8_t> t_buf;

}  // namespace

FileReadResult ReadFileData(ext2_filsys fs, const InodeInfo& in, const ChunkSink& sink) {
  if (IsInline(in)) return ReadInline(fs, in, sink);
  FileReadResult r;
  const std::uint64_t bs = fs->blocksize;
  const std::uint64_t size = in.size;
  if (size == 0) return r;
  // A size beyond what the filesystem can hold is corrupt: bound it.
  const std::uint64_t max_bytes = ext2fs_blocks_count(fs->super) * bs;
  std::uint64_t nblocks = (size + bs - 1) / bs;
  if (size > max_bytes) {
    r.problem = "i_size larger than the filesystem";
    nblocks = ext2fs_blocks_count(fs->super);
  }
  JournalFallbackScope map_scope;
  // Reused per thread: no allocation per file. Not re-entrant, and nothing below
  // calls back into ReadFileData (the sink only writes and hashes).
  thread_local BlockMap map;
  MapBlocks(fs, *reinterpret_cast<const ext2_inode*>(&in.raw), nblocks, &map);
  r.map_from_journal = !map_scope.pieces().empty();
  if (!map.problem.empty()) r.problem = map.problem;
  for (const auto& b : map.bad) {
    std::uint64_t s = b.start * bs, e = std::min(size, b.end * bs);
    if (s < e) r.damaged.push_back({s, e - s});
  }
  const std::uint64_t max_chunk_blocks = std::max<std::uint64_t>(1, kChunkBytes / bs);
  if (t_buf.size() < max_chunk_blocks * bs) t_buf.resize(max_chunk_blocks * bs);
  for (const auto& run : map.runs) {
    if (run.uninit) continue;
    for (std::uint64_t done = 0; done < run.len;) {
      const std::uint64_t n = std::min(max_chunk_blocks, run.len - done);
      const std::uint64_t lblk = run.lblk + done, pblk = run.pblk + done;
      ReadDamageScope scope;
      JournalFallbackScope jscope;
      errcode_t rc = io_channel_read_blk64(fs->io, pblk, static_cast<int>(n), t_buf.data());
      const std::uint64_t foff = lblk * bs;
      const std::uint64_t len = std::min(n * bs, size - std::min(size, foff));
      if (rc != 0) {
        std::memset(t_buf.data(), 0, n * bs);
        r.damaged.push_back({foff, len});
        if (r.problem.empty()) r.problem = Ext2Error("data block " + std::to_string(pblk), rc).message;
      }
      for (const auto& z : scope.ranges()) {
        const std::uint64_t base = pblk * bs;
        if (z.end() <= base || z.offset >= base + n * bs) continue;
        std::uint64_t s = std::max(z.offset, base) - base + foff;
        std::uint64_t e = std::min(z.end(), base + n * bs) - base + foff;
        e = std::min(e, size);
        if (s < e) r.damaged.push_back({s, e - s});
        if (r.problem.empty()) r.problem = "unreadable data block " + std::to_string(pblk);
      }
      for (const auto& piece : jscope.pieces()) {
        const ByteRange& z = piece.range;
        const std::uint64_t base = pblk * bs;
        if (z.end() <= base || z.offset >= base + n * bs) continue;
        const std::uint64_t s = std::max(z.offset, base) - base + foff;
        const std::uint64_t e = std::min(std::min(z.end(), base + n * bs) - base + foff, size);
        if (s < e) r.journal_fallback.push_back({s, e - s});
      }
      if (len && !sink(foff, t_buf.data(), len)) {
        r.aborted = true;
        return r;
      }
      done += n;
    }
  }
  MergeRanges(&r.damaged);
  MergeRanges(&r.journal_fallback);
  return r;
}

Result<std::string> ReadSymlinkTarget(ext2_filsys fs, const InodeInfo& in, bool* damaged) {
  *damaged = false;
  if (in.size == 0 || in.size > 4095)
    return Error{Code::kCorrupt, "symlink inode " + std::to_string(in.ino) + ": bad length " +
                                     std::to_string(in.size)};
  auto* raw = const_cast<ext2_inode*>(reinterpret_cast<const ext2_inode*>(&in.raw));
  if (!IsInline(in) && ext2fs_is_fast_symlink(raw)) {
    const char* p = reinterpret_cast<const char*>(in.raw.i_block);
    std::size_t n = std::min<std::size_t>(in.size, sizeof in.raw.i_block);
    return std::string(p, strnlen(p, n));
  }
  std::string out;
  FileReadResult r = ReadFileData(fs, in, [&](std::uint64_t off, const std::uint8_t* d, std::size_t n) {
    if (out.size() < off + n) out.resize(off + n);
    std::memcpy(out.data() + off, d, n);
    return true;
  });
  if (out.size() < in.size) out.resize(in.size);
  *damaged = !r.damaged.empty();
  out.resize(strnlen(out.data(), out.size()));
  if (out.empty()) return Error{Code::kCorrupt, "symlink inode " + std::to_string(in.ino) + ": empty target"};
  return out;
}

}  // namespace mr::salvage
