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

// True when descriptor `fd` (0, 1 or 2) was closed when Main started. Main
// opens /dev/null on such a descriptor, so that no socket or ring takes its
// number and is then read as input or written as output; "-i -" and "-o -"
// ask this and refuse a closed stream with a one-line error instead.
bool StandardStreamWasClosed(int fd);

}  // namespace smtpscan::cli

#endif  // SMTPSCAN_CLI_APP_H_
