// The options that name and open a source, shared by `inspect` and `salvage`:
// SOURCE, --spool-path, --config-path, --badmap, --superblock/--blocksize,
// --journal. CLI parsing only; salvage/ does the work.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "salvage/salvage.h"

namespace mr::cli {

struct SourceArgs {
  std::string source, spool, config, badmap;
  std::optional<std::uint64_t> superblock;
  std::optional<unsigned> blocksize;
  std::string journal = "auto";
};

void AddSourceOptions(CLI::App* c, SourceArgs& a);

// Copies the source options into `o`. False, after one line on stderr, when
// --journal names no mode.
bool ToSalvageOptions(const SourceArgs& a, salvage::SalvageOptions* o);

}  // namespace mr::cli
