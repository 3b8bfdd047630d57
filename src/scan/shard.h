// `--shard I/N`: which input lines this run scans when one input is split
// over N machines.
//
// Every input line has a key (ShardKey) and the key alone decides the shard,
// so the partition depends neither on line numbers nor on the order or the
// other contents of the input: a line always lands in the same shard, and
// shards stay balanced however the input is sorted.
//
// The exact definition, for tools that must reproduce it:
//
//   h     = XXH3_64bits_withSeed(key bytes, key length, kShardSeed)
//           (xxHash's XXH3, 64-bit, whose output is stable since xxHash
//           0.8.0; Debian 12 ships 0.8.1)
//   shard = (h * N) >> 64, computed in 128 bits (multiply-shift: maps the
//           hash uniformly onto 0..N-1 without a modulo's bias or cost)
//
// with kShardSeed = 0x736d74707363616e (the ASCII bytes "smtpscan" read as
// a big-endian number) and the key
//
//   - of an address line ("192.0.2.1", "192.0.2.1:587", "[2001:db8::1]:25",
//     each with an optional ",name"): the address in canonical text
//     (inet_ntop: "192.0.2.1", "2001:db8::1"), without port or name, so that
//     every line naming one server lands in one shard and --per-address
//     holds across shards;
//   - of a domain line: the domain in A-label form, lower case, without the
//     trailing dot ("Bücher.Example." -> "xn--bcher-kva.example"), so that
//     every spelling of one domain lands in one shard;
//   - of any other line (invalid input): the line without leading and
//     trailing ASCII whitespace, so it gets its invalid-input record in
//     exactly one shard.
//
// A line too long for the reader is keyed by the excerpt the reader yields.
#ifndef SMTPSCAN_SCAN_SHARD_H_
#define SMTPSCAN_SCAN_SHARD_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smtpscan::scan {

// The seed of the shard hash (see the file comment). Changing it moves
// almost every line to another shard: never change it.
inline constexpr uint64_t kShardSeed = 0x736d74707363616eULL;

// One shard of N: this run scans the lines whose key maps to `index`.
// The default, 0 of 1, is the whole input.
struct Shard {
  uint32_t index = 0;  // 0-based: 0 <= index < count
  uint32_t count = 1;  // >= 1

  // True when the run scans every line (count == 1).
  bool whole() const { return count == 1; }
};

// Environment variables, name to value, as the job runner set them.
using Environment = absl::flat_hash_map<std::string, std::string>;

// The process's environment (environ(7)), for ParseShard.
Environment ProcessEnvironment();

// Parses the --shard value:
//
//   "I/N"   shard I of N, 0 <= I < N, 1 <= N <= 2^32-1, decimal digits only.
//           0-based like Kubernetes' completion index, so `--shard
//           $JOB_COMPLETION_INDEX/N` works as it is.
//   "auto"  from `env`, which must describe exactly one of
//     - a Kubernetes Indexed Job: JOB_COMPLETION_INDEX (set by the Job
//       controller) is I, and SMTPSCAN_SHARD_COUNT is N. Kubernetes does not
//       put the Job's `completions` in the environment, so the manifest
//       must set SMTPSCAN_SHARD_COUNT to it (tools/deploy/k8s);
//     - a Slurm job array: SLURM_ARRAY_TASK_ID, _MIN, _MAX and _COUNT, and
//       _STEP if set. An array of consecutive ids (--array=1-16) is mapped
//       to I = ID - MIN and N = COUNT, so arrays need not start at 0; a
//       regular stepped array (--array=0-30:2) to I = (ID - MIN) / STEP. An
//       array whose ids cannot be numbered 0..COUNT-1 that way (--array=1,2,7)
//       is refused: its shards would not cover the input.
//
// Errors are InvalidArgument with one line that names --shard, what is
// wrong and the allowed forms.
absl::StatusOr<Shard> ParseShard(absl::string_view text,
                                 const Environment& env);

// "I/N", as ParseShard reads it.
std::string FormatShard(const Shard& shard);

// The key an input line is sharded by (see the file comment). `line_text`
// is the line as read, without its line end.
std::string ShardKey(absl::string_view line_text);

// The hash of a key: XXH3_64bits_withSeed(key, kShardSeed).
uint64_t ShardHash(absl::string_view key);

// The shard of `key` among `count`: (ShardHash(key) * count) >> 64.
// REQUIRES: count >= 1.
uint32_t ShardOf(absl::string_view key, uint32_t count);

// True when `key` belongs to `shard` (always, for a whole shard).
inline bool InShard(const Shard& shard, absl::string_view key) {
  return shard.whole() || ShardOf(key, shard.count) == shard.index;
}

}  // namespace smtpscan::scan

#endif  // SMTPSCAN_SCAN_SHARD_H_
