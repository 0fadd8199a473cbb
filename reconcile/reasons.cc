#include "reconcile/reasons.h"

#include <array>
#include <stdexcept>

namespace mr::reconcile {
namespace {

using S = Severity;
constexpr std::array kTable = {
    ReasonInfo{Reason::kSameMessage, "same_message", S::kInfo, "uid and GUID on both sides: kept once"},
    ReasonInfo{Reason::kNewSinceBackup, "new_since_backup", S::kInfo, "only in the salvaged store: new since the backup"},
    ReasonInfo{Reason::kDeletedSinceBackup, "deleted_since_backup", S::kInfo,
               "only in the backup, below the salvaged last_uid: deleted since the backup"},
    ReasonInfo{Reason::kExpungedSinceBackup, "expunged_since_backup", S::kInfo,
               "expunged in the salvaged store since the backup"},
    ReasonInfo{Reason::kExpungedInSalvage, "expunged_in_salvage", S::kInfo, "expunged record in the salvaged index: not carried"},
    ReasonInfo{Reason::kBackupOnlyNoEvidence, "backup_only_no_evidence", S::kInfo,
               "only in the backup and the salvaged folder cannot prove a deletion: kept"},
    ReasonInfo{Reason::kBackupAboveLastUid, "backup_above_last_uid", S::kInfo,
               "only in the backup, above the salvaged last_uid: kept"},
    ReasonInfo{Reason::kUidConflictRenumbered, "uid_conflict_renumbered", S::kInfo,
               "same uid with another GUID on each side: the backup's copy got a new uid"},
    ReasonInfo{Reason::kAlreadyPresent, "already_present", S::kInfo, "the backup's copy is already in the folder under another uid"},
    ReasonInfo{Reason::kDamagedTakenFromBackup, "damaged_taken_from_backup", S::kInfo,
               "salvaged file missing or damaged: the backup's copy of the same GUID was used"},
    ReasonInfo{Reason::kUnrecoverable, "unrecoverable", S::kLost,
               "salvaged file missing or damaged and the backup lacks the message"},
    ReasonInfo{Reason::kBackupFileMissing, "backup_file_missing", S::kLost,
               "the backup's record has no usable file and the salvaged store lacks the message"},
    ReasonInfo{Reason::kOrphanFileKept, "orphan_file_kept", S::kInfo, "salvaged file without an index record: kept at its uid"},
    ReasonInfo{Reason::kOrphanFileRenumbered, "orphan_file_renumbered", S::kInfo,
               "salvaged file without an index record whose uid was taken: renumbered"},
    ReasonInfo{Reason::kNotMergedUidvalidity, "not_merged_uidvalidity", S::kAttention,
               "folder re-created since the backup: this backup message is not in it and was not merged"},
    ReasonInfo{Reason::kRestoredFromBackup, "restored_from_backup", S::kInfo, "restored from the backup"},
    ReasonInfo{Reason::kFolderMerged, "folder_merged", S::kInfo, "folder on both sides: merged"},
    ReasonInfo{Reason::kFolderNewSinceBackup, "folder_new_since_backup", S::kInfo, "folder only in the salvaged store: taken"},
    ReasonInfo{Reason::kFolderDeletedSinceBackup, "folder_deleted_since_backup", S::kInfo,
               "folder only in the backup and the salvaged tree is readable: deleted since the backup"},
    ReasonInfo{Reason::kFolderKeptDamagedTree, "folder_kept_damaged_tree", S::kAttention,
               "folder only in the backup and the salvaged tree is damaged: restored from the backup"},
    ReasonInfo{Reason::kFolderRecreated, "folder_recreated", S::kAttention,
               "folder re-created since the backup (uidvalidity or uniqueid differ): the salvaged folder wins"},
    ReasonInfo{Reason::kFolderRenamed, "folder_renamed", S::kInfo, "folder renamed since the backup: merged under its new name"},
    ReasonInfo{Reason::kFolderDeletedInSalvage, "folder_deleted_in_salvage", S::kInfo,
               "the salvaged mailboxes.db marks the folder deleted"},
    ReasonInfo{Reason::kFolderLost, "folder_lost", S::kLost,
               "the salvaged mailboxes.db names this folder, but salvage found nothing of it and the backup "
               "has no copy: whatever mail it held is lost (written empty)"},
    ReasonInfo{Reason::kUserMerged, "user_merged", S::kInfo, "user on both sides: merged"},
    ReasonInfo{Reason::kUserBackupOnly, "user_backup_only", S::kAttention,
               "backup only: changes since the backup are lost"},
    ReasonInfo{Reason::kUserSalvageOnly, "user_salvage_only", S::kInfo, "user only in the salvaged store: taken"},
    ReasonInfo{Reason::kUserLost, "user_lost", S::kLost,
               "nothing of this user was salvaged and the backup has none of it: every folder the salvaged "
               "mailboxes.db names is written empty, their mail is lost"},
};

constexpr bool TableInOrder() {
  for (std::size_t i = 0; i < kTable.size(); ++i)
    if (static_cast<std::size_t>(kTable[i].reason) != i) return false;
  return true;
}
static_assert(TableInOrder(), "reason table must follow the enum order");

}  // namespace

const ReasonInfo& Info(Reason r) {
  auto i = static_cast<std::size_t>(r);
  if (i >= kTable.size()) throw std::logic_error("reason out of range");
  return kTable[i];
}

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo: return "ok";
    case Severity::kAttention: return "attention";
    case Severity::kLost: return "lost";
  }
  return "ok";
}

}  // namespace mr::reconcile
