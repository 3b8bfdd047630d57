// The real smtpscan binary against a real Sendmail (Debian's sendmail-bin),
// run by tools/sendmail_lab as a private instance on a loopback address that
// delivers nothing: the MTA on port 25, the MSA on port 587 (no ETRN, a 1 s
// greet_pause, as Debian configures them). Needs root: Sendmail binds port
// 25, and the lab runs it in private mount and UTS namespaces.
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/lab_util.h"
#include "nlohmann/json.hpp"

namespace smtpscan {
namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

constexpr char kSendmailLab[] =
    SMTPSCAN_TEST_DATA_DIR "/../../tools/sendmail_lab";
constexpr char kHostname[] = "mx.sendmail.test";  // set by sendmail_lab
constexpr char kEhloName[] = "scanner.example.test";
// Debian's OSTYPE(debian) greeting: "$j Sendmail $v/$Z; $b; (No UCE/UBE)
// logging access from: ${client_name}(${client_resolve})-$_" (Sendmail puts
// ESMTP after the first word). The lab's /etc/hosts names 127.0.0.1
// localhost.
constexpr char kBannerRegex[] =
    "mx\\.sendmail\\.test ESMTP Sendmail 8\\.[0-9.]+/8\\.[0-9.]+/"
    "Debian-[0-9a-z.+~]+; [A-Z][a-z]{2}, [0-9]{1,2} [A-Z][a-z]{2} [0-9]{4} "
    "[0-9]{2}:[0-9]{2}:[0-9]{2} [^;]+; \\(No UCE/UBE\\) logging access "
    "from: localhost\\(OK\\)-localhost \\[127\\.0\\.0\\.1\\]";

class SendmailTest : public test::LabTest {
 protected:
  static void SetUpTestSuite() {
    SetUpLab(kSendmailLab, "sendmail_test", "127.26.", /*prints_ready=*/true);
  }
  static void TearDownTestSuite() { TearDownLab(); }

  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "real Sendmail needs root (port 25, private "
                      "namespaces); run as root to include it";
    }
    if (!lab_->started()) {
      GTEST_SKIP() << "tools/sendmail_lab could not run Sendmail: "
                   << lab_->error();
    }
  }

  // Sendmail's -X log: "PID <<< command" and "PID >>> reply line".
  static std::string TrafficLog() {
    return test::ReadFile(lab_->dir() + "/traffic.log");
  }

  static int CountLogLines(absl::string_view suffix) {
    int n = 0;
    for (absl::string_view line : absl::StrSplit(TrafficLog(), '\n')) {
      // Commands are logged as received, CR included.
      n += absl::EndsWith(absl::StripTrailingAsciiWhitespace(line), suffix) ? 1
                                                                            : 0;
    }
    return n;
  }

  // Waits until the traffic log has at least `want` lines ending in
  // `suffix`; returns how many it has.
  static int WaitForLogLines(absl::string_view suffix, int want) {
    return test::WaitForCount([&] { return CountLogLines(suffix); }, want);
  }
};

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

// Sendmail's greeting, EHLO first line and QUIT reply, whatever the port.
void ExpectSendmailConversation(const Json& p) {
  EXPECT_EQ(p["greeting"]["code"], 220);
  ASSERT_EQ(p["greeting"]["lines"].size(), 1u);
  EXPECT_THAT(p["greeting"]["lines"][0].get<std::string>(),
              MatchesRegex(kBannerRegex));
  EXPECT_EQ(p["greeting"]["host"], kHostname);

  // "<$j> Hello <client's resolved name> [<address>], pleased to meet you":
  // Sendmail names the client by its address's name, not by the EHLO name.
  const Json& ehlo = p["ehlo"];
  EXPECT_EQ(ehlo["code"], 250);
  EXPECT_EQ(ehlo["domain"], kHostname);
  EXPECT_EQ(ehlo["lines"][0],
            "mx.sendmail.test Hello localhost [127.0.0.1], pleased to meet "
            "you");
  EXPECT_EQ(ehlo["greet"], "Hello localhost [127.0.0.1], pleased to meet you");
  EXPECT_FALSE(ehlo.contains("enhanced"));
  // Sendmail's SIZE has no number without a MaxMessageSize.
  EXPECT_FALSE(ehlo.contains("size_limit"));
  EXPECT_EQ(ehlo["starttls"], false);
  // Cyrus SASL's DIGEST-MD5 and CRAM-MD5, in Sendmail's order.
  EXPECT_THAT(ehlo["auth"].get<std::vector<std::string>>(),
              ElementsAre("DIGEST-MD5", "CRAM-MD5"));
  for (const Json& e : ehlo["extensions"]) {
    if (e["keyword"] == "AUTH") {
      EXPECT_THAT(e["params"].get<std::vector<std::string>>(),
                  ElementsAre("DIGEST-MD5", "CRAM-MD5"));
    } else {
      EXPECT_FALSE(e.contains("params")) << e.dump();
    }
  }
  EXPECT_FALSE(p.contains("helo"));
  EXPECT_FALSE(p.contains("starttls"));
  EXPECT_EQ(p["tls_established"], false);
  EXPECT_FALSE(p.contains("protocol_error"));
  EXPECT_FALSE(p.contains("anomalies"));

  EXPECT_EQ(p["quit"]["code"], 221);
  EXPECT_EQ(p["quit"]["enhanced"], "2.0.0");
  EXPECT_EQ(p["quit"]["lines"],
            Json::array({"2.0.0 mx.sendmail.test closing connection"}));
}

TEST_F(SendmailTest, Port25OneRecordWithGreetingEhloAndQuit) {
  const int ehlos_before = CountLogLines("<<< EHLO scanner.example.test");
  const int quits_before = CountLogLines("<<< QUIT");
  const test::ScanResult r = Scan({Target(25)});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u) << r.stderr_text;
  const Json& j = r.records[0];
  EXPECT_EQ(j["line"], 1);
  EXPECT_EQ(j["kind"], "address");
  EXPECT_EQ(j["address"], lab_->address());
  EXPECT_EQ(j["status"], "success") << j.dump();
  ASSERT_EQ(j["probes"].size(), 1u);
  const Json& p = j["probes"][0];
  EXPECT_EQ(p["status"], "success");
  EXPECT_EQ(p["port"], 25);
  EXPECT_EQ(p["tls_mode"], "starttls");  // the mode: STARTTLS if offered
  ExpectSendmailConversation(p);

  // Sendmail 8.17's EHLO reply, in its order (Debian's PrivacyOptions keep
  // EXPN and VERB).
  EXPECT_THAT(test::Keywords(p["ehlo"]),
              ElementsAre("ENHANCEDSTATUSCODES", "PIPELINING", "EXPN", "VERB",
                          "8BITMIME", "SIZE", "DSN", "ETRN", "AUTH",
                          "DELIVERBY", "HELP"))
      << p["ehlo"].dump();
  ExpectCompleteTimings(p);
  // No greet_pause on the MTA port.
  EXPECT_LT(p["timings_us"]["greeting"].get<int64_t>(), 900'000);

  // Sendmail saw the scanner's EHLO and QUIT.
  EXPECT_EQ(WaitForLogLines("<<< EHLO scanner.example.test", ehlos_before + 1),
            ehlos_before + 1)
      << TrafficLog();
  EXPECT_EQ(WaitForLogLines("<<< QUIT", quits_before + 1), quits_before + 1)
      << TrafficLog();
}

// Debian's submission daemon (M=E) offers no ETRN, and Debian's
// greet_pause holds the greeting back for a second: the record's greeting
// time shows it.
TEST_F(SendmailTest, Port587HasNoEtrnAndAPausedGreeting) {
  const test::ScanResult r = Scan({Target(587)});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u) << r.stderr_text;
  const Json& j = r.records[0];
  EXPECT_EQ(j["status"], "success") << j.dump();
  ASSERT_EQ(j["probes"].size(), 1u);
  const Json& p = j["probes"][0];
  EXPECT_EQ(p["status"], "success");
  EXPECT_EQ(p["port"], 587);
  ExpectSendmailConversation(p);
  EXPECT_THAT(
      test::Keywords(p["ehlo"]),
      ElementsAre("ENHANCEDSTATUSCODES", "PIPELINING", "EXPN", "VERB",
                  "8BITMIME", "SIZE", "DSN", "AUTH", "DELIVERBY", "HELP"))
      << p["ehlo"].dump();
  ExpectCompleteTimings(p);
  EXPECT_GE(p["timings_us"]["greeting"].get<int64_t>(), 950'000);
  EXPECT_LT(p["timings_us"]["greeting"].get<int64_t>(), 5'000'000);
  EXPECT_LT(p["timings_us"]["ehlo"].get<int64_t>(), 900'000);
}

TEST_F(SendmailTest, OneLineWithoutPortProbesBothPortsInOneRecord) {
  const test::ScanResult r = Scan({lab_->address()}, kEhloName, "-p 25,587");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u) << r.stderr_text;
  const Json& j = r.records[0];
  EXPECT_EQ(j["input"], lab_->address());
  EXPECT_EQ(j["status"], "success") << j.dump();
  ASSERT_EQ(j["probes"].size(), 2u);
  EXPECT_EQ(j["probes"][0]["port"], 25);
  EXPECT_EQ(j["probes"][1]["port"], 587);
  for (const Json& p : j["probes"]) {
    EXPECT_EQ(p["status"], "success") << p.dump();
    EXPECT_EQ(p["greeting"]["host"], kHostname);
    EXPECT_EQ(p["quit"]["enhanced"], "2.0.0");
  }
  const std::vector<std::string> mta = test::Keywords(j["probes"][0]["ehlo"]);
  const std::vector<std::string> msa = test::Keywords(j["probes"][1]["ehlo"]);
  EXPECT_NE(std::find(mta.begin(), mta.end(), "ETRN"), mta.end());
  EXPECT_EQ(std::find(msa.begin(), msa.end(), "ETRN"), msa.end());
}

// Unlike Exim, which answers 501 to EHLO and HELO both, Sendmail takes an
// EHLO name with an underscore: no HELO fallback, a plain success.
TEST_F(SendmailTest, UnderscoreInEhloNameIsAccepted) {
  const int ehlos_before = CountLogLines("<<< EHLO bad_name.example.test");
  const test::ScanResult r =
      Scan({Target(25)}, "bad_name.example.test", "--force-ehlo-name");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u) << r.stderr_text;
  const Json& j = r.records[0];
  EXPECT_EQ(j["status"], "success") << j.dump();
  ASSERT_EQ(j["probes"].size(), 1u);
  const Json& p = j["probes"][0];
  ExpectSendmailConversation(p);
  EXPECT_FALSE(p["timings_us"].contains("helo"));
  EXPECT_EQ(WaitForLogLines("<<< EHLO bad_name.example.test", ehlos_before + 1),
            ehlos_before + 1)
      << TrafficLog();
}

}  // namespace
}  // namespace smtpscan
