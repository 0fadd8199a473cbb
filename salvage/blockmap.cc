#include "salvage/blockmap.h"

#include <algorithm>
#include <cstring>

#include "salvage/source.h"

namespace mr::salvage {
namespace {

constexpr std::uint16_t kExtentMagic = 0xF30A;
constexpr int kMaxDepth = 5;

std::uint16_t Le16(const std::uint8_t* p) { return std::uint16_t(p[0] | (p[1] << 8)); }
std::uint32_t Le32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) |
         (std::uint32_t(p[3]) << 24);
}

class Mapper {
 public:
  Mapper(ext2_filsys fs, std::uint64_t nblocks, BlockMap* out)
      : fs_(fs), nblocks_(nblocks), total_(ext2fs_blocks_count(fs->super)),
        budget_(nblocks + 64), out_(*out) {
    out_.runs.clear();
    out_.bad.clear();
    out_.problem.clear();
  }

  void Bad(std::uint64_t s, std::uint64_t e, const std::string& why) {
    e = std::min(e, nblocks_);
    if (s >= e) return;
    out_.bad.push_back({s, e});
    if (out_.problem.empty()) out_.problem = why;
  }

  bool PhysOk(std::uint64_t p, std::uint64_t len) const {
    return p >= fs_->super->s_first_data_block && len <= total_ && p <= total_ - len;
  }

  // Reads a metadata block, charging the node budget. Empty on failure.
  bool ReadNode(std::uint64_t blk, std::vector<std::uint8_t>* buf, std::string* why) {
    if (budget_ == 0) { *why = "block map larger than the file"; return false; }
    --budget_;
    ++found_;  // an allocated map block, readable or not
    if (!PhysOk(blk, 1)) { *why = "map block " + std::to_string(blk) + " outside the filesystem"; return false; }
    buf->resize(fs_->blocksize);
    if (!ReadBlock(fs_, blk, buf->data())) { *why = "map block " + std::to_string(blk) + " unreadable"; return false; }
    return true;
  }

  void AddRun(std::uint64_t l, std::uint64_t p, std::uint64_t len, bool uninit) {
    if (l >= nblocks_ || len == 0) return;
    len = std::min(len, nblocks_ - l);
    if (!PhysOk(p, len)) {
      Bad(l, l + len, "extent to block " + std::to_string(p) + " outside the filesystem");
      return;
    }
    if (out_.runs.size() > nblocks_ + 16) { Bad(l, l + len, "too many extents"); return; }
    out_.runs.push_back({l, p, len, uninit});
  }

  void ExtentNode(const std::uint8_t* node, std::size_t size, int want_depth, std::uint64_t s,
                  std::uint64_t e) {
    if (s >= nblocks_) return;
    if (size < 12 || Le16(node) != kExtentMagic) return Bad(s, e, "bad extent header");
    const unsigned entries = Le16(node + 2), max = Le16(node + 4), depth = Le16(node + 6);
    if (entries > max || 12 + 12ull * entries > size || depth > kMaxDepth ||
        (want_depth >= 0 && int(depth) != want_depth))
      return Bad(s, e, "bad extent header");
    for (unsigned i = 0; i < entries; ++i) {
      const std::uint8_t* ent = node + 12 + 12 * i;
      const std::uint64_t l = Le32(ent);
      if (depth == 0) {
        unsigned len = Le16(ent + 4);
        bool uninit = len > 32768;
        if (uninit) len -= 32768;
        found_ += len;  // also past the end of the file (preallocated): i_blocks counts those
        std::uint64_t p = (std::uint64_t(Le16(ent + 6)) << 32) | Le32(ent + 8);
        AddRun(l, p, len, uninit);
      } else {
        std::uint64_t end = i + 1 < entries ? Le32(node + 12 + 12 * (i + 1)) : e;
        if (end <= l) end = e;  // unsorted index: fall back to the parent's end
        std::uint64_t child = (std::uint64_t(Le16(ent + 8)) << 32) | Le32(ent + 4);
        if (l >= nblocks_) {
          uncounted_ = true;  // a subtree past the end, not read: its blocks are unknown
          continue;
        }
        std::vector<std::uint8_t> buf;
        std::string why;
        if (!ReadNode(child, &buf, &why)) { Bad(l, end, why); continue; }
        ExtentNode(buf.data(), buf.size(), int(depth) - 1, l, end);
      }
    }
  }

  // level 0 = the block is a data block; else an indirect block of that level.
  void Indirect(std::uint64_t blk, int level, std::uint64_t lstart) {
    if (lstart >= nblocks_ || blk == 0) return;
    const std::uint64_t apb = fs_->blocksize / 4;
    std::uint64_t span = 1;
    for (int i = 0; i < level; ++i) span *= apb;
    if (level == 0) {
      ++found_;
      return AddRun(lstart, blk, 1, false);
    }
    std::vector<std::uint8_t> buf;
    std::string why;
    if (!ReadNode(blk, &buf, &why)) return Bad(lstart, lstart + span, why);
    const std::uint64_t child_span = span / apb;
    for (std::uint64_t i = 0; i < apb; ++i) {
      std::uint64_t l = lstart + i * child_span;
      if (l >= nblocks_) break;
      Indirect(Le32(buf.data() + 4 * i), level - 1, l);
    }
  }

  // A map block full of zeros (an indirect block zeroed by damage) reads as holes, not
  // as damage. i_blocks still counts the blocks it mapped: when fewer blocks were found
  // than the inode says it owns, the holes of the file are reported as possibly lost.
  // Not for bigalloc (i_blocks counts clusters) or when a subtree went unread.
  void CheckAllocated(const ext2_inode& inode) {
    if (uncounted_ || ext2fs_has_feature_bigalloc(fs_->super)) return;
    std::uint64_t raw = inode.i_blocks;
    if (ext2fs_has_feature_huge_file(fs_->super)) raw |= std::uint64_t(inode.osd2.linux2.l_i_blocks_hi) << 32;
    const std::uint64_t unit = (inode.i_flags & EXT4_HUGE_FILE_FL) ? fs_->blocksize : 512;
    std::uint64_t owned = raw * unit / fs_->blocksize;
    if (ext2fs_file_acl_block(fs_, &inode) != 0 && owned > 0) --owned;  // the xattr block
    if (found_ >= owned) return;
    std::vector<LogicalRange> known;
    for (const auto& r : out_.runs) known.push_back({r.lblk, r.lblk + r.len});
    known.insert(known.end(), out_.bad.begin(), out_.bad.end());
    std::sort(known.begin(), known.end(), [](const LogicalRange& a, const LogicalRange& b) { return a.start < b.start; });
    const std::string why = "block map: " + std::to_string(found_) + " of the " + std::to_string(owned) +
                            " blocks the inode owns were found; its holes may be lost data";
    std::uint64_t at = 0;
    std::vector<LogicalRange> holes;
    for (const auto& k : known) {
      if (k.start > at) holes.push_back({at, k.start});
      at = std::max(at, k.end);
    }
    if (at < nblocks_) holes.push_back({at, nblocks_});
    for (const auto& h : holes) Bad(h.start, h.end, why);
  }

  // Sorts and merges in place (the vectors keep their capacity for the next file).
  void Finish() {
    auto& r = out_.runs;
    std::sort(r.begin(), r.end(), [](const BlockRun& a, const BlockRun& b) { return a.lblk < b.lblk; });
    std::size_t kept = 0;
    std::uint64_t covered = 0;
    for (std::size_t i = 0; i < r.size(); ++i) {
      BlockRun run = r[i];
      if (run.lblk < covered) {  // overlapping extents: keep the first mapping
        std::uint64_t skip = covered - run.lblk;
        if (skip >= run.len) continue;
        run.lblk += skip; run.pblk += skip; run.len -= skip;
      }
      if (kept > 0) {
        auto& b = r[kept - 1];
        if (b.lblk + b.len == run.lblk && b.pblk + b.len == run.pblk && b.uninit == run.uninit) {
          b.len += run.len;
          covered = b.lblk + b.len;
          continue;
        }
      }
      r[kept++] = run;
      covered = run.lblk + run.len;
    }
    r.resize(kept);
    std::sort(out_.bad.begin(), out_.bad.end(),
              [](const LogicalRange& a, const LogicalRange& b) { return a.start < b.start; });
  }

 private:
  ext2_filsys fs_;
  std::uint64_t nblocks_, total_, budget_;
  std::uint64_t found_ = 0;  // data and map blocks seen, for CheckAllocated
  bool uncounted_ = false;
  BlockMap& out_;
};

}  // namespace

bool ReadBlock(ext2_filsys fs, std::uint64_t blk, void* buf) {
  ReadDamageScope scope;
  errcode_t rc = io_channel_read_blk64(fs->io, blk, 1, buf);
  if (rc != 0) {
    std::memset(buf, 0, fs->blocksize);
    return false;
  }
  return scope.ranges().empty();
}

void MapBlocks(ext2_filsys fs, const ext2_inode& inode, std::uint64_t nblocks, BlockMap* out) {
  Mapper m(fs, nblocks, out);
  if (nblocks == 0) {
    m.Finish();
    return;
  }
  std::uint8_t iblock[sizeof inode.i_block];
  std::memcpy(iblock, inode.i_block, sizeof iblock);
  if (inode.i_flags & EXT4_EXTENTS_FL) {
    m.ExtentNode(iblock, sizeof iblock, -1, 0, nblocks);
  } else {
    const std::uint64_t apb = fs->blocksize / 4;
    for (int i = 0; i < EXT2_NDIR_BLOCKS; ++i) m.Indirect(Le32(iblock + 4 * i), 0, i);
    m.Indirect(Le32(iblock + 4 * EXT2_IND_BLOCK), 1, EXT2_NDIR_BLOCKS);
    m.Indirect(Le32(iblock + 4 * EXT2_DIND_BLOCK), 2, EXT2_NDIR_BLOCKS + apb);
    m.Indirect(Le32(iblock + 4 * EXT2_TIND_BLOCK), 3, EXT2_NDIR_BLOCKS + apb + apb * apb);
  }
  m.CheckAllocated(inode);
  m.Finish();
}

BlockMap MapBlocks(ext2_filsys fs, const ext2_inode& inode, std::uint64_t nblocks) {
  BlockMap out;
  MapBlocks(fs, inode, nblocks, &out);
  return out;
}

}  // namespace mr::salvage
