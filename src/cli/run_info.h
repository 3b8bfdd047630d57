// How a scan was started: its command line and every option's value after
// defaults, for the run's metadata (-m).
#ifndef SMTPSCAN_CLI_RUN_INFO_H_
#define SMTPSCAN_CLI_RUN_INFO_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "output/metadata.h"

namespace smtpscan::cli {

struct RunInfo {
  std::vector<std::string> command_line;       // argv, argv[0] included
  std::vector<output::OptionSetting> options;  // see CaptureRunInfo
};

// After app->parse(argc, argv): argv, and every option of `app` itself (not
// of its subcommands; --help and --version left out) in the order they were
// added, named by their long flag. Read from CLI11 rather than listed by
// hand, so an option added later is in the metadata without an edit here:
//   - a flag: true when given;
//   - a repeatable option: the values given, as a list;
//   - any other option: the value of its variable, read back through the
//     function CLI11 keeps for showing defaults; a number when CLI11 types
//     it INT, UINT or FLOAT, null when the text is empty (not set).
RunInfo CaptureRunInfo(int argc, char** argv, CLI::App* app);

}  // namespace smtpscan::cli

#endif  // SMTPSCAN_CLI_RUN_INFO_H_
