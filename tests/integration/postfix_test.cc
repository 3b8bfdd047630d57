// The real smtpscan binary against a real Postfix (Debian's package), run by
// tools/postfix_lab as a private instance on a loopback address that delivers
// nothing. Needs root: Postfix binds port 25 and runs its daemons as the
// postfix user.
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/lab_util.h"
#include "nlohmann/json.hpp"

namespace smtpscan {
namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPostfixLab[] =
    SMTPSCAN_TEST_DATA_DIR "/../../tools/postfix_lab";
constexpr char kMyHostname[] = "mx.postfix.test";  // set by postfix_lab

class PostfixTest : public test::LabTest {
 protected:
  static void SetUpTestSuite() {
    SetUpLab(kPostfixLab, "postfix_test", "127.8.", /*prints_ready=*/false);
  }
  static void TearDownTestSuite() { TearDownLab(); }

  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "real Postfix needs root for port 25; run as root to "
                      "include it";
    }
    ASSERT_TRUE(lab_->started()) << lab_->error();
  }

  static std::string MailLog() {
    return test::ReadFile(lab_->dir() + "/maillog");
  }

  // Lines of the maillog containing all of `parts`.
  static int CountLogLines(const std::vector<std::string>& parts) {
    return test::CountLinesWithAll(MailLog(), parts);
  }

  // Waits (postlogd writes asynchronously) until the maillog has at least
  // `want` lines with all of `parts`; returns how many it has.
  static int WaitForLogLines(const std::vector<std::string>& parts, int want) {
    return test::WaitForCount([&] { return CountLogLines(parts); }, want);
  }
};

// A conversation with EHLO and QUIT, as Postfix logs it at disconnect.
const std::vector<std::string> kScannerSession = {
    "postfix/smtpd[", "disconnect from unknown[", "ehlo=1 quit=1 commands=2"};

TEST_F(PostfixTest, OneLineRecordsTheWholeConversation) {
  const int sessions_before = CountLogLines(kScannerSession);
  const test::ScanResult r = Scan({Target()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.records.size(), 1u) << r.stderr_text;
  const Json& j = r.records[0];
  EXPECT_EQ(j["kind"], "address");
  EXPECT_EQ(j["address"], lab_->address());
  EXPECT_EQ(j["status"], "success") << j.dump();
  ASSERT_EQ(j["probes"].size(), 1u);
  const Json& p = j["probes"][0];
  EXPECT_EQ(p["status"], "success");
  EXPECT_EQ(p["port"], 25);
  EXPECT_EQ(p["tls_mode"], "starttls");  // the mode: STARTTLS if offered

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
  const test::ScanResult r = Scan(std::vector<std::string>(5, Target()));
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
  const test::ScanResult r = Scan({Target(26)});
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
