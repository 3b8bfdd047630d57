// The real smtpscan binary against the test server in every mode.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/test_server.h"
#include "nlohmann/json.hpp"

namespace smtpscan {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;

struct RunResult {
  int exit_code = -1;
  std::vector<Json> records;
  std::string stderr_text;
};

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "scan_test_", getpid(), "_", name);
}

// Runs smtpscan with `args` on a targets file holding `lines`.
RunResult Scan(const std::vector<std::string>& lines,
               const std::vector<std::string>& args) {
  const std::string input = TempPath("targets.txt");
  const std::string output = TempPath("out.ndjson");
  const std::string errors = TempPath("stderr.txt");
  {
    std::ofstream in(input);
    for (const std::string& l : lines) in << l << "\n";
  }
  // No rate limit unless the test sets one: a handful of local servers.
  const std::string joined = absl::StrJoin(args, " ");
  const bool has_rate = absl::StrContains(joined, "-r ");
  // Plaintext unless the test asks for STARTTLS: these tests are about the
  // engine; TLS has tls_server_test and tls_lab_test.
  const bool has_starttls = absl::StrContains(joined, "--starttls");
  std::string command = absl::StrCat(
      SMTPSCAN_BINARY, " -i ", input, " -o ", output,
      " --allow-private --ehlo-name scanner.example.test ",
      has_rate ? "" : "-r 0 ", has_starttls ? "" : "--starttls never ", joined,
      " 2>", errors);
  RunResult r;
  const int status = std::system(command.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream out(output);
  std::string line;
  while (std::getline(out, line)) r.records.push_back(Json::parse(line));
  std::ifstream err(errors);
  r.stderr_text.assign(std::istreambuf_iterator<char>(err), {});
  return r;
}

// Records by input line number; fails the test if any line has two.
std::map<int, Json> ByLine(const RunResult& r) {
  std::map<int, Json> by_line;
  for (const Json& j : r.records) {
    const int line = j["line"].get<int>();
    EXPECT_EQ(by_line.count(line), 0u) << "two records for line " << line;
    by_line[line] = j;
  }
  return by_line;
}

class ScanTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One listener per mode, each on its own loopback address.
    const std::vector<std::string> modes = {"postfix",
                                            "exim",
                                            "sendmail",
                                            "fast",
                                            "multiline",
                                            "delay:300",
                                            "tarpit",
                                            "idle",
                                            "greet421",
                                            "greet554",
                                            "http",
                                            "ssh",
                                            "binary",
                                            "reset-mid-reply",
                                            "endless-reply",
                                            "slow",
                                            "close-after-greeting",
                                            "starttls-454",
                                            "hold-after-quit"};
    std::vector<std::string> listeners;
    for (size_t i = 0; i < modes.size(); ++i) {
      listeners.push_back(absl::StrCat("127.0.1.", i + 1, ":0=", modes[i]));
    }
    // Two ports on one address, for the port-list case.
    listeners.push_back("127.0.2.1:0=postfix");
    listeners.push_back("127.0.2.1:0=exim");
    server_ = new test::TestServer(listeners);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(server_->ok()) << "test server did not start";
  }

  static std::string Target(const std::string& mode) {
    return server_->Of(mode).at(0).str();
  }

  static test::TestServer* server_;
};

test::TestServer* ScanTest::server_ = nullptr;

TEST_F(ScanTest, EveryModeGivesItsOutcome) {
  struct Case {
    std::string mode;
    std::string status;
    std::string detail;  // "" = do not check
  };
  const std::vector<Case> cases = {
      // These modes offer STARTTLS and answer 454 (--starttls auto).
      {"postfix", "starttls-refused", "454"},
      {"exim", "starttls-refused", "454"},
      {"sendmail", "starttls-refused", "454"},
      {"fast", "success", ""},
      {"multiline", "starttls-refused", "454"},
      {"delay:300", "starttls-refused", "454"},
      {"tarpit", "greeting-timeout", "greeting"},
      {"idle", "greeting-timeout", "greeting"},
      {"greet421", "greeting-rejected", "421"},
      {"greet554", "greeting-rejected", "554"},
      {"http", "protocol-error", "http"},
      {"ssh", "protocol-error", "ssh"},
      {"binary", "protocol-error", "binary"},
      {"reset-mid-reply", "connection-reset", "ECONNRESET"},
      {"endless-reply", "protocol-error", "too-many-lines"},
      {"slow", "greeting-timeout", "greeting"},
      {"close-after-greeting", "closed-early", "ehlo"},
      {"starttls-454", "starttls-refused", "454"},
  };
  std::vector<std::string> lines;
  for (const Case& c : cases) lines.push_back(Target(c.mode));
  const RunResult r = Scan(lines, {"--greeting-timeout 1.5s",
                                   "--reply-timeout 3s", "--starttls auto"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), cases.size()) << r.stderr_text;
  std::map<int, Json> by_line = ByLine(r);
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].mode);
    const Json& j = by_line[static_cast<int>(i + 1)];
    EXPECT_EQ(j["kind"], "address");
    EXPECT_EQ(j["status"], cases[i].status) << j.dump();
    ASSERT_EQ(j["probes"].size(), 1u);
    const Json& p = j["probes"][0];
    EXPECT_EQ(p["status"], cases[i].status);
    if (!cases[i].detail.empty()) {
      EXPECT_EQ(p["status_detail"], cases[i].detail) << p.dump();
    }
    // Timings are present and plausible: connect happened, total covers it.
    ASSERT_TRUE(p["timings_us"].contains("connect")) << p.dump();
    ASSERT_TRUE(p["timings_us"].contains("total"));
    EXPECT_GT(p["timings_us"]["total"].get<int64_t>(), 0);
    EXPECT_LE(p["timings_us"]["connect"].get<int64_t>(),
              p["timings_us"]["total"].get<int64_t>());
    EXPECT_LT(p["timings_us"]["total"].get<int64_t>(), 20'000'000);
    if (cases[i].status == "success") {
      EXPECT_EQ(p["greeting"]["code"], 220);
      EXPECT_EQ(p["ehlo"]["code"], 250);
      EXPECT_EQ(p["quit"]["code"], 221);
      for (const char* t : {"greeting", "ehlo", "quit"}) {
        EXPECT_TRUE(p["timings_us"].contains(t)) << t;
      }
    }
  }
  // Mode-specific facts.
  const Json& postfix = by_line[1]["probes"][0];
  EXPECT_EQ(postfix["ehlo"]["extensions"].size(), 10u);
  EXPECT_EQ(postfix["ehlo"]["size_limit"], 10240000);
  EXPECT_EQ(postfix["ehlo"]["starttls"], true);
  EXPECT_THAT(postfix["greeting"]["lines"][0].get<std::string>(),
              HasSubstr("ESMTP Postfix"));
  const Json& exim = by_line[2]["probes"][0];
  EXPECT_THAT(exim["ehlo"]["greet"].get<std::string>(), HasSubstr("Hello"));
  const Json& multiline = by_line[5]["probes"][0];
  EXPECT_EQ(multiline["greeting"]["lines"].size(), 2u);
  EXPECT_GE(multiline["timings_us"]["greeting"].get<int64_t>(), 190'000);
  const Json& delayed = by_line[6]["probes"][0];
  EXPECT_GE(delayed["timings_us"]["greeting"].get<int64_t>(), 290'000);
  const Json& tarpit = by_line[7]["probes"][0];
  EXPECT_GE(tarpit["timings_us"]["total"].get<int64_t>(), 1'400'000);
  const Json& greet421 = by_line[9]["probes"][0];
  EXPECT_FALSE(greet421.contains("quit"));  // 421: the server closes
  const Json& greet554 = by_line[10]["probes"][0];
  EXPECT_EQ(greet554["quit"]["code"], 221);  // 554: QUIT, then 221
  const Json& http = by_line[11]["probes"][0];
  EXPECT_THAT(http["protocol_error"]["excerpt"].get<std::string>(),
              HasSubstr("HTTP/1.1 400"));
}

TEST_F(ScanTest, OneRecordPerLineWithPortsInvalidAndBlockedLines) {
  const auto& both = server_->Of("postfix");
  // 127.0.2.1 listens twice (postfix and exim) on two ephemeral ports.
  const auto& postfix2 = server_->Of("postfix").back();
  const auto& exim2 = server_->Of("exim").back();
  ASSERT_EQ(postfix2.address, "127.0.2.1");
  ASSERT_EQ(exim2.address, "127.0.2.1");
  const std::string blocklist = TempPath("blocklist.txt");
  std::ofstream(blocklist) << "# test\n127.0.3.0/24\n";
  const RunResult r =
      Scan({"# a comment", "", "127.0.2.1,mx.example.test", "not an address",
            "127.0.3.7:25", absl::StrCat(both[0].str(), ",MX1.Example.Test."),
            "127.0.2.1:1", "[::1]:1"},
           {absl::StrCat("-p ", postfix2.port, ",", exim2.port), "--blocklist",
            blocklist});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  // 8 lines, 2 skipped (comment, blank): 6 records.
  ASSERT_EQ(r.records.size(), 6u);
  std::map<int, Json> by_line = ByLine(r);
  const Json& two_ports = by_line[3];
  EXPECT_EQ(two_ports["status"], "success");
  EXPECT_EQ(two_ports["host"], "mx.example.test");
  ASSERT_EQ(two_ports["probes"].size(), 2u);
  EXPECT_EQ(two_ports["probes"][0]["port"], postfix2.port);
  EXPECT_EQ(two_ports["probes"][1]["port"], exim2.port);
  EXPECT_THAT(two_ports["probes"][1]["greeting"]["lines"][0].get<std::string>(),
              HasSubstr("Exim"));
  EXPECT_EQ(by_line[4]["kind"], "invalid");
  EXPECT_EQ(by_line[4]["status"], "invalid-input");
  EXPECT_EQ(by_line[5]["status"], "blocked");
  EXPECT_EQ(by_line[5]["probes"].size(), 0u);
  EXPECT_EQ(by_line[6]["host"], "mx1.example.test");  // normalised
  EXPECT_EQ(by_line[7]["status"], "connection-refused");
  EXPECT_EQ(by_line[7]["probes"][0]["status_detail"], "ECONNREFUSED");
  EXPECT_EQ(by_line[8]["status"], "connection-refused");
  EXPECT_EQ(by_line[8]["probes"][0]["address"], "::1");
}

TEST_F(ScanTest, PrivateAddressesAreBlockedByDefault) {
  const std::string input = TempPath("private.txt");
  std::ofstream(input) << Target("postfix") << "\n10.1.2.3:25\n";
  const std::string output = TempPath("private.ndjson");
  const std::string command =
      absl::StrCat(SMTPSCAN_BINARY, " -q -i ", input, " -o ", output,
                   " --ehlo-name scanner.example.test");
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::ifstream out(output);
  std::string line;
  std::vector<Json> records;
  while (std::getline(out, line)) records.push_back(Json::parse(line));
  ASSERT_EQ(records.size(), 2u);
  for (const Json& j : records) {
    EXPECT_EQ(j["status"], "blocked") << j.dump();
    EXPECT_EQ(j["probes"].size(), 0u);
  }
}

TEST_F(ScanTest, PerAddressLimitSerialisesOneServer) {
  // Ten lines to one address: with the default limit of one connection per
  // address they run one after another, each greeting delayed 300 ms.
  std::vector<std::string> lines(5, Target("delay:300"));
  const absl::Time start = absl::Now();
  const RunResult r = Scan(lines, {});
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 5u);
  for (const Json& j : r.records) EXPECT_EQ(j["status"], "success");
  EXPECT_GE(took, absl::Milliseconds(5 * 300));
}

TEST_F(ScanTest, SourceAddressIsUsedAndAnUnbindableOneIsRefused) {
  // Bound to a loopback source, the conversation works.
  RunResult r = Scan({Target("postfix")}, {"--source-address 127.0.0.1"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0]["status"], "success");
  // An address this machine does not have cannot be bound: refused at
  // start in one line (a usage error), rather than every probe failing
  // with EADDRNOTAVAIL.
  r = Scan({Target("postfix")}, {"--source-address 192.0.2.1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.stderr_text,
            "smtpscan: --source-address 192.0.2.1: cannot bind: Cannot "
            "assign requested address\n");
}

TEST_F(ScanTest, RateLimitSpacesNewConnections) {
  // 10 connections at 20 per second: the first two may go at once (a tenth
  // of a second's burst), the rest one every 50 ms.
  std::vector<std::string> lines;
  for (int i = 0; i < 10; ++i) {
    lines.push_back(absl::StrCat("127.0.4.", i + 1, ":1"));  // refused fast
  }
  const absl::Time start = absl::Now();
  const RunResult r = Scan(lines, {"-r 20", "--per-address 1"});
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 10u);
  EXPECT_GE(took, absl::Milliseconds(400));
  EXPECT_LT(took, absl::Seconds(5));
}

TEST_F(ScanTest, RecordsStreamWhileTheScanRuns) {
  // A quick server and a tarpit held for 3 s: the quick server's record must
  // reach a reader (a pipe) long before the run ends, not at the end.
  const std::string input = TempPath("stream.txt");
  std::ofstream(input) << Target("postfix") << "\n" << Target("tarpit") << "\n";
  const std::string command =
      absl::StrCat(SMTPSCAN_BINARY, " -q -i ", input,
                   " -o - --allow-private -r 0 --starttls never "
                   "--ehlo-name scanner.example.test "
                   "--greeting-timeout 3s");
  const absl::Time start = absl::Now();
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[8192];
  ASSERT_NE(fgets(line, sizeof(line), pipe), nullptr);
  const absl::Duration first = absl::Now() - start;
  EXPECT_EQ(Json::parse(line)["status"], "success");
  int records = 1;
  while (fgets(line, sizeof(line), pipe) != nullptr) ++records;
  const absl::Duration all = absl::Now() - start;
  EXPECT_EQ(pclose(pipe), 0);
  EXPECT_EQ(records, 2);
  EXPECT_GE(all, absl::Seconds(3));
  EXPECT_LT(first, absl::Milliseconds(1500))
      << "the first record waited for " << first;
}

TEST_F(ScanTest, AfterQuitTheServerClosesFirst) {
  // After 221 smtpscan waits for the server's close (so it keeps no
  // TIME_WAIT state) but never for long: servers that close at once cost
  // nothing, and the record is written before the wait. Five conversations in a
  // row with one server (one connection per address) take well under a second.
  std::vector<std::string> lines(5, Target("postfix"));
  absl::Time start = absl::Now();
  RunResult r = Scan(lines, {});
  absl::Duration took = absl::Now() - start;
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 5u);
  for (const Json& j : r.records) EXPECT_EQ(j["status"], "success");
  EXPECT_LT(took, absl::Seconds(2)) << "waited for closes that had come";

  // A server that keeps the connection open after 221: the record streams
  // out at once, the connection is closed by smtpscan 2 s later, and only
  // then may the next conversation with the same server start.
  const std::string input = TempPath("hold.txt");
  std::ofstream(input) << Target("hold-after-quit") << "\n"
                       << Target("hold-after-quit") << "\n";
  const std::string command =
      absl::StrCat(SMTPSCAN_BINARY, " -q -i ", input,
                   " -o - --allow-private -r 0 --starttls never "
                   "--ehlo-name scanner.example.test");
  start = absl::Now();
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[8192];
  ASSERT_NE(fgets(line, sizeof(line), pipe), nullptr);
  const absl::Duration first = absl::Now() - start;
  Json j = Json::parse(line);
  EXPECT_EQ(j["status"], "success") << j.dump();
  EXPECT_EQ(j["probes"][0]["quit"]["code"], 221);
  ASSERT_NE(fgets(line, sizeof(line), pipe), nullptr);
  const absl::Duration second = absl::Now() - start;
  EXPECT_EQ(Json::parse(line)["status"], "success");
  EXPECT_EQ(fgets(line, sizeof(line), pipe), nullptr);
  took = absl::Now() - start;
  EXPECT_EQ(pclose(pipe), 0);
  EXPECT_LT(first, absl::Milliseconds(1500));
  EXPECT_GE(second, absl::Seconds(2)) << "the second did not wait its turn";
  EXPECT_GE(took, absl::Seconds(4));
  EXPECT_LT(took, absl::Seconds(15));
}

// Sockets of this network namespace to or from `endpoint` (IPv4) in the
// states a closing connection passes through: FIN_WAIT1, FIN_WAIT2,
// TIME_WAIT, LAST_ACK, CLOSING (include/net/tcp_states.h).
int ClosingSocketsOf(const test::TestServer::Endpoint& endpoint) {
  in_addr addr{};
  EXPECT_EQ(inet_pton(AF_INET, endpoint.address.c_str(), &addr), 1);
  // /proc/net/tcp prints the address as the native-endian integer of its
  // network-order bytes, and the port in host order.
  char want[32];
  std::snprintf(want, sizeof(want), "%08X:%04X", addr.s_addr, endpoint.port);
  const std::set<std::string> closing = {"04", "05", "06", "09", "0B"};
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);  // the header
  int n = 0;
  while (std::getline(tcp, line)) {
    std::vector<std::string> f =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (f.size() < 4) continue;
    if ((f[1] == want || f[2] == want) && closing.count(f[3]) > 0) ++n;
  }
  return n;
}

TEST_F(ScanTest, TheServersCloseIsAnsweredWithReset) {
  // The server closes after 221 (FIN); smtpscan answers with RST rather
  // than FIN, so neither side keeps a socket: the server's would otherwise
  // wait out TIME_WAIT (60 s), the scanner's LAST_ACK.
  const test::TestServer::Endpoint server = server_->Of("fast").at(0);
  RunResult r = Scan(std::vector<std::string>(5, server.str()), {});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 5u);
  for (const Json& j : r.records) {
    EXPECT_EQ(j["status"], "success");
    EXPECT_EQ(j["probes"][0]["quit"]["code"], 221);
  }
  EXPECT_EQ(ClosingSocketsOf(server), 0);
}

TEST_F(ScanTest, CsvOutputHasOneRowPerProbe) {
  const std::string input = TempPath("csv.txt");
  std::ofstream(input) << Target("postfix") << "\n"
                       << Target("greet554") << "\n";
  const std::string output = TempPath("out.csv");
  const std::string command =
      absl::StrCat(SMTPSCAN_BINARY, " -q -i ", input, " -o ", output,
                   " --allow-private --ehlo-name scanner.example.test");
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::ifstream out(output);
  std::vector<std::string> rows;
  std::string row;
  while (std::getline(out, row)) rows.push_back(row);
  ASSERT_EQ(rows.size(), 3u);  // header + 2
  EXPECT_THAT(rows[0], HasSubstr("line,input,kind"));
}

TEST(ScanCliTest, UsageAndToolErrors) {
  struct Case {
    std::string args;
    int exit_code;
    std::string stderr_has;
  };
  const std::vector<Case> cases = {
      {"", 2, "--input"},
      {"-i /nonexistent/targets.txt --ehlo-name a.example", 1, "cannot open"},
      {"-i - -o /nonexistent/dir/out.ndjson --ehlo-name a.example", 1,
       "cannot write"},
      {"-i - --ehlo-name localhost", 2, "not fully qualified"},
      {"-i - -p 0 --ehlo-name a.example", 2, "port"},
      {"-i - --greeting-timeout soon --ehlo-name a.example", 2, "duration"},
      {"-i - -c 0 --ehlo-name a.example", 2, ""},
      {"-i - -c 1000000 --ehlo-name a.example", 1, "open files"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const std::string errors = TempPath("cli_err.txt");
    const std::string command = absl::StrCat(
        SMTPSCAN_BINARY, " ", c.args, " </dev/null >/dev/null 2>", errors);
    const int status = std::system(command.c_str());
    EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, c.exit_code);
    std::ifstream err(errors);
    const std::string text((std::istreambuf_iterator<char>(err)), {});
    EXPECT_THAT(text, HasSubstr(c.stderr_has));
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  }
}

}  // namespace
}  // namespace smtpscan
