// mailrescue rescue: the one-command rescue boot (orchestrate/rescue.h).
#include <csignal>
#include <fstream>
#include <iostream>
#include <unistd.h>

#include "cli/command.h"
#include "common/exit_codes.h"
#include "orchestrate/rescue.h"
#include "orchestrate/userlist.h"

namespace mr::cli {
namespace {

struct RescueArgs {
  orchestrate::RescueOptions o;
  std::string backup_spool, backup_db, backup_conf, out_spool, out_db;
  std::vector<std::string> target_specs;
  std::string targets_file;
  std::string db_format = "auto";
  std::string superblock, blocksize;
  bool in_place = false;
  bool no_fsync = false;
};

RescueArgs args;

void OnSignal(int) { orchestrate::RequestStop(); }

int ExitFor(const Error& e) {
  switch (e.code) {
    case Code::kCannotOpen: return kExitNoSource;
    case Code::kInvalidArgument:
    case Code::kNotFound:
    case Code::kUnsupported:
    case Code::kExists: return kExitUsage;
    case Code::kIoError:
    case Code::kCorrupt: return kExitAttention;
    default: return kExitInternal;
  }
}

int Run(const GlobalOptions& g) {
  auto& o = args.o;
  o.quiet = g.quiet;
  if (!args.superblock.empty() || !args.blocksize.empty()) {
    if (args.superblock.empty() || args.blocksize.empty()) {
      std::cerr << "mailrescue rescue: --superblock and --blocksize go together\n";
      return kExitUsage;
    }
    try {
      o.superblock = std::stoull(args.superblock);
      o.blocksize = static_cast<unsigned>(std::stoul(args.blocksize));
    } catch (const std::exception&) {
      std::cerr << "mailrescue rescue: --superblock/--blocksize: not a number\n";
      return kExitUsage;
    }
  }
  if (args.db_format != "auto")
    o.db_format = args.db_format == "flat" ? cyrus::DbFormat::kFlat : cyrus::DbFormat::kTwoskip;
  o.fsync = !args.no_fsync;
  bool single = !args.backup_spool.empty() || !args.backup_db.empty() || !args.out_spool.empty() ||
                !args.out_db.empty();
  if (single) {
    if (args.backup_spool.empty() || args.backup_db.empty() || (!args.in_place && (args.out_spool.empty() || args.out_db.empty()))) {
      std::cerr << "mailrescue rescue: --backup-spool, --backup-db, --out-spool and --out-db go together "
                   "(or --in-place instead of the --out-* pair)\n";
      return kExitUsage;
    }
    orchestrate::RescueTarget t;
    t.name = "default";
    t.backup_spool = args.backup_spool;
    t.backup_db = args.backup_db;
    t.backup_conf = args.backup_conf;
    t.in_place = args.in_place;
    t.out_spool = args.in_place ? args.backup_spool : args.out_spool;
    t.out_db = args.in_place ? args.backup_db : args.out_db;
    o.targets.push_back(t);
  }
  std::vector<std::string> specs = args.target_specs;
  if (!args.targets_file.empty()) {
    auto l = orchestrate::ReadUserList(args.targets_file);  // same line rules
    if (!l) {
      std::cerr << "mailrescue rescue: --targets " << args.targets_file << ": " << l.error().message << "\n";
      return kExitUsage;
    }
    specs.insert(specs.end(), l->begin(), l->end());
  }
  for (const auto& spec : specs) {
    auto t = orchestrate::TargetFromImapdConf(spec);
    if (!t) {
      std::cerr << "mailrescue rescue: " << t.error().message << "\n";
      return kExitUsage;
    }
    o.targets.push_back(*t);
  }
  if (o.targets.empty()) {
    std::cerr << "mailrescue rescue: no target: give --backup-spool/--backup-db/--out-spool/--out-db "
                 "or --target NAME=IMAPD_CONF\n";
    return kExitUsage;
  }
  if (o.workdir.empty()) o.workdir = "mailrescue-work";
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  auto r = orchestrate::RunRescue(o);
  if (!r) {
    std::cerr << "mailrescue rescue: " << r.error().message << "\n";
    return ExitFor(r.error());
  }
  if (!(o.report && *o.report == "-")) std::cout << r->summary;
  return r->exit_code;
}

Registrar reg{Command{
    "rescue", 30,
    [](CLI::App& app, GlobalOptions&) {
      auto* c = app.add_subcommand("rescue", "Salvage, reconcile and verify user by user: the one-command rescue boot");
      auto& o = args.o;
      c->add_option("SOURCE", o.source, "Damaged block device or image file (opened read-only)")->required();
      c->add_option("--backup-spool", args.backup_spool, "Spool (partition root) of the restored backup");
      c->add_option("--backup-db", args.backup_db, "mailboxes.db of the restored backup");
      c->add_option("--backup-conf", args.backup_conf, "imapd.conf of the restored backup (layout settings)");
      c->add_option("--out-spool", args.out_spool, "Output spool (partition root)");
      c->add_option("--out-db", args.out_db, "Output mailboxes.db");
      c->add_flag("--in-place", args.in_place, "Reconcile onto the restored backup itself (atomic per folder)");
      c->add_option("--target", args.target_specs,
                    "NAME=IMAPD_CONF: a server the backups were restored onto (repeatable; reconciled in place)");
      c->add_option("--targets", args.targets_file, "File of NAME=IMAPD_CONF lines");
      c->add_option("--workdir", o.workdir, "Salvage staging and run state (resume by rerunning)")
          ->default_str("mailrescue-work");
      c->add_option("--badmap", o.badmap, "GNU ddrescue mapfile: non-finished areas are unreadable");
      c->add_option("--spool-path", o.spool_path, "Spool path inside the filesystem (default: found)");
      c->add_option("--config-path", o.config_path, "Config directory inside the filesystem (default: found)");
      c->add_option("--superblock", args.superblock, "Force this backup superblock (with --blocksize)");
      c->add_option("--blocksize", args.blocksize, "Block size for --superblock");
      c->add_option("--journal", o.journal,
                    "replay: read the filesystem as after journal replay (in memory, never written); "
                    "ignore: as it is on disk, journal unused; auto (default): replay when the journal holds "
                    "transactions. Except with ignore, blocks the source cannot read are served from "
                    "older journal copies when there are any")
          ->check(CLI::IsMember({"auto", "replay", "ignore"}));
      c->add_option("--users", o.users_file, "Only these users (one a line; %shared = the shared mailboxes)");
      c->add_option("--priority", o.priority_file,
                    "Users trying to log in (one a line); re-read while running, appended users go next");
      c->add_option("--shard", o.shard, "K/N: take a stable hash slice of the users; 'auto' reads "
                                        "JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID");
      c->add_option("--jobs", o.jobs, "Worker threads (default: number of cores)");
      c->add_flag("--dry-run", o.dry_run, "Plan every user; write nothing outside --workdir but the report");
      c->add_option("--report", o.report, "JSON report file ('-' = stdout)");
      c->add_option("--html-report", o.html_report, "Self-contained HTML report (default WORKDIR/report.html)");
      c->add_option("--events", o.events, "JSON-lines event log (user queued/started/staged/done/attention)");
      c->add_option("--on-user-done", o.on_user_done,
                    "Command run per verified user (MAILRESCUE_USER, MAILRESCUE_TARGET, MAILRESCUE_STATUS)");
      c->add_option("--proxy-map", o.proxy_map, "user<TAB>target map (default WORKDIR/proxy.map)");
      c->add_option("--db-format", args.db_format,
                    "Output mailboxes.db format; auto: the backup's (its imapd.conf mboxlist_db, else its file)")
          ->check(CLI::IsMember({"auto", "twoskip", "flat"}));
      c->add_flag("--no-fsync", args.no_fsync, "Skip fsync (tests only)");
      return c;
    },
    Run}};

}  // namespace
}  // namespace mr::cli
