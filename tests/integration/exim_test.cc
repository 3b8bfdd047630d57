// The real smtpscan binary against a real Exim (Debian's exim4-daemon-light),
// run by tools/exim_lab as a private instance on a loopback address that
// delivers nothing: port 25 without STARTTLS, port 587 with it. Needs root:
// Exim binds port 25, and the lab runs it in a private mount namespace.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace smtpscan {
namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

constexpr char kEximLab[] = SMTPSCAN_TEST_DATA_DIR "/../../tools/exim_lab";
constexpr char kHostname[] = "mx.exim.test";  // set by exim_lab
constexpr char kEhloName[] = "scanner.example.test";
// Exim's default smtp_banner: "$smtp_active_hostname ESMTP Exim
// $version_number $tod_full".
constexpr char kBannerRegex[] =
    "mx\\.exim\\.test ESMTP Exim 4\\.[0-9]+ [A-Z][a-z]{2}, [0-9]{1,2} "
    "[A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [-+][0-9]{4}";

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "exim_test_", getpid(), "_", name);
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* p = popen(absl::StrCat(command, " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct ScanResult {
  int exit_code = -1;
  std::vector<Json> records;
  std::string stderr_text;
};

// Runs smtpscan on a targets file holding `lines`, with `extra` options.
ScanResult Scan(const std::vector<std::string>& lines,
                absl::string_view ehlo_name = kEhloName,
                absl::string_view extra = "") {
  const std::string input = TempPath("targets.txt");
  const std::string output = TempPath("out.ndjson");
  const std::string errors = TempPath("stderr.txt");
  {
    std::ofstream in(input);
    for (const std::string& l : lines) in << l << "\n";
  }
  const std::string command =
      absl::StrCat(SMTPSCAN_BINARY, " -i ", input, " -o ", output,
                   " --allow-private --ehlo-name ", ehlo_name, " -r 0 ", extra,
                   " 2>", errors);
  ScanResult r;
  const int status = std::system(command.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream out(output);
  std::string line;
  while (std::getline(out, line)) r.records.push_back(Json::parse(line));
  r.stderr_text = ReadFile(errors);
  return r;
}

std::vector<std::string> Keywords(const Json& ehlo) {
  std::vector<std::string> keywords;
  for (const Json& e : ehlo["extensions"]) {
    keywords.push_back(e["keyword"].get<std::string>());
  }
  return keywords;
}

class EximTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    dir_ = new std::string(TempPath("instance"));
    address_ = new std::string;
    error_ = new std::string;
    const CommandResult install =
        RunCommand(absl::StrCat(kEximLab, " install </dev/null"));
    if (install.exit_code != 0) {
      *error_ = absl::StrCat("exim_lab install: ", install.output);
      return;
    }
    // Parallel test processes (ctest -j) each need their own address: pick
    // one from the pid, and the next if that one is taken.
    const int base = static_cast<int>(getpid()) % (250 * 250);
    for (int attempt = 0; attempt < 5; ++attempt) {
      const int n = (base + attempt * 7919) % (250 * 250);
      *address_ = absl::StrCat("127.25.", 1 + n / 250, ".", 1 + n % 250);
      // Our pid: if this process dies without tearing down, the instance
      // is stopped all the same.
      const CommandResult start =
          RunCommand(absl::StrCat(kEximLab, " start ", *dir_, " ", *address_,
                                  " ", getpid(), " </dev/null"));
      if (start.exit_code == 0 && absl::StrContains(start.output, "ready")) {
        started_ = true;
        error_->clear();
        return;
      }
      *error_ = absl::StrCat("exim_lab start ", *address_, ": ", start.output);
    }
  }

  static void TearDownTestSuite() {
    if (dir_ != nullptr) {
      const CommandResult stop =
          RunCommand(absl::StrCat(kEximLab, " stop ", *dir_, " </dev/null"));
      EXPECT_EQ(stop.exit_code, 0) << stop.output;
      const CommandResult status =
          RunCommand(absl::StrCat(kEximLab, " status ", *dir_, " </dev/null"));
      EXPECT_THAT(status.output, HasSubstr("stopped"));
      if (stop.exit_code == 0) {
        const int rc = std::system(("rm -rf " + *dir_).c_str());
        (void)rc;
      }
    }
    for (const char* name : {"targets.txt", "out.ndjson", "stderr.txt"}) {
      std::remove(TempPath(name).c_str());
    }
    delete dir_;
    delete address_;
    delete error_;
    dir_ = address_ = error_ = nullptr;
    started_ = false;
  }

  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "real Exim needs root (port 25, a private mount "
                      "namespace); run as root to include it";
    }
    if (!started_) {
      GTEST_SKIP() << "tools/exim_lab could not run Exim: " << *error_;
    }
  }

  static std::string Target(int port) {
    return absl::StrCat(*address_, ":", port);
  }

  static std::string MainLog() { return ReadFile(*dir_ + "/log/mainlog"); }

  // Lines of Exim's mainlog containing all of `parts`.
  static int CountLogLines(const std::vector<std::string>& parts) {
    int n = 0;
    for (absl::string_view line : absl::StrSplit(MainLog(), '\n')) {
      bool all = true;
      for (const std::string& p : parts) {
        all = all && absl::StrContains(line, p);
      }
      n += all ? 1 : 0;
    }
    return n;
  }

  // Waits (the connection's process logs as it ends) until the mainlog has
  // at least `want` lines with all of `parts`; returns how many it has.
  static int WaitForLogLines(const std::vector<std::string>& parts, int want) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    int n = CountLogLines(parts);
    while (n < want && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
      n = CountLogLines(parts);
    }
    return n;
  }

  static std::string* dir_;
  static std::string* address_;
  static std::string* error_;
  static bool started_;
};

std::string* EximTest::dir_ = nullptr;
std::string* EximTest::address_ = nullptr;
std::string* EximTest::error_ = nullptr;
bool EximTest::started_ = false;

// A conversation that said EHLO (Exim puts the EHLO name in parentheses) and
// ended with QUIT, as Exim logs it with +smtp_connection.
const std::vector<std::string> kScannerSession = {
    "SMTP connection from (scanner.example.test) [127.0.0.1]",
    "closed by QUIT"};

// What every probe of a completed conversation has.
void ExpectCompleteTimings(const Json& p) {
  const Json& t = p["timings_us"];
  for (const char* step : {"connect", "greeting", "ehlo", "quit", "total"}) {
    ASSERT_TRUE(t.contains(step)) << step << " " << t.dump();
    EXPECT_GE(t[step].get<int64_t>(), 0) << step;
  }
  EXPECT_GT(t["total"].get<int64_t>(), 0);
  EXPECT_LE(t["connect"].get<int64_t>(), t["total"].get<int64_t>());
  EXPECT_LT(t["total"].get<int64_t>(), 10'000'000);
  EXPECT_GT(p["bytes_received"].get<int64_t>(), 0);
  EXPECT_GT(p["bytes_sent"].get<int64_t>(), 0);
}

// Exim's greeting, EHLO first line and QUIT reply, whatever the port.
void ExpectEximConversation(const Json& p) {
  EXPECT_EQ(p["greeting"]["code"], 220);
  ASSERT_EQ(p["greeting"]["lines"].size(), 1u);
  EXPECT_THAT(p["greeting"]["lines"][0].get<std::string>(),
              MatchesRegex(kBannerRegex));
  EXPECT_FALSE(p["greeting"].contains("enhanced"));
  EXPECT_EQ(p["greeting"]["host"], kHostname);

  // "<primary_hostname> Hello <EHLO name> [<client address>]"; no host
  // lookup, so Exim names the client by what it said.
  const Json& ehlo = p["ehlo"];
  EXPECT_EQ(ehlo["code"], 250);
  EXPECT_EQ(ehlo["domain"], kHostname);
  EXPECT_EQ(ehlo["lines"][0],
            "mx.exim.test Hello scanner.example.test [127.0.0.1]");
  EXPECT_EQ(ehlo["greet"], "Hello scanner.example.test [127.0.0.1]");
  for (const Json& e : ehlo["extensions"]) {
    if (e["keyword"] == "SIZE") {
      // message_size_limit = 50M, as Debian's configuration.
      EXPECT_THAT(e["params"].get<std::vector<std::string>>(),
                  ElementsAre("52428800"));
    } else {
      EXPECT_FALSE(e.contains("params")) << e.dump();
    }
  }
  EXPECT_EQ(ehlo["size_limit"], 52428800);
  EXPECT_FALSE(ehlo.contains("auth") && !ehlo["auth"].empty());
  EXPECT_FALSE(p.contains("helo"));
  EXPECT_FALSE(p.contains("protocol_error"));
  EXPECT_FALSE(p.contains("anomalies"));

  // Exim's QUIT reply has no enhanced status code (Postfix's and
  // Sendmail's have 2.0.0).
  EXPECT_EQ(p["quit"]["code"], 221);
  EXPECT_FALSE(p["quit"].contains("enhanced"));
  EXPECT_EQ(p["quit"]["lines"],
            Json::array({"mx.exim.test closing connection"}));
}

TEST_F(EximTest, Port25OneRecordWithGreetingEhloAndQuit) {
  const int sessions_before = CountLogLines(kScannerSession);
  const ScanResult r = Scan({Target(25)});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u) << r.stderr_text;
  const Json& j = r.records[0];
  EXPECT_EQ(j["line"], 1);
  EXPECT_EQ(j["kind"], "address");
  EXPECT_EQ(j["address"], *address_);
  EXPECT_EQ(j["status"], "success") << j.dump();
  ASSERT_EQ(j["probes"].size(), 1u);
  const Json& p = j["probes"][0];
  EXPECT_EQ(p["status"], "success");
  EXPECT_EQ(p["port"], 25);
  EXPECT_EQ(p["tls_mode"], "none");
  ExpectEximConversation(p);

  // Exim 4.96's EHLO reply, in its order, with Debian's prdr_enable and
  // smtputf8_advertise_hosts (empty): PIPECONNECT is on by default, STARTTLS
  // is not offered on this port.
  EXPECT_THAT(Keywords(p["ehlo"]),
              ElementsAre("SIZE", "8BITMIME", "PIPELINING", "PIPECONNECT",
                          "CHUNKING", "PRDR", "HELP"))
      << p["ehlo"].dump();
  EXPECT_EQ(p["ehlo"]["starttls"], false);
  EXPECT_FALSE(p.contains("starttls"));
  EXPECT_EQ(p["tls_established"], false);
  ExpectCompleteTimings(p);

  // Exim saw the scanner: EHLO with its name, then QUIT.
  EXPECT_EQ(WaitForLogLines(kScannerSession, sessions_before + 1),
            sessions_before + 1)
      << MainLog();
}

TEST_F(EximTest, Port587AdvertisesStartTls) {
  const ScanResult r = Scan({Target(587)});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u) << r.stderr_text;
  const Json& j = r.records[0];
  EXPECT_EQ(j["status"], "success") << j.dump();
  ASSERT_EQ(j["probes"].size(), 1u);
  const Json& p = j["probes"][0];
  EXPECT_EQ(p["status"], "success") << p.dump();
  EXPECT_EQ(p["port"], 587);
  ExpectEximConversation(p);
  EXPECT_THAT(Keywords(p["ehlo"]),
              ElementsAre("SIZE", "8BITMIME", "PIPELINING", "PIPECONNECT",
                          "CHUNKING", "STARTTLS", "PRDR", "HELP"))
      << p["ehlo"].dump();
  EXPECT_EQ(p["ehlo"]["starttls"], true);
  if (p.contains("ehlo_tls")) {
    // A build that speaks TLS: Exim's self-signed certificate, and inside
    // TLS the same extensions less STARTTLS.
    EXPECT_EQ(p["tls_mode"], "starttls");
    EXPECT_EQ(p["tls_established"], true);
    EXPECT_EQ(p["starttls"]["code"], 220);
    EXPECT_THAT(Keywords(p["ehlo_tls"]),
                ElementsAre("SIZE", "8BITMIME", "PIPELINING", "PIPECONNECT",
                            "CHUNKING", "PRDR", "HELP"))
        << p["ehlo_tls"].dump();
  } else {
    // This build keeps conversations in plaintext (no TLS layer yet).
    EXPECT_EQ(p["tls_established"], false);
    EXPECT_FALSE(p.contains("starttls"));
  }
  ExpectCompleteTimings(p);
}

TEST_F(EximTest, OneLineWithoutPortProbesBothPortsInOneRecord) {
  const ScanResult r = Scan({*address_}, kEhloName, "-p 25,587");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u) << r.stderr_text;
  const Json& j = r.records[0];
  EXPECT_EQ(j["input"], *address_);
  EXPECT_EQ(j["status"], "success") << j.dump();
  ASSERT_EQ(j["probes"].size(), 2u);
  EXPECT_EQ(j["probes"][0]["port"], 25);
  EXPECT_EQ(j["probes"][1]["port"], 587);
  for (const Json& p : j["probes"]) {
    EXPECT_EQ(p["status"], "success") << p.dump();
    EXPECT_EQ(p["greeting"]["host"], kHostname);
    EXPECT_EQ(p["quit"]["code"], 221);
  }
  EXPECT_EQ(j["probes"][0]["ehlo"]["starttls"], false);
  EXPECT_EQ(j["probes"][1]["ehlo"]["starttls"], true);
}

// Exim refuses EHLO and HELO names with characters outside letters, digits,
// hyphens and dots (helo_allow_chars is empty by default); Postfix and
// Sendmail take them. smtpscan falls back to HELO after the 5xx to EHLO and
// records both refusals, then says QUIT.
TEST_F(EximTest, UnderscoreInEhloNameIsRefusedThenHeloToo) {
  const std::vector<std::string> rejected = {
      "rejected EHLO from [127.0.0.1]: syntactically invalid argument(s): "
      "bad_name.example.test"};
  const int rejected_before = CountLogLines(rejected);
  const ScanResult r = Scan({Target(25)}, "bad_name.example.test");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u) << r.stderr_text;
  const Json& j = r.records[0];
  EXPECT_EQ(j["status"], "ehlo-rejected") << j.dump();
  EXPECT_EQ(j["status_detail"], "501");
  ASSERT_EQ(j["probes"].size(), 1u);
  const Json& p = j["probes"][0];
  EXPECT_EQ(p["status"], "ehlo-rejected");
  EXPECT_EQ(p["status_detail"], "501");
  EXPECT_EQ(p["greeting"]["code"], 220);
  EXPECT_EQ(p["ehlo"]["code"], 501);
  EXPECT_FALSE(p["ehlo"].contains("enhanced"));
  EXPECT_EQ(p["ehlo"]["lines"],
            Json::array({"Syntactically invalid EHLO argument(s)"}));
  EXPECT_TRUE(p["ehlo"]["extensions"].empty());
  EXPECT_EQ(p["ehlo"]["starttls"], false);
  ASSERT_TRUE(p.contains("helo")) << p.dump();
  EXPECT_EQ(p["helo"]["code"], 501);
  EXPECT_EQ(p["helo"]["lines"],
            Json::array({"Syntactically invalid HELO argument(s)"}));
  EXPECT_EQ(p["quit"]["code"], 221);
  EXPECT_EQ(p["quit"]["lines"],
            Json::array({"mx.exim.test closing connection"}));
  const Json& t = p["timings_us"];
  for (const char* step : {"connect", "greeting", "ehlo", "helo", "quit"}) {
    EXPECT_TRUE(t.contains(step)) << step << " " << t.dump();
  }
  EXPECT_EQ(WaitForLogLines(rejected, rejected_before + 1), rejected_before + 1)
      << MainLog();
}

}  // namespace
}  // namespace smtpscan
