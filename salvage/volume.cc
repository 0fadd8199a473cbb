#include "salvage/volume.h"

#include <ext2fs/ext2_err.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "salvage/ext2_error.h"
#include "salvage/geometry.h"
#include "salvage/table_search.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "salvage reads on-disk ext4 structures directly and assumes a little-endian host"
#endif

namespace mr::salvage {
namespace {

constexpr int kOpenFlags = EXT2_FLAG_64BITS | EXT2_FLAG_IGNORE_CSUM_ERRORS |
                           EXT2_FLAG_SKIP_MMP | EXT2_FLAG_IGNORE_SB_ERRORS;
constexpr int kMaxCandidates = 48;

struct Geometry {
  unsigned bs = 0;
  std::uint32_t bpg = 0;
  std::uint32_t fdb = 0;
  bool sparse_super = true;
  bool sparse_super2 = false;
  std::uint32_t backup_bgs[2] = {0, 0};
};

// With EXT2_FLAG_IGNORE_SB_ERRORS, ext2fs_open2 divides by superblock fields it
// has not checked (a 64bit superblock with s_desc_size 0 is a SIGFPE inside
// libext2fs: found by fuzz_image). Refuse such a superblock before opening it.
bool DivisorsSane(const ext2_super_block& sb) {
  auto pow2 = [](std::uint32_t n) { return n != 0 && (n & (n - 1)) == 0; };
  if (sb.s_magic != EXT2_SUPER_MAGIC) return true;  // libext2fs rejects it itself
  if (sb.s_log_block_size > 6 || sb.s_blocks_per_group == 0 || sb.s_inodes_per_group == 0) return false;
  const std::uint32_t bs = 1024u << sb.s_log_block_size;
  // One bitmap block per group: more inodes (or, without bigalloc, blocks) per group
  // than it has bits overflows libext2fs's table arithmetic (a negative memcpy in
  // ext2fs_get_next_inode_full, found by fuzz_image).
  if (sb.s_inodes_per_group > 8 * bs) return false;
  if (!(sb.s_feature_ro_compat & EXT4_FEATURE_RO_COMPAT_BIGALLOC) && sb.s_blocks_per_group > 8 * bs)
    return false;
  if ((sb.s_feature_incompat & EXT4_FEATURE_INCOMPAT_64BIT) &&
      (sb.s_desc_size < EXT2_MIN_DESC_SIZE_64BIT || sb.s_desc_size > EXT2_MAX_DESC_SIZE || !pow2(sb.s_desc_size)))
    return false;
  if (sb.s_rev_level > 0 && (sb.s_inode_size < EXT2_GOOD_OLD_INODE_SIZE || !pow2(sb.s_inode_size) ||
                             sb.s_inode_size > bs))
    return false;
  return true;
}

errcode_t RawOpen(const std::shared_ptr<Source>& src, const OpenPlan& plan, ext2_filsys* fs) {
  io_manager m = plan.manager ? plan.manager : SourceIoManager();
  const std::string& name = plan.device_name.empty() ? src->channel_name() : plan.device_name;
  if (plan.superblock > 0x7fffffffull) return EXT2_ET_BAD_MAGIC;
  ext2_super_block sb{};
  const std::uint64_t sb_off = plan.superblock ? plan.superblock * plan.blocksize : 1024;
  if (plan.meta_overlay) {  // the superblock libext2fs will read is the rebuilt one
    auto it = plan.meta_overlay->patches().find(sb_off);
    if (it != plan.meta_overlay->patches().end() && it->second.size() == sizeof sb) {
      std::memcpy(&sb, it->second.data(), sizeof sb);
      if (!DivisorsSane(sb)) return EXT2_ET_CORRUPT_SUPERBLOCK;
    }
  } else if (sb_off + sizeof sb <= src->size()) {
    src->ReadAt(sb_off, &sb, sizeof sb);
    if (!DivisorsSane(sb)) return EXT2_ET_CORRUPT_SUPERBLOCK;
  }
  return ext2fs_open2(name.c_str(), nullptr, kOpenFlags, static_cast<int>(plan.superblock),
                      plan.blocksize, m, fs);
}

// Reads a raw superblock copy at a byte offset; false if it lacks the magic.
bool ReadRawSuper(Source& src, std::uint64_t off, ext2_super_block* sb) {
  static_assert(sizeof(ext2_super_block) == 1024);
  src.ReadAt(off, sb, sizeof *sb);
  return sb->s_magic == EXT2_SUPER_MAGIC && sb->s_log_block_size <= 6;
}

bool IsPowerOf(std::uint32_t n, std::uint32_t base) {
  while (n > 1 && n % base == 0) n /= base;
  return n == 1;
}

std::vector<std::uint32_t> BackupGroups(const Geometry& g, std::uint64_t max_groups) {
  std::vector<std::uint32_t> out;
  if (g.sparse_super2) {
    for (auto b : g.backup_bgs)
      if (b != 0 && b < max_groups) out.push_back(b);
    return out;
  }
  for (std::uint64_t grp = 1; grp < max_groups && out.size() < kMaxCandidates; ++grp) {
    auto g32 = static_cast<std::uint32_t>(grp);
    if (!g.sparse_super || g32 == 1 || IsPowerOf(g32, 3) || IsPowerOf(g32, 5) || IsPowerOf(g32, 7))
      out.push_back(g32);
  }
  return out;
}

std::string Hex16(const std::uint8_t* p) {
  char buf[40];
  std::snprintf(buf, sizeof buf,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", p[0],
                p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13],
                p[14], p[15]);
  return buf;
}

// Why group g's descriptor cannot be trusted, or "" when it looks sane.
std::string DescriptorProblem(ext2_filsys fs, dgrp_t g) {
  const blk64_t total = ext2fs_blocks_count(fs->super);
  blk64_t lo = fs->super->s_first_data_block, hi = total - 1;
  if (!ext2fs_has_feature_flex_bg(fs->super)) {
    lo = ext2fs_group_first_block2(fs, g);
    hi = ext2fs_group_last_block2(fs, g);
  }
  // The primary superblock's block holds no bitmap or inode table (a zeroed
  // descriptor says block 0 for all three).
  lo = std::max<blk64_t>(lo, fs->super->s_first_data_block + 1);
  const blk64_t bb = ext2fs_block_bitmap_loc(fs, g), ib = ext2fs_inode_bitmap_loc(fs, g),
                it = ext2fs_inode_table_loc(fs, g);
  const blk64_t n = fs->inode_blocks_per_group;
  if (it < lo || it > hi || n == 0 || it + n - 1 > hi || it + n - 1 < it)
    return "inode table at block " + std::to_string(it) + " is outside its range";
  if (bb < lo || bb > hi) return "block bitmap at block " + std::to_string(bb) + " is outside its range";
  if (ib < lo || ib > hi) return "inode bitmap at block " + std::to_string(ib) + " is outside its range";
  if (ext2fs_has_group_desc_csum(fs) && !ext2fs_group_desc_csum_verify(fs, g))
    return "checksum mismatch";
  return "";
}

bool LocationsSane(const std::string& problem) {
  return problem.empty() || problem == "checksum mismatch";
}

std::string BitmapNote(const FoundTables& t) {
  if (t.block_bitmap && t.inode_bitmap)
    return "bitmaps at blocks " + std::to_string(t.block_bitmap) + " and " + std::to_string(t.inode_bitmap);
  if (t.inode_bitmap) return "inode bitmap at block " + std::to_string(t.inode_bitmap) + ", block bitmap not found";
  if (t.block_bitmap) return "block bitmap at block " + std::to_string(t.block_bitmap) + ", inode bitmap not found";
  return "bitmaps not found";
}

// Why the root directory of `fs` does not read back as itself through
// libext2fs ("." -> 2 and ".." -> 2), or "".
std::string RootProblem(ext2_filsys fs) {
  ext2_inode inode;
  if (errcode_t rc = ext2fs_read_inode(fs, EXT2_ROOT_INO, &inode)) return Ext2Error("root inode", rc).message;
  if (!LINUX_S_ISDIR(inode.i_mode)) return "the root inode is not a directory";
  if (inode.i_flags & EXT4_INLINE_DATA_FL) return "";  // checked on the raw bytes (geometry.cc)
  blk64_t blk = 0;
  if (errcode_t rc = ext2fs_bmap2(fs, EXT2_ROOT_INO, &inode, nullptr, 0, 0, nullptr, &blk))
    return Ext2Error("root directory map", rc).message;
  if (blk == 0) return "the root directory has no first block";
  std::vector<std::uint8_t> buf(fs->blocksize);
  errcode_t rc = ext2fs_read_dir_block4(fs, blk, buf.data(), 0, EXT2_ROOT_INO);
  if (rc && rc != EXT2_ET_DIR_CSUM_INVALID) return Ext2Error("root directory block", rc).message;
  auto* dot = reinterpret_cast<ext2_dir_entry*>(buf.data());
  unsigned rec = 0;
  if (dot->inode != EXT2_ROOT_INO || ext2fs_dirent_name_len(dot) != 1 || dot->name[0] != '.' ||
      ext2fs_get_rec_len(fs, dot, &rec) != 0 || rec < 12 || rec + 12 > fs->blocksize)
    return "the root directory's first entry is not \".\"";
  auto* dotdot = reinterpret_cast<ext2_dir_entry*>(buf.data() + rec);
  if (dotdot->inode != EXT2_ROOT_INO || ext2fs_dirent_name_len(dotdot) != 2 || dotdot->name[0] != '.' ||
      dotdot->name[1] != '.')
    return "the root directory's second entry is not \"..\"";
  return "";
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

std::string StateName(unsigned s) {
  if (s & EXT2_ERROR_FS) return "errors";
  if (s & EXT2_VALID_FS) return "clean";
  return "not clean";
}

void FillInfo(ext2_filsys fs, const Source& src, FsInfo* info) {
  ext2_super_block* sb = fs->super;
  info->source_path = src.path();
  info->source_size = src.size();
  info->blocksize = fs->blocksize;
  info->blocks_count = ext2fs_blocks_count(sb);
  info->inodes_count = sb->s_inodes_count;
  info->groups = fs->group_desc_count;
  info->inodes_per_group = sb->s_inodes_per_group;
  info->blocks_per_group = sb->s_blocks_per_group;
  info->inode_size = EXT2_INODE_SIZE(sb);
  info->features = FeatureNames(sb);
  char label[sizeof sb->s_volume_name + 1] = {};
  std::memcpy(label, sb->s_volume_name, sizeof sb->s_volume_name);
  info->label = label;
  info->uuid = Hex16(sb->s_uuid);
  info->state = StateName(sb->s_state);
  info->has_journal = ext2fs_has_feature_journal(sb);
  info->needs_recovery = ext2fs_has_feature_journal_needs_recovery(sb);
  info->image_bytes_needed = info->blocks_count * fs->blocksize;
}

struct Opened {
  ext2_filsys fs = nullptr;
  OpenPlan plan;
};

// No superblock copy is readable: rebuild one and serve it from memory.
// Returns "" (opened and *what are set) or why not.
std::string OpenRebuilt(const std::shared_ptr<Source>& src, Opened* opened, RebuiltSuperblock* what) {
  auto rebuilt = RebuildSuperblock(*src);
  if (!rebuilt.ok()) return rebuilt.error().message;
  std::vector<std::uint8_t> bytes(sizeof rebuilt->sb);
  std::memcpy(bytes.data(), &rebuilt->sb, bytes.size());
  std::map<std::uint64_t, std::vector<std::uint8_t>> patches{{1024, std::move(bytes)}};
  if (!rebuilt->descriptor_block.empty()) patches[rebuilt->descriptor_offset] = rebuilt->descriptor_block;
  auto ov = MetaOverlay::Create(src->channel_name(), SourceIoManager(), std::move(patches));
  if (!ov.ok()) return ov.error().message;
  OpenPlan plan;
  plan.meta_overlay = std::move(*ov);
  plan.manager = plan.meta_overlay->manager();
  plan.device_name = plan.meta_overlay->name();
  ext2_filsys fs = nullptr;
  if (errcode_t rc = RawOpen(src, plan, &fs)) return Ext2Error("the rebuilt superblock", rc).message;
  if (std::string p = RootProblem(fs); !p.empty()) {
    ext2fs_free(fs);
    return "the rebuilt geometry does not read back: " + p;
  }
  opened->fs = fs;
  opened->plan = std::move(plan);
  *what = *rebuilt;
  return "";
}

// Tries the backup superblocks derivable from `geo`; returns the first that opens
// (preferring one whose checksum verifies).
std::optional<Opened> TryBackups(const std::shared_ptr<Source>& src, const Geometry& geo,
                                 std::uint64_t skip_block, int* tried) {
  if (geo.bs < 1024 || geo.bs > 65536 || geo.bpg == 0) return std::nullopt;
  const std::uint64_t max_groups = src->size() / geo.bs / geo.bpg + 1;
  std::optional<Opened> fallback;
  for (std::uint32_t g : BackupGroups(geo, max_groups)) {
    const std::uint64_t blk = std::uint64_t(g) * geo.bpg + geo.fdb;
    if (blk == skip_block) continue;
    ext2_super_block raw;
    if (!ReadRawSuper(*src, blk * geo.bs, &raw)) continue;
    if ((1024u << raw.s_log_block_size) != geo.bs) continue;
    if (g < 65536 && raw.s_block_group_nr != g) continue;
    ++*tried;
    OpenPlan plan;
    plan.superblock = blk;
    plan.blocksize = geo.bs;
    ext2_filsys fs = nullptr;
    if (RawOpen(src, plan, &fs) != 0) continue;
    if (!ext2fs_superblock_csum_verify(fs, fs->super)) {
      if (!fallback) fallback = Opened{fs, plan};
      else ext2fs_free(fs);
      continue;
    }
    if (fallback) ext2fs_free(fallback->fs);
    return Opened{fs, plan};
  }
  return fallback;
}

Geometry GeometryOf(const ext2_super_block& sb) {
  Geometry g;
  g.bs = 1024u << sb.s_log_block_size;
  g.bpg = sb.s_blocks_per_group;
  g.fdb = sb.s_first_data_block;
  g.sparse_super = (sb.s_feature_ro_compat & EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER) != 0;
  g.sparse_super2 = (sb.s_feature_compat & EXT4_FEATURE_COMPAT_SPARSE_SUPER2) != 0;
  g.backup_bgs[0] = sb.s_backup_bgs[0];
  g.backup_bgs[1] = sb.s_backup_bgs[1];
  return g;
}

// Finds a usable superblock when the primary is unusable (or suspect).
std::optional<Opened> FindBackup(const std::shared_ptr<Source>& src, int* tried) {
  ext2_super_block raw;
  if (ReadRawSuper(*src, 1024, &raw) && raw.s_blocks_per_group >= 256) {
    if (auto o = TryBackups(src, GeometryOf(raw), 0, tried)) return o;
  }
  for (unsigned bs = 1024; bs <= 65536; bs *= 2) {
    Geometry g;
    g.bs = bs;
    g.bpg = 8 * bs;
    g.fdb = bs == 1024 ? 1 : 0;
    if (auto o = TryBackups(src, g, 0, tried)) return o;
  }
  return std::nullopt;
}

// Checks every descriptor; replaces bad ones from a backup copy in memory.
void CheckDescriptors(const std::shared_ptr<Source>& src, ext2_filsys fs, OpenPlan* plan,
                      FsInfo* info) {
  std::vector<std::pair<dgrp_t, std::string>> bad;
  for (dgrp_t g = 0; g < fs->group_desc_count; ++g) {
    std::string p = DescriptorProblem(fs, g);
    if (!p.empty()) bad.emplace_back(g, std::move(p));
  }
  if (bad.empty()) return;
  // Open a backup copy of the descriptors.
  Geometry geo = GeometryOf(*fs->super);
  geo.bs = fs->blocksize;
  ext2_filsys bfs = nullptr;
  std::uint64_t backup_sb = 0;
  const std::uint64_t max_groups = fs->group_desc_count;
  int attempts = 0;
  for (std::uint32_t g : BackupGroups(geo, max_groups)) {
    if (attempts++ >= 4) break;
    OpenPlan bp;
    bp.superblock = std::uint64_t(g) * geo.bpg + geo.fdb;
    if (bp.superblock == plan->superblock) continue;
    bp.blocksize = geo.bs;
    if (RawOpen(src, bp, &bfs) == 0) {
      if (bfs->group_desc_count == fs->group_desc_count &&
          EXT2_DESC_SIZE(bfs->super) == EXT2_DESC_SIZE(fs->super)) {
        backup_sb = bp.superblock;
        break;
      }
      ext2fs_free(bfs);
      bfs = nullptr;
    }
  }
  const unsigned dsz = EXT2_DESC_SIZE(fs->super);
  std::vector<bool> sane(fs->group_desc_count, true);  // for predictions from neighbours
  for (const auto& [g, problem] : bad) sane[g] = LocationsSane(problem);
  // A superblock claiming millions of groups (one flipped byte) must not mean
  // millions of searches: past this many, such groups are disabled as before.
  constexpr int kMaxTableSearches = 64;
  int searches = 0;
  // A superblock claiming millions of groups must not become millions of report lines
  // (the image fuzzer made a 70 MB salvage.json from one flipped byte): list the first
  // ones, count the rest.
  constexpr std::size_t kMaxGroupNotes = 256;
  std::size_t listed = 0, unlisted = 0;
  for (auto& [g, problem] : bad) {
    std::string detail = "group " + std::to_string(g) + ": " + problem;
    std::string bp = bfs ? DescriptorProblem(bfs, g) : "no backup";
    if (bfs && LocationsSane(bp)) {
      auto* from = reinterpret_cast<const std::uint8_t*>(ext2fs_group_desc(bfs, bfs->group_desc, g));
      plan->desc_patches.emplace_back(g, std::vector<std::uint8_t>(from, from + dsz));
      detail += "; replaced in memory by the copy at superblock " + std::to_string(backup_sb);
    } else if (!LocationsSane(problem)) {
      std::optional<FoundTables> found;
      const bool search = searches < kMaxTableSearches;
      if (search) {
        ++searches;
        found = FindGroupTables(fs, *src, g, sane);
      }
      if (found) {
        ext2fs_inode_table_loc_set(fs, g, found->inode_table);
        ext2fs_block_bitmap_loc_set(fs, g, found->block_bitmap);
        ext2fs_inode_bitmap_loc_set(fs, g, found->inode_bitmap);
        ext2fs_bg_flags_set(fs, g, 0);  // scan the whole table: the descriptor's flags are gone
        ext2fs_bg_itable_unused_set(fs, g, 0);
        auto* from = reinterpret_cast<const std::uint8_t*>(ext2fs_group_desc(fs, fs->group_desc, g));
        plan->desc_patches.emplace_back(g, std::vector<std::uint8_t>(from, from + dsz));
        detail += "; no sane copy: " + found->how + "; " + BitmapNote(*found);
      } else {
        plan->disabled_groups.push_back(g);
        detail += search ? "; no sane copy, and no inode table found by scanning: its inodes are skipped"
                         : "; no sane copy: its inodes are skipped";
      }
    } else {
      detail += "; kept (locations look sane)";
    }
    if (listed < kMaxGroupNotes) {
      info->damage.push_back({"group_descriptor", detail});
      ++listed;
    } else {
      ++unlisted;
    }
  }
  if (unlisted)
    info->damage.push_back({"group_descriptor", std::to_string(unlisted) + " more groups with bad descriptors "
                                                "(not listed one by one)"});
  if (bfs) ext2fs_free(bfs);
}

void ApplyPlan(ext2_filsys fs, const OpenPlan& plan) {
  const unsigned dsz = EXT2_DESC_SIZE(fs->super);
  for (const auto& [g, bytes] : plan.desc_patches) {
    if (g >= fs->group_desc_count || bytes.size() != dsz) continue;
    std::memcpy(ext2fs_group_desc(fs, fs->group_desc, g), bytes.data(), dsz);
  }
  for (auto g : plan.disabled_groups)
    if (g < fs->group_desc_count) ext2fs_inode_table_loc_set(fs, g, 0);
}

}  // namespace

Volume& Volume::operator=(Volume&& o) noexcept {
  if (this != &o) {
    if (fs_) ext2fs_free(fs_);
    fs_ = std::exchange(o.fs_, nullptr);
    src_ = std::move(o.src_);
  }
  return *this;
}

Volume::~Volume() {
  if (fs_) ext2fs_free(fs_);
}

Result<std::pair<OpenPlan, FsInfo>> Volume::Plan(const std::shared_ptr<Source>& src,
                                                 const VolumeOptions& opts) {
  EnsureExt2ErrorTable();
  FsInfo info;
  Opened opened;
  if (opts.superblock || opts.blocksize) {
    if (!opts.superblock || !opts.blocksize)
      return Error{Code::kInvalidArgument, "--superblock and --blocksize must be given together"};
    unsigned bs = *opts.blocksize;
    if (bs < 1024 || bs > 65536 || (bs & (bs - 1)) != 0)
      return Error{Code::kInvalidArgument, "--blocksize " + std::to_string(bs) +
                                               ": not a power of two between 1024 and 65536"};
    opened.plan.superblock = *opts.superblock;
    opened.plan.blocksize = bs;
    errcode_t rc = RawOpen(src, opened.plan, &opened.fs);
    if (rc != 0) {
      Error e = Ext2Error(src->path() + ": superblock " + std::to_string(*opts.superblock) +
                              " (blocksize " + std::to_string(bs) + ")", rc);
      e.code = Code::kCannotOpen;
      return e;
    }
  } else {
    errcode_t rc = RawOpen(src, opened.plan, &opened.fs);
    bool need_backup = rc != 0;
    std::string why;
    if (rc != 0) {
      why = Ext2Error("primary superblock", rc).message;
    } else if (!ext2fs_superblock_csum_verify(opened.fs, opened.fs->super)) {
      why = "primary superblock: checksum mismatch";
      need_backup = true;
    }
    if (need_backup) {
      int tried = 0;
      std::string not_rebuilt;
      auto b = FindBackup(src, &tried);
      if (b) {
        if (opened.fs) ext2fs_free(opened.fs);
        opened = *b;
        info.damage.push_back({"superblock", why + "; using the backup at block " +
                                                 std::to_string(opened.plan.superblock)});
      } else if (opened.fs) {
        info.damage.push_back({"superblock", why + "; no better backup found, using it"});
      } else if (RebuiltSuperblock r; (not_rebuilt = OpenRebuilt(src, &opened, &r)).empty()) {
        info.superblock_rebuilt = true;
        info.damage.push_back(
            {"superblock", why + "; " + std::to_string(tried) +
                               " backup superblocks tried: no copy readable; geometry rebuilt from " + r.from +
                               " (" + r.summary + "; features seen: " +
                               Joined(FeatureNames(opened.fs->super)) + ")"});
      } else {
        std::string msg = src->path() + ": not a readable ext2/3/4 filesystem (" + why + "; " +
                          std::to_string(tried) + " backup superblocks tried; no geometry could be rebuilt: " +
                          not_rebuilt + ")";
        if (src->size() < 2048) msg = src->path() + ": too small to hold an ext2/3/4 filesystem (" +
                                      std::to_string(src->size()) + " bytes)";
        // Say when the device itself failed: the superblocks read as zeros.
        std::uint64_t unreadable = 0;
        for (const auto& u : src->Unreadable()) unreadable += u.length;
        if (unreadable)
          msg += "; " + std::to_string(unreadable) + " bytes of the source were unreadable (I/O errors)";
        return Error{Code::kCannotOpen, msg};
      }
    }
  }
  CheckDescriptors(src, opened.fs, &opened.plan, &info);
  ApplyPlan(opened.fs, opened.plan);  // the journal and the checks below see what the handles will
  {
    // Not even group 0's inode table is in the source (a badly truncated image).
    const std::uint64_t it_end =
        (ext2fs_inode_table_loc(opened.fs, 0) + opened.fs->inode_blocks_per_group) *
        std::uint64_t(opened.fs->blocksize);
    if (src->size() < it_end) {
      const std::uint64_t need = ext2fs_blocks_count(opened.fs->super) * std::uint64_t(opened.fs->blocksize);
      ext2fs_free(opened.fs);
      return Error{Code::kCannotOpen, src->path() + ": truncated: " + std::to_string(src->size()) +
                                          " bytes where the filesystem needs " + std::to_string(need) +
                                          "; not even the first inode table is there"};
    }
  }
  FillInfo(opened.fs, *src, &info);
  info.superblock_used = opened.plan.superblock;
  if (info.image_bytes_needed > src->size())
    info.damage.push_back({"truncated", "the source holds " + std::to_string(src->size()) +
                                            " bytes but the filesystem spans " +
                                            std::to_string(info.image_bytes_needed) +
                                            ": the missing part reads as zeros"});
  // Journal: committed, unreplayed transactions are served from memory (docs/journal.md).
  JournalSetup js = PrepareJournal(opened.fs, opts.journal,
                                   opened.plan.manager ? opened.plan.device_name : src->channel_name(),
                                   opened.plan.manager ? opened.plan.manager : SourceIoManager());
  for (const auto& d : js.damage) info.damage.push_back({"journal", d});
  info.journal = js.journal;
  if (js.overlay) {  // every handle opened from this plan sees the replayed filesystem
    opened.plan.manager = js.overlay->manager();
    opened.plan.device_name = js.overlay->name();
    opened.plan.journal_overlay = std::move(js.overlay);
  }
  ext2fs_free(opened.fs);
  return std::make_pair(std::move(opened.plan), std::move(info));
}

Result<Volume> Volume::Open(const std::shared_ptr<Source>& src, const OpenPlan& plan) {
  EnsureExt2ErrorTable();
  ext2_filsys fs = nullptr;
  errcode_t rc = RawOpen(src, plan, &fs);
  if (rc != 0) {
    Error e = Ext2Error(src->path(), rc);
    e.code = Code::kCannotOpen;
    return e;
  }
  ApplyPlan(fs, plan);
  return Volume(fs, src);
}

std::vector<std::string> FeatureNames(const ext2_super_block* sb) {
  struct F { int kind; std::uint32_t mask; const char* name; };
  static const F table[] = {
      {0, EXT3_FEATURE_COMPAT_HAS_JOURNAL, "has_journal"},
      {0, EXT2_FEATURE_COMPAT_EXT_ATTR, "ext_attr"},
      {0, EXT2_FEATURE_COMPAT_RESIZE_INODE, "resize_inode"},
      {0, EXT2_FEATURE_COMPAT_DIR_INDEX, "dir_index"},
      {0, EXT4_FEATURE_COMPAT_SPARSE_SUPER2, "sparse_super2"},
      {0, EXT4_FEATURE_COMPAT_FAST_COMMIT, "fast_commit"},
      {0, EXT4_FEATURE_COMPAT_STABLE_INODES, "stable_inodes"},
      {1, EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER, "sparse_super"},
      {1, EXT2_FEATURE_RO_COMPAT_LARGE_FILE, "large_file"},
      {1, EXT4_FEATURE_RO_COMPAT_HUGE_FILE, "huge_file"},
      {1, EXT4_FEATURE_RO_COMPAT_GDT_CSUM, "uninit_bg"},
      {1, EXT4_FEATURE_RO_COMPAT_DIR_NLINK, "dir_nlink"},
      {1, EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE, "extra_isize"},
      {1, EXT4_FEATURE_RO_COMPAT_QUOTA, "quota"},
      {1, EXT4_FEATURE_RO_COMPAT_BIGALLOC, "bigalloc"},
      {1, EXT4_FEATURE_RO_COMPAT_METADATA_CSUM, "metadata_csum"},
      {1, EXT4_FEATURE_RO_COMPAT_READONLY, "read-only"},
      {1, EXT4_FEATURE_RO_COMPAT_PROJECT, "project"},
      {1, EXT4_FEATURE_RO_COMPAT_VERITY, "verity"},
      {2, EXT2_FEATURE_INCOMPAT_FILETYPE, "filetype"},
      {2, EXT3_FEATURE_INCOMPAT_RECOVER, "needs_recovery"},
      {2, EXT3_FEATURE_INCOMPAT_JOURNAL_DEV, "journal_dev"},
      {2, EXT2_FEATURE_INCOMPAT_META_BG, "meta_bg"},
      {2, EXT3_FEATURE_INCOMPAT_EXTENTS, "extent"},
      {2, EXT4_FEATURE_INCOMPAT_64BIT, "64bit"},
      {2, EXT4_FEATURE_INCOMPAT_MMP, "mmp"},
      {2, EXT4_FEATURE_INCOMPAT_FLEX_BG, "flex_bg"},
      {2, EXT4_FEATURE_INCOMPAT_EA_INODE, "ea_inode"},
      {2, EXT4_FEATURE_INCOMPAT_DIRDATA, "dirdata"},
      {2, EXT4_FEATURE_INCOMPAT_CSUM_SEED, "metadata_csum_seed"},
      {2, EXT4_FEATURE_INCOMPAT_LARGEDIR, "large_dir"},
      {2, EXT4_FEATURE_INCOMPAT_INLINE_DATA, "inline_data"},
      {2, EXT4_FEATURE_INCOMPAT_ENCRYPT, "encrypt"},
      {2, EXT4_FEATURE_INCOMPAT_CASEFOLD, "casefold"},
  };
  std::vector<std::string> out;
  for (const auto& f : table) {
    std::uint32_t v = f.kind == 0 ? sb->s_feature_compat
                      : f.kind == 1 ? sb->s_feature_ro_compat
                                    : sb->s_feature_incompat;
    if (v & f.mask) out.emplace_back(f.name);
  }
  return out;
}

}  // namespace mr::salvage
