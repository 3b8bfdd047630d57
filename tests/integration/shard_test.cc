// --shard end to end: the real binary over a few hundred mixed lines
// (address targets on the test server, refused ports, domains whose DNS
// times out, invalid lines), run whole and as N = 1, 3 and 7 shards. The
// shards must be disjoint, their union must be the whole run, and every
// line's record must be the same wherever it was scanned.
#include "scan/shard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/test_server.h"
#include "nlohmann/json.hpp"

namespace smtpscan {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "shard_test_", getpid(), "_", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// What may differ between two scans of one line: when it ran, how long it
// took, and which run wrote it.
void DropTimes(Json* j) {
  if (j->is_array()) {
    for (Json& e : *j) DropTimes(&e);
    return;
  }
  if (!j->is_object()) return;
  for (auto it = j->begin(); it != j->end();) {
    const std::string& key = it.key();
    if (key == "timings_us" || key == "time" || key == "scan_id" ||
        key == "took" || absl::EndsWith(key, "_at")) {
      it = j->erase(it);
    } else {
      DropTimes(&it.value());
      ++it;
    }
  }
}

struct ScanRun {
  int exit_code = -1;
  std::map<int, Json> by_line;  // without times
  std::vector<int> duplicates;  // lines with more than one record
  std::string stderr_text;
};

class ShardTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A DNS "server" that never answers: every query of a domain line times
    // out after --dns-timeout, the same way in every run. (A closed port
    // would answer with ICMP port-unreachable, which the kernel may
    // rate-limit, turning some refusals into timeouts.)
    dns_socket_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in dns{};
    dns.sin_family = AF_INET;
    dns.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(dns);
    if (dns_socket_ < 0 ||
        bind(dns_socket_, reinterpret_cast<sockaddr*>(&dns), len) != 0 ||
        getsockname(dns_socket_, reinterpret_cast<sockaddr*>(&dns), &len) !=
            0) {
      return;
    }
    dns_port_ = ntohs(dns.sin_port);

    // Modes whose replies do not change from one connection to the next
    // (exim and sendmail put the date in their greeting), and that answer
    // at once (a 421 greeting makes the scanner back off from the address).
    const std::vector<std::string> modes = {
        "fast", "postfix", "greet554", "multiline",
        "http", "ssh",     "binary",   "close-after-greeting"};
    std::vector<std::string> listeners;
    for (int i = 0; i < kAddresses; ++i) {
      listeners.push_back(
          absl::StrCat("127.0.80.", i + 1, ":0=", modes[i % modes.size()]));
    }
    listeners.push_back("[::1]:0=fast");
    server_ = new test::TestServer(listeners);
    if (!server_->ok()) return;

    std::vector<std::string> lines;
    int host = 0;
    for (const std::string& mode : modes) {
      for (const test::TestServer::Endpoint& e : server_->Of(mode)) {
        if (e.address[0] == '[') continue;  // [::1], below
        // Spellings of one server: all share its shard.
        const std::string port = absl::StrCat(e.port);
        lines.push_back(absl::StrCat(e.address, ":", port));
        lines.push_back(absl::StrCat("[", e.address, "]:", port));
        lines.push_back(
            absl::StrCat(e.address, ":", port, ",mx", ++host, ".example.test"));
        lines.push_back(absl::StrCat("  ", e.address, ":", port, ",MX", host,
                                     ".Example.Test.\t"));
      }
    }
    const int v6 = server_->Of("fast").back().port;
    lines.push_back(absl::StrCat("[::1]:", v6));
    lines.push_back(absl::StrCat("[0:0::1]:", v6, ",mx6.example.test"));
    // Addresses without a port get -p 1, where nothing listens.
    for (int i = 1; i <= 80; ++i) {
      lines.push_back(absl::StrCat("127.0.82.", i));
      if (i % 4 == 0) lines.push_back(absl::StrCat("127.0.82.", i, ":1"));
    }
    // Domains, some in two spellings.
    for (int i = 0; i < 40; ++i) {
      lines.push_back(absl::StrCat("d", i, ".shard.test"));
      if (i % 5 == 0) lines.push_back(absl::StrCat("D", i, ".Shard.TEST."));
    }
    // Invalid lines, some twice.
    for (int i = 0; i < 50; ++i) {
      switch (i % 5) {
        case 0:
          lines.push_back(absl::StrCat("not a target ", i));
          lines.push_back(absl::StrCat("  not a target ", i, "  "));
          break;
        case 1:
          lines.push_back(absl::StrCat("300.0.0.", i));
          break;
        case 2:
          lines.push_back(absl::StrCat("127.0.80.1:", 70000 + i));
          break;
        case 3:
          lines.push_back(absl::StrCat("[2001:db8::", i));
          break;
        default:
          lines.push_back(absl::StrCat("bad_label", i, "..example"));
      }
    }
    std::mt19937 random(20240607);  // fixed: the same file every run
    std::shuffle(lines.begin(), lines.end(), random);
    // Comments and blank lines are numbered but give no record.
    std::ofstream in(Input());
    int number = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i % 25 == 7) {
        in << "# comment\n";
        ++number;
      }
      if (i % 31 == 3) {
        in << "\n";
        ++number;
      }
      in << lines[i] << "\n";
      line_text_[++number] = lines[i];
    }
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    if (dns_socket_ >= 0) close(dns_socket_);
    dns_socket_ = -1;
    std::remove(Input().c_str());
  }

  void SetUp() override {
    ASSERT_GT(dns_port_, 0) << "no UDP socket on loopback";
    ASSERT_TRUE(server_->ok()) << "test server did not start";
  }

  static std::string Input() { return TempPath("targets.txt"); }

  // Runs smtpscan over the input with `shard` ("" for none), the shell
  // assignments `env` before it.
  static ScanRun Scan(const std::string& shard, const std::string& env = "") {
    const std::string output = TempPath("out.ndjson");
    const std::string errors = TempPath("stderr.txt");
    const std::string command = absl::StrCat(
        // No job runner of our own may leak into --shard auto.
        "env -u JOB_COMPLETION_INDEX -u SMTPSCAN_SHARD_COUNT -u "
        "SLURM_ARRAY_TASK_ID ",
        env, " ", SMTPSCAN_BINARY, " -i ", Input(), " -o ", output,
        shard.empty() ? "" : " --shard ", shard,
        " --allow-private --ehlo-name scanner.example.test -r 0"
        " --starttls never -p 1 --connect-timeout 5s"
        " --greeting-timeout 5s --reply-timeout 5s"
        " --resolver 127.0.0.1:",
        dns_port_, " --dns-timeout 300ms --dns-tries 1 2>", errors,
        " </dev/null");
    ScanRun r;
    const int status = std::system(command.c_str());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream out(output);
    std::string line;
    while (std::getline(out, line)) {
      Json j = Json::parse(line);
      const int number = j["line"].get<int>();
      DropTimes(&j);
      if (!r.by_line.emplace(number, std::move(j)).second) {
        r.duplicates.push_back(number);
      }
    }
    r.stderr_text = ReadFile(errors);
    std::remove(output.c_str());
    std::remove(errors.c_str());
    return r;
  }

  // The shard of input line `number` among `count`, as the library says.
  static uint32_t ExpectedShard(int number, uint32_t count) {
    return scan::ShardOf(scan::ShardKey(line_text_.at(number)), count);
  }

  static constexpr int kAddresses = 16;
  static inline int dns_socket_ = -1;
  static inline int dns_port_ = 0;
  static inline test::TestServer* server_ = nullptr;
  static inline std::map<int, std::string> line_text_;  // target lines
};

TEST_F(ShardTest, ShardsPartitionTheWholeRun) {
  const ScanRun whole = Scan("");
  ASSERT_EQ(whole.exit_code, 0) << whole.stderr_text;
  EXPECT_THAT(whole.duplicates, ::testing::IsEmpty());
  // One record per target line, none for comments and blank lines.
  ASSERT_EQ(whole.by_line.size(), line_text_.size()) << whole.stderr_text;
  std::map<std::string, int> statuses;
  for (const auto& [number, record] : whole.by_line) {
    ASSERT_TRUE(line_text_.contains(number)) << number;
    ++statuses[record["status"].get<std::string>()];
  }
  // The mix is what it is meant to be.
  for (const char* status :
       {"success", "greeting-rejected", "protocol-error", "closed-early",
        "connection-refused", "dns-error", "invalid-input"}) {
    EXPECT_GT(statuses[status], 0) << status;
  }

  for (uint32_t count : {1u, 3u, 7u}) {
    SCOPED_TRACE(absl::StrCat("N = ", count));
    std::map<int, uint32_t> shard_of;  // line -> the shard that wrote it
    for (uint32_t index = 0; index < count; ++index) {
      SCOPED_TRACE(absl::StrCat("shard ", index));
      const ScanRun shard = Scan(absl::StrCat(index, "/", count));
      ASSERT_EQ(shard.exit_code, 0) << shard.stderr_text;
      EXPECT_THAT(shard.duplicates, ::testing::IsEmpty());
      // Balanced enough that no shard of a few hundred lines is empty.
      EXPECT_FALSE(shard.by_line.empty());
      for (const auto& [number, record] : shard.by_line) {
        // Disjoint: no other shard wrote this line.
        const auto [it, inserted] = shard_of.emplace(number, index);
        EXPECT_TRUE(inserted) << "line " << number << " in shards "
                              << it->second << " and " << index;
        // In the shard the key's hash names.
        ASSERT_TRUE(line_text_.contains(number)) << number;
        EXPECT_EQ(ExpectedShard(number, count), index)
            << "line " << number << ": " << line_text_.at(number);
        // The same record as in the whole run.
        auto w = whole.by_line.find(number);
        ASSERT_NE(w, whole.by_line.end()) << "line " << number;
        EXPECT_EQ(record, w->second) << "line " << number;
      }
    }
    // The union is the whole run.
    std::set<int> whole_lines, union_lines;
    for (const auto& [number, record] : whole.by_line) {
      whole_lines.insert(number);
    }
    for (const auto& [number, index] : shard_of) union_lines.insert(number);
    EXPECT_EQ(union_lines, whole_lines);
  }
}

TEST_F(ShardTest, SpellingsOfOneTargetShareAShard) {
  // Lines whose keys agree (one server's address with and without port
  // brackets or names; one domain in two spellings; one invalid line with
  // and without spaces) were put in the input on purpose: check there are
  // such groups and that each lies in one shard of 7.
  std::map<std::string, std::set<uint32_t>> shards_of_key;
  std::map<std::string, int> lines_of_key;
  for (const auto& [number, text] : line_text_) {
    const std::string key = scan::ShardKey(text);
    shards_of_key[key].insert(ExpectedShard(number, 7));
    ++lines_of_key[key];
  }
  int groups = 0;
  for (const auto& [key, n] : lines_of_key) {
    if (n > 1) ++groups;
    EXPECT_EQ(shards_of_key[key].size(), 1u) << key;
  }
  EXPECT_GE(groups, 30);
  // And the binary agrees: shard 2 of 7 holds all of a group or none.
  const ScanRun shard = Scan("2/7");
  ASSERT_EQ(shard.exit_code, 0) << shard.stderr_text;
  std::map<std::string, int> written;
  for (const auto& [number, record] : shard.by_line) {
    ++written[scan::ShardKey(line_text_.at(number))];
  }
  for (const auto& [key, n] : written) EXPECT_EQ(n, lines_of_key[key]) << key;
}

TEST_F(ShardTest, AutoReadsTheJobRunner) {
  const ScanRun explicit_shard = Scan("1/3");
  ASSERT_EQ(explicit_shard.exit_code, 0) << explicit_shard.stderr_text;
  std::set<int> want;
  for (const auto& [number, record] : explicit_shard.by_line) {
    want.insert(number);
  }
  // Kubernetes Indexed Job, completion index 1 of 3.
  const ScanRun kubernetes =
      Scan("auto", "JOB_COMPLETION_INDEX=1 SMTPSCAN_SHARD_COUNT=3");
  ASSERT_EQ(kubernetes.exit_code, 0) << kubernetes.stderr_text;
  // Slurm --array=1-3, task 2: the second of three.
  const ScanRun slurm =
      Scan("auto",
           "SLURM_ARRAY_JOB_ID=77 SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 "
           "SLURM_ARRAY_TASK_MAX=3 SLURM_ARRAY_TASK_COUNT=3 "
           "SLURM_ARRAY_TASK_STEP=1");
  ASSERT_EQ(slurm.exit_code, 0) << slurm.stderr_text;
  for (const ScanRun* run : {&kubernetes, &slurm}) {
    std::set<int> got;
    for (const auto& [number, record] : run->by_line) got.insert(number);
    EXPECT_EQ(got, want);
  }
}

TEST_F(ShardTest, BadShardIsAUsageError) {
  for (const char* shard : {"3/3", "1-3", "auto"}) {
    SCOPED_TRACE(shard);
    const ScanRun r = Scan(shard);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(r.by_line.empty());
    EXPECT_THAT(r.stderr_text, HasSubstr("--shard"));
    EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1)
        << r.stderr_text;
  }
  // Slurm --array=1,2,7: cannot be numbered 0..2.
  const ScanRun irregular = Scan(
      "auto",
      "SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=7 "
      "SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_STEP=1");
  EXPECT_EQ(irregular.exit_code, 2);
  EXPECT_THAT(irregular.stderr_text, HasSubstr("--array=0-2"));
}

}  // namespace
}  // namespace smtpscan
