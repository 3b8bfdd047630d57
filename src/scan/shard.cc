#include "scan/shard.h"

#include <unistd.h>
#include <xxhash.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "dns/name.h"
#include "scan/target.h"

namespace smtpscan::scan {
namespace {

// Appended to every error: the forms --shard accepts.
constexpr absl::string_view kForms =
    "; use --shard I/N (0 <= I < N, e.g. 3/8) or --shard auto (Kubernetes "
    "Indexed Job or Slurm job array)";

absl::Status Error(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(what, kForms));
}

// A whole number of 1 to 10 decimal digits that fits in 32 bits.
absl::optional<uint32_t> ParseNumber(absl::string_view text) {
  if (text.empty() || text.size() > 10) return absl::nullopt;
  uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return absl::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value > std::numeric_limits<uint32_t>::max()) return absl::nullopt;
  return static_cast<uint32_t>(value);
}

// `name`'s value in `env` as a number; `*error` says why not.
absl::optional<uint32_t> NumberFromEnv(const Environment& env,
                                       absl::string_view name,
                                       absl::Status* error) {
  auto it = env.find(std::string(name));
  if (it == env.end()) {
    *error = Error(absl::StrCat("--shard auto: ", name, " is not set"));
    return absl::nullopt;
  }
  absl::optional<uint32_t> n = ParseNumber(it->second);
  if (!n.has_value()) {
    *error = Error(absl::StrCat("--shard auto: ", name, "='",
                                absl::CHexEscape(it->second),
                                "' is not a whole number"));
  }
  return n;
}

absl::StatusOr<Shard> FromKubernetes(const Environment& env) {
  absl::Status error;
  const absl::optional<uint32_t> index =
      NumberFromEnv(env, "JOB_COMPLETION_INDEX", &error);
  if (!index.has_value()) return error;
  if (!env.contains("SMTPSCAN_SHARD_COUNT")) {
    return Error(
        "--shard auto: JOB_COMPLETION_INDEX is set but SMTPSCAN_SHARD_COUNT "
        "is not (Kubernetes does not pass the Job's completions: set "
        "SMTPSCAN_SHARD_COUNT to it in the manifest)");
  }
  const absl::optional<uint32_t> count =
      NumberFromEnv(env, "SMTPSCAN_SHARD_COUNT", &error);
  if (!count.has_value()) return error;
  if (*count == 0 || *index >= *count) {
    return Error(absl::StrCat("--shard auto: JOB_COMPLETION_INDEX=", *index,
                              " is not below SMTPSCAN_SHARD_COUNT=", *count,
                              " (which must equal the Job's completions)"));
  }
  return Shard{*index, *count};
}

absl::StatusOr<Shard> FromSlurm(const Environment& env) {
  absl::Status error;
  const absl::optional<uint32_t> id =
      NumberFromEnv(env, "SLURM_ARRAY_TASK_ID", &error);
  if (!id.has_value()) return error;
  const absl::optional<uint32_t> min =
      NumberFromEnv(env, "SLURM_ARRAY_TASK_MIN", &error);
  if (!min.has_value()) return error;
  const absl::optional<uint32_t> max =
      NumberFromEnv(env, "SLURM_ARRAY_TASK_MAX", &error);
  if (!max.has_value()) return error;
  const absl::optional<uint32_t> count =
      NumberFromEnv(env, "SLURM_ARRAY_TASK_COUNT", &error);
  if (!count.has_value()) return error;
  uint32_t step = 1;
  if (env.contains("SLURM_ARRAY_TASK_STEP")) {
    const absl::optional<uint32_t> s =
        NumberFromEnv(env, "SLURM_ARRAY_TASK_STEP", &error);
    if (!s.has_value()) return error;
    step = *s;
  }
  if (*count == 0 || *min > *max || *id < *min || *id > *max) {
    return Error(absl::StrCat(
        "--shard auto: SLURM_ARRAY_TASK_ID=", *id, " is not within the array (",
        "SLURM_ARRAY_TASK_MIN=", *min, ", SLURM_ARRAY_TASK_MAX=", *max,
        ", SLURM_ARRAY_TASK_COUNT=", *count, ")"));
  }
  const uint64_t span = uint64_t{*max} - *min;
  const uint64_t offset = uint64_t{*id} - *min;
  // COUNT distinct ids between MIN and MAX with MAX - MIN == COUNT - 1 are
  // exactly MIN..MAX. With a step, MAX - MIN == STEP * (COUNT - 1) leaves
  // room for COUNT ids only if every one is MIN + k * STEP: each task checks
  // its own, so an irregular array fails in at least one task, never
  // silently.
  if (span == uint64_t{*count} - 1) {
    return Shard{static_cast<uint32_t>(offset), *count};
  }
  if (step > 1 && span == uint64_t{step} * (*count - 1) && offset % step == 0) {
    return Shard{static_cast<uint32_t>(offset / step), *count};
  }
  return Error(absl::StrCat(
      "--shard auto: the Slurm array (SLURM_ARRAY_TASK_MIN=", *min,
      ", SLURM_ARRAY_TASK_MAX=", *max, ", SLURM_ARRAY_TASK_COUNT=", *count,
      ", SLURM_ARRAY_TASK_STEP=", step, ", this task ", *id,
      ") cannot be numbered 0..", *count - 1,
      ": submit consecutive ids (--array=0-", *count - 1,
      ") or one range "
      "with a step"));
}

}  // namespace

Environment ProcessEnvironment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const absl::string_view entry(*e);
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)),
                std::string(entry.substr(eq + 1)));
  }
  return env;
}

absl::StatusOr<Shard> ParseShard(absl::string_view text,
                                 const Environment& env) {
  if (text == "auto") {
    const bool kubernetes = env.contains("JOB_COMPLETION_INDEX");
    const bool slurm = env.contains("SLURM_ARRAY_TASK_ID");
    if (kubernetes && slurm) {
      return Error(
          "--shard auto: both JOB_COMPLETION_INDEX (Kubernetes) and "
          "SLURM_ARRAY_TASK_ID (Slurm) are set, which one counts is unclear");
    }
    if (kubernetes) return FromKubernetes(env);
    if (slurm) return FromSlurm(env);
    return Error(
        "--shard auto: neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) "
        "nor SLURM_ARRAY_TASK_ID (Slurm job array) is set");
  }
  const size_t slash = text.find('/');
  absl::optional<uint32_t> index, count;
  if (slash != absl::string_view::npos) {
    index = ParseNumber(text.substr(0, slash));
    count = ParseNumber(text.substr(slash + 1));
  }
  if (!index.has_value() || !count.has_value()) {
    return Error(absl::StrCat("--shard: '", absl::CHexEscape(text),
                              "' is neither I/N nor auto"));
  }
  if (*count == 0 || *index >= *count) {
    return Error(absl::StrCat("--shard: '", text, "' needs 0 <= I < N"));
  }
  return Shard{*index, *count};
}

std::string FormatShard(const Shard& shard) {
  return absl::StrCat(shard.index, "/", shard.count);
}

std::string ShardKey(absl::string_view line_text) {
  // Any port will do: the key ignores ports, and the scan's own port list
  // is never empty, so a port-less line parses here exactly when it does
  // in the scan.
  static constexpr uint16_t kAnyPort[] = {25};
  absl::StatusOr<Target> target = ParseTargetLine(line_text, 0, kAnyPort);
  if (target.ok()) return std::move(target->address);
  const absl::string_view trimmed = absl::StripAsciiWhitespace(line_text);
  absl::StatusOr<dns::DomainName> name = dns::ParseDomainName(trimmed);
  if (name.ok()) return std::move(name->ascii);
  return std::string(trimmed);
}

uint64_t ShardHash(absl::string_view key) {
  return XXH3_64bits_withSeed(key.data(), key.size(), kShardSeed);
}

uint32_t ShardOf(absl::string_view key, uint32_t count) {
  return static_cast<uint32_t>(
      absl::Uint128High64(absl::uint128(ShardHash(key)) * count));
}

}  // namespace smtpscan::scan
