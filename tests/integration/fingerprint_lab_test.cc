// The real smtpscan binary's identification of real MTAs: every probe's
// "fingerprint" against Postfix, Exim and Sendmail run by their tools/*_lab
// scripts, each with its stock greeting and with a neutral one
// (LAB_HOSTNAME=mail.example.test LAB_BANNER="mail.example.test ESMTP"),
// each scanned without and with --probe (HELP and an unknown command before
// QUIT); Postfix behind postscreen (LAB_POSTSCREEN=1); and nginx's mail
// proxy (tools/mail_proxy_lab) in front of a Postfix lab. With the stock
// greeting the identification may rest on the banner; with the neutral one
// it must rest on behaviour alone. Needs root, as the other lab tests.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/lab_util.h"
#include "integration/tls_lab_util.h"
#include "nlohmann/json.hpp"

namespace smtpscan {
namespace {

using Json = nlohmann::json;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kEhloName[] = "scanner.example.test";
// What the neutral-greeting labs are told: nothing names the software.
constexpr char kNeutralHost[] = "mail.example.test";
constexpr char kNeutralBanner[] = "mail.example.test ESMTP";
constexpr char kMailProxyLab[] =
    SMTPSCAN_TEST_DATA_DIR "/../../tools/mail_proxy_lab";
// postfix_lab's postscreen_greet_wait.
constexpr int64_t kGreetWaitUs = 2'000'000;

// `j[key]`, or null when `j` is not an object or lacks `key`.
const Json& At(const Json& j, const std::string& key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string String(const Json& j) {
  return j.is_string() ? j.get<std::string>() : "";
}

double Number(const Json& j) { return j.is_number() ? j.get<double>() : -1; }

std::vector<std::string> Strings(const Json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const Json& e : j) out.push_back(String(e));
  return out;
}

// What differs between the MTAs. Each has its own loopback /16.
struct Postfix {
  static constexpr char kScript[] =
      SMTPSCAN_TEST_DATA_DIR "/../../tools/postfix_lab";
  static constexpr char kProduct[] = "postfix";
  static constexpr char kAddressPrefix[] = "127.41.";
  static constexpr bool kPrintsReady = false;
  // Postfix knows no HELP: both get "500 5.5.2 Error: command not
  // recognized".
  static constexpr int kHelpCode = 500;
  static constexpr int kUnknownCode = 500;
};

struct Exim {
  static constexpr char kScript[] =
      SMTPSCAN_TEST_DATA_DIR "/../../tools/exim_lab";
  static constexpr char kProduct[] = "exim";
  static constexpr char kAddressPrefix[] = "127.42.";
  static constexpr bool kPrintsReady = true;
  static constexpr int kHelpCode = 214;     // "Commands supported:"
  static constexpr int kUnknownCode = 500;  // "unrecognized command"
};

struct Sendmail {
  static constexpr char kScript[] =
      SMTPSCAN_TEST_DATA_DIR "/../../tools/sendmail_lab";
  static constexpr char kProduct[] = "sendmail";
  static constexpr char kAddressPrefix[] = "127.43.";
  static constexpr bool kPrintsReady = true;
  static constexpr int kHelpCode = 214;     // the help file's "smtp" topic
  static constexpr int kUnknownCode = 500;  // "Command unrecognized: ..."
};

// Postfix behind postscreen, on an address range of its own.
struct PostscreenPostfix : Postfix {
  static constexpr char kAddressPrefix[] = "127.44.";
};

// One lab configuration: the MTA, whether its greeting is neutral, whether
// postscreen stands in front.
template <typename M, bool kNeutral, bool kPostscreen = false>
struct Config {
  using Mta = M;
  static constexpr bool kNeutralGreeting = kNeutral;
  static constexpr bool kBehindPostscreen = kPostscreen;
};

// The probe of a one-record, one-probe scan that succeeded; null when
// there is none (the test has failed then).
Json OnlyProbe(const test::ScanResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.records.size(), 1u) << r.stderr_text;
  if (r.records.size() != 1) return Json();
  const Json& j = r.records[0];
  EXPECT_EQ(At(j, "status"), "success") << j.dump();
  const Json& probes = At(j, "probes");
  EXPECT_EQ(probes.size(), 1u) << j.dump();
  if (!probes.is_array() || probes.size() != 1) return Json();
  EXPECT_EQ(At(probes[0], "status"), "success") << j.dump();
  EXPECT_EQ(At(probes[0], "port"), 25);
  return probes[0];
}

// The fingerprint object's frame, whatever it names.
void ExpectFingerprintShape(const Json& fp) {
  ASSERT_TRUE(fp.is_object()) << fp.dump();
  EXPECT_TRUE(At(fp, "product").is_string()) << fp.dump();
  EXPECT_TRUE(At(fp, "fronts").is_array()) << fp.dump();
  EXPECT_TRUE(At(fp, "confidence").is_number()) << fp.dump();
  // "basis" only when there is a product to rest on.
  EXPECT_EQ(At(fp, "basis").is_string(), At(fp, "product") != "unknown")
      << fp.dump();
  ASSERT_TRUE(At(fp, "evidence").is_array()) << fp.dump();
  for (const Json& e : At(fp, "evidence")) {
    EXPECT_NE(String(At(e, "rule")), "") << e.dump();
    EXPECT_THAT(String(At(e, "role")), ::testing::AnyOf("product", "front"))
        << e.dump();
    EXPECT_NE(String(At(e, "product")), "") << e.dump();
    EXPECT_THAT(String(At(e, "basis")), ::testing::AnyOf("banner", "behaviour"))
        << e.dump();
    EXPECT_FALSE(Strings(At(e, "fields")).empty()) << e.dump();
  }
}

// A reply object of --probe ("help", "unknown"): code, enhanced, lines.
void ExpectReply(const Json& p, const std::string& name, int code) {
  SCOPED_TRACE(name);
  ASSERT_TRUE(p.contains(name)) << p.dump();
  const Json& r = At(p, name);
  EXPECT_EQ(At(r, "code"), code) << r.dump();
  EXPECT_TRUE(At(r, "lines").is_array() && !At(r, "lines").empty()) << r.dump();
}

template <typename C>
class FingerprintLabTest : public test::LabTest {
 protected:
  using Mta = typename C::Mta;

  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    // The lab script inherits them (and unset means the stock greeting).
    std::vector<std::unique_ptr<test::ScopedEnv>> env;
    if (C::kNeutralGreeting) {
      env.push_back(
          std::make_unique<test::ScopedEnv>("LAB_HOSTNAME", kNeutralHost));
      env.push_back(
          std::make_unique<test::ScopedEnv>("LAB_BANNER", kNeutralBanner));
    }
    if (C::kBehindPostscreen) {
      env.push_back(std::make_unique<test::ScopedEnv>("LAB_POSTSCREEN", "1"));
    }
    SetUpLab(Mta::kScript, "fingerprint_lab", Mta::kAddressPrefix,
             Mta::kPrintsReady);
  }
  static void TearDownTestSuite() { TearDownLab(); }

  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "real MTAs need root (port 25, namespaces); run as "
                      "root to include them";
    }
    if (!lab_->started()) {
      // No MTA to run (no package source): nothing to test here. A lab
      // that is installed but does not start is a failure.
      const std::string script(Mta::kScript);
      const std::string name = script.substr(script.rfind('/') + 1);
      if (absl::StartsWith(lab_->error(), absl::StrCat(name, " install:"))) {
        GTEST_SKIP() << lab_->error();
      }
      FAIL() << lab_->error();
    }
  }

  // Scans port 25 of the lab, with --probe or not; returns the probe.
  static Json ScanLab(bool probe) {
    return OnlyProbe(Scan({lab_->address()}, kEhloName,
                          absl::StrCat("-p 25", probe ? " --probe" : "")));
  }

  // The identification of one scan: the product, what it rests on, the
  // fronts; and with --probe, the two extra replies.
  static void Identifies(bool probe) {
    const Json p = ScanLab(probe);
    const Json& fp = At(p, "fingerprint");
    ExpectFingerprintShape(fp);
    EXPECT_EQ(At(fp, "product"), Mta::kProduct) << p.dump();
    EXPECT_GT(Number(At(fp, "confidence")), 0) << fp.dump();

    // Postscreen says "220-" at once and smtpd "220 " after the greet
    // wait, with the same banner: one greeting of two lines.
    const Json& greeting = At(At(p, "greeting"), "lines");
    const size_t greeting_lines = C::kBehindPostscreen ? 2 : 1;
    EXPECT_EQ(greeting.size(), greeting_lines) << p.dump();
    if (C::kBehindPostscreen) {
      EXPECT_THAT(Strings(At(fp, "fronts")), Contains("postscreen"))
          << fp.dump();
      EXPECT_GE(Number(At(At(p, "timings_us"), "greeting")), kGreetWaitUs * 0.9)
          << p.dump();
    } else {
      EXPECT_THAT(Strings(At(fp, "fronts")), IsEmpty()) << fp.dump();
    }

    const std::string basis = String(At(fp, "basis"));
    if (C::kNeutralGreeting) {
      // The lab really hid the software: the greeting is the banner as
      // given, and the rest of the conversation says the neutral name.
      for (const Json& line : greeting) {
        EXPECT_EQ(String(line), kNeutralBanner) << p.dump();
      }
      EXPECT_EQ(At(At(p, "ehlo"), "domain"), kNeutralHost) << p.dump();
      // So the identification rests on behaviour, and no rule that reads
      // the software's own name matched.
      EXPECT_EQ(basis, "behaviour") << fp.dump();
      for (const Json& e : At(fp, "evidence")) {
        EXPECT_NE(String(At(e, "basis")), "banner") << e.dump();
      }
    } else {
      EXPECT_THAT(basis, HasSubstr("banner")) << fp.dump();
      bool banner_rule = false;
      for (const Json& e : At(fp, "evidence")) {
        banner_rule = banner_rule || (At(e, "role") == "product" &&
                                      At(e, "product") == Mta::kProduct &&
                                      At(e, "basis") == "banner");
      }
      EXPECT_TRUE(banner_rule) << fp.dump();
    }

    if (probe) {
      ExpectReply(p, "help", Mta::kHelpCode);
      ExpectReply(p, "unknown", Mta::kUnknownCode);
    } else {
      EXPECT_FALSE(p.contains("help")) << p.dump();
      EXPECT_FALSE(p.contains("unknown")) << p.dump();
    }
  }
};

using PostfixStockBanner = FingerprintLabTest<Config<Postfix, false>>;
using PostfixNeutralBanner = FingerprintLabTest<Config<Postfix, true>>;
using EximStockBanner = FingerprintLabTest<Config<Exim, false>>;
using EximNeutralBanner = FingerprintLabTest<Config<Exim, true>>;
using SendmailStockBanner = FingerprintLabTest<Config<Sendmail, false>>;
using SendmailNeutralBanner = FingerprintLabTest<Config<Sendmail, true>>;
using PostscreenStockBanner =
    FingerprintLabTest<Config<PostscreenPostfix, false, true>>;
using PostscreenNeutralBanner =
    FingerprintLabTest<Config<PostscreenPostfix, true, true>>;

TEST_F(PostfixStockBanner, WithoutProbe) { Identifies(false); }
TEST_F(PostfixStockBanner, WithProbe) { Identifies(true); }
TEST_F(PostfixNeutralBanner, WithoutProbe) { Identifies(false); }
TEST_F(PostfixNeutralBanner, WithProbe) { Identifies(true); }
TEST_F(EximStockBanner, WithoutProbe) { Identifies(false); }
TEST_F(EximStockBanner, WithProbe) { Identifies(true); }
TEST_F(EximNeutralBanner, WithoutProbe) { Identifies(false); }
TEST_F(EximNeutralBanner, WithProbe) { Identifies(true); }
TEST_F(SendmailStockBanner, WithoutProbe) { Identifies(false); }
TEST_F(SendmailStockBanner, WithProbe) { Identifies(true); }
TEST_F(SendmailNeutralBanner, WithoutProbe) { Identifies(false); }
TEST_F(SendmailNeutralBanner, WithProbe) { Identifies(true); }
TEST_F(PostscreenStockBanner, WithoutProbe) { Identifies(false); }
TEST_F(PostscreenStockBanner, WithProbe) { Identifies(true); }
TEST_F(PostscreenNeutralBanner, WithoutProbe) { Identifies(false); }
TEST_F(PostscreenNeutralBanner, WithProbe) { Identifies(true); }

// nginx's mail proxy (tools/mail_proxy_lab, 127.46.x.y) in front of a
// Postfix lab (127.45.x.y): nginx answers the whole conversation a scanner
// has by itself, so only the front can be named.
class MailProxyTest : public test::LabTest {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    SetUpLab(Postfix::kScript, "fingerprint_lab_proxy", "127.45.",
             /*prints_ready=*/false);
    proxy_dir_ = test::TempPath("fingerprint_lab_proxy", "nginx");
    if (!lab_->started()) return;
    const test::CommandResult install =
        test::RunCommand(absl::StrCat(kMailProxyLab, " install"));
    if (install.exit_code != 0) {
      proxy_error_ = absl::StrCat("mail_proxy_lab install: ", install.output);
      return;
    }
    // As Lab::Start: an address from the pid, the next if it is taken.
    const int base = static_cast<int>(getpid()) % (250 * 250);
    for (int attempt = 0; attempt < 5; ++attempt) {
      const int n = (base + attempt * 7919) % (250 * 250);
      proxy_address_ = absl::StrCat("127.46.", 1 + n / 250, ".", 1 + n % 250);
      const test::CommandResult start = test::RunCommand(
          absl::StrCat(kMailProxyLab, " start ", proxy_dir_, " ",
                       proxy_address_, " ", lab_->address(), " ", getpid()));
      if (start.exit_code == 0 && absl::StrContains(start.output, "ready")) {
        proxy_started_ = true;
        proxy_error_.clear();
        return;
      }
      proxy_error_ = absl::StrCat("mail_proxy_lab start ", proxy_address_, ": ",
                                  start.output);
    }
  }

  static void TearDownTestSuite() {
    if (!proxy_dir_.empty()) {
      const test::CommandResult stop =
          test::RunCommand(absl::StrCat(kMailProxyLab, " stop ", proxy_dir_));
      EXPECT_EQ(stop.exit_code, 0) << stop.output;
      const test::CommandResult status =
          test::RunCommand(absl::StrCat(kMailProxyLab, " status ", proxy_dir_));
      EXPECT_THAT(status.output, HasSubstr("stopped"));
      if (stop.exit_code == 0) {
        const int rc = std::system(("rm -rf " + proxy_dir_).c_str());
        (void)rc;
      }
    }
    proxy_started_ = false;
    TearDownLab();
  }

  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "nginx and Postfix need root for port 25; run as root "
                      "to include them";
    }
    ASSERT_TRUE(lab_->started()) << lab_->error();
    if (!proxy_started_ &&
        absl::StartsWith(proxy_error_, "mail_proxy_lab install:")) {
      GTEST_SKIP() << proxy_error_;
    }
    ASSERT_TRUE(proxy_started_) << proxy_error_;
  }

  static Json ScanProxy(bool probe) {
    return OnlyProbe(Scan({proxy_address_}, kEhloName,
                          absl::StrCat("-p 25", probe ? " --probe" : "")));
  }

  // What nginx says, and that it is named as the front; the product
  // behind stays unknown (nothing of Postfix shows before RCPT TO).
  static void Identifies(bool probe) {
    const Json p = ScanProxy(probe);
    EXPECT_THAT(Strings(At(At(p, "greeting"), "lines")),
                ElementsAre("mx.proxy.test ESMTP ready"))
        << p.dump();
    EXPECT_THAT(Strings(At(At(p, "ehlo"), "lines")),
                ElementsAre("mx.proxy.test"))
        << p.dump();
    EXPECT_EQ(At(At(p, "quit"), "code"), 221) << p.dump();
    if (probe) {
      for (const char* name : {"help", "unknown"}) {
        ExpectReply(p, name, 500);
        EXPECT_EQ(At(At(p, name), "enhanced"), "5.5.1") << p.dump();
      }
    }
    const Json& fp = At(p, "fingerprint");
    ExpectFingerprintShape(fp);
    EXPECT_THAT(Strings(At(fp, "fronts")), Contains("nginx")) << fp.dump();
    EXPECT_EQ(At(fp, "product"), "unknown") << fp.dump();
  }

  static inline std::string proxy_dir_;
  static inline std::string proxy_address_;
  static inline std::string proxy_error_;
  static inline bool proxy_started_ = false;
};

TEST_F(MailProxyTest, WithProbe) { Identifies(true); }
TEST_F(MailProxyTest, WithoutProbe) { Identifies(false); }

// The lab's own promise: past RCPT TO, nginx asks its auth_http endpoint
// and hands the session to the Postfix lab, whose refusal comes back.
TEST_F(MailProxyTest, RecipientReachesPostfixBehind) {
  const std::string script = test::TempPath("fingerprint_lab_proxy", "talk");
  {
    std::ofstream out(script);
    out << R"(exec 3<>"/dev/tcp/$1/25" || exit 1
reply() {
  local line
  while IFS= read -r -t 5 line <&3; do
    printf '%s\n' "${line%$'\r'}"
    [[ ${line:3:1} == - ]] || break
  done
}
reply
for c in 'EHLO scanner.example.test' 'MAIL FROM:<a@example.test>' \
  'RCPT TO:<b@example.test>' 'QUIT'; do
  printf '%s\r\n' "$c" >&3
  reply
done
)";
  }
  const test::CommandResult r =
      test::RunCommand(absl::StrCat("bash ", script, " ", proxy_address_));
  std::remove(script.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("220 mx.proxy.test ESMTP ready\n"));
  EXPECT_THAT(r.output, HasSubstr("\n250 2.0.0 OK\n"));  // nginx takes MAIL
  // smtpd_recipient_restrictions = reject, from Postfix.
  EXPECT_THAT(r.output,
              HasSubstr("554 5.7.1 <b@example.test>: Recipient address "
                        "rejected: Access denied"));
  EXPECT_THAT(r.output, HasSubstr("221 2.0.0 Bye"));
  // Postfix saw nginx, which says HELO/EHLO with its own server_name.
  const int seen = test::WaitForCount(
      [] {
        return test::CountLinesWithAll(
            test::ReadFile(lab_->dir() + "/maillog"),
            {"NOQUEUE: reject: RCPT from unknown[127.0.0.1]",
             "helo=<mx.proxy.test>"});
      },
      1);
  EXPECT_EQ(seen, 1) << test::ReadFile(lab_->dir() + "/maillog");
}

}  // namespace
}  // namespace smtpscan
