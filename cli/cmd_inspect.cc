// `mailrescue inspect SOURCE [--json]`: what is on a (damaged) ext2/3/4
// source — superblock used, features, groups, journal state, spool and config
// paths, users, damage — without copying anything. Exit 0 clean, 1 damage
// found, 3 the source cannot be opened.
#include <iostream>

#include "cli/command.h"
#include "cli/source_options.h"
#include "common/exit_codes.h"
#include "salvage/run.h"

namespace mr::cli {
namespace {

struct InspectArgs {
  SourceArgs src;
  bool json = false;
};

InspectArgs& Args() {
  static InspectArgs a;
  return a;
}

int Run(const GlobalOptions&) {
  InspectArgs& a = Args();
  salvage::SalvageOptions o;
  if (!ToSalvageOptions(a.src, &o)) return kExitUsage;
  bool damaged = false;
  auto r = salvage::Inspect(o, a.json, &damaged);
  if (!r.ok()) {
    std::cerr << "mailrescue inspect: " << r.error().message << "\n";
    switch (r.error().code) {
      case Code::kCannotOpen:
      case Code::kUnsupported: return kExitNoSource;
      case Code::kInvalidArgument:
      case Code::kNotFound: return kExitUsage;
      default: return kExitInternal;
    }
  }
  std::cout << *r;
  return damaged ? kExitAttention : kExitOk;
}

const Registrar reg{Command{
    "inspect", 5,
    [](CLI::App& app, GlobalOptions&) {
      auto* c = app.add_subcommand("inspect", "Describe a (damaged) ext2/3/4 spool without copying anything");
      InspectArgs& a = Args();
      AddSourceOptions(c, a.src);
      c->add_flag("--json", a.json, "JSON output");
      return c;
    },
    Run}};

}  // namespace
}  // namespace mr::cli
