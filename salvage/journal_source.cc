#include "salvage/journal_source.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "salvage/ext2_error.h"

namespace mr::salvage {

uint64_t JournalLocation::Physical(uint64_t lblk) const {
  auto it = std::upper_bound(runs.begin(), runs.end(), lblk,
                             [](uint64_t l, const JournalRun& r) { return l < r.lblk; });
  if (it == runs.begin()) return 0;
  --it;
  return lblk < it->lblk + it->len ? it->pblk + (lblk - it->lblk) : 0;
}

bool HasInternalJournal(ext2_filsys fs) {
  return ext2fs_has_feature_journal(fs->super) && fs->super->s_journal_inum != 0;
}

bool NeedsRecovery(ext2_filsys fs) { return ext2fs_has_feature_journal_needs_recovery(fs->super); }

namespace {

// JBD2 block numbers are 32-bit, so no journal is longer than this.
constexpr uint64_t kMaxJournalBlocks = uint64_t{1} << 32;

void AddRun(std::vector<JournalRun>& runs, uint64_t lblk, uint64_t pblk, uint64_t len) {
  if (!runs.empty()) {
    JournalRun& last = runs.back();
    if (last.lblk + last.len == lblk && last.pblk + last.len == pblk) {
      last.len += len;
      return;
    }
  }
  runs.push_back(JournalRun{lblk, pblk, len});
}

Status MapExtents(ext2_filsys fs, ext2_ino_t ino, ext2_inode* inode, JournalLocation& loc) {
  ext2_extent_handle_t h = nullptr;
  errcode_t err = ext2fs_extent_open2(fs, ino, inode, &h);
  if (err) return Ext2Error("journal inode " + std::to_string(ino) + ": extent tree", err);
  const uint64_t fs_blocks = ext2fs_blocks_count(fs->super);
  uint64_t next_lblk = 0;
  int op = EXT2_EXTENT_ROOT;
  Status st;
  for (;;) {
    ext2fs_extent e{};
    err = ext2fs_extent_get(h, op, &e);
    if (err == EXT2_ET_EXTENT_NO_NEXT) break;
    if (err) {
      st = Ext2Error("journal inode " + std::to_string(ino) + ": extent tree", err);
      break;
    }
    op = EXT2_EXTENT_NEXT_LEAF;
    if (!(e.e_flags & EXT2_EXTENT_FLAGS_LEAF) || (e.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT))
      continue;
    if (e.e_lblk < next_lblk) break;  // out of order: treat the rest as unmapped (loop guard)
    if (e.e_lblk >= loc.blocks) break;
    uint64_t len = std::min<uint64_t>(e.e_len, loc.blocks - e.e_lblk);
    if (e.e_pblk == 0 || e.e_pblk >= fs_blocks || len > fs_blocks - e.e_pblk) continue;
    AddRun(loc.runs, e.e_lblk, e.e_pblk, len);
    next_lblk = e.e_lblk + len;
  }
  ext2fs_extent_free(h);
  return st;
}

Status MapBlockMap(ext2_filsys fs, ext2_ino_t ino, ext2_inode* inode, JournalLocation& loc) {
  const uint64_t fs_blocks = ext2fs_blocks_count(fs->super);
  for (uint64_t l = 0; l < loc.blocks; ++l) {
    blk64_t p = 0;
    errcode_t err = ext2fs_bmap2(fs, ino, inode, nullptr, 0, l, nullptr, &p);
    if (err) {
      if (l == 0) return Ext2Error("journal inode " + std::to_string(ino) + ": block map", err);
      break;
    }
    if (p == 0 || p >= fs_blocks) continue;
    AddRun(loc.runs, l, p, 1);
  }
  return Status::Ok();
}

Result<JournalLocation> MapInode(ext2_filsys fs, ext2_ino_t ino, ext2_inode inode) {
  JournalLocation loc;
  loc.inode = ino;
  loc.size_bytes = EXT2_I_SIZE(&inode);
  loc.blocks = std::min({loc.size_bytes / fs->blocksize, kMaxJournalBlocks,
                         static_cast<uint64_t>(ext2fs_blocks_count(fs->super))});
  if (!LINUX_S_ISREG(inode.i_mode) || loc.blocks == 0)
    return Error{Code::kCorrupt, "journal inode " + std::to_string(ino) + ": not a regular file with data"};
  Status st = (inode.i_flags & EXT4_EXTENTS_FL) ? MapExtents(fs, ino, &inode, loc)
                                                : MapBlockMap(fs, ino, &inode, loc);
  if (!st.ok()) return st.error();
  if (loc.Physical(0) == 0)
    return Error{Code::kCorrupt, "journal inode " + std::to_string(ino) + ": block 0 is not mapped"};
  return loc;
}

// The journal inode rebuilt from the superblock's backup of its i_block and size.
ext2_inode InodeFromBackup(ext2_filsys fs) {
  ext2_inode inode{};
  std::memcpy(inode.i_block, fs->super->s_jnl_blocks, sizeof(inode.i_block));
  inode.i_size_high = fs->super->s_jnl_blocks[15];
  inode.i_size = fs->super->s_jnl_blocks[16];
  inode.i_mode = LINUX_S_IFREG | 0600;
  inode.i_links_count = 1;
  const uint16_t magic = static_cast<uint16_t>(inode.i_block[0] & 0xFFFF);
  if (ext2fs_has_feature_extents(fs->super) && magic == 0xF30A) inode.i_flags |= EXT4_EXTENTS_FL;
  return inode;
}

}  // namespace

Result<JournalLocation> LocateJournal(ext2_filsys fs) {
  if (!ext2fs_has_feature_journal(fs->super))
    return Error{Code::kNotFound, "filesystem has no journal"};
  const ext2_ino_t ino = fs->super->s_journal_inum;
  if (ino == 0)
    return Error{Code::kUnsupported, "journal is on an external device; not supported"};
  if (ino > fs->super->s_inodes_count)
    return Error{Code::kCorrupt, "superblock: journal inode " + std::to_string(ino) + " out of range"};
  ext2_inode inode{};
  errcode_t err = ext2fs_read_inode(fs, ino, &inode);
  Result<JournalLocation> loc = Error{Code::kCorrupt, ""};
  if (err && err != EXT2_ET_INODE_CSUM_INVALID)
    loc = Ext2Error("journal inode " + std::to_string(ino), err);
  else
    loc = MapInode(fs, ino, inode);
  if (loc.ok() || fs->super->s_jnl_backup_type != EXT3_JNL_BACKUP_BLOCKS) return loc;
  Result<JournalLocation> backup = MapInode(fs, ino, InodeFromBackup(fs));
  if (!backup.ok()) return Error{loc.error().code, loc.error().message + "; superblock backup unusable too"};
  backup->from_superblock_backup = true;
  return backup;
}

Status ReadJournalBlock(ext2_filsys fs, const JournalLocation& loc, uint64_t lblk,
                        std::span<uint8_t> buf) {
  if (buf.size() != fs->blocksize)
    return Error{Code::kInternal, "journal block buffer is not one block long"};
  const uint64_t p = loc.Physical(lblk);
  if (p == 0) return Error{Code::kCorrupt, "journal block " + std::to_string(lblk) + " is not mapped"};
  errcode_t err = io_channel_read_blk64(fs->io, p, 1, buf.data());
  if (err) return Ext2Error("journal block " + std::to_string(lblk) + " (fs block " + std::to_string(p) + ")", err);
  return Status::Ok();
}

}  // namespace mr::salvage
