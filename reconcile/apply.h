// The applier: writes one planned folder into a spool. Decides nothing.
//
// For a FolderPlan with emit = true, ApplyFolder
//  1. recovers from an interrupted earlier run (a leftover "<dir>.mrtmp"),
//  2. returns early when the target already holds exactly this plan (same
//     cyrus.header bytes, same index header and records apart from cache
//     fields, every message file present with its size) — so rerunning a
//     killed reconcile only redoes unfinished folders;
//  3. builds the whole folder in "<dir>.mrtmp": message files as hard links
//     to the planned source files (a copy when linking fails or would change
//     the source's mtime), mtime = INTERNALDATE; cyrus.cache from the carried
//     records (re-checked; a message with no valid record on either side is
//     written uncached: cache_offset 0, cache_crc 0, see cyrus/cache.h);
//     cyrus.annotations when
//     planned; cyrus.header; cyrus.index last, with cache_offset/cache_crc;
//  4. swaps it into place atomically (renameat2 RENAME_EXCHANGE, or rename
//     when the folder is new), moves child folder directories of the legacy
//     layout across, and removes the old directory (in place, a backup
//     folder the plan marks preserve_replaced goes to
//     <spool>/lost+found/mailrescue/ instead).
// A crash at any moment leaves the folder either old or new. Message files
// are linked/copied in parallel (TBB). Thread-safe for distinct folders.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/status.h"
#include "reconcile/plan.h"

namespace mr::reconcile {

struct ApplyOptions {
  std::string s_spool;    // salvaged spool root
  std::string b_spool;    // backup spool root
  std::string out_spool;  // target spool root (== b_spool for --in-place)
  bool in_place = false;  // sources in the target may be re-timed/replaced
  bool set_owner = false; // chown what we create to owner:group
  uid_t owner = 0;
  gid_t group = 0;
  bool fsync = true;
};

struct ApplyStats {
  bool skipped = false;     // target already matched the plan
  std::uint64_t linked = 0;
  std::uint64_t copied = 0;
  std::uint64_t cache_carried = 0;
  std::uint64_t cache_missing = 0;  // written with cache_offset 0 (not cached)
  std::string set_aside;            // in place: where the replaced backup folder went
};

Result<ApplyStats> ApplyFolder(const FolderPlan& plan, const ApplyOptions& opt);

// Removes a directory tree we created (used for leftovers); refuses symlinks.
Status RemoveTree(const std::string& path);

// In place: moves the files of a backup folder that is no longer in the output
// (deleted since the backup, or re-created under another uniqueid) to
// <spool>/lost+found/mailrescue/removed-<dir>, so the spool holds no folder the
// db does not list; nothing is deleted. Subdirectories (child folders in the
// legacy layout) stay; the directory itself goes once it is empty. Returns
// where the files went ("" when there was nothing to move). Idempotent.
Result<std::string> SetAsideFolder(const std::string& spool, const std::string& rel_dir);

}  // namespace mr::reconcile
