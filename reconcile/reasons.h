// The one catalogue of reconcile reason codes (cf. e2fsck's problem table).
//
// Every action the planner puts into a Plan, and every finding the report
// shows, carries one Reason. A Reason has a stable snake_case code (used in
// the JSON report, part of the contract once shipped), a one-line message
// for humans, and a severity that decides a user's report status:
//   kInfo      — normal merge outcome, nothing for an operator to do;
//   kAttention — done, but an operator should look (exit code 1);
//   kLost      — a message could not be recovered from either side.
// Pure data; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace mr::reconcile {

enum class Severity : std::uint8_t { kInfo, kAttention, kLost };

enum class Reason : std::uint8_t {
  // messages
  kSameMessage,              // uid and GUID on both sides: kept once
  kNewSinceBackup,           // uid only in S
  kDeletedSinceBackup,       // uid only in B, S readable, uid <= S.last_uid
  kExpungedSinceBackup,      // uid in B, S has it EXPUNGED
  kExpungedInSalvage,        // S record EXPUNGED and no B copy: not carried
  kBackupOnlyNoEvidence,     // uid only in B, S cannot prove a deletion
  kBackupAboveLastUid,       // uid only in B and above S.last_uid
  kUidConflictRenumbered,    // same uid, other GUID: B's copy got a new uid
  kAlreadyPresent,           // B's copy already in the folder under another uid
  kDamagedTakenFromBackup,   // S record without intact file, B has the GUID
  kUnrecoverable,            // S record without intact file, B lacks the GUID
  kBackupFileMissing,        // B record whose file is missing or the wrong size
  kOrphanFileKept,           // S file without a record, kept at its uid
  kOrphanFileRenumbered,     // S file without a record, its uid was taken
  kNotMergedUidvalidity,     // folder re-created: B message not in S, reported only
  kRestoredFromBackup,       // folder or user only in B, restored
  // folders
  kFolderMerged,
  kFolderNewSinceBackup,
  kFolderDeletedSinceBackup,
  kFolderKeptDamagedTree,    // folder only in B, S's tree damaged: kept
  kFolderRecreated,          // uidvalidity/uniqueid differ: S is the folder
  kFolderRenamed,            // same uniqueid, other name: S's name wins
  kFolderDeletedInSalvage,   // S's db holds a deleted tombstone for it
  kFolderLost,               // only S's db names it: nothing of it salvaged, no B copy
  // users
  kUserMerged,
  kUserBackupOnly,
  kUserSalvageOnly,
  kUserLost,                 // every folder kFolderLost: nothing of the user recovered
};

struct ReasonInfo {
  Reason reason;
  std::string_view code;
  Severity severity;
  std::string_view message;
};

const ReasonInfo& Info(Reason r);
inline std::string_view Code(Reason r) { return Info(r).code; }
const char* SeverityName(Severity s);  // "ok" | "attention" | "lost"

}  // namespace mr::reconcile
