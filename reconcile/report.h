// Reconcile's part of the JSON report (SPEC.md "Report") and the dry-run
// table.
//
// UserReportJson gives one users[] element with SPEC's field names
// (user, status, folders[{name, uniqueid, uidvalidity, kept, from_salvage,
// from_backup, dropped_deleted, renumbered, unrecoverable[{uid, reason}]}])
// plus extra fields (mailbox, reason codes, problems, not_merged, ...).
// ReconcileReportJson wraps all users with tool/version/command/source/totals;
// the shared unit (kSharedUnit) is not in users[] but is the top-level
// "shared" element (same shape, "user":"%shared"; null when there are no
// shared mailboxes). totals count folders and messages of every unit, and
// users/ok/attention/lost/backup_only_users over real users only.
// SummaryTable is the human table --dry-run prints. Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "reconcile/reconcile.h"

namespace mr::reconcile {

nlohmann::json UserReportJson(const UserOutcome& u);
nlohmann::json TotalsJson(const std::vector<UserOutcome>& users);
nlohmann::json ReconcileReportJson(const RunOutcome& run, const ReconcileOptions& opts);
std::string SummaryTable(const std::vector<UserOutcome>& users);

}  // namespace mr::reconcile
