#include "salvage/inode.h"

#include <ext2fs/ext2_err.h>
#include <sys/stat.h>

#include <cstddef>
#include <algorithm>
#include <cstring>
#include <vector>

#include "salvage/ext2_error.h"
#include "salvage/journal_overlay.h"

namespace mr::salvage {
namespace {

// Whether the inode's extra area covers a field ending at `end` (byte offset).
bool ExtraCovers(ext2_filsys fs, const ext2_inode_large& in, std::size_t end) {
  if (EXT2_INODE_SIZE(fs->super) <= EXT2_GOOD_OLD_INODE_SIZE) return false;
  return EXT2_GOOD_OLD_INODE_SIZE + std::size_t(in.i_extra_isize) >= end &&
         EXT2_GOOD_OLD_INODE_SIZE + std::size_t(in.i_extra_isize) <= EXT2_INODE_SIZE(fs->super);
}

Timestamp Decode(std::uint32_t base, std::uint32_t extra, bool has_extra) {
  Timestamp t;
  t.sec = static_cast<std::int32_t>(base);
  if (has_extra) {
    t.sec += std::int64_t(extra & 3) << 32;
    t.nsec = extra >> 2;
    if (t.nsec >= 1000000000u) t.nsec = 0;
  }
  return t;
}

// Marks `r` when the journal fallback served (part of) its inode-table block.
void NoteJournalFallback(ext2_filsys fs, InodeInfo* r) {
  const JournalOverlay* ov = OverlayOf(fs);
  const std::uint32_t ipg = fs->super->s_inodes_per_group;
  if (!ov || ipg == 0 || r->ino == 0) return;
  const dgrp_t group = (r->ino - 1) / ipg;
  if (group >= fs->group_desc_count) return;
  const blk64_t table = ext2fs_inode_table_loc(fs, group);
  if (table == 0) return;
  const std::uint64_t index = (r->ino - 1) % ipg;
  if (auto c = ov->FallbackFor(table + index * EXT2_INODE_SIZE(fs->super) / fs->blocksize)) {
    r->from_journal = true;
    r->journal_sequence = c->sequence;
  }
}

}  // namespace

bool IsDir(std::uint16_t mode) { return S_ISDIR(mode); }
bool IsReg(std::uint16_t mode) { return S_ISREG(mode); }
bool IsSymlink(std::uint16_t mode) { return S_ISLNK(mode); }

InodeInfo DecodeInode(ext2_filsys fs, ext2_ino_t ino, const ext2_inode_large& in) {
  InodeInfo r;
  r.ino = ino;
  r.raw = in;
  r.mode = in.i_mode;
  r.uid = inode_uid(in);
  r.gid = inode_gid(in);
  r.size = std::uint64_t(in.i_size) | (std::uint64_t(in.i_size_high) << 32);
  r.links = in.i_links_count;
  r.flags = in.i_flags;
  r.mtime = Decode(in.i_mtime, in.i_mtime_extra,
                   ExtraCovers(fs, in, offsetof(ext2_inode_large, i_mtime_extra) + 4));
  r.atime = Decode(in.i_atime, in.i_atime_extra,
                   ExtraCovers(fs, in, offsetof(ext2_inode_large, i_atime_extra) + 4));
  r.live = in.i_mode != 0 && in.i_links_count > 0 && in.i_dtime == 0;
  NoteJournalFallback(fs, &r);
  return r;
}

Result<InodeInfo> ReadInode(ext2_filsys fs, ext2_ino_t ino) {
  if (ino == 0 || ino > fs->super->s_inodes_count)
    return Error{Code::kCorrupt, "inode " + std::to_string(ino) + " out of range"};
  // Read the whole on-disk inode: its checksum covers all of it.
  const unsigned isize = std::max<unsigned>(EXT2_INODE_SIZE(fs->super), sizeof(ext2_inode_large));
  thread_local std::vector<std::uint8_t> buf;
  buf.assign(isize, 0);
  auto* full = reinterpret_cast<ext2_inode_large*>(buf.data());
  // The handle ignores checksum errors; for this one read it does not, so
  // libext2fs reports the checksum it computes anyway (it copies the inode out
  // before checking) and we need not compute it a second time. Inodes it has
  // cached passed their check.
  const int saved_flags = fs->flags;
  fs->flags &= ~EXT2_FLAG_IGNORE_CSUM_ERRORS;
  errcode_t rc = ext2fs_read_inode_full(fs, ino, reinterpret_cast<ext2_inode*>(full),
                                        static_cast<int>(EXT2_INODE_SIZE(fs->super)));
  fs->flags = saved_flags;
  bool csum_bad = false;
  if (rc == EXT2_ET_INODE_CSUM_INVALID) {
    csum_bad = full->i_mode != 0;  // an unused inode's checksum does not matter
  } else if (rc == EXT2_ET_INODE_IS_GARBAGE) {
    csum_bad = true;
  } else if (rc != 0) {
    Error e = Ext2Error("inode " + std::to_string(ino), rc);
    e.code = Code::kNotFound;
    return e;
  }
  ext2_inode_large in;
  std::memcpy(&in, buf.data(), sizeof in);
  InodeInfo r = DecodeInode(fs, ino, in);
  r.csum_bad = csum_bad;
  return r;
}

}  // namespace mr::salvage
