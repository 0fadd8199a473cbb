// The pure merge planner (SPEC.md "Reconcile rules").
//
// PlanUser pairs the folders of one user on both sides and decides which are
// emitted; PlanFolder turns one pair of folder inventories into the complete
// output folder. Both are pure functions: no I/O, clock, randomness or
// threads; the same inputs give the same plan byte for byte, whatever order
// the callers built their vectors in (inputs are sorted/looked up by key).
// A message is dropped only on positive evidence from the salvaged side: a
// readable index of a fully listed folder whose last_uid covers the uid, with
// no bad record that could hide it, or an EXPUNGED record.
// Thread-safe (no shared state).
#pragma once

#include <string>

#include "reconcile/inventory.h"
#include "reconcile/plan.h"

namespace mr::reconcile {

UserPlan PlanUser(const std::string& user, const UserSide& s, const UserSide& b);

// `s` must be given when pairing.s is set, `b` when pairing.b is set (either
// may be an inventory of a missing directory).
FolderPlan PlanFolder(const FolderPairing& pairing, const FolderInventory* s, const FolderInventory* b);

// A stable 24-character [0-9a-z] uniqueid derived from a mailbox name, for a
// folder neither side can name one for.
std::string DeriveUniqueid(const std::string& name);

}  // namespace mr::reconcile
