// DANE and MTA-STS end to end: the real smtpscan binary resolves the DANE and
// MTA-STS cases of tools/dns_lab's zone (signed smtpscan.test., its unsigned
// child insecure.smtpscan.test.), checks each MX host's certificate against
// its TLSA records, and fetches MTA-STS policies from tools/https_lab (nginx
// on 127.0.62.1:443). The mail servers are tools/smtp_test_server in mode
// `starttls` on the zone's addresses (127.0.60.20 to .26, port 2525), each
// with a certificate from a CA made here by tools/test_ca; the DANE-EE cases
// use the lab's fixed key tools/dns_lab.d/dane-ee.key, which the zone's
// TLSA 3 1 1 records name. Needs root (ports 53 and 443) and the labs'
// Debian packages; skips with a message otherwise.
//
// Both labs listen on fixed addresses, so everything runs in one test: ctest
// starts each test in its own process, possibly in parallel (the tests that
// use a lab hold a RESOURCE_LOCK on it, tests/CMakeLists.txt). The HTTPS lab
// is also guarded by /tmp/https_lab.test.lock, as in mtasts/fetcher_test.cc.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/lab_util.h"
#include "nlohmann/json.hpp"

namespace smtpscan {
namespace {

using Json = nlohmann::json;
using test::CommandResult;
using test::RunCommand;
using ::testing::Contains;
using ::testing::ElementsAre;

constexpr char kTools[] = SMTPSCAN_TEST_DATA_DIR "/../../tools";
constexpr char kResolver[] = "127.0.53.1";
constexpr char kHttpsLabLock[] = "/tmp/https_lab.test.lock";
constexpr int kSmtpPort = 2525;
constexpr char kTestName[] = "domain_tls_test";
// The TLSA 3 1 1 data of cases 21 and 24: SHA-256 of dane-ee.key's SPKI.
constexpr char kDaneEeSpki[] =
    "54fd8d3dd5b4fe9180e935fe3b1593414a62f722bb818717652047093d85d8ba";

std::string TempPath(absl::string_view name) {
  return test::TempPath(kTestName, name);
}

std::string Tool(absl::string_view name) {
  return absl::StrCat(kTools, "/", name);
}

// One smtp_test_server process: `--listen ADDR:2525=starttls` with its own
// certificate (the server serves one certificate per process). Stopped with
// SIGTERM when destroyed.
class StarttlsServer {
 public:
  StarttlsServer(const std::string& address, const std::string& host,
                 const std::string& cert, const std::string& key) {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      close(out[0]);
      close(out[1]);
      std::vector<std::string> args = {
          SMTP_TEST_SERVER,
          "--listen",
          absl::StrCat(address, ":", kSmtpPort, "=starttls"),
          "--hostname",
          host,
          "--tls-cert",
          cert,
          "--tls-key",
          key,
          "--max-seconds",
          "300"};
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    char line[512];
    while (f != nullptr && fgets(line, sizeof(line), f) != nullptr) {
      if (absl::StripAsciiWhitespace(line) == "ready") {
        ready_ = true;
        break;
      }
    }
    if (f != nullptr) fclose(f);
  }
  StarttlsServer(const StarttlsServer&) = delete;
  StarttlsServer& operator=(const StarttlsServer&) = delete;

  ~StarttlsServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

  bool ok() const { return ready_; }

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
};

// Stops what the test started, whichever way the test ends (a failed ASSERT
// included). The labs' OWNER_PID watchers cover a crash.
struct Teardown {
  std::string dns_lab_dir;
  std::string https_lab_dir;
  int lock_fd = -1;

  ~Teardown() {
    if (!https_lab_dir.empty()) {
      const CommandResult stop =
          RunCommand(absl::StrCat(Tool("https_lab"), " stop ", https_lab_dir));
      EXPECT_EQ(stop.exit_code, 0) << stop.output;
      RunCommand(absl::StrCat("rm -rf ", https_lab_dir));
    }
    if (lock_fd >= 0) close(lock_fd);  // releases the lock
    if (!dns_lab_dir.empty()) {
      const CommandResult stop =
          RunCommand(absl::StrCat(Tool("dns_lab"), " stop ", dns_lab_dir));
      EXPECT_EQ(stop.exit_code, 0) << stop.output;
      RunCommand(absl::StrCat("rm -rf ", dns_lab_dir));
    }
    test::RemoveScanFiles(kTestName);
  }
};

// A mail server of the zone: its domain, MX host and address.
struct MailServer {
  std::string domain;
  std::string host;
  std::string address;
  bool dane_ee_key;  // its certificate carries dane-ee.key
};

const std::vector<MailServer>& MailServers() {
  static const auto* servers = new std::vector<MailServer>{
      {"dane-ok.smtpscan.test", "mx.dane-ok.smtpscan.test", "127.0.60.20",
       true},
      {"dane-bad.smtpscan.test", "mx.dane-bad.smtpscan.test", "127.0.60.21",
       false},
      {"dane-unusable.smtpscan.test", "mx.dane-unusable.smtpscan.test",
       "127.0.60.22", false},
      {"dane-insecure.smtpscan.test", "mx.dane-insecure.insecure.smtpscan.test",
       "127.0.60.23", true},
      {"sts-ok.smtpscan.test", "mx.sts-ok.smtpscan.test", "127.0.60.24", false},
      {"sts-mismatch.smtpscan.test", "mx.sts-mismatch.smtpscan.test",
       "127.0.60.25", false},
      {"sts-nopolicy.smtpscan.test", "mx.sts-nopolicy.smtpscan.test",
       "127.0.60.26", false},
  };
  return *servers;
}

std::string Lower(const Json& j) {
  return absl::AsciiStrToLower(j.is_string() ? j.get<std::string>() : "");
}

TEST(DomainTlsLabTest, DaneAndMtaStsEndToEnd) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root: the DNS lab binds port 53, the HTTPS lab 443";
  }
  for (const char* lab : {"dns_lab", "https_lab"}) {
    const CommandResult install =
        RunCommand(absl::StrCat(Tool(lab), " install"));
    if (install.exit_code != 0) {
      GTEST_SKIP() << "tools/" << lab << " install failed: " << install.output;
    }
  }
  Teardown teardown;
  const absl::Time t0 = absl::Now();

  // The HTTPS lab's address is fixed: take turns with other processes.
  teardown.lock_fd = open(kHttpsLabLock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  ASSERT_GE(teardown.lock_fd, 0) << kHttpsLabLock;
  const absl::Time lock_deadline = absl::Now() + absl::Minutes(5);
  while (flock(teardown.lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ASSERT_LT(absl::Now(), lock_deadline) << "waiting for " << kHttpsLabLock;
    absl::SleepFor(absl::Milliseconds(50));
  }

  teardown.dns_lab_dir = TempPath("dnslab");
  const CommandResult dns_start = RunCommand(absl::StrCat(
      Tool("dns_lab"), " start ", teardown.dns_lab_dir, " ", getpid()));
  ASSERT_EQ(dns_start.exit_code, 0) << dns_start.output;
  teardown.https_lab_dir = TempPath("httpslab");
  const CommandResult https_start = RunCommand(absl::StrCat(
      Tool("https_lab"), " start ", teardown.https_lab_dir, " ", getpid()));
  ASSERT_EQ(https_start.exit_code, 0) << https_start.output;
  ASSERT_THAT(https_start.output, ::testing::HasSubstr("ready"));
  const absl::Time labs_up = absl::Now();

  // Mail server certificates from a CA of our own; --ca-file trusts it and
  // the HTTPS lab's CA.
  const std::string ca = TempPath("ca");
  ASSERT_EQ(RunCommand(absl::StrCat(Tool("test_ca"), " init ", ca)).exit_code,
            0);
  for (const MailServer& s : MailServers()) {
    const std::string key_option =
        s.dane_ee_key ? absl::StrCat(" --key ", Tool("dns_lab.d/dane-ee.key"))
                      : "";
    const CommandResult issue = RunCommand(
        absl::StrCat(Tool("test_ca"), " issue ", ca, " ", s.host, key_option));
    ASSERT_EQ(issue.exit_code, 0) << issue.output;
  }
  const std::string ca_file = TempPath("trust.pem");
  {
    std::ofstream f(ca_file);
    f << test::ReadFile(absl::StrCat(ca, "/ca.crt"))
      << test::ReadFile(absl::StrCat(teardown.https_lab_dir, "/ca/ca.crt"));
  }
  std::vector<std::unique_ptr<StarttlsServer>> servers;
  for (const MailServer& s : MailServers()) {
    servers.push_back(std::make_unique<StarttlsServer>(
        s.address, s.host, absl::StrCat(ca, "/", s.host, ".chain.pem"),
        absl::StrCat(ca, "/", s.host, ".key")));
    ASSERT_TRUE(servers.back()->ok()) << "no server on " << s.address;
  }
  const absl::Time servers_up = absl::Now();

  std::vector<std::string> domains;
  for (const MailServer& s : MailServers()) domains.push_back(s.domain);
  const test::ScanResult scan = test::RunScan(
      kTestName, domains,
      absl::StrCat("--resolver ", kResolver, " -p ", kSmtpPort,
                   " --allow-private -r 0 --ehlo-name scanner.example.test"
                   " --ca-file ",
                   ca_file));
  const absl::Time scanned = absl::Now();
  std::cerr << "timings: labs " << (labs_up - t0) << ", certificates and "
            << "servers " << (servers_up - labs_up) << ", scan "
            << (scanned - servers_up) << "\n";
  ASSERT_EQ(scan.exit_code, 0) << scan.stderr_text;
  // Exactly one record per input line.
  ASSERT_EQ(scan.records.size(), domains.size()) << scan.stderr_text;
  std::map<std::string, Json> by_domain;
  for (const Json& j : scan.records) {
    ASSERT_EQ(j["kind"], "domain") << j.dump();
    const std::string input = j["input"];
    EXPECT_EQ(by_domain.count(input), 0u) << "two records for " << input;
    by_domain[input] = j;
  }

  for (const MailServer& s : MailServers()) {
    SCOPED_TRACE(s.domain);
    ASSERT_EQ(by_domain.count(s.domain), 1u);
    const Json& j = by_domain[s.domain];
    EXPECT_EQ(j["status"], "success") << j.dump();
    ASSERT_EQ(j["probes"].size(), 1u) << j.dump();
    const Json& p = j["probes"][0];
    EXPECT_EQ(p["address"], s.address);
    EXPECT_EQ(p["host"], s.host);
    EXPECT_EQ(p["tls_mode"], "starttls") << p.dump();
    const Json& tls = p["tls"];
    EXPECT_EQ(tls["established"], true) << p.dump();
    EXPECT_EQ(tls["sni"], s.host);
    EXPECT_EQ(tls["verify"]["ok"], true) << tls.dump();
    EXPECT_EQ(tls["host_match"], true) << tls.dump();
    ASSERT_GE(tls["chain"].size(), 1u) << tls.dump();
    if (s.dane_ee_key) {
      EXPECT_EQ(Lower(tls["chain"][0]["spki_sha256"]), kDaneEeSpki);
    }
    const Json& dane = p["dane"];
    ASSERT_TRUE(dane.is_object()) << p.dump();
    EXPECT_EQ(dane["tlsa_name"], absl::StrCat("_2525._tcp.", s.host));
    ASSERT_EQ(j["dns"]["mx"].size(), 1u) << j.dump();
    EXPECT_EQ(j["dns"]["mx"][0]["name"], s.host);
    if (absl::StartsWith(s.domain, "dane-")) {
      // No _mta-sts TXT record: nothing fetched, nothing matched.
      EXPECT_FALSE(j.contains("mta_sts")) << j.dump();
      EXPECT_FALSE(j["dns"]["mx"][0].contains("mta_sts_match")) << j.dump();
      EXPECT_EQ(j["policy"]["mta_sts"]["records"].size(), 0u) << j.dump();
      EXPECT_EQ(dane["dns_status"], "NOERROR") << dane.dump();
      ASSERT_EQ(dane["records"].size(), 1u) << dane.dump();
    } else {
      // The sts-* MX hosts have no TLSA (NXDOMAIN).
      EXPECT_EQ(dane["verdict"], "no-records") << dane.dump();
      EXPECT_EQ(dane["dns_status"], "NXDOMAIN") << dane.dump();
      EXPECT_EQ(dane.value("records", Json::array()).size(), 0u);
      EXPECT_FALSE(dane.contains("matched_record")) << dane.dump();
      EXPECT_EQ(j["policy"]["mta_sts"]["valid"], true) << j.dump();
      EXPECT_EQ(j["policy"]["mta_sts"]["value"], "20261121");
    }
  }

  {
    SCOPED_TRACE("dane-ok: DANE-EE matches the server's key, validated");
    const Json& dane = by_domain["dane-ok.smtpscan.test"]["probes"][0]["dane"];
    EXPECT_EQ(dane["verdict"], "match") << dane.dump();
    EXPECT_EQ(dane["authenticated"], true);
    EXPECT_EQ(dane["matched_record"], 0);
    EXPECT_EQ(dane["matched_depth"], 0);
    const Json& r = dane["records"][0];
    EXPECT_EQ(r["usage"], 3);
    EXPECT_EQ(r["selector"], 1);
    EXPECT_EQ(r["mtype"], 1);
    EXPECT_EQ(Lower(r["data"]), kDaneEeSpki);
  }
  {
    SCOPED_TRACE("dane-bad: a validated DANE-EE record naming no key");
    const Json& dane = by_domain["dane-bad.smtpscan.test"]["probes"][0]["dane"];
    EXPECT_EQ(dane["verdict"], "no-match") << dane.dump();
    EXPECT_EQ(dane["authenticated"], true);
    EXPECT_FALSE(dane.contains("matched_record"));
    EXPECT_EQ(Lower(dane["records"][0]["data"]), std::string(64, '0'));
  }
  {
    SCOPED_TRACE("dane-unusable: only PKIX-TA(0), unusable for SMTP");
    const Json& dane =
        by_domain["dane-unusable.smtpscan.test"]["probes"][0]["dane"];
    EXPECT_EQ(dane["verdict"], "no-usable-records") << dane.dump();
    EXPECT_EQ(dane["authenticated"], true);
    EXPECT_EQ(dane["records"][0]["usage"], 0);
    EXPECT_FALSE(dane.contains("matched_record"));
  }
  {
    SCOPED_TRACE("dane-insecure: a matching record without AD is not used");
    const Json& dane =
        by_domain["dane-insecure.smtpscan.test"]["probes"][0]["dane"];
    EXPECT_EQ(dane["verdict"], "not-authenticated") << dane.dump();
    EXPECT_EQ(dane["authenticated"], false);
    EXPECT_EQ(Lower(dane["records"][0]["data"]), kDaneEeSpki);
    EXPECT_FALSE(dane.contains("matched_record"));
  }
  {
    SCOPED_TRACE("sts-ok: policy fetched, enforce, lists the MX; TLS-RPT");
    const Json& j = by_domain["sts-ok.smtpscan.test"];
    const Json& sts = j["mta_sts"];
    ASSERT_TRUE(sts.is_object()) << j.dump();
    EXPECT_EQ(sts["fetch_status"], "ok") << sts.dump();
    EXPECT_EQ(sts["http_status"], 200) << sts.dump();
    EXPECT_EQ(sts["id"], "20261121");
    EXPECT_EQ(sts["url"],
              "https://mta-sts.sts-ok.smtpscan.test/.well-known/mta-sts.txt");
    EXPECT_EQ(sts["valid"], true) << sts.dump();
    EXPECT_FALSE(sts.contains("policy_error")) << sts.dump();
    EXPECT_EQ(sts["version"], "STSv1");
    EXPECT_EQ(sts["mode"], "enforce");
    EXPECT_THAT(sts["mx"], Contains("mx.sts-ok.smtpscan.test"));
    EXPECT_EQ(sts["max_age"], 86400);
    EXPECT_EQ(j["dns"]["mx"][0]["mta_sts_match"], true) << j.dump();
    EXPECT_EQ(j["policy"]["tls_rpt"]["value"],
              "mailto:tlsrpt@sts-ok.smtpscan.test");
  }
  {
    SCOPED_TRACE("sts-mismatch: a valid policy that does not list the MX");
    const Json& j = by_domain["sts-mismatch.smtpscan.test"];
    const Json& sts = j["mta_sts"];
    ASSERT_TRUE(sts.is_object()) << j.dump();
    EXPECT_EQ(sts["fetch_status"], "ok") << sts.dump();
    EXPECT_EQ(sts["valid"], true) << sts.dump();
    EXPECT_EQ(sts["mode"], "testing");
    EXPECT_THAT(sts["mx"], ElementsAre("*.elsewhere.test"));
    EXPECT_EQ(j["dns"]["mx"][0]["mta_sts_match"], false) << j.dump();
  }
  {
    SCOPED_TRACE("sts-nopolicy: nothing listens on the policy host");
    const Json& j = by_domain["sts-nopolicy.smtpscan.test"];
    const Json& sts = j["mta_sts"];
    ASSERT_TRUE(sts.is_object()) << j.dump();
    EXPECT_EQ(sts["fetch_status"], "connect-error") << sts.dump();
    EXPECT_NE(sts["fetch_status"], "ok");
    EXPECT_EQ(sts["valid"], false) << sts.dump();
    EXPECT_FALSE(sts.contains("mode")) << sts.dump();
    EXPECT_FALSE(j["dns"]["mx"][0].contains("mta_sts_match")) << j.dump();
  }
}

}  // namespace
}  // namespace smtpscan
