#include "salvage/raw_ext.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

namespace mr::salvage::raw {
namespace {

constexpr std::uint16_t kExtentMagic = 0xF30A;
constexpr std::uint32_t kJbd2Magic = 0xC03B3998;
constexpr int kMaxExtentDepth = 5;

struct Walk {
  Source& src;
  unsigned bs;
  std::uint64_t max_block;
  unsigned budget;
  const RunFn& fn;
  bool stopped = false;

  // Extent node `node` (size bytes) at `depth`; false when malformed.
  bool Extents(const std::uint8_t* node, std::size_t size, int depth) {
    if (size < 12 || Le16(node) != kExtentMagic) return false;
    const unsigned entries = Le16(node + 2), max = Le16(node + 4), d = Le16(node + 6);
    if (static_cast<int>(d) != depth || depth > kMaxExtentDepth || entries > max || 12 + 12ull * max > size)
      return false;
    for (unsigned i = 0; i < entries && !stopped; ++i) {
      const std::uint8_t* e = node + 12 + 12 * i;
      if (depth == 0) {
        std::uint64_t len = Le16(e + 4);
        if (len > 32768) len -= 32768;  // uninitialized extent: still the file's blocks
        const std::uint64_t start = Le32(e + 8) | (std::uint64_t(Le16(e + 6)) << 32);
        if (len == 0 || start == 0 || start >= max_block || len > max_block - start) return false;
        if (!fn(Le32(e), start, len)) stopped = true;
      } else {
        const std::uint64_t child = Le32(e + 4) | (std::uint64_t(Le16(e + 8)) << 32);
        if (budget == 0) return false;
        --budget;
        std::vector<std::uint8_t> buf;
        if (child == 0 || !ReadBlock(src, child, bs, max_block, &buf)) return false;
        if (!Extents(buf.data(), buf.size(), depth - 1)) return false;
      }
    }
    return true;
  }

  // Indirect block `blk` of `level` (1 = single) mapping from logical `base`.
  bool Indirect(std::uint64_t blk, int level, std::uint64_t base, std::uint64_t span,
                const std::function<bool(std::uint64_t, std::uint64_t)>& add) {
    if (budget == 0) return false;
    --budget;
    std::vector<std::uint8_t> buf;
    if (!ReadBlock(src, blk, bs, max_block, &buf)) return false;
    const std::uint64_t per = bs / 4, child_span = span / per;
    for (std::uint64_t i = 0; i < per && !stopped; ++i) {
      const std::uint32_t b = Le32(buf.data() + 4 * i);
      if (b == 0) continue;
      if (b >= max_block) return false;
      if (level == 1) {
        if (!add(base + i, b)) stopped = true;
      } else if (!Indirect(b, level - 1, base + i * child_span, child_span, add)) {
        return false;
      }
    }
    return true;
  }
};

}  // namespace

std::uint32_t Le32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
std::uint16_t Le16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
std::uint32_t Be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

std::uint64_t ReadWithin(Source& src, std::uint64_t off, void* buf, std::uint64_t len) {
  std::memset(buf, 0, len);
  if (off >= src.size()) return 0;
  std::uint64_t unreadable = 0;
  for (const auto& r : src.ReadAt(off, buf, std::min(len, src.size() - off))) unreadable += r.length;
  return unreadable;
}

bool ReadBlock(Source& src, std::uint64_t blk, unsigned bs, std::uint64_t max_block,
               std::vector<std::uint8_t>* buf) {
  if (bs == 0 || blk >= max_block || blk > (~0ull) / bs - 1) return false;
  buf->assign(bs, 0);
  ReadWithin(src, blk * bs, buf->data(), bs);
  return true;
}

ext2_inode_large ReadInodeAt(Source& src, std::uint64_t off, unsigned isz) {
  ext2_inode_large in;
  ReadWithin(src, off, &in, sizeof in);
  if (isz < sizeof in) std::memset(reinterpret_cast<std::uint8_t*>(&in) + isz, 0, sizeof in - isz);
  return in;
}

ext2_inode_large ReadTableInode(Source& src, std::uint64_t table, unsigned bs, unsigned isz,
                                std::uint32_t ino) {
  return ReadInodeAt(src, table * bs + std::uint64_t(ino - 1) * isz, isz);
}

bool InodeAllZero(const std::uint8_t* p, unsigned isz) {
  return std::all_of(p, p + isz, [](std::uint8_t b) { return b == 0; });
}

bool InodeSane(const ext2_inode_large& in, unsigned isz) {
  const unsigned type = in.i_mode & S_IFMT;
  if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK && type != S_IFCHR && type != S_IFBLK &&
      type != S_IFIFO && type != S_IFSOCK)
    return false;
  if (in.i_links_count == 0 || in.i_dtime != 0) return false;
  if (isz > EXT2_GOOD_OLD_INODE_SIZE &&
      (in.i_extra_isize % 4 != 0 || in.i_extra_isize > isz - EXT2_GOOD_OLD_INODE_SIZE))
    return false;
  if (in.i_flags & EXT4_EXTENTS_FL) {
    const auto* h = reinterpret_cast<const std::uint8_t*>(in.i_block);
    if (Le16(h) != kExtentMagic || Le16(h + 2) > Le16(h + 4) || Le16(h + 4) > 4 || Le16(h + 6) > kMaxExtentDepth)
      return false;
  }
  return true;
}

bool ForEachRun(Source& src, unsigned bs, const ext2_inode_large& in, std::uint64_t max_block,
                unsigned max_meta_reads, const RunFn& fn) {
  if (in.i_flags & EXT4_INLINE_DATA_FL) return true;
  const auto* ib = reinterpret_cast<const std::uint8_t*>(in.i_block);
  Walk w{src, bs, max_block, max_meta_reads, fn};
  if (in.i_flags & EXT4_EXTENTS_FL) {
    const int depth = Le16(ib + 6);
    return w.Extents(ib, sizeof in.i_block, depth);
  }
  if (S_ISLNK(in.i_mode) && in.i_size < sizeof in.i_block) return true;  // fast symlink: text, not blocks
  // The ext2/3 block map: 12 direct blocks, then single, double and triple
  // indirect; consecutive blocks are joined into runs.
  std::uint64_t run_l = 0, run_p = 0, run_n = 0;
  auto add = [&](std::uint64_t l, std::uint64_t p) -> bool {
    if (run_n && l == run_l + run_n && p == run_p + run_n) {
      ++run_n;
      return true;
    }
    if (run_n && !fn(run_l, run_p, run_n)) return false;
    run_l = l;
    run_p = p;
    run_n = 1;
    return true;
  };
  for (std::uint64_t i = 0; i < EXT2_NDIR_BLOCKS && !w.stopped; ++i) {
    const std::uint32_t b = in.i_block[i];
    if (b == 0) continue;
    if (b >= max_block) return false;
    if (!add(i, b)) w.stopped = true;
  }
  const std::uint64_t per = bs / 4;
  std::uint64_t base = EXT2_NDIR_BLOCKS, span = per;
  for (int level = 1; level <= 3 && !w.stopped; ++level) {
    const std::uint32_t b = in.i_block[EXT2_NDIR_BLOCKS + level - 1];
    if (b != 0) {
      if (b >= max_block) return false;
      if (!w.Indirect(b, level, base, span, add)) return false;
    }
    base += span;
    span *= per;
  }
  if (!w.stopped && run_n) fn(run_l, run_p, run_n);
  return true;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> PhysicalRuns(Source& src, unsigned bs,
                                                                  const ext2_inode_large& in,
                                                                  std::uint64_t max_block, std::size_t max_runs) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
  ForEachRun(src, bs, in, max_block, 4096, [&](std::uint64_t, std::uint64_t p, std::uint64_t n) {
    runs.emplace_back(p, n);
    return runs.size() < max_runs;
  });
  return runs;
}

bool TableInsideItsJournal(Source& src, std::uint64_t table, unsigned bs, unsigned isz, std::uint32_t jino,
                           std::uint64_t max_block) {
  if (jino == 0) return false;
  const ext2_inode_large in = ReadTableInode(src, table, bs, isz, jino);
  if (!S_ISREG(in.i_mode)) return false;
  for (const auto& [p, n] : PhysicalRuns(src, bs, in, max_block, 65536))
    if (table >= p && table < p + n) return true;
  return false;
}

std::optional<std::uint64_t> MapBlock(Source& src, unsigned bs, const ext2_inode_large& in,
                                      std::uint64_t lblk, std::uint64_t max_block) {
  std::optional<std::uint64_t> out;
  ForEachRun(src, bs, in, max_block, 8, [&](std::uint64_t l, std::uint64_t p, std::uint64_t n) {
    if (lblk < l) return false;  // runs come in logical order: past it
    if (lblk < l + n) {
      out = p + (lblk - l);
      return false;
    }
    return true;
  });
  return out;
}

DirCheck CheckDir(Source& src, std::uint64_t table, unsigned bs, unsigned isz, std::uint32_t ino,
                  std::uint32_t parent, std::uint64_t max_block) {
  DirCheck r;
  const ext2_inode_large in = ReadTableInode(src, table, bs, isz, ino);
  if (!S_ISDIR(in.i_mode) || in.i_links_count == 0 || in.i_dtime != 0 || !InodeSane(in, isz)) return r;
  if (in.i_flags & EXT4_INLINE_DATA_FL) {
    // Inline directory: i_block starts with the parent's inode number, no "." entry.
    r.ok = in.i_size >= 4 && in.i_size <= sizeof in.i_block + isz &&
           Le32(reinterpret_cast<const std::uint8_t*>(in.i_block)) == parent;
    return r;
  }
  if (in.i_size < 24) return r;
  const auto blk = MapBlock(src, bs, in, 0, max_block);
  std::vector<std::uint8_t> b;
  if (!blk || !ReadBlock(src, *blk, bs, max_block, &b)) return r;
  const unsigned rec0 = Le16(&b[4]);
  if (Le32(&b[0]) != ino || rec0 < 12 || rec0 % 4 != 0 || rec0 + 12 > bs || b[6] != 1 || b[8] != '.') return r;
  const std::uint8_t* e1 = &b[rec0];
  const unsigned rec1 = Le16(e1 + 4);
  if (Le32(e1) != parent || rec1 < 12 || e1[6] != 2 || e1[8] != '.' || e1[9] != '.') return r;
  const bool ft0 = b[7] == EXT2_FT_DIR, ft1 = e1[7] == EXT2_FT_DIR;
  // Without filetype the name length is 16 bits: its high byte is 0.
  if (ft0 != ft1 || (!ft0 && (b[7] != 0 || e1[7] != 0))) return r;
  r.ok = true;
  r.filetype = ft0;
  r.first_block = *blk;
  return r;
}

bool IsJournalInode(Source& src, const ext2_inode_large& in, unsigned bs, std::uint64_t max_block,
                    std::vector<std::uint8_t>* jsb) {
  if (!S_ISREG(in.i_mode) || in.i_links_count == 0) return false;
  const auto blk = MapBlock(src, bs, in, 0, max_block);
  if (!blk || !ReadBlock(src, *blk, bs, max_block, jsb)) return false;
  const std::uint8_t* p = jsb->data();
  const std::uint32_t type = Be32(p + 4);
  return Be32(p) == kJbd2Magic && (type == 3 || type == 4) && Be32(p + 12) == bs && Be32(p + 16) > 0;
}

}  // namespace mr::salvage::raw
