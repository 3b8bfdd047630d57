#include "cli/app.h"

#include <iostream>

#include "CLI/CLI.hpp"
#include "cli/replay_command.h"

#ifndef SMTPSCAN_VERSION
#define SMTPSCAN_VERSION "unknown"
#endif

namespace smtpscan::cli {

int Main(int argc, char** argv) {
  CLI::App app(
      "smtpscan: a bulk SMTP scanner.\n"
      "Network scanning arrives with the io_uring engine; this build offers\n"
      "`smtpscan replay`, which runs recorded conversations through the same\n"
      "protocol core offline.",
      "smtpscan");
  app.set_version_flag("--version", "smtpscan " SMTPSCAN_VERSION);
  app.require_subcommand(0, 1);

  ReplayOptions replay;
  CLI::App* replay_cmd = AddReplayCommand(&app, &replay);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, not CLI11's two: scripts and people read the first line.
    std::cerr << "smtpscan: " << e.what() << " (see smtpscan --help)\n";
    return kExitUsage;
  }
  if (replay_cmd->parsed()) return RunReplay(replay);
  std::cerr << "smtpscan: a subcommand is required: replay (see smtpscan "
               "--help)\n";
  return kExitUsage;
}

}  // namespace smtpscan::cli
