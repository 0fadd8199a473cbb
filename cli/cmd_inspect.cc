// `mailrescue inspect SOURCE [--json]`: what is on a (damaged) ext2/3/4
// source — superblock used, features, groups, journal state, spool and config
// paths, users, damage — without copying anything. Exit 0 clean, 1 damage
// found, 3 the source cannot be opened.
#include <iostream>

#include "cli/command.h"
#include "common/exit_codes.h"
#include "salvage/run.h"

namespace mr::cli {
namespace {

struct InspectArgs {
  std::string source, spool, config, badmap;
  std::optional<std::uint64_t> superblock;
  std::optional<unsigned> blocksize;
  std::string journal = "auto";
  bool json = false;
};

InspectArgs& Args() {
  static InspectArgs a;
  return a;
}

int Run(const GlobalOptions&) {
  InspectArgs& a = Args();
  salvage::SalvageOptions o;
  o.source = a.source;
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
      c->add_option("SOURCE", a.source, "Block device or image file")->required();
      c->add_flag("--json", a.json, "JSON output");
      c->add_option("--spool-path", a.spool, "Spool path inside the filesystem");
      c->add_option("--config-path", a.config, "Config directory inside the filesystem");
      c->add_option("--badmap", a.badmap, "GNU ddrescue mapfile")->check(CLI::ExistingFile);
      c->add_option("--superblock", a.superblock, "Use this backup superblock");
      c->add_option("--blocksize", a.blocksize, "Block size for --superblock");
      c->add_option("--journal", a.journal,
                    "replay (committed transactions, in memory; the source is never written), ignore "
                    "(do not use the journal: no replay, no older copies for unreadable blocks), "
                    "or auto (replay when needs_recovery; default). Except with ignore, blocks the "
                    "source cannot read are served from older journal copies when there are any");
      return c;
    },
    Run}};

}  // namespace
}  // namespace mr::cli
