// `smtpscan replay`: runs recorded conversations (see smtp/transcript.h)
// through the real session and writes their records, offline.
#ifndef SMTPSCAN_CLI_REPLAY_COMMAND_H_
#define SMTPSCAN_CLI_REPLAY_COMMAND_H_

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace smtpscan::cli {

struct ReplayOptions {
  std::vector<std::string> transcripts;
  std::string output = "-";
  std::string format;  // empty: from the output file name
  std::string ehlo_name = "smtpscan.invalid";
  std::string starttls = "auto";
  bool implicit_tls = false;
  std::string address;
  uint16_t port = 25;
  std::string host;
  bool greeting_raw = false;
  bool csv_raw_cells = false;
};

// Registers the subcommand; `options` must outlive parsing.
CLI::App* AddReplayCommand(CLI::App* app, ReplayOptions* options);

// Runs it. Returns the process exit code (0, or 1 with a message on stderr).
int RunReplay(const ReplayOptions& options);

}  // namespace smtpscan::cli

#endif  // SMTPSCAN_CLI_REPLAY_COMMAND_H_
