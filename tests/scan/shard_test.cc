#include "scan/shard.h"

#include <xxhash.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smtpscan::scan {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Every --shard error is one line that names the option and its forms.
MATCHER(IsShardError, "") {
  if (arg.ok()) {
    *result_listener << "parsed as " << FormatShard(*arg);
    return false;
  }
  const absl::string_view m = arg.status().message();
  *result_listener << "message: " << m;
  return absl::IsInvalidArgument(arg.status()) && m.find("--shard") == 0 &&
         m.find('\n') == absl::string_view::npos &&
         m.find("I/N") != absl::string_view::npos &&
         m.find("auto") != absl::string_view::npos;
}

MATCHER_P2(IsShard, index, count, "") {
  if (!arg.ok()) {
    *result_listener << arg.status().message();
    return false;
  }
  *result_listener << "parsed as " << FormatShard(*arg);
  return arg->index == static_cast<uint32_t>(index) &&
         arg->count == static_cast<uint32_t>(count);
}

TEST(ParseShardTest, IndexOverCount) {
  const Environment none;
  EXPECT_THAT(ParseShard("0/1", none), IsShard(0, 1));
  EXPECT_THAT(ParseShard("3/8", none), IsShard(3, 8));
  EXPECT_THAT(ParseShard("7/8", none), IsShard(7, 8));
  EXPECT_THAT(ParseShard("007/010", none), IsShard(7, 10));
  EXPECT_THAT(ParseShard("4294967294/4294967295", none),
              IsShard(4294967294u, 4294967295u));
  EXPECT_TRUE(ParseShard("0/1", none)->whole());
  EXPECT_FALSE(ParseShard("0/2", none)->whole());
}

TEST(ParseShardTest, RejectsMalformedValues) {
  const Environment none;
  for (const char* text : {"",
                           "/",
                           "3",
                           "3/",
                           "/8",
                           "8/8",
                           "9/8",
                           "0/0",
                           "-1/8",
                           "+1/8",
                           "1/+8",
                           " 1/8",
                           "1/8 ",
                           "1 /8",
                           "1/ 8",
                           "1/8/2",
                           "1.0/8",
                           "0x1/8",
                           "a/b",
                           "1/4294967296",
                           "4294967295/4294967295",
                           "99999999999/1",
                           "AUTO",
                           "auto ",
                           "1\n/8"}) {
    EXPECT_THAT(ParseShard(text, none), IsShardError()) << "'" << text << "'";
  }
}

TEST(ParseShardTest, KubernetesIndexedJob) {
  EXPECT_THAT(ParseShard("auto", {{"JOB_COMPLETION_INDEX", "0"},
                                  {"SMTPSCAN_SHARD_COUNT", "16"}}),
              IsShard(0, 16));
  EXPECT_THAT(ParseShard("auto", {{"JOB_COMPLETION_INDEX", "15"},
                                  {"SMTPSCAN_SHARD_COUNT", "16"}}),
              IsShard(15, 16));
}

TEST(ParseShardTest, KubernetesErrors) {
  // The count is not in a Job's environment: the manifest must pass it.
  auto no_count = ParseShard("auto", {{"JOB_COMPLETION_INDEX", "3"}});
  EXPECT_THAT(no_count, IsShardError());
  EXPECT_THAT(no_count.status().message(), HasSubstr("SMTPSCAN_SHARD_COUNT"));
  // More completions than the count says: this pod would scan nothing.
  auto too_big = ParseShard(
      "auto", {{"JOB_COMPLETION_INDEX", "16"}, {"SMTPSCAN_SHARD_COUNT", "16"}});
  EXPECT_THAT(too_big, IsShardError());
  EXPECT_THAT(too_big.status().message(), HasSubstr("completions"));
  EXPECT_THAT(ParseShard("auto", {{"JOB_COMPLETION_INDEX", "0"},
                                  {"SMTPSCAN_SHARD_COUNT", "0"}}),
              IsShardError());
  EXPECT_THAT(ParseShard("auto", {{"JOB_COMPLETION_INDEX", "x"},
                                  {"SMTPSCAN_SHARD_COUNT", "4"}}),
              IsShardError());
  EXPECT_THAT(ParseShard("auto", {{"JOB_COMPLETION_INDEX", "1"},
                                  {"SMTPSCAN_SHARD_COUNT", "four"}}),
              IsShardError());
  // A hostile value stays on one line.
  auto newline = ParseShard("auto", {{"JOB_COMPLETION_INDEX", "1\n2"},
                                     {"SMTPSCAN_SHARD_COUNT", "4"}});
  EXPECT_THAT(newline, IsShardError());
}

Environment SlurmArray(uint32_t id, uint32_t min, uint32_t max, uint32_t count,
                       int step = -1) {
  Environment env = {{"SLURM_ARRAY_JOB_ID", "4242"},
                     {"SLURM_ARRAY_TASK_ID", absl::StrCat(id)},
                     {"SLURM_ARRAY_TASK_MIN", absl::StrCat(min)},
                     {"SLURM_ARRAY_TASK_MAX", absl::StrCat(max)},
                     {"SLURM_ARRAY_TASK_COUNT", absl::StrCat(count)}};
  if (step >= 0) env["SLURM_ARRAY_TASK_STEP"] = absl::StrCat(step);
  return env;
}

TEST(ParseShardTest, SlurmArrays) {
  // --array=0-15
  EXPECT_THAT(ParseShard("auto", SlurmArray(0, 0, 15, 16, 1)), IsShard(0, 16));
  EXPECT_THAT(ParseShard("auto", SlurmArray(15, 0, 15, 16, 1)),
              IsShard(15, 16));
  // --array=1-16: arrays need not start at 0.
  EXPECT_THAT(ParseShard("auto", SlurmArray(1, 1, 16, 16, 1)), IsShard(0, 16));
  EXPECT_THAT(ParseShard("auto", SlurmArray(16, 1, 16, 16, 1)),
              IsShard(15, 16));
  // --array=100-102%2 (the throttle does not show), no STEP variable.
  EXPECT_THAT(ParseShard("auto", SlurmArray(101, 100, 102, 3)), IsShard(1, 3));
  // --array=5: one task.
  EXPECT_THAT(ParseShard("auto", SlurmArray(5, 5, 5, 1, 1)), IsShard(0, 1));
  // --array=1-7:2 (1, 3, 5, 7): numbered by their place in the range.
  EXPECT_THAT(ParseShard("auto", SlurmArray(1, 1, 7, 4, 2)), IsShard(0, 4));
  EXPECT_THAT(ParseShard("auto", SlurmArray(5, 1, 7, 4, 2)), IsShard(2, 4));
  EXPECT_THAT(ParseShard("auto", SlurmArray(7, 1, 7, 4, 2)), IsShard(3, 4));
  // --array=0,1,2 lists consecutive ids: any STEP Slurm reports is moot.
  EXPECT_THAT(ParseShard("auto", SlurmArray(2, 0, 2, 3, 7)), IsShard(2, 3));
}

TEST(ParseShardTest, SlurmArraysThatCannotBeNumbered) {
  // --array=1,2,7: ids with gaps and no step that explains them.
  for (uint32_t id : {1u, 2u, 7u}) {
    auto r = ParseShard("auto", SlurmArray(id, 1, 7, 3, 1));
    EXPECT_THAT(r, IsShardError()) << id;
    EXPECT_THAT(r.status().message(), HasSubstr("--array=0-2"));
  }
  EXPECT_THAT(ParseShard("auto", SlurmArray(2, 1, 7, 3)), IsShardError());
  // A step that fits MIN, MAX and COUNT but not this id (--array=1,4,7 with
  // a misleading STEP): this task fails rather than guess.
  EXPECT_THAT(ParseShard("auto", SlurmArray(5, 1, 7, 3, 3)), IsShardError());
  EXPECT_THAT(ParseShard("auto", SlurmArray(4, 1, 7, 3, 3)), IsShard(1, 3));
  // Inconsistent variables.
  EXPECT_THAT(ParseShard("auto", SlurmArray(9, 1, 7, 7, 1)), IsShardError());
  EXPECT_THAT(ParseShard("auto", SlurmArray(0, 1, 7, 7, 1)), IsShardError());
  EXPECT_THAT(ParseShard("auto", SlurmArray(3, 0, 7, 0, 1)), IsShardError());
  EXPECT_THAT(ParseShard("auto", SlurmArray(3, 7, 0, 8, 1)), IsShardError());
  // Missing or malformed variables.
  for (const char* name : {"SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX",
                           "SLURM_ARRAY_TASK_COUNT"}) {
    Environment env = SlurmArray(3, 0, 7, 8, 1);
    env.erase(name);
    auto r = ParseShard("auto", env);
    EXPECT_THAT(r, IsShardError()) << name;
    EXPECT_THAT(r.status().message(), HasSubstr(name));
    env = SlurmArray(3, 0, 7, 8, 1);
    env[name] = "-1";
    EXPECT_THAT(ParseShard("auto", env), IsShardError()) << name;
  }
  Environment env = SlurmArray(3, 0, 7, 8, 1);
  env["SLURM_ARRAY_TASK_STEP"] = "";
  EXPECT_THAT(ParseShard("auto", env), IsShardError());
}

TEST(ParseShardTest, AutoNeedsExactlyOneJobRunner) {
  auto none = ParseShard("auto", {{"HOME", "/root"}});
  EXPECT_THAT(none, IsShardError());
  EXPECT_THAT(none.status().message(), AllOf(HasSubstr("JOB_COMPLETION_INDEX"),
                                             HasSubstr("SLURM_ARRAY_TASK_ID")));
  Environment both = SlurmArray(0, 0, 3, 4, 1);
  both["JOB_COMPLETION_INDEX"] = "0";
  both["SMTPSCAN_SHARD_COUNT"] = "4";
  EXPECT_THAT(ParseShard("auto", both), IsShardError());
  // I/N ignores the environment.
  EXPECT_THAT(ParseShard("1/2", both), IsShard(1, 2));
}

TEST(ProcessEnvironmentTest, ReadsEnviron) {
  const Environment env = ProcessEnvironment();
  // ctest and a shell both set PATH; the test must not depend on more.
  ASSERT_TRUE(env.contains("PATH"));
  EXPECT_THAT(env.at("PATH"), Not(HasSubstr("PATH=")));
}

TEST(ShardKeyTest, AddressLinesAreKeyedByTheirAddress) {
  const std::vector<std::pair<std::string, std::string>> kCases = {
      {"192.0.2.1", "192.0.2.1"},
      {"192.0.2.1:587", "192.0.2.1"},
      {"[192.0.2.1]:465", "192.0.2.1"},
      {"  192.0.2.1:25,mx.example.com \r", "192.0.2.1"},
      {"192.0.2.1,MX.Example.COM.", "192.0.2.1"},
      {"2001:db8::1", "2001:db8::1"},
      {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
      {"[2001:db8::1]:25", "2001:db8::1"},
      {"[2001:0db8::0001]:587,mx.example.com", "2001:db8::1"},
      {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
  };
  for (const auto& [line, key] : kCases) {
    EXPECT_EQ(ShardKey(line), key) << line;
  }
}

TEST(ShardKeyTest, DomainLinesAreKeyedByTheirNormalisedName) {
  const std::vector<std::pair<std::string, std::string>> kCases = {
      {"example.com", "example.com"},
      {"Example.COM", "example.com"},
      {"example.com.", "example.com"},
      {" example.com\t", "example.com"},
      {"Bücher.Example.", "xn--bcher-kva.example"},
      {"xn--bcher-kva.example", "xn--bcher-kva.example"},
      {"XN--BCHER-KVA.example", "xn--bcher-kva.example"},
      {"straße.de", "xn--strae-oqa.de"},
  };
  for (const auto& [line, key] : kCases) {
    EXPECT_EQ(ShardKey(line), key) << line;
  }
}

TEST(ShardKeyTest, OtherLinesAreKeyedByTheirTrimmedText) {
  const std::vector<std::pair<std::string, std::string>> kCases = {
      {"not a target", "not a target"},
      {"  not a target \t", "not a target"},
      {"192.0.2.1:0", "192.0.2.1:0"},
      {"192.0.2.1:99999", "192.0.2.1:99999"},
      {"01.2.3.4", "01.2.3.4"},
      {"fe80::1%eth0", "fe80::1%eth0"},
      {"192.0.2.1,bad name", "192.0.2.1,bad name"},
      {"localhost", "localhost"},
      {"-bad-.example", "-bad-.example"},
      {std::string("a\0b.example", 11), std::string("a\0b.example", 11)},
      {"", ""},
  };
  for (const auto& [line, key] : kCases) {
    EXPECT_EQ(ShardKey(line), key) << line;
  }
}

TEST(ShardOfTest, PinnedAssignments) {
  // The definition is public (README, tools/deploy/README.md): shards of
  // runs made by different versions must agree. A change here means the
  // hash, the seed or the mapping changed: do not "fix" these numbers.
  // The library is XXH3: its published value for empty input, seed 0.
  EXPECT_EQ(XXH3_64bits_withSeed("", 0, 0), 0x2d06800538d394c2u);
  EXPECT_EQ(kShardSeed, 0x736d74707363616eu);  // "smtpscan"
  struct Pinned {
    std::string key;
    uint64_t hash;
    uint32_t of3, of7, of8, of1000;
  };
  const Pinned kPinned[] = {
      {"", 0x156770e9060dc685u, 0, 0, 0, 83},
      {"example.com", 0xd119759b4713960eu, 2, 5, 6, 816},
      {"xn--bcher-kva.example", 0x031c58251dae1769u, 0, 0, 0, 12},
      {"192.0.2.1", 0x325106477b266686u, 0, 1, 1, 196},
      {"2001:db8::1", 0xa2bec13792125fb3u, 1, 4, 5, 635},
      {"not a target", 0x398ca3e14e2d1d5fu, 0, 1, 1, 224},
  };
  for (const Pinned& p : kPinned) {
    SCOPED_TRACE(p.key);
    EXPECT_EQ(ShardHash(p.key), p.hash);
    EXPECT_EQ(ShardOf(p.key, 3), p.of3);
    EXPECT_EQ(ShardOf(p.key, 7), p.of7);
    EXPECT_EQ(ShardOf(p.key, 8), p.of8);
    EXPECT_EQ(ShardOf(p.key, 1000), p.of1000);
    EXPECT_TRUE(InShard(Shard{p.of7, 7}, p.key));
  }
  // Through the line's key: spellings of one target share its shard.
  EXPECT_EQ(ShardOf(ShardKey("Example.COM."), 8), 6u);
  EXPECT_EQ(ShardOf(ShardKey("Bücher.example"), 1000), 12u);
  EXPECT_EQ(ShardOf(ShardKey("[192.0.2.1]:587,mx.example.com"), 1000), 196u);
  EXPECT_EQ(ShardOf(ShardKey("[2001:DB8::1]:25"), 1000), 635u);
}

TEST(ShardOfTest, OneShardTakesEverything) {
  for (const char* key : {"", "example.com", "192.0.2.1"}) {
    EXPECT_EQ(ShardOf(key, 1), 0u);
    EXPECT_TRUE(InShard(Shard{}, key));
  }
}

TEST(ShardOfTest, ShardsPartitionTheKeys) {
  // Every key is in exactly one of the N shards.
  for (uint32_t n : {2u, 3u, 7u, 64u}) {
    for (int i = 0; i < 1000; ++i) {
      const std::string key = absl::StrCat("d", i, ".example");
      int in = 0;
      for (uint32_t s = 0; s < n; ++s) in += InShard(Shard{s, n}, key) ? 1 : 0;
      EXPECT_EQ(in, 1) << key << " over " << n;
    }
  }
}

TEST(ShardOfTest, BalancedOverAMillionDomains) {
  constexpr int kDomains = 1'000'000;
  constexpr uint32_t kShards = 7;
  std::vector<int> counts(kShards);
  // Lower-case ASCII domains are their own keys (checked on a sample: the
  // whole million through ShardKey takes 20 s under AddressSanitizer).
  for (int i = 0; i < kDomains; ++i) {
    const std::string domain = absl::StrCat("domain", i, ".example");
    if (i % 1000 == 0) {
      ASSERT_EQ(ShardKey(domain), domain);
    }
    ++counts[ShardOf(domain, kShards)];
  }
  const double expected = static_cast<double>(kDomains) / kShards;
  for (uint32_t s = 0; s < kShards; ++s) {
    EXPECT_NEAR(counts[s], expected, 0.01 * expected) << "shard " << s;
  }
}

}  // namespace
}  // namespace smtpscan::scan
