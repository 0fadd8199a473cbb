// `mailrescue salvage SOURCE --out DIR ...`: copy everything readable off a
// damaged ext2/3/4 spool (salvage/run.h does the work). Exit 0 clean, 1 done
// with damage to look at, 2 bad usage, 3 source cannot be opened.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/command.h"
#include "cli/source_options.h"
#include "common/exit_codes.h"
#include "salvage/run.h"

namespace mr::cli {
namespace {

struct SalvageArgs {
  SourceArgs src;
  std::string out, users, priority, report;
  int jobs = 0;
  bool dry_run = false;
};

SalvageArgs& Args() {
  static SalvageArgs a;
  return a;
}

int ExitFor(const Error& e) {
  switch (e.code) {
    case Code::kCannotOpen: return kExitNoSource;
    case Code::kInvalidArgument:
    case Code::kNotFound:
    case Code::kUnsupported: return e.code == Code::kUnsupported ? kExitNoSource : kExitUsage;
    // The source never fails a read (damage is data), so an I/O error is the
    // output's: disk full, file too large, permission denied. That is bad
    // input in SPEC's terms (the --out argument cannot be used), not a bug.
    case Code::kIoError: return kExitUsage;
    default: return kExitInternal;
  }
}

int Run(const GlobalOptions& g) {
  SalvageArgs& a = Args();
  if (a.out.empty() && !a.dry_run) {
    std::cerr << "mailrescue salvage: --out DIR is required (or --dry-run)\n";
    return kExitUsage;
  }
  salvage::SalvageOptions o;
  if (!ToSalvageOptions(a.src, &o)) return kExitUsage;
  o.out_dir = a.out;
  o.jobs = a.jobs;
  o.dry_run = a.dry_run;
  salvage::RunOptions r;
  if (!a.users.empty()) r.users_file = a.users;
  if (!a.priority.empty()) r.priority_file = a.priority;
  if (!a.report.empty()) r.report = a.report;
  std::optional<salvage::StreamProgress> progress;
  if (!g.quiet) progress.emplace(stderr, ::isatty(2) != 0);
  auto res = salvage::RunSalvage(o, r, progress ? &*progress : nullptr);
  progress.reset();
  if (!res.ok()) {
    std::cerr << "mailrescue salvage: " << res.error().message << "\n";
    return ExitFor(res.error());
  }
  // Keep stdout clean for the JSON report when it goes there.
  (a.report == "-" ? std::cerr : std::cout) << res->summary;
  return res->needs_attention ? kExitAttention : kExitOk;
}

const Registrar reg{Command{
    "salvage", 10,
    [](CLI::App& app, GlobalOptions&) {
      auto* c = app.add_subcommand("salvage", "Copy everything readable off a damaged ext2/3/4 spool, read-only");
      SalvageArgs& a = Args();
      AddSourceOptions(c, a.src);
      c->add_option("--out", a.out, "Output directory: DIR/spool, DIR/conf, DIR/lost+found, DIR/salvage.json");
      c->add_option("--users", a.users, "Only these users (one a line)")->check(CLI::ExistingFile);
      c->add_option("--priority", a.priority, "Users to do first (one a line; re-read while running)")
          ->check(CLI::ExistingFile);
      c->add_option("--jobs", a.jobs, "Worker threads (default: number of cores)")->check(CLI::Range(1, 256));
      c->add_flag("--dry-run", a.dry_run, "Read and report; write nothing but the report");
      c->add_option("--report", a.report, "Write the JSON report to FILE ('-' = stdout)");
      return c;
    },
    Run}};

}  // namespace
}  // namespace mr::cli
