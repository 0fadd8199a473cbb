// Where the internal journal lives on the device: the journal inode's
// logical -> physical block runs, read read-only through libext2fs.
//
// The journal inode (s_journal_inum, usually 8) is mapped through its extent
// tree or block map. When that inode is unusable and the superblock keeps a
// backup of its i_block (s_jnl_backup_type == EXT3_JNL_BACKUP_BLOCKS), the
// backup is used instead. External journals are not supported (error value).
// Sizes are clamped to the filesystem, so a garbage i_size never sizes an
// allocation: memory is proportional to the number of extents actually found.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"

namespace mr::salvage {

struct JournalRun {
  uint64_t lblk = 0;  // first journal block of the run
  uint64_t pblk = 0;  // its physical filesystem block
  uint64_t len = 0;
};

struct JournalLocation {
  uint32_t inode = 0;
  uint64_t size_bytes = 0;  // i_size
  uint64_t blocks = 0;      // journal length in blocks (i_size / blocksize, clamped)
  bool from_superblock_backup = false;
  std::vector<JournalRun> runs;  // sorted by lblk, non-overlapping

  // Physical block of journal block `lblk`, or 0 when it is not mapped.
  uint64_t Physical(uint64_t lblk) const;
};

// true when the filesystem has an internal journal inode.
bool HasInternalJournal(ext2_filsys fs);
// The superblock's needs_recovery flag.
bool NeedsRecovery(ext2_filsys fs);

// Maps the journal. Errors: kNotFound (no journal), kUnsupported (external
// journal), kCorrupt (neither the inode nor its backup maps block 0).
Result<JournalLocation> LocateJournal(ext2_filsys fs);

// Reads journal block `lblk` (one filesystem block) through fs->io.
Status ReadJournalBlock(ext2_filsys fs, const JournalLocation& loc, uint64_t lblk,
                        std::span<uint8_t> buf);

}  // namespace mr::salvage
