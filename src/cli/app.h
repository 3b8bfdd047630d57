// The smtpscan command line: parses arguments and runs a subcommand.
#ifndef SMTPSCAN_CLI_APP_H_
#define SMTPSCAN_CLI_APP_H_

namespace smtpscan::cli {

// Exit codes, documented in README.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the tool itself failed (I/O, ...)
inline constexpr int kExitUsage = 2;    // bad flags or arguments

// Parses argv and runs; returns the process exit code.
int Main(int argc, char** argv);

}  // namespace smtpscan::cli

#endif  // SMTPSCAN_CLI_APP_H_
