// The run's metadata (-m/--metadata FILE): one JSON document that says how a
// scan was run and what it found, written when the scan starts, at its end,
// and when it is interrupted. README.md ("Run metadata") documents each
// member.
#ifndef SMTPSCAN_OUTPUT_METADATA_H_
#define SMTPSCAN_OUTPUT_METADATA_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "absl/types/variant.h"
#include "scan/scan_status.h"

namespace smtpscan::output {

// A short random id for one run: 8 lowercase hex digits (32 bits from
// getrandom(2)). Unique enough to tell runs apart in merged output (two
// runs share an id with probability 1 in 4 billion; among 10,000 runs,
// about 1%), short enough to repeat in every record.
std::string NewScanId();

// One command-line option after parsing, defaults applied.
struct OptionSetting {
  // null (an empty text option: not set), a flag, a number, a text, or the
  // values of a repeatable option.
  using Value = absl::variant<absl::monostate, bool, int64_t, double,
                              std::string, std::vector<std::string>>;
  std::string name;  // the long flag without dashes: "concurrency"
  Value value;
};

// Counts indexed by ScanStatus.
using StatusCounts = std::array<uint64_t, kScanStatusCount>;

struct RunMetadata {
  std::string scan_id;
  std::string version;
  absl::Time start = absl::InfinitePast();
  // InfinitePast while the scan runs: "end", "duration_s" and "exit_code"
  // are null then.
  absl::Time end = absl::InfinitePast();
  bool interrupted = false;  // SIGINT or SIGTERM
  int exit_code = 0;
  std::vector<std::string> command_line;  // argv, argv[0] included
  std::vector<OptionSetting> options;     // in the order of --help
  std::string ehlo_name;                  // the name sent, after defaults
  std::vector<std::string> source_addresses;
  // DNS servers, "IP:PORT" ("[IPv6]:PORT"): those the resolver used, or
  // would use (from /etc/resolv.conf when no --resolver was given).
  std::vector<std::string> resolvers;
  // --shard I/N as the run resolved it (--shard auto included); absent
  // when the run scans the whole input: "shard" is null.
  struct Shard {
    uint32_t index = 0;  // 0-based
    uint32_t count = 1;
  };
  absl::optional<Shard> shard;
  uint64_t input_lines = 0;          // lines read, blank and comment lines too
  uint64_t records = 0;              // records written, one per target line
  uint64_t probe_records = 0;        // --layout split: records of kind "probe"
  StatusCounts records_by_status{};  // sums to `records`
  // Conversations (each engine probe once, however many domain records
  // share it), by port and status.
  std::map<uint16_t, StatusCounts> probes_by_port;
  // Resolver counters; absent (null) when no domain line needed DNS.
  struct Dns {
    uint64_t queries = 0;   // sent
    uint64_t answered = 0;  // any answer, timeouts included
    uint64_t timeouts = 0;  // no answer after every try
  };
  absl::optional<Dns> dns;
};

// RFC 3339 UTC with milliseconds: "2026-11-21T13:57:00.069Z".
std::string FormatMetadataTime(absl::Time t);

// The document: pretty-printed JSON (2-space indent) ending in a newline.
// Small and written a few times per run: made for people and jq alike.
std::string FormatMetadata(const RunMetadata& metadata);

// Writes FormatMetadata(metadata) to `path` atomically: to a temporary file
// in the same directory, flushed with fsync, then renamed over `path`, so a
// reader (or a crash) sees the old document or the new one, never a torn
// one. Fails with "cannot write PATH: reason".
absl::Status WriteMetadataFile(const std::string& path,
                               const RunMetadata& metadata);

}  // namespace smtpscan::output

#endif  // SMTPSCAN_OUTPUT_METADATA_H_
