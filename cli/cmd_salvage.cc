// `mailrescue salvage SOURCE --out DIR ...`: copy everything readable off a
// damaged ext2/3/4 spool (salvage/run.h does the work). Exit 0 clean, 1 done
// with damage to look at, 2 bad usage, 3 source cannot be opened.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/command.h"
#include "common/exit_codes.h"
#include "salvage/run.h"

namespace mr::cli {
namespace {

struct SalvageArgs {
  std::string source, out, spool, config, badmap, users, priority, report;
  std::optional<std::uint64_t> superblock;
  std::optional<unsigned> blocksize;
  std::string journal = "auto";
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
  o.source = a.source;
  o.out_dir = a.out;
  if (!a.spool.empty()) o.spool_path = a.spool;
  if (!a.config.empty()) o.config_path = a.config;
  if (!a.badmap.empty()) o.badmap_path = a.badmap;
  o.superblock = a.superblock;
  o.blocksize = a.blocksize;
  if (a.journal != "auto") {
    auto jm = salvage::ParseJournalMode(a.journal);
    if (!jm.ok()) {
      std::cerr << "mailrescue: --journal " << a.journal << ": expected replay, ignore or auto\n";
      return kExitUsage;
    }
    o.journal = *jm;
  }
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
      c->add_option("SOURCE", a.source, "Block device or image file")->required();
      c->add_option("--out", a.out, "Output directory: DIR/spool, DIR/conf, DIR/lost+found, DIR/salvage.json");
      c->add_option("--spool-path", a.spool, "Spool (partition root) path inside the filesystem");
      c->add_option("--config-path", a.config, "Config directory (holding mailboxes.db) inside the filesystem");
      c->add_option("--badmap", a.badmap, "GNU ddrescue mapfile: areas not finished are never read")
          ->check(CLI::ExistingFile);
      c->add_option("--superblock", a.superblock, "Use this backup superblock (in blocks of --blocksize)");
      c->add_option("--blocksize", a.blocksize, "Block size for --superblock");
      c->add_option("--journal", a.journal,
                    "replay (committed transactions, in memory; the source is never written), ignore "
                    "(do not use the journal: no replay, no older copies for unreadable blocks), "
                    "or auto (replay when needs_recovery; default). Except with ignore, blocks the "
                    "source cannot read are served from older journal copies when there are any");
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
