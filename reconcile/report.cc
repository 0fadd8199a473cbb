#include "reconcile/report.h"

#include <cstdio>

#include "common/cyrus_layout.h"

namespace mr::reconcile {

using nlohmann::json;

nlohmann::json UserReportJson(const UserOutcome& u) {
  json folders = json::array();
  for (const auto& f : u.folders) {
    json ren = json::array();
    for (const auto& r : f.renumbered)
      ren.push_back({{"from", r.from}, {"to", r.to}, {"side", SideName(r.side)}, {"reason", Code(r.reason)}});
    json lost = json::array();
    for (const auto& l : f.unrecoverable)
      lost.push_back({{"uid", l.uid}, {"reason", l.damage}, {"size", l.size}, {"code", Code(l.reason)}});
    json nm = json::array();
    for (const auto& n : f.not_merged) nm.push_back({{"uid", n.uid}, {"guid", ToHex(n.guid)}});
    json fo = {{"name", f.folder.empty() ? f.name : f.folder},
               {"mailbox", f.name},
               {"uniqueid", f.uniqueid},
               {"uidvalidity", f.uidvalidity},
               {"emitted", f.emitted},
               {"reason", Code(f.reason)},
               {"note", Info(f.reason).message},
               {"kept", f.counts.kept},
               {"from_salvage", f.counts.from_salvage},
               {"from_backup", f.counts.from_backup},
               {"dropped_deleted", f.counts.dropped_deleted},
               {"renumbered", ren},
               {"unrecoverable", lost},
               {"not_merged", nm},
               {"problems", f.problems}};
    if (!f.error.empty()) fo["error"] = f.error;
    if (f.emitted && f.error.empty() && f.applied)
      fo["applied"] = f.apply.skipped ? "skipped" : "written";
    if (!f.apply.set_aside.empty()) fo["set_aside"] = f.apply.set_aside;
    folders.push_back(std::move(fo));
  }
  json j = {{"user", u.user},
            {"status", SeverityName(u.status)},
            {"reason", Code(u.reason)},
            {"note", Info(u.reason).message},
            {"done", u.done},
            {"folders", folders}};
  if (!u.errors.empty()) j["errors"] = u.errors;
  return j;
}

nlohmann::json TotalsJson(const std::vector<UserOutcome>& users) {
  std::uint64_t ok = 0, attention = 0, lost = 0, folders = 0, kept = 0, from_s = 0, from_b = 0, dropped = 0, ren = 0,
                unrec = 0, notm = 0, backup_only = 0;
  std::uint64_t real_users = 0;
  for (const auto& u : users) {
    if (u.user != kSharedUnit) {
      ++real_users;
      if (u.status == Severity::kInfo) ++ok;
      else if (u.status == Severity::kAttention) ++attention;
      else ++lost;
      if (u.reason == Reason::kUserBackupOnly) ++backup_only;
    }
    for (const auto& f : u.folders) {
      folders += f.emitted;
      kept += f.counts.kept;
      from_s += f.counts.from_salvage;
      from_b += f.counts.from_backup;
      dropped += f.counts.dropped_deleted;
      ren += f.renumbered.size();
      unrec += f.unrecoverable.size();
      notm += f.not_merged.size();
    }
  }
  return {{"users", real_users}, {"ok", ok}, {"attention", attention}, {"lost", lost},
          {"backup_only_users", backup_only}, {"folders", folders}, {"kept", kept}, {"from_salvage", from_s},
          {"from_backup", from_b}, {"dropped_deleted", dropped}, {"renumbered", ren},
          {"unrecoverable", unrec}, {"not_merged", notm}};
}

nlohmann::json ReconcileReportJson(const RunOutcome& run, const ReconcileOptions& opts) {
  json users = json::array();
  json shared = nullptr;
  for (const auto& u : run.users) {
    if (u.user == kSharedUnit) shared = UserReportJson(u);
    else users.push_back(UserReportJson(u));
  }
  json j = {{"tool", "mailrescue"},
            {"version", MAILRESCUE_VERSION},
            {"command", "reconcile"},
            {"dry_run", opts.dry_run},
            {"source",
             {{"salvaged", opts.paths.salvaged_dir},
              {"backup_spool", opts.paths.backup_spool},
              {"backup_db", opts.paths.backup_db}}},
            {"output", {{"spool", opts.out_spool}, {"db", opts.out_db}, {"in_place", opts.in_place}}},
            {"users", users},
            {"totals", TotalsJson(run.users)},
            {"db_written", run.db_written},
            {"shared", shared},
            {"unknown_users", run.unknown_users},
            {"errors", run.errors}};
  return j;
}

std::string SummaryTable(const std::vector<UserOutcome>& users) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-24s %-9s %8s %8s %8s %8s %8s %8s\n", "user", "status", "kept", "salvage",
                "backup", "deleted", "renumber", "lost");
  out += line;
  std::uint64_t t[6] = {0, 0, 0, 0, 0, 0};
  for (const auto& u : users) {
    std::uint64_t c[6] = {0, 0, 0, 0, 0, 0};
    for (const auto& f : u.folders) {
      c[0] += f.counts.kept;
      c[1] += f.counts.from_salvage;
      c[2] += f.counts.from_backup;
      c[3] += f.counts.dropped_deleted;
      c[4] += f.renumbered.size();
      c[5] += f.unrecoverable.size();
    }
    for (int i = 0; i < 6; ++i) t[i] += c[i];
    std::string name = u.user.size() > 24 ? u.user.substr(0, 21) + "..." : u.user;
    std::snprintf(line, sizeof line, "%-24s %-9s %8llu %8llu %8llu %8llu %8llu %8llu%s\n", name.c_str(),
                  SeverityName(u.status), static_cast<unsigned long long>(c[0]), static_cast<unsigned long long>(c[1]),
                  static_cast<unsigned long long>(c[2]), static_cast<unsigned long long>(c[3]),
                  static_cast<unsigned long long>(c[4]), static_cast<unsigned long long>(c[5]),
                  u.reason == Reason::kUserBackupOnly ? "  (backup only: changes since the backup are lost)" : "");
    out += line;
  }
  std::snprintf(line, sizeof line, "%-24s %-9s %8llu %8llu %8llu %8llu %8llu %8llu\n", "TOTAL", "",
                static_cast<unsigned long long>(t[0]), static_cast<unsigned long long>(t[1]),
                static_cast<unsigned long long>(t[2]), static_cast<unsigned long long>(t[3]),
                static_cast<unsigned long long>(t[4]), static_cast<unsigned long long>(t[5]));
  out += line;
  return out;
}

}  // namespace mr::reconcile
