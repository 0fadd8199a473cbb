#include "cli/source_options.h"

#include <iostream>

namespace mr::cli {

void AddSourceOptions(CLI::App* c, SourceArgs& a) {
  c->add_option("SOURCE", a.source, "Block device or image file")->required();
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
}

bool ToSalvageOptions(const SourceArgs& a, salvage::SalvageOptions* o) {
  o->source = a.source;
  if (!a.spool.empty()) o->spool_path = a.spool;
  if (!a.config.empty()) o->config_path = a.config;
  if (!a.badmap.empty()) o->badmap_path = a.badmap;
  o->superblock = a.superblock;
  o->blocksize = a.blocksize;
  if (a.journal != "auto") {
    auto jm = salvage::ParseJournalMode(a.journal);
    if (!jm.ok()) {
      std::cerr << "mailrescue: --journal " << a.journal << ": expected replay, ignore or auto\n";
      return false;
    }
    o->journal = *jm;
  }
  return true;
}

}  // namespace mr::cli
