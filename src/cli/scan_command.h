// `smtpscan -i targets.txt -o out.ndjson`: scan addresses through the engine.
#ifndef SMTPSCAN_CLI_SCAN_COMMAND_H_
#define SMTPSCAN_CLI_SCAN_COMMAND_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/run_info.h"

namespace smtpscan::cli {

struct ScanOptions {
  std::string input;
  std::string shard = "0/1";  // I/N or auto (scan/shard.h)
  std::string output = "-";
  std::string format;   // empty: from the output file name
  bool resume = false;  // continue into `output` (output/resume.h)
  std::string ports = "25";
  std::string implicit_tls_ports = "465";
  std::string starttls = "auto";  // auto | always | never
  std::string ca_file;            // empty: the system trust store
  bool probe = false;             // HELP and an unknown command before QUIT
  std::vector<std::string> fingerprints;  // extra rule files
  size_t threads = 0;                     // engine threads; 0: one per core
  std::string grace_time = "30s";         // after SIGINT/SIGTERM
  size_t concurrency = 1000;
  double rate = 500;
  size_t per_address = 1;
  std::string connect_timeout = "10s";
  std::string greeting_timeout = "30s";
  std::string reply_timeout = "30s";
  std::string session_timeout = "120s";
  std::vector<std::string> source_addresses;
  std::string ehlo_name;  // empty: the machine's fully qualified name
  bool force_ehlo_name = false;
  bool allow_private = false;
  std::vector<std::string> blocklists;
  std::vector<std::string> allowlists;  // when given: only these addresses
  std::vector<std::string> opt_outs;    // domains, .suffixes, CIDRs
  size_t per_provider = 20;             // 0: no limit
  std::string backoff = "1s";           // 0: no backoff
  std::string backoff_max = "60s";
  // Domain mode.
  std::vector<std::string> resolvers;  // empty: /etc/resolv.conf
  size_t max_mx = 10;
  bool ipv4_only = false;
  bool ipv6_only = false;
  bool no_policy = false;
  bool no_dane = false;
  bool no_mta_sts = false;
  std::string mta_sts_timeout = "10s";
  uint16_t mta_sts_port = 443;
  std::string dns_timeout = "1500ms";
  int dns_tries = 2;
  size_t dns_max_inflight = 100;
  double dns_rate = 0;
  std::string layout = "nested";  // or "split" (NDJSON only)
  bool greeting_raw = false;
  bool csv_raw_cells = false;
  bool quiet = false;
  std::string metadata;  // -m: the run's metadata JSON file
};

// Adds the scan options to the top-level command; `options` must outlive
// parsing.
void AddScanOptions(CLI::App* app, ScanOptions* options);

// Runs the scan. Returns the exit code: 0 done, 1 the tool failed (cannot
// read input, write output, or set up io_uring), 2 bad option values.
// `run` (argv and the parsed options) goes into the metadata (-m).
int RunScan(const ScanOptions& options, const RunInfo& run = {});

}  // namespace smtpscan::cli

#endif  // SMTPSCAN_CLI_SCAN_COMMAND_H_
