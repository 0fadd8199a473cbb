// `mailrescue reconcile`: merge a salvaged store with a restored backup.
// Option wiring only; the work is reconcile/reconcile.h.
#include <fstream>
#include <iostream>
#include <mutex>

#include "cli/command.h"
#include "common/cyrus_layout.h"
#include "common/exit_codes.h"
#include "reconcile/reconcile.h"
#include "reconcile/report.h"

namespace mr::cli {
namespace {

struct ReconcileArgs {
  reconcile::ReconcileOptions o;
  std::string users_file;
  std::string report;
  std::string db_format = "auto";
  bool no_fsync = false;
};

ReconcileArgs& Args() {
  static ReconcileArgs a;
  return a;
}

Result<std::vector<std::string>> ReadUsers(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{Code::kInvalidArgument, "--users: cannot read " + path};
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    auto b = line.find_first_not_of(" \t\r");
    auto e = line.find_last_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    out.push_back(UserFromListEntry(line.substr(b, e - b + 1)));  // login ids work too
  }
  return out;
}

int Run(const GlobalOptions& g) {
  ReconcileArgs& a = Args();
  auto& o = a.o;
  if (!a.users_file.empty()) {
    auto u = ReadUsers(a.users_file);
    if (!u) {
      std::cerr << "mailrescue reconcile: " << u.error().message << "\n";
      return kExitUsage;
    }
    o.users = std::move(u.value());
  }
  if (a.db_format != "auto")
    o.db_format = a.db_format == "flat" ? cyrus::DbFormat::kFlat : cyrus::DbFormat::kTwoskip;
  o.fsync = !a.no_fsync;
  std::mutex mu;
  if (!g.quiet) {
    o.on_user_done = [&](const reconcile::UserOutcome& u) {
      std::lock_guard<std::mutex> lk(mu);
      std::cerr << "reconcile: " << u.user << " " << (a.o.dry_run ? "planned" : u.done ? "done" : "NOT done") << " ("
                << reconcile::SeverityName(u.status) << ")";
      if (!u.done && !a.o.dry_run && !u.errors.empty()) std::cerr << ": " << u.errors.front();
      std::cerr << "\n";
    };
  }
  auto run = reconcile::ReconcileAll(o);
  if (!run) {
    std::cerr << "mailrescue reconcile: " << run.error().message << "\n";
    return run.error().code == Code::kInvalidArgument || run.error().code == Code::kNotFound ||
                   run.error().code == Code::kCorrupt
               ? kExitUsage
               : kExitInternal;
  }
  if (o.dry_run) std::cout << reconcile::SummaryTable(run->users);
  for (const auto& u : run->unknown_users)
    std::cerr << "mailrescue reconcile: --users names " << u
              << ", who is in neither the backup nor the salvaged store; skipped\n";
  for (const auto& e : run->errors) std::cerr << "mailrescue reconcile: " << e << "\n";
  if (!a.report.empty()) {
    std::string text = reconcile::ReconcileReportJson(*run, o).dump(2) + "\n";
    if (a.report == "-") {
      std::cout << text;
    } else {
      std::ofstream out(a.report);
      out << text;
      if (!out) {
        std::cerr << "mailrescue reconcile: --report: cannot write " << a.report << "\n";
        return kExitInternal;
      }
    }
  }
  return run->ExitCode() == 0 ? kExitOk : kExitAttention;
}

CLI::App* Setup(CLI::App& app, GlobalOptions&) {
  ReconcileArgs& a = Args();
  auto* sub = app.add_subcommand("reconcile", "Merge a salvaged store with a restored backup into a consistent store");
  sub->add_option("--salvaged", a.o.paths.salvaged_dir, "salvage output DIR (DIR/spool, DIR/conf, DIR/salvage.json)")
      ->required();
  sub->add_option("--backup-spool", a.o.paths.backup_spool, "restored backup spool (partition root)")->required();
  sub->add_option("--backup-db", a.o.paths.backup_db, "restored backup mailboxes.db")->required();
  sub->add_option("--backup-conf", a.o.paths.backup_conf, "backup imapd.conf (hashimapspool, mboxlist_db)");
  sub->add_option("--out-spool", a.o.out_spool, "output spool (partition root)");
  sub->add_option("--out-db", a.o.out_db, "output mailboxes.db");
  sub->add_flag("--in-place", a.o.in_place, "write onto the backup spool (whole-folder atomic swaps)");
  sub->add_option("--users", a.users_file, "only the users listed in FILE (one a line; %shared = the shared mailboxes)");
  sub->add_option("--priority", a.o.priority_file, "users to do first; re-read while running");
  sub->add_option("--jobs", a.o.jobs, "parallel users (default: number of cores)")->check(CLI::Range(1, 4096));
  sub->add_flag("--dry-run", a.o.dry_run, "plan only: print a per-user table, write only the report");
  sub->add_option("--report", a.report, "write the JSON report to FILE ('-' = stdout)");
  sub->add_option("--db-format", a.db_format,
                  "output mailboxes.db format; auto: the backup's (--backup-conf mboxlist_db, else its file)")
      ->check(CLI::IsMember({"auto", "twoskip", "flat"}));
  sub->add_flag("--no-fsync", a.no_fsync, "skip fsync (tests, benchmarks, tmpfs)");
  return sub;
}

const Registrar reg(Command{"reconcile", 30, Setup, Run});

}  // namespace
}  // namespace mr::cli
