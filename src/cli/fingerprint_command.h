// `smtpscan fingerprint`: identifies the servers of stored NDJSON results
// again with the current rules (and --fingerprints files), offline.
//
// Reads records as smtpscan writes them, one line at a time (never the
// whole file), and writes each back as one line: every probe object (in
// the "probes" array of address and domain records, and split-layout
// {"kind":"probe"} records) gets a new "fingerprint" member, written
// exactly as a scan writes it, in place of the old one or, when it had
// none, just before "timings_us". A probe without a greeting gets none (as
// in a scan) and loses any it had. Everything else is kept: same members,
// same order, same values. A line that cannot be read is reported on
// stderr ("smtpscan fingerprint: line N: reason"), copied through
// unchanged, and makes the exit code 1.
#ifndef SMTPSCAN_CLI_FINGERPRINT_COMMAND_H_
#define SMTPSCAN_CLI_FINGERPRINT_COMMAND_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace smtpscan::cli {

struct FingerprintOptions {
  std::string input;                      // "-" for stdin
  std::string output = "-";               // "-" for stdout
  std::vector<std::string> fingerprints;  // extra rule files, in order
  bool quiet = false;                     // no summary line
};

// Registers the subcommand; `options` must outlive parsing.
CLI::App* AddFingerprintCommand(CLI::App* app, FingerprintOptions* options);

// Runs it. Returns the process exit code: 0 every line was read; 1 some
// line could not be read (each reported), or the input or output failed;
// 2 a bad --fingerprints file or -o naming the input file.
int RunFingerprint(const FingerprintOptions& options);

}  // namespace smtpscan::cli

#endif  // SMTPSCAN_CLI_FINGERPRINT_COMMAND_H_
