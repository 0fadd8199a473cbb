#include "salvage/geometry.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "salvage/raw_ext.h"

namespace mr::salvage {
namespace {

using raw::Le16;
using raw::Le32;

constexpr unsigned kInodeSizes[] = {128, 256, 512, 1024};
constexpr std::uint64_t kMaxDescBlocks = 4096;   // 16 MiB of descriptors at 4 KiB: 262,144 groups
constexpr std::uint32_t kSurveyInodes = 4096;    // inodes of group 0 looked at for feature flags
constexpr std::uint64_t kScanBytes = 64ull << 20;  // searched for an inode table with no descriptor
constexpr std::uint64_t kScanChunk = 1ull << 20;
constexpr int kMaxScanChecks = 256;               // full root-directory checks in that search
constexpr std::uint64_t kMaxBitmapWindow = 65536;  // blocks before the table tried as its inode bitmap

struct Desc {
  std::uint64_t bb = 0, ib = 0, it = 0;
  std::uint32_t free_blocks = 0, free_inodes = 0;
  std::uint16_t flags = 0;
};

Desc ParseDesc(const std::uint8_t* p, bool wide) {
  Desc d;
  d.bb = Le32(p);
  d.ib = Le32(p + 4);
  d.it = Le32(p + 8);
  d.free_blocks = Le16(p + 12);
  d.free_inodes = Le16(p + 14);
  d.flags = Le16(p + 18);
  if (wide) {
    d.bb |= std::uint64_t(Le32(p + 32)) << 32;
    d.ib |= std::uint64_t(Le32(p + 36)) << 32;
    d.it |= std::uint64_t(Le32(p + 40)) << 32;
    d.free_blocks |= std::uint32_t(Le16(p + 44)) << 16;
    d.free_inodes |= std::uint32_t(Le16(p + 46)) << 16;
  }
  return d;
}

// Locations past the superblock and descriptor block, below `limit`, distinct.
bool DescSane(const Desc& d, std::uint64_t first_free, std::uint64_t limit) {
  auto in = [&](std::uint64_t b) { return b >= first_free && b < limit; };
  return in(d.bb) && in(d.ib) && in(d.it) && d.bb != d.ib && d.bb != d.it && d.ib != d.it;
}

// 1 + the index of the last zero bit in the first `bits` bits; 0 when all are ones.
std::uint64_t EndOfZeros(const std::vector<std::uint8_t>& bm, std::uint64_t bits) {
  for (std::uint64_t i = bits; i-- > 0;)
    if (!(bm[i / 8] & (1u << (i % 8)))) return i + 1;
  return 0;
}

bool AllOnes(const std::vector<std::uint8_t>& bm, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t i = from; i < to; ++i)
    if (!(bm[i / 8] & (1u << (i % 8)))) return false;
  return true;
}

struct Candidate {
  unsigned bs = 0, isz = 0;
  std::uint32_t fdb = 0;
  Desc d0;
  raw::DirCheck root, lost_found;
  bool scanned = false;  // no sane descriptor: the inode table was found by scanning
  int score() const { return 1 + (lost_found.ok ? 1 : 0); }
};

// Step 1, when no descriptor points at the root: one linear pass over the
// start of the source for a block-aligned inode table whose inode 2 is the
// root directory (and not an old copy inside its own journal, inode 8).
std::optional<Candidate> ScanForTable(Source& src) {
  const std::uint64_t end = std::min<std::uint64_t>(src.size(), kScanBytes);
  std::vector<std::uint8_t> buf;
  int checks = 0;
  std::uint64_t unreadable = 0;
  for (std::uint64_t start = 0; start < end; start += kScanChunk) {
    const std::uint64_t n = std::min(kScanChunk, end - start);
    buf.assign(n + 1024 + EXT2_GOOD_OLD_INODE_SIZE, 0);  // inode 2 of the last offset, up to 1 KiB further
    unreadable += raw::ReadWithin(src, start, buf.data(), buf.size());
    if (unreadable > raw::kMaxUnreadableInScan) return std::nullopt;
    for (std::uint64_t o = start; o < start + n; o += 1024) {
      for (unsigned bs = 1024; bs <= 65536 && o % bs == 0; bs *= 2) {
        const std::uint32_t fdb = bs == 1024 ? 1 : 0;
        const std::uint64_t blk = o / bs, nblocks = src.size() / bs;
        if (blk < fdb + 2) continue;  // superblock and descriptor blocks
        for (unsigned isz : kInodeSizes) {
          if (isz > bs) break;
          const std::uint8_t* in = &buf[o - start + isz];
          if (!S_ISDIR(Le16(in)) || Le16(in + 26) == 0 || Le32(in + 20) != 0) continue;
          if (++checks > kMaxScanChecks) return std::nullopt;
          Candidate c;
          c.bs = bs;
          c.isz = isz;
          c.fdb = fdb;
          c.scanned = true;
          c.d0.it = blk;
          c.root = raw::CheckDir(src, blk, bs, isz, EXT2_ROOT_INO, EXT2_ROOT_INO, nblocks);
          if (!c.root.ok || raw::TableInsideItsJournal(src, blk, bs, isz, EXT2_JOURNAL_INO, nblocks)) continue;
          c.lost_found = raw::CheckDir(src, blk, bs, isz, EXT2_GOOD_OLD_FIRST_INO, EXT2_ROOT_INO, nblocks);
          return c;
        }
      }
    }
  }
  return std::nullopt;
}

// Step 1: block size, inode size, group 0's inode table.
std::optional<Candidate> FindCandidate(Source& src) {
  std::optional<Candidate> best;
  std::vector<std::uint8_t> blk;
  for (unsigned bs = 1024; bs <= 65536; bs *= 2) {
    const std::uint32_t fdb = bs == 1024 ? 1 : 0;
    const std::uint64_t nblocks = src.size() / bs;
    if (nblocks < fdb + 4 || !raw::ReadBlock(src, fdb + 1, bs, nblocks, &blk)) continue;
    const Desc d0 = ParseDesc(blk.data(), false);
    if (!DescSane(d0, fdb + 2, nblocks)) continue;
    for (unsigned isz : kInodeSizes) {
      if (isz > bs) break;
      Candidate c;
      c.bs = bs;
      c.isz = isz;
      c.fdb = fdb;
      c.d0 = d0;
      c.root = raw::CheckDir(src, d0.it, bs, isz, EXT2_ROOT_INO, EXT2_ROOT_INO, nblocks);
      if (!c.root.ok) continue;
      c.lost_found = raw::CheckDir(src, d0.it, bs, isz, EXT2_GOOD_OLD_FIRST_INO, EXT2_ROOT_INO, nblocks);
      if (!best || c.score() > best->score()) best = c;
    }
  }
  return best;
}

struct Built {
  Candidate c;
  std::uint64_t nblocks = 0;  // source size in blocks
  std::uint32_t bpg = 0, groups = 1, ipg = 0;
  bool wide = false, flex = false;
  std::vector<Desc> descs;
  std::string ipg_basis;
  std::uint64_t blocks_count = 0;
};

// Step 2: descriptor size and the number of groups.
void CountGroups(Source& src, Built* b) {
  const unsigned bs = b->c.bs;
  const std::uint64_t span = b->nblocks > b->c.fdb ? b->nblocks - b->c.fdb : 1;
  const std::uint64_t groups_in_source = (span + b->bpg - 1) / b->bpg;
  // Read the table as far as a truncated source's groups could go (twice what it holds).
  const std::uint64_t want = std::max<std::uint64_t>(2 * groups_in_source, 2);
  const std::uint64_t nblk = std::min<std::uint64_t>((want * 64 + bs - 1) / bs, kMaxDescBlocks);
  std::vector<std::uint8_t> table(nblk * bs, 0);
  std::vector<std::uint8_t> blk;
  for (std::uint64_t i = 0; i < nblk; ++i)
    if (raw::ReadBlock(src, b->c.fdb + 1 + i, bs, b->nblocks, &blk)) std::memcpy(&table[i * bs], blk.data(), bs);
  const std::uint64_t first_free = b->c.fdb + 2;
  const std::uint64_t limit = b->c.fdb + std::max<std::uint64_t>(want, 1) * b->bpg;
  auto count = [&](unsigned stride) {
    std::uint64_t n = 0;
    while ((n + 1) * stride <= table.size() && DescSane(ParseDesc(&table[n * stride], stride == 64), first_free, limit))
      ++n;
    return n;
  };
  const std::uint64_t n32 = count(32), n64 = count(64);
  unsigned stride = 32;
  std::uint64_t n = 1;
  if (n32 >= 2) {
    n = n32;
  } else if (n64 >= 2) {
    n = n64;
    stride = 64;
    b->wide = true;
  }
  b->groups = static_cast<std::uint32_t>(std::min<std::uint64_t>(n, UINT32_MAX / 2));
  for (std::uint32_t g = 0; g < b->groups; ++g) b->descs.push_back(ParseDesc(&table[g * stride], b->wide));
}

// With no descriptor: the inode bitmap is the block before the inode table that
// marks the reserved inodes used, pads with ones, and agrees with the first inodes.
std::uint64_t FindInodeBitmap(Source& src, const Built& b) {
  const unsigned bs = b.c.bs, isz = b.c.isz;
  const std::uint64_t it = b.descs[0].it, bits = 8ull * bs;
  const std::uint32_t n = static_cast<std::uint32_t>(std::min<std::uint64_t>(1024, bits));
  std::vector<std::uint8_t> table(std::uint64_t(n) * isz);
  raw::ReadWithin(src, it * bs, table.data(), table.size());
  std::vector<bool> used(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    ext2_inode_large in;
    std::memset(&in, 0, sizeof in);
    std::memcpy(&in, &table[std::uint64_t(i) * isz], std::min<std::size_t>(isz, sizeof in));
    used[i] = in.i_mode != 0 && in.i_links_count > 0 && in.i_dtime == 0;
  }
  const std::uint64_t from = std::max<std::uint64_t>(b.c.fdb + 2, it > kMaxBitmapWindow ? it - kMaxBitmapWindow : 0);
  std::vector<std::uint8_t> bm;
  for (std::uint64_t blk = from; blk < it; ++blk) {
    if (!raw::ReadBlock(src, blk, bs, b.nblocks, &bm)) continue;
    const std::uint64_t end = EndOfZeros(bm, bits);
    if (end <= EXT2_GOOD_OLD_FIRST_INO || end == bits) continue;  // no padding: cannot tell
    bool ok = true;
    for (std::uint32_t i = 0; i < n && i < end && ok; ++i) {
      const bool bit = bm[i / 8] & (1u << (i % 8));
      ok = i + 1 < EXT2_GOOD_OLD_FIRST_INO ? bit : bit == used[i];
    }
    if (ok) return blk;
  }
  return 0;
}

// Step 3: inodes per group. Returns "" or why it failed.
std::string FindInodesPerGroup(Source& src, Built* b) {
  const unsigned bs = b->c.bs, isz = b->c.isz, ipb = bs / isz;
  const std::uint64_t bits = 8ull * bs, align = std::max(8u, ipb);
  const Desc& d0 = b->descs[0];
  std::vector<std::uint8_t> bm;
  const bool have_bitmap = d0.ib != 0 && raw::ReadBlock(src, d0.ib, bs, b->nblocks, &bm);
  // Bound: the inode table ends before the first directory block that follows it.
  std::uint64_t bound = 0;
  for (const auto* d : {&b->c.root, &b->c.lost_found})
    if (d->ok && d->first_block > d0.it) {
      const std::uint64_t n = (d->first_block - d0.it) * ipb;
      bound = bound ? std::min(bound, n) : n;
    }
  bound = std::min<std::uint64_t>(bound ? bound : bits, bits) / align * align;
  auto fits = [&](std::uint64_t ipg) {
    return ipg >= 16 && ipg % align == 0 && ipg <= bound && (!have_bitmap || AllOnes(bm, ipg, bits));
  };
  // flex_bg packs the inode tables back to back: the distance is one table.
  if (b->groups >= 2 && b->descs[1].it > d0.it && (b->descs[1].it - d0.it) <= bits / ipb) {
    const std::uint64_t ipg = (b->descs[1].it - d0.it) * ipb;
    if (fits(ipg)) {
      b->ipg = static_cast<std::uint32_t>(ipg);
      b->ipg_basis = "inodes per group from the distance between two inode tables";
      return "";
    }
  }
  if (have_bitmap) {
    const std::uint64_t end = EndOfZeros(bm, bits);
    const std::uint64_t ipg = (end + align - 1) / align * align;
    if (end > 0 && fits(ipg)) {
      b->ipg = static_cast<std::uint32_t>(ipg);
      b->ipg_basis = "inodes per group from the inode bitmap";
      return "";
    }
  }
  if (fits(bound) && bound < bits) {
    b->ipg = static_cast<std::uint32_t>(bound);
    b->ipg_basis = "inodes per group from the gap between the inode table and the first directory block";
    return "";
  }
  return "the inode bitmap and the inode table give no consistent inode count";
}

// Step 4: block count.
void FindBlockCount(Source& src, Built* b) {
  const unsigned bs = b->c.bs;
  const std::uint64_t last = b->groups - 1;
  const std::uint64_t start = b->c.fdb + last * b->bpg, hi = start + b->bpg;
  std::uint64_t lo = start + 1;
  const Desc& dl = b->descs[last];
  std::vector<std::uint8_t> bm;
  // A BLOCK_UNINIT bitmap was never written: only trust an initialised one.
  if (dl.bb != 0 && !(dl.flags & EXT2_BG_BLOCK_UNINIT) && raw::ReadBlock(src, dl.bb, bs, b->nblocks, &bm)) {
    const std::uint64_t end = EndOfZeros(bm, b->bpg);
    if (end > 0) lo = start + end;
  }
  if (b->nblocks >= lo && b->nblocks <= hi) b->blocks_count = b->nblocks;
  else if (b->nblocks > hi) b->blocks_count = hi;
  else b->blocks_count = lo;  // truncated source: the volume code reports it
}

// Step 5 (part): flags of the inodes of group 0.
struct Survey {
  bool extents = false, inline_data = false, huge_file = false, dir_index = false, ext_attr = false;
  unsigned max_extra = 0;
};

Survey SurveyInodes(Source& src, const Built& b) {
  Survey s;
  const unsigned isz = b.c.isz;
  const std::uint32_t n = std::min(b.ipg, kSurveyInodes);
  std::vector<std::uint8_t> buf(std::uint64_t(n) * isz);
  raw::ReadWithin(src, b.descs[0].it * b.c.bs, buf.data(), buf.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    ext2_inode_large in;
    std::memset(&in, 0, sizeof in);
    std::memcpy(&in, &buf[std::uint64_t(i) * isz], std::min<std::size_t>(isz, sizeof in));
    if (!raw::InodeSane(in, isz)) continue;
    s.extents |= (in.i_flags & EXT4_EXTENTS_FL) != 0;
    s.inline_data |= (in.i_flags & EXT4_INLINE_DATA_FL) != 0;
    s.huge_file |= (in.i_flags & EXT4_HUGE_FILE_FL) != 0;
    s.dir_index |= S_ISDIR(in.i_mode) && (in.i_flags & EXT2_INDEX_FL) != 0;
    s.ext_attr |= in.i_file_acl != 0;
    if (isz > EXT2_GOOD_OLD_INODE_SIZE) {
      s.max_extra = std::max<unsigned>(s.max_extra, in.i_extra_isize);
      const std::uint64_t xoff = EXT2_GOOD_OLD_INODE_SIZE + in.i_extra_isize;
      if (xoff + 4 <= isz && Le32(&buf[std::uint64_t(i) * isz + xoff]) == EXT2_EXT_ATTR_MAGIC) s.ext_attr = true;
    }
  }
  return s;
}

unsigned Log2(std::uint64_t v) {
  unsigned l = 0;
  while (v > 1) {
    v >>= 1;
    ++l;
  }
  return l;
}

ext2_super_block Compose(Source& src, const Built& b, std::string* journal_note) {
  ext2_super_block sb;
  std::memset(&sb, 0, sizeof sb);
  const unsigned bs = b.c.bs;
  sb.s_magic = EXT2_SUPER_MAGIC;
  sb.s_rev_level = EXT2_DYNAMIC_REV;
  sb.s_first_ino = EXT2_GOOD_OLD_FIRST_INO;
  sb.s_inode_size = static_cast<std::uint16_t>(b.c.isz);
  sb.s_log_block_size = Log2(bs / 1024);
  sb.s_log_cluster_size = sb.s_log_block_size;
  sb.s_blocks_per_group = b.bpg;
  sb.s_clusters_per_group = b.bpg;
  sb.s_inodes_per_group = b.ipg;
  sb.s_inodes_count = b.ipg * b.groups;
  sb.s_blocks_count = static_cast<std::uint32_t>(b.blocks_count);
  sb.s_first_data_block = b.c.fdb;
  sb.s_max_mnt_count = -1;  // no mount-count check
  sb.s_errors = EXT2_ERRORS_CONTINUE;
  sb.s_state = 0;  // not known to be clean
  std::uint64_t free_blocks = 0, free_inodes = 0;
  for (const auto& d : b.descs) {
    free_blocks += d.free_blocks;
    free_inodes += d.free_inodes;
  }
  sb.s_free_blocks_count = static_cast<std::uint32_t>(std::min<std::uint64_t>(free_blocks, b.blocks_count));
  sb.s_free_inodes_count = static_cast<std::uint32_t>(std::min<std::uint64_t>(free_inodes, sb.s_inodes_count));
  sb.s_feature_ro_compat |= EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER | EXT2_FEATURE_RO_COMPAT_LARGE_FILE;
  if (b.c.root.filetype) sb.s_feature_incompat |= EXT2_FEATURE_INCOMPAT_FILETYPE;
  if (b.wide) {
    sb.s_feature_incompat |= EXT4_FEATURE_INCOMPAT_64BIT;
    sb.s_desc_size = EXT2_MIN_DESC_SIZE_64BIT;
    sb.s_blocks_count_hi = static_cast<std::uint32_t>(b.blocks_count >> 32);
  }
  if (b.flex) {
    sb.s_feature_incompat |= EXT4_FEATURE_INCOMPAT_FLEX_BG;
    const std::uint64_t gap = b.descs[0].ib > b.descs[0].bb ? b.descs[0].ib - b.descs[0].bb : 0;
    // mke2fs spaces group 0's bitmaps one flex group apart; else its default of 16.
    const bool pow2 = gap >= 2 && (gap & (gap - 1)) == 0 && gap <= (1u << 20);
    sb.s_log_groups_per_flex = static_cast<std::uint8_t>(pow2 ? Log2(gap) : 4);
  }
  const Survey s = SurveyInodes(src, b);
  if (s.extents) sb.s_feature_incompat |= EXT3_FEATURE_INCOMPAT_EXTENTS;
  if (s.inline_data) sb.s_feature_incompat |= EXT4_FEATURE_INCOMPAT_INLINE_DATA;
  if (s.extents || s.huge_file) sb.s_feature_ro_compat |= EXT4_FEATURE_RO_COMPAT_HUGE_FILE;
  if (s.dir_index) sb.s_feature_compat |= EXT2_FEATURE_COMPAT_DIR_INDEX;
  if (s.ext_attr || s.inline_data) sb.s_feature_compat |= EXT2_FEATURE_COMPAT_EXT_ATTR;
  if (b.c.isz > EXT2_GOOD_OLD_INODE_SIZE) {
    sb.s_min_extra_isize = static_cast<std::uint16_t>(s.max_extra);
    sb.s_want_extra_isize = static_cast<std::uint16_t>(s.max_extra);
  }
  if (b.ipg >= EXT2_JOURNAL_INO) {
    const ext2_inode_large j = raw::ReadTableInode(src, b.descs[0].it, bs, b.c.isz, EXT2_JOURNAL_INO);
    std::vector<std::uint8_t> jsb;
    if (raw::IsJournalInode(src, j, bs, b.blocks_count, &jsb)) {
      sb.s_feature_compat |= EXT3_FEATURE_COMPAT_HAS_JOURNAL;
      sb.s_journal_inum = EXT2_JOURNAL_INO;
      // An internal journal carries the filesystem's UUID (offset 48 of the jbd2 superblock).
      if (!std::all_of(&jsb[48], &jsb[64], [](std::uint8_t v) { return v == 0; }))
        std::memcpy(sb.s_uuid, &jsb[48], 16);
      if (raw::Be32(&jsb[28]) != 0) {
        sb.s_feature_incompat |= EXT3_FEATURE_INCOMPAT_RECOVER;
        *journal_note = "; the journal's log is not empty";
      }
    }
  }
  return sb;
}

}  // namespace

Result<RebuiltSuperblock> RebuildSuperblock(Source& src) {
  auto cand = FindCandidate(src);
  if (!cand) cand = ScanForTable(src);
  if (!cand)
    return Error{Code::kCorrupt, "no block size from 1 KiB to 64 KiB has a group descriptor pointing at an inode "
                                 "table whose root directory checks out, and none was found in the first " +
                                     std::to_string(kScanBytes >> 20) + " MiB"};
  Built b;
  b.c = *cand;
  b.nblocks = src.size() / b.c.bs;
  b.bpg = 8 * b.c.bs;
  if (b.c.scanned) {
    // No descriptor table to count groups with: only a source of one group is rebuilt.
    if (b.nblocks > b.c.fdb + std::uint64_t(b.bpg))
      return Error{Code::kCorrupt, "an inode table was found at block " + std::to_string(b.c.d0.it) +
                                       " (block size " + std::to_string(b.c.bs) +
                                       ") but no group descriptor, and the source is larger than one group"};
    b.descs.push_back(b.c.d0);
    b.descs[0].ib = FindInodeBitmap(src, b);
  } else {
    CountGroups(src, &b);
  }
  if (b.descs.empty()) b.descs.push_back(b.c.d0);
  if (std::string why = FindInodesPerGroup(src, &b); !why.empty())
    return Error{Code::kCorrupt, "block size " + std::to_string(b.c.bs) + ", inode size " + std::to_string(b.c.isz) +
                                     ": " + why};
  // flex_bg: group 0's bitmaps and table are not back to back, or a group's lie outside it.
  if (std::uint64_t(b.ipg) * b.groups > UINT32_MAX)
    return Error{Code::kCorrupt, std::to_string(b.groups) + " groups of " + std::to_string(b.ipg) +
                                     " inodes: more than ext4 can count"};
  const Desc& d0 = b.descs[0];
  b.flex = !b.c.scanned && !(d0.ib == d0.bb + 1 && d0.it == d0.ib + 1);
  for (std::uint32_t g = 0; g < b.groups && !b.flex; ++g) {
    const std::uint64_t lo = b.c.fdb + std::uint64_t(g) * b.bpg, hi = lo + b.bpg;
    for (std::uint64_t x : {b.descs[g].bb, b.descs[g].ib, b.descs[g].it})
      if (x < lo || x >= hi) b.flex = true;
  }
  FindBlockCount(src, &b);
  const std::uint64_t itb = (std::uint64_t(b.ipg) * b.c.isz + b.c.bs - 1) / b.c.bs;
  for (std::uint32_t g = 0; g < b.groups; ++g)
    if (b.descs[g].it + itb > b.blocks_count)
      return Error{Code::kCorrupt, "group " + std::to_string(g) + "'s inode table would end past the last block (" +
                                       std::to_string(b.blocks_count) + ")"};
  RebuiltSuperblock out;
  std::string journal_note;
  out.sb = Compose(src, b, &journal_note);
  if (b.c.scanned) {
    out.descriptor_offset = std::uint64_t(b.c.fdb + 1) * b.c.bs;
    out.descriptor_block.assign(b.c.bs, 0);
    auto put32 = [&](std::size_t at, std::uint64_t v) {
      const auto v32 = static_cast<std::uint32_t>(v);
      std::memcpy(&out.descriptor_block[at], &v32, 4);
    };
    put32(4, b.descs[0].ib);  // bg_inode_bitmap
    put32(8, b.descs[0].it);  // bg_inode_table
  }
  out.from = b.c.scanned ? "the inode table, found by scanning since no group descriptor checks out,"
                         : "the group descriptors, bitmaps and inode table";
  out.summary = "block size " + std::to_string(b.c.bs) + ", " + std::to_string(b.blocks_count) + " blocks in " +
                std::to_string(b.groups) + (b.groups == 1 ? " group, " : " groups, ") +
                std::to_string(out.sb.s_inodes_count) + " inodes of " + std::to_string(b.c.isz) + " bytes; " +
                b.ipg_basis + journal_note;
  return out;
}

}  // namespace mr::salvage
