// Subcommand registry for the mailrescue binary.
//
// Each cli/cmd_<name>.cc defines one subcommand and registers it with a
// static `mr::cli::Registrar`: `setup` adds the CLI11 subcommand and its options
// (parsing into a struct owned by the command), `run` calls the libraries and
// returns the process exit code (common/exit_codes.h). No logic beyond option
// wiring and turning outcomes into exit codes lives in cli/.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace mr::cli {

struct GlobalOptions {
  bool quiet = false;
};

struct Command {
  std::string name;
  int order = 100;  // position in --help
  // Adds the subcommand to `app` and returns it.
  std::function<CLI::App*(CLI::App& app, GlobalOptions& g)> setup;
  std::function<int(const GlobalOptions& g)> run;
};

std::vector<Command>& Registry();

struct Registrar {
  explicit Registrar(Command c) { Registry().push_back(std::move(c)); }
};

}  // namespace mr::cli
