// The real smtpscan binary against a real Exim (Debian's exim4-daemon-light),
// run by tools/exim_lab as a private instance on a loopback address that
// delivers nothing: port 25 without STARTTLS, port 587 with it. Needs root:
// Exim binds port 25, and the lab runs it in a private mount namespace.
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
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

constexpr char kEximLab[] = SMTPSCAN_TEST_DATA_DIR "/../../tools/exim_lab";
constexpr char kHostname[] = "mx.exim.test";  // set by exim_lab
constexpr char kEhloName[] = "scanner.example.test";
// Exim's default smtp_banner: "$smtp_active_hostname ESMTP Exim
// $version_number $tod_full".
constexpr char kBannerRegex[] =
    "mx\\.exim\\.test ESMTP Exim 4\\.[0-9]+ [A-Z][a-z]{2}, [0-9]{1,2} "
    "[A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [-+][0-9]{4}";

class EximTest : public test::LabTest {
 protected:
  static void SetUpTestSuite() {
    SetUpLab(kEximLab, "exim_test", "127.25.", /*prints_ready=*/true);
  }
  static void TearDownTestSuite() { TearDownLab(); }

  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "real Exim needs root (port 25, a private mount "
                      "namespace); run as root to include it";
    }
    if (!lab_->started()) {
      GTEST_SKIP() << "tools/exim_lab could not run Exim: " << lab_->error();
    }
  }

  static std::string MainLog() {
    return test::ReadFile(lab_->dir() + "/log/mainlog");
  }

  // Lines of Exim's mainlog containing all of `parts`.
  static int CountLogLines(const std::vector<std::string>& parts) {
    return test::CountLinesWithAll(MainLog(), parts);
  }

  // Waits (the connection's process logs as it ends) until the mainlog has
  // at least `want` lines with all of `parts`; returns how many it has.
  static int WaitForLogLines(const std::vector<std::string>& parts, int want) {
    return test::WaitForCount([&] { return CountLogLines(parts); }, want);
  }
};

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
  ExpectEximConversation(p);

  // Exim 4.96's EHLO reply, in its order, with Debian's prdr_enable and
  // smtputf8_advertise_hosts (empty): PIPECONNECT is on by default, STARTTLS
  // is not offered on this port.
  EXPECT_THAT(test::Keywords(p["ehlo"]),
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
  const test::ScanResult r = Scan({Target(587)});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u) << r.stderr_text;
  const Json& j = r.records[0];
  EXPECT_EQ(j["status"], "success") << j.dump();
  ASSERT_EQ(j["probes"].size(), 1u);
  const Json& p = j["probes"][0];
  EXPECT_EQ(p["status"], "success") << p.dump();
  EXPECT_EQ(p["port"], 587);
  ExpectEximConversation(p);
  EXPECT_THAT(test::Keywords(p["ehlo"]),
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
    EXPECT_THAT(test::Keywords(p["ehlo_tls"]),
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
  const test::ScanResult r =
      Scan({Target(25)}, "bad_name.example.test", "--force-ehlo-name");
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
