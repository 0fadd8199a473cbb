// inode: decoded view of an on-disk inode (type, mode, owner, sizes, times with
// nanoseconds), read tolerantly: a checksum failure still yields the inode
// (flagged), an all-zero or deleted inode is reported as not live; one whose
// inode-table block came from the journal fallback is flagged from_journal.
// Thread-safety: one handle per thread.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>

#include "common/status.h"

namespace mr::salvage {

struct Timestamp {
  std::int64_t sec = 0;
  std::uint32_t nsec = 0;
};

struct InodeInfo {
  ext2_ino_t ino = 0;
  std::uint16_t mode = 0;  // type + permission bits as on disk
  std::uint32_t uid = 0, gid = 0;
  std::uint64_t size = 0;
  std::uint16_t links = 0;
  std::uint32_t flags = 0;
  Timestamp atime, mtime;
  bool csum_bad = false;
  bool live = false;  // mode != 0, links > 0, dtime == 0
  // The inode-table block holding it was (partly) unreadable and served from
  // an older journal copy (journal_overlay.h): the inode may be stale.
  bool from_journal = false;
  std::uint32_t journal_sequence = 0;  // the copy's transaction, when from_journal
  ext2_inode_large raw{};
};

// kNotFound when the inode's table is missing/unreadable; otherwise the inode
// (check .live).
Result<InodeInfo> ReadInode(ext2_filsys fs, ext2_ino_t ino);
// Decodes a raw inode already in memory (e.g. from an inode scan).
InodeInfo DecodeInode(ext2_filsys fs, ext2_ino_t ino, const ext2_inode_large& raw);

bool IsDir(std::uint16_t mode);
bool IsReg(std::uint16_t mode);
bool IsSymlink(std::uint16_t mode);

}  // namespace mr::salvage
