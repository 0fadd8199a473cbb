#include "salvage/table_search.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "salvage/raw_ext.h"

namespace mr::salvage {
namespace {

using raw::Le16;
using raw::Le32;

constexpr std::uint64_t kSearchBytes = 256ull << 20;
constexpr std::uint64_t kChunkBytes = 1ull << 20;
constexpr int kMaxFullChecks = 256;
constexpr std::uint64_t kMaxBitmapWindow = 65536;  // blocks before the table tested as bitmaps
constexpr std::uint32_t kBitmapInodes = 8192;      // first inodes compared with an inode bitmap
constexpr std::uint64_t kMaxNeighbourDistance = 64;  // groups away a prediction may come from

struct Geo {
  unsigned bs = 0, isz = 0;
  std::uint32_t ipg = 0, fdb = 0, bpg = 0, first_ino = 0;
  std::uint64_t blocks = 0;    // blocks we may read: min(block count, source size)
  std::uint64_t itb = 0;       // inode-table blocks per group
  std::uint64_t meta_end = 0;  // first block after superblock, descriptors and reserved GDT
};

Geo GeoOf(ext2_filsys fs, const Source& src) {
  Geo g;
  g.bs = fs->blocksize;
  g.isz = EXT2_INODE_SIZE(fs->super);
  g.ipg = fs->super->s_inodes_per_group;
  g.fdb = fs->super->s_first_data_block;
  g.bpg = fs->super->s_blocks_per_group;
  g.first_ino = EXT2_FIRST_INO(fs->super);
  g.blocks = std::min<std::uint64_t>(ext2fs_blocks_count(fs->super), src.size() / g.bs);
  g.itb = fs->inode_blocks_per_group;
  g.meta_end = g.fdb + 1 + fs->desc_blocks +
               (ext2fs_has_feature_resize_inode(fs->super) ? fs->super->s_reserved_gdt_blocks : 0);
  return g;
}

bool Bit(const std::vector<std::uint8_t>& bm, std::uint64_t i) { return bm[i / 8] & (1u << (i % 8)); }

bool AllOnes(const std::vector<std::uint8_t>& bm, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t i = from; i < to; ++i)
    if (!Bit(bm, i)) return false;
  return true;
}

// The journal's physical runs as the inode table at `table` describes them.
std::vector<std::pair<std::uint64_t, std::uint64_t>> JournalRuns(ext2_filsys fs, Source& src, const Geo& g,
                                                                 std::uint64_t table) {
  const std::uint32_t jino = fs->super->s_journal_inum;
  if (!ext2fs_has_feature_journal(fs->super) || jino == 0 || jino > g.ipg) return {};
  const ext2_inode_large in = raw::ReadTableInode(src, table, g.bs, g.isz, jino);
  if (!S_ISREG(in.i_mode)) return {};
  return raw::PhysicalRuns(src, g.bs, in, g.blocks, 65536);
}

bool Overlaps(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& runs, std::uint64_t b, std::uint64_t n) {
  for (const auto& [p, len] : runs)
    if (b < p + len && p < b + n) return true;
  return false;
}

// Group 0: the block whose inode 2 is the root directory.
std::optional<std::uint64_t> SearchGroup0(ext2_filsys fs, Source& src, const Geo& g, std::string* how) {
  const std::uint64_t lo = g.meta_end;
  const std::uint64_t hi = std::min({g.blocks, std::uint64_t(g.fdb) + g.bpg, lo + kSearchBytes / g.bs});
  const std::uint64_t per_chunk = std::max<std::uint64_t>(1, kChunkBytes / g.bs);
  std::vector<std::uint8_t> buf;
  int checks = 0;
  std::uint64_t unreadable = 0;
  for (std::uint64_t start = lo; start < hi; start += per_chunk) {
    const std::uint64_t n = std::min(per_chunk, hi - start);
    buf.assign(n * g.bs + g.isz + g.isz, 0);  // inode 2 of the last block may lie in the next one
    unreadable += raw::ReadWithin(src, start * g.bs, buf.data(), buf.size());
    if (unreadable > raw::kMaxUnreadableInScan) return std::nullopt;
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint8_t* in = &buf[i * g.bs + g.isz];
      if (!S_ISDIR(Le16(in)) || Le16(in + 26) == 0 || Le32(in + 20) != 0) continue;
      const std::uint64_t b = start + i;
      if (b + g.itb > g.blocks) return std::nullopt;
      if (++checks > kMaxFullChecks) return std::nullopt;
      if (!raw::CheckDir(src, b, g.bs, g.isz, EXT2_ROOT_INO, EXT2_ROOT_INO, g.blocks).ok) continue;
      if (Overlaps(JournalRuns(fs, src, g, b), b, g.itb)) continue;  // an old copy kept by the journal
      const bool lf = raw::CheckDir(src, b, g.bs, g.isz, g.first_ino, EXT2_ROOT_INO, g.blocks).ok;
      *how = "inode table found by scanning at block " + std::to_string(b) + " (root directory" +
             (lf ? " and lost+found check out)" : " checks out)");
      return b;
    }
  }
  return std::nullopt;
}

// Every in-use inode of the table's first block looks written by ext4; `used`
// gets the in-use state of the first kBitmapInodes inodes (read once, then
// compared with every bitmap candidate).
bool TableLooksRight(Source& src, const Geo& g, std::uint64_t table, std::vector<bool>* used) {
  if (table <= g.fdb || table + g.itb > g.blocks) return false;
  const std::uint32_t n = std::min(g.ipg, kBitmapInodes), per_block = g.bs / g.isz;
  std::vector<std::uint8_t> buf(std::uint64_t(n) * g.isz);
  raw::ReadWithin(src, table * g.bs, buf.data(), buf.size());
  used->assign(n, false);
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint8_t* p = &buf[std::uint64_t(i) * g.isz];
    if (raw::InodeAllZero(p, g.isz)) continue;
    ext2_inode_large in;
    std::memset(&in, 0, sizeof in);
    std::memcpy(&in, p, std::min<std::size_t>(g.isz, sizeof in));
    (*used)[i] = in.i_mode != 0 && in.i_links_count > 0 && in.i_dtime == 0;
    // Deleted inodes keep their mode with a dtime: fine. Only in-use ones are judged.
    if ((*used)[i] && i < per_block && !raw::InodeSane(in, g.isz)) return false;
  }
  return true;
}

bool LooksLikeInodeBitmap(const std::vector<std::uint8_t>& bm, const Geo& g, dgrp_t group,
                          const std::vector<bool>& used) {
  const std::uint64_t bits = 8ull * g.bs;
  if (g.ipg < bits && !AllOnes(bm, g.ipg, bits)) return false;
  bool any = false;
  const std::size_t reserved = group == 0 ? g.first_ino - 1 : 0;  // inodes 1..10: always marked used
  for (std::size_t i = 0; i < std::max(used.size(), reserved) && i < g.ipg; ++i) {
    if (i < reserved ? !Bit(bm, i) : Bit(bm, i) != used[i]) return false;
    any |= Bit(bm, i);
  }
  return any || g.ipg < bits;
}

bool LooksLikeBlockBitmap(const std::vector<std::uint8_t>& bm, const Geo& g, dgrp_t group, std::uint64_t table,
                          std::uint64_t ibmap, std::uint64_t self, std::uint64_t total_blocks) {
  const std::uint64_t start = g.fdb + std::uint64_t(group) * g.bpg, bits = std::min<std::uint64_t>(g.bpg, 8ull * g.bs);
  auto used = [&](std::uint64_t blk) { return blk < start || blk >= start + bits || Bit(bm, blk - start); };
  if (group == 0 && !AllOnes(bm, 0, std::min(bits, g.meta_end - g.fdb))) return false;
  for (std::uint64_t b = table; b < table + g.itb; ++b)
    if (!used(b)) return false;
  if ((ibmap && !used(ibmap)) || !used(self)) return false;
  const std::uint64_t in_group = total_blocks > start ? total_blocks - start : 0;
  if (in_group < bits && !AllOnes(bm, in_group, bits)) return false;  // the last group's padding
  return true;
}

// Looks for the bitmaps in the blocks before the table (where every mke2fs layout puts them).
void FindBitmaps(ext2_filsys fs, Source& src, const Geo& g, dgrp_t group, std::uint64_t lo, FoundTables* t,
                 const std::vector<bool>& used) {
  const auto journal = JournalRuns(fs, src, g, t->inode_table);
  const std::uint64_t window_start = t->inode_table > kMaxBitmapWindow ? t->inode_table - kMaxBitmapWindow : 0;
  const std::uint64_t from = std::max(lo, window_start);
  std::vector<std::uint8_t> bm;
  for (std::uint64_t b = from; b < t->inode_table && !t->inode_bitmap; ++b) {
    if (Overlaps(journal, b, 1) || !raw::ReadBlock(src, b, g.bs, g.blocks, &bm)) continue;
    if (LooksLikeInodeBitmap(bm, g, group, used)) t->inode_bitmap = b;
  }
  for (std::uint64_t b = from; b < t->inode_table && !t->block_bitmap; ++b) {
    if (b == t->inode_bitmap || Overlaps(journal, b, 1) || !raw::ReadBlock(src, b, g.bs, g.blocks, &bm)) continue;
    if (LooksLikeBlockBitmap(bm, g, group, t->inode_table, t->inode_bitmap, b, ext2fs_blocks_count(fs->super)))
      t->block_bitmap = b;
  }
}

// Another group: where its nearest sane neighbour says it is.
std::optional<FoundTables> Predict(ext2_filsys fs, Source& src, const Geo& g, dgrp_t group,
                                   const std::vector<bool>& sane, std::vector<bool>* used) {
  const bool flex = ext2fs_has_feature_flex_bg(fs->super);
  const unsigned log_flex = fs->super->s_log_groups_per_flex;
  for (std::uint64_t dist = 1; dist < std::min<std::uint64_t>(fs->group_desc_count, kMaxNeighbourDistance); ++dist) {
    for (int side : {-1, 1}) {
      const std::int64_t h64 = static_cast<std::int64_t>(group) + side * static_cast<std::int64_t>(dist);
      if (h64 < 0 || h64 >= static_cast<std::int64_t>(fs->group_desc_count) || !sane[h64]) continue;
      const auto h = static_cast<dgrp_t>(h64);
      FoundTables t;
      const std::int64_t d = static_cast<std::int64_t>(group) - h;
      if (flex && log_flex < 32 && (group >> log_flex) == (h >> log_flex)) {
        t.inode_table = ext2fs_inode_table_loc(fs, h) + d * static_cast<std::int64_t>(g.itb);
        t.block_bitmap = ext2fs_block_bitmap_loc(fs, h) + d;
        t.inode_bitmap = ext2fs_inode_bitmap_loc(fs, h) + d;
        t.how = "inode table predicted from group " + std::to_string(h) + " (same flex group) at block ";
      } else if (!flex && ext2fs_bg_has_super(fs, group) == ext2fs_bg_has_super(fs, h)) {
        const std::int64_t shift = d * static_cast<std::int64_t>(g.bpg);
        t.inode_table = ext2fs_inode_table_loc(fs, h) + shift;
        t.block_bitmap = ext2fs_block_bitmap_loc(fs, h) + shift;
        t.inode_bitmap = ext2fs_inode_bitmap_loc(fs, h) + shift;
        t.how = "inode table predicted from group " + std::to_string(h) + "'s layout at block ";
      } else {
        continue;
      }
      // An all-zero "table" proves nothing (a group past the real end of a damaged
      // filesystem reads so): at least one inode in use is required.
      if (!TableLooksRight(src, g, t.inode_table, used) || std::find(used->begin(), used->end(), true) == used->end())
        return std::nullopt;
      t.how += std::to_string(t.inode_table) + " (its first inodes decode)";
      std::vector<std::uint8_t> bm;
      if (!raw::ReadBlock(src, t.inode_bitmap, g.bs, g.blocks, &bm) || !LooksLikeInodeBitmap(bm, g, group, *used))
        t.inode_bitmap = 0;
      if (!raw::ReadBlock(src, t.block_bitmap, g.bs, g.blocks, &bm) ||
          !LooksLikeBlockBitmap(bm, g, group, t.inode_table, t.inode_bitmap, t.block_bitmap,
                                ext2fs_blocks_count(fs->super)))
        t.block_bitmap = 0;
      return t;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<FoundTables> FindGroupTables(ext2_filsys fs, Source& src, dgrp_t group,
                                           const std::vector<bool>& sane) {
  const Geo g = GeoOf(fs, src);
  if (g.bs == 0 || g.isz == 0 || g.ipg == 0 || g.itb == 0 || g.bpg == 0) return std::nullopt;
  std::vector<bool> used;
  if (group != 0) return Predict(fs, src, g, group, sane, &used);
  FoundTables t;
  const auto table = SearchGroup0(fs, src, g, &t.how);
  if (!table) return std::nullopt;
  t.inode_table = *table;
  if (!TableLooksRight(src, g, t.inode_table, &used)) used.clear();
  FindBitmaps(fs, src, g, 0, g.meta_end, &t, used);
  return t;
}

}  // namespace mr::salvage
