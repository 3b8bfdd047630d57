// The real smtpscan binary against a real Postfix (Debian's package), run by
// tools/postfix_lab as a private instance on a loopback address that delivers
// nothing. Needs root: Postfix binds port 25 and runs its daemons as the
// postfix user.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
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

constexpr char kPostfixLab[] =
    SMTPSCAN_TEST_DATA_DIR "/../../tools/postfix_lab";
constexpr char kMyHostname[] = "mx.postfix.test";  // set by postfix_lab

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "postfix_test_", getpid(), "_",
                      name);
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

// Runs smtpscan on a targets file holding `lines`.
ScanResult Scan(const std::vector<std::string>& lines) {
  const std::string input = TempPath("targets.txt");
  const std::string output = TempPath("out.ndjson");
  const std::string errors = TempPath("stderr.txt");
  {
    std::ofstream in(input);
    for (const std::string& l : lines) in << l << "\n";
  }
  const std::string command = absl::StrCat(
      SMTPSCAN_BINARY, " -i ", input, " -o ", output,
      " --allow-private --ehlo-name scanner.example.test -r 0", " 2>", errors);
  ScanResult r;
  const int status = std::system(command.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream out(output);
  std::string line;
  while (std::getline(out, line)) r.records.push_back(Json::parse(line));
  r.stderr_text = ReadFile(errors);
  return r;
}

class PostfixTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    dir_ = new std::string(TempPath("instance"));
    address_ = new std::string;
    error_ = new std::string;
    const CommandResult install =
        RunCommand(absl::StrCat(kPostfixLab, " install </dev/null"));
    if (install.exit_code != 0) {
      *error_ = absl::StrCat("postfix_lab install: ", install.output);
      return;
    }
    // Parallel test processes (ctest -j) each need their own address: pick
    // one from the pid, and the next if that one is taken.
    const int base = static_cast<int>(getpid()) % (250 * 250);
    for (int attempt = 0; attempt < 5; ++attempt) {
      const int n = (base + attempt * 7919) % (250 * 250);
      *address_ = absl::StrCat("127.8.", 1 + n / 250, ".", 1 + n % 250);
      // Our pid: if this process dies without tearing down, the instance
      // is stopped all the same.
      const CommandResult start =
          RunCommand(absl::StrCat(kPostfixLab, " start ", *dir_, " ", *address_,
                                  " ", getpid(), " </dev/null"));
      if (start.exit_code == 0) {
        started_ = true;
        error_->clear();
        return;
      }
      *error_ =
          absl::StrCat("postfix_lab start ", *address_, ": ", start.output);
    }
  }

  static void TearDownTestSuite() {
    if (dir_ != nullptr) {
      const CommandResult stop =
          RunCommand(absl::StrCat(kPostfixLab, " stop ", *dir_, " </dev/null"));
      EXPECT_EQ(stop.exit_code, 0) << stop.output;
      const CommandResult status = RunCommand(
          absl::StrCat(kPostfixLab, " status ", *dir_, " </dev/null"));
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
      GTEST_SKIP() << "real Postfix needs root for port 25; run as root to "
                      "include it";
    }
    ASSERT_TRUE(started_) << *error_;
  }

  static std::string Target(int port = 25) {
    return absl::StrCat(*address_, ":", port);
  }

  static std::string MailLog() { return ReadFile(*dir_ + "/maillog"); }

  // Lines of the maillog containing all of `parts`.
  static int CountLogLines(const std::vector<std::string>& parts) {
    int n = 0;
    for (absl::string_view line : absl::StrSplit(MailLog(), '\n')) {
      bool all = true;
      for (const std::string& p : parts)
        all = all && absl::StrContains(line, p);
      n += all ? 1 : 0;
    }
    return n;
  }

  // Waits (postlogd writes asynchronously) until the maillog has at least
  // `want` lines with all of `parts`; returns how many it has.
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

std::string* PostfixTest::dir_ = nullptr;
std::string* PostfixTest::address_ = nullptr;
std::string* PostfixTest::error_ = nullptr;
bool PostfixTest::started_ = false;

// A conversation with EHLO and QUIT, as Postfix logs it at disconnect.
const std::vector<std::string> kScannerSession = {
    "postfix/smtpd[", "disconnect from unknown[", "ehlo=1 quit=1 commands=2"};

TEST_F(PostfixTest, OneLineRecordsTheWholeConversation) {
  const int sessions_before = CountLogLines(kScannerSession);
  const ScanResult r = Scan({Target()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u) << r.stderr_text;
  const Json& j = r.records[0];
  EXPECT_EQ(j["kind"], "address");
  EXPECT_EQ(j["address"], *address_);
  EXPECT_EQ(j["status"], "success") << j.dump();
  ASSERT_EQ(j["probes"].size(), 1u);
  const Json& p = j["probes"][0];
  EXPECT_EQ(p["status"], "success");
  EXPECT_EQ(p["port"], 25);
  EXPECT_EQ(p["tls_mode"], "none");

  // smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
  EXPECT_EQ(p["greeting"]["code"], 220);
  ASSERT_EQ(p["greeting"]["lines"].size(), 1u);
  EXPECT_EQ(p["greeting"]["lines"][0],
            absl::StrCat(kMyHostname, " ESMTP Postfix (Debian/GNU)"));
  EXPECT_THAT(p["greeting"]["lines"][0].get<std::string>(),
              HasSubstr("ESMTP Postfix (Debian/GNU)"));
  EXPECT_EQ(p["greeting"]["host"], kMyHostname);

  // Postfix 3.7's default EHLO reply without TLS, in its order; SIZE is
  // message_size_limit.
  const Json& ehlo = p["ehlo"];
  EXPECT_EQ(ehlo["code"], 250);
  EXPECT_EQ(ehlo["domain"], kMyHostname);
  std::vector<std::string> keywords;
  for (const Json& e : ehlo["extensions"]) {
    keywords.push_back(e["keyword"].get<std::string>());
    if (e["keyword"] == "SIZE") {
      EXPECT_THAT(e["params"].get<std::vector<std::string>>(),
                  ElementsAre("10240000"));
    }
  }
  EXPECT_THAT(keywords, ElementsAre("PIPELINING", "SIZE", "VRFY", "ETRN",
                                    "ENHANCEDSTATUSCODES", "8BITMIME", "DSN",
                                    "SMTPUTF8", "CHUNKING"))
      << ehlo.dump();
  EXPECT_EQ(ehlo["size_limit"], 10240000);
  EXPECT_EQ(ehlo["starttls"], false);  // no smtpd_tls_security_level
  EXPECT_FALSE(ehlo.contains("auth") && !ehlo["auth"].empty());
  EXPECT_FALSE(p.contains("helo"));
  EXPECT_FALSE(p.contains("starttls"));
  EXPECT_FALSE(p.contains("protocol_error"));
  EXPECT_FALSE(p.contains("anomalies"));

  EXPECT_EQ(p["quit"]["code"], 221);
  EXPECT_EQ(p["quit"]["enhanced"], "2.0.0");
  EXPECT_EQ(p["quit"]["lines"], Json::array({"2.0.0 Bye"}));

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

  // Postfix saw the scanner: it connected, sent EHLO and QUIT, and left.
  EXPECT_EQ(WaitForLogLines(kScannerSession, sessions_before + 1),
            sessions_before + 1)
      << MailLog();
  EXPECT_GE(CountLogLines({"postfix/smtpd[", "connect from unknown["}),
            sessions_before + 1);
}

TEST_F(PostfixTest, FiveLinesToOneAddressAllSucceed) {
  // The per-address limit (one connection) serialises them.
  const int sessions_before = CountLogLines(kScannerSession);
  const ScanResult r = Scan(std::vector<std::string>(5, Target()));
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 5u) << r.stderr_text;
  std::map<int, Json> by_line;
  for (const Json& j : r.records) by_line[j["line"].get<int>()] = j;
  ASSERT_EQ(by_line.size(), 5u);
  for (const auto& [line, j] : by_line) {
    SCOPED_TRACE(line);
    EXPECT_EQ(j["status"], "success") << j.dump();
    EXPECT_EQ(j["probes"][0]["greeting"]["host"], kMyHostname);
    EXPECT_EQ(j["probes"][0]["quit"]["code"], 221);
  }
  EXPECT_EQ(WaitForLogLines(kScannerSession, sessions_before + 5),
            sessions_before + 5)
      << MailLog();
}

TEST_F(PostfixTest, ClosedPortIsConnectionRefused) {
  const ScanResult r = Scan({Target(26)});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u) << r.stderr_text;
  const Json& j = r.records[0];
  EXPECT_EQ(j["status"], "connection-refused") << j.dump();
  ASSERT_EQ(j["probes"].size(), 1u);
  EXPECT_EQ(j["probes"][0]["status_detail"], "ECONNREFUSED");
  EXPECT_FALSE(j["probes"][0].contains("greeting"));
}

}  // namespace
}  // namespace smtpscan
