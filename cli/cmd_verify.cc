// `mailrescue verify`: replication-style consistency check of a Cyrus store.
// Prints each finding as one line on stdout, a summary on stderr, writes the
// JSON report with --report; exit 0 when consistent, 1 when not, 2 on bad
// usage or an unreadable spool/db (reconcile/verify.h does the work).
#include <fstream>
#include <iostream>
#include <optional>

#include "cli/command.h"
#include "common/exit_codes.h"
#include "reconcile/cyrus/imapd_conf.h"
#include "reconcile/verify.h"

namespace mr::cli {
namespace {

struct VerifyArgs {
  std::string spool, db, conf, users_file, report;
  int jobs = 0;
  bool hash = false, no_hash = false, structure_only = false;
};

VerifyArgs& Args() {
  static VerifyArgs a;
  return a;
}

// One user a line; blank lines and '#' comments ignored.
Result<std::vector<std::string>> ReadUsersFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{Code::kInvalidArgument, "--users " + path + ": cannot be read"};
  std::vector<std::string> users;
  std::string line;
  while (std::getline(in, line)) {
    auto b = line.find_first_not_of(" \t\r");
    auto e = line.find_last_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    users.push_back(line.substr(b, e - b + 1));
  }
  return users;
}

Status WriteReport(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text;
    return Status::Ok();
  }
  std::ofstream out(path, std::ios::trunc);
  if (!out) return Error{Code::kIoError, "--report " + path + ": cannot be written"};
  out << text;
  out.close();
  if (!out) return Error{Code::kIoError, "--report " + path + ": write failed"};
  return Status::Ok();
}

int Run(const GlobalOptions& g) {
  VerifyArgs& a = Args();
  verify::VerifyOptions opts;
  opts.spool = a.spool;
  opts.db = a.db;
  opts.jobs = a.jobs;
  opts.skip_messages = a.structure_only;
  if (!a.conf.empty()) {
    auto conf = cyrus::ReadImapdConf(a.conf);
    if (!conf.ok()) {
      std::cerr << "mailrescue verify: --conf " << a.conf << ": " << conf.error().message << "\n";
      return kExitUsage;
    }
    if (opts.spool.empty()) opts.spool = conf->partition_default;
    if (opts.db.empty()) opts.db = conf->configdirectory + "/mailboxes.db";
    opts.hashimapspool = conf->hashimapspool;
    opts.fulldirhash = conf->fulldirhash;
  }
  if (a.hash) opts.hashimapspool = true;
  if (a.no_hash) opts.hashimapspool = false;
  if (opts.spool.empty() || opts.db.empty()) {
    std::cerr << "mailrescue verify: need --spool and --db (or --conf imapd.conf)\n";
    return kExitUsage;
  }
  if (!a.users_file.empty()) {
    auto users = ReadUsersFile(a.users_file);
    if (!users.ok()) {
      std::cerr << "mailrescue verify: " << users.error().message << "\n";
      return kExitUsage;
    }
    opts.users = std::move(*users);
  }
  auto outcome = verify::VerifyAll(opts);
  if (!outcome.ok()) {
    std::cerr << "mailrescue verify: " << outcome.error().message << "\n";
    return kExitUsage;
  }
  if (!a.report.empty()) {
    Status s = WriteReport(a.report, verify::ReportJson(opts, *outcome));
    if (!s.ok()) {
      std::cerr << "mailrescue verify: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  if (a.report != "-")
    for (const auto& u : outcome->users)
      for (const auto& line : u.problems) std::cout << line << "\n";
  const auto& t = outcome->totals;
  if (!g.quiet) {
    std::cerr << "verify: " << t.users << " users, " << t.folders << " folders, " << t.messages
              << " messages, " << t.bytes << " bytes: ";
    if (outcome->ok())
      std::cerr << "consistent\n";
    else
      std::cerr << t.problems << " problems in " << (t.users - t.users_ok) << " users\n";
  }
  return outcome->ok() ? kExitOk : kExitAttention;
}

CLI::App* Setup(CLI::App& app, GlobalOptions&) {
  VerifyArgs& a = Args();
  auto* sub = app.add_subcommand(
      "verify", "Check a Cyrus store like a replication check: db, folders, index, files, GUIDs");
  sub->add_option("--spool", a.spool, "Partition root (partition-default)");
  sub->add_option("--db", a.db, "mailboxes.db (twoskip or flat)");
  sub->add_option("--conf", a.conf, "imapd.conf to take the spool, db and layout from")
      ->check(CLI::ExistingFile);
  sub->add_option("--users", a.users_file, "Only the users listed in FILE (one a line; %shared = the shared mailboxes)");
  sub->add_option("--report", a.report, "Write the JSON report to FILE ('-' = stdout)");
  sub->add_option("--jobs", a.jobs, "Parallel workers (default: number of cores)")
      ->check(CLI::NonNegativeNumber);
  auto* h = sub->add_flag("--hashimapspool", a.hash, "Legacy dirs are hashed (b/user/bob)");
  auto* nh = sub->add_flag("--no-hashimapspool", a.no_hash, "Legacy dirs are not hashed");
  h->excludes(nh);
  sub->add_flag("--structure-only", a.structure_only,
                "Skip reading message files (no size/SHA1 checks)");
  return sub;
}

const Registrar kRegistrar{Command{"verify", 40, Setup, Run}};

}  // namespace
}  // namespace mr::cli
