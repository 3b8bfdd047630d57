// The real smtpscan binary with --allowlist, --opt-out, --blocklist and the
// backoff flags, against the test server on loopback (address mode; domain
// mode's opt-out is tested in tests/scan/domain_scan_test.cc).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/test_server.h"
#include "nlohmann/json.hpp"

namespace smtpscan {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "politeness_test_", getpid(), "_",
                      name);
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = TempPath(name);
  std::ofstream(path) << text;
  return path;
}

struct RunResult {
  int exit_code = -1;
  std::map<int, Json> by_line;
  std::string stderr_text;
};

RunResult Scan(const std::vector<std::string>& lines,
               const std::vector<std::string>& args) {
  const std::string input =
      WriteFile("targets.txt", absl::StrJoin(lines, "\n"));
  const std::string output = TempPath("out.ndjson");
  const std::string errors = TempPath("stderr.txt");
  unlink(output.c_str());
  const std::string command =
      absl::StrCat(SMTPSCAN_BINARY, " -q -i ", input, " -o ", output,
                   " --ehlo-name scanner.example.test -r 0 --starttls never ",
                   absl::StrJoin(args, " "), " 2>", errors);
  RunResult r;
  const int status = std::system(command.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream out(output);
  std::string line;
  while (std::getline(out, line)) {
    Json j = Json::parse(line);
    r.by_line[j["line"].get<int>()] = j;
  }
  std::ifstream err(errors);
  r.stderr_text.assign(std::istreambuf_iterator<char>(err), {});
  return r;
}

TEST(PolitenessTest, EveryBlockedRecordNamesItsRule) {
  test::TestServer server({"127.0.0.1:0=fast"});
  ASSERT_TRUE(server.ok());
  const std::string fast = server.Of("fast").at(0).str();
  const int port = server.Of("fast").at(0).port;
  const std::string blocklist = WriteFile("bl.txt", "# blocked\n127.0.0.9\n");
  const std::string opt_out = WriteFile(
      "opt-out.txt",
      "example.com\n.mail.example.net  # their servers\n127.0.0.8/32\n");
  const std::string allowlist = WriteFile("allow.txt", "127.0.0.0/24\n");
  const RunResult r = Scan(
      {
          fast,                                          // 1: scanned
          absl::StrCat(fast, ",mx1.mail.example.net"),   // 2: opt-out name
          absl::StrCat(fast, ",mail.example.net.test"),  // 3: not covered
          absl::StrCat("127.0.0.9:", port),              // 4: blocklist
          absl::StrCat("127.0.0.8:", port),              // 5: opt-out CIDR
          absl::StrCat("127.0.1.1:", port),              // 6: not allowed
          "10.0.0.1",                                    // 7: reserved
      },
      {"--blocklist", blocklist, "--opt-out", opt_out, "--allowlist", allowlist,
       "--allow-private"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.by_line.size(), 7u);
  auto at = [&](int line) { return r.by_line.at(line); };
  EXPECT_EQ(at(1)["status"], "success");
  EXPECT_EQ(at(2)["status"], "blocked");
  EXPECT_EQ(at(2)["status_detail"],
            absl::StrCat("opt-out ", opt_out, ":2 .mail.example.net"));
  EXPECT_EQ(at(2)["probes"].size(), 0u);
  EXPECT_EQ(at(3)["status"], "success");
  EXPECT_EQ(at(4)["status_detail"],
            absl::StrCat("blocklist ", blocklist, ":2 127.0.0.9/32"));
  EXPECT_EQ(at(5)["status_detail"],
            absl::StrCat("opt-out ", opt_out, ":3 127.0.0.8/32"));
  EXPECT_EQ(at(6)["status_detail"],
            absl::StrCat("allowlist ", allowlist, ": not listed"));
  // --allow-private lifts the reserved ranges; the allowlist still holds.
  EXPECT_EQ(at(7)["status_detail"],
            absl::StrCat("allowlist ", allowlist, ": not listed"));

  const RunResult strict = Scan({"10.0.0.1", "192.0.2.1"}, {});
  ASSERT_EQ(strict.exit_code, 0) << strict.stderr_text;
  EXPECT_EQ(strict.by_line.at(1)["status_detail"],
            "reserved 10.0.0.0/8 private (RFC 1918)");
  EXPECT_EQ(strict.by_line.at(2)["status_detail"],
            "reserved 192.0.2.0/24 documentation (RFC 5737)");
}

TEST(PolitenessTest, BadListsStopTheRunWithFileAndLine) {
  const std::string opt_out =
      WriteFile("bad-opt-out.txt", "example.com\n\n*.example.net\n");
  RunResult r = Scan({"192.0.2.1"}, {"--opt-out", opt_out});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text,
              HasSubstr(absl::StrCat(opt_out,
                                     ":3: '*.example.net': write an "
                                     "MX host name suffix with a "
                                     "leading dot, as '.example.net'")));
  EXPECT_TRUE(r.by_line.empty());

  const std::string allowlist =
      WriteFile("bad-allow.txt", "192.0.2.0/24\nexample.com\n");
  r = Scan({"192.0.2.1"}, {"--allowlist", allowlist});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text,
              HasSubstr(absl::StrCat(allowlist, ":2: not an IP address")));

  r = Scan({"192.0.2.1"}, {"--backoff", "soon"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("--backoff: 'soon'"));
}

TEST(PolitenessTest, BackoffFlagsRun) {
  test::TestServer server({"127.0.0.1:0=greet421"});
  ASSERT_TRUE(server.ok());
  const std::string busy = server.Of("greet421").at(0).str();
  // Two lines, one address: the second waits for the first's backoff and
  // is not retried. (Timing is the engine test's business.)
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{
           {"--allow-private", "--backoff", "50ms", "--backoff-max", "1s"},
           {"--allow-private", "--backoff", "0"}}) {
    const RunResult r = Scan({busy, busy}, flags);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    ASSERT_EQ(r.by_line.size(), 2u);
    for (const auto& [line, j] : r.by_line) {
      EXPECT_EQ(j["status"], "greeting-rejected") << j.dump();
      EXPECT_EQ(j["probes"].size(), 1u);
    }
  }
}

}  // namespace
}  // namespace smtpscan
