// mailrescue: salvage a damaged ext2/3/4 Cyrus spool and reconcile it with a
// restored backup. This file only dispatches to the registered subcommands.
#include <signal.h>

#include <algorithm>
#include <exception>
#include <iostream>

#include "cli/command.h"
#include "common/exit_codes.h"

namespace mr::cli {
std::vector<Command>& Registry() {
  static std::vector<Command> r;
  return r;
}
}  // namespace mr::cli

int main(int argc, char** argv) {
  using namespace mr::cli;
  // A file-size limit (ulimit -f, a quota-like cap) must be an EFBIG error value that
  // names the file, not a SIGXFSZ death with no message.
  ::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"mailrescue - get a Cyrus mail service back after its spool disk dies"};
  app.set_version_flag("--version", std::string("mailrescue ") + MAILRESCUE_VERSION);
  app.require_subcommand(1);
  GlobalOptions g;
  app.add_flag("-q,--quiet", g.quiet, "No progress output on stderr");
  auto& reg = Registry();
  std::sort(reg.begin(), reg.end(), [](const Command& a, const Command& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  std::vector<std::pair<CLI::App*, const Command*>> subs;
  for (const auto& c : reg) subs.emplace_back(c.setup(app, g), &c);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : mr::kExitUsage;
  }
  try {
    for (auto& [sub, cmd] : subs)
      if (sub->parsed()) return cmd->run(g);
  } catch (const std::exception& e) {
    std::cerr << "mailrescue: internal error: " << e.what() << "\n";
    return mr::kExitInternal;
  }
  return mr::kExitUsage;
}
