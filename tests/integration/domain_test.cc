// Domain mode end to end: the real smtpscan binary resolves the test zone of
// tools/dns_lab (NSD serving smtpscan.test behind an unbound resolver, all
// on 127.0.53.0/24) and probes the test SMTP server on the zone's mail
// server addresses (127.0.60.0/24 and ::1, port 2525). Needs root (the lab
// binds port 53) and the lab's Debian packages; skips with a message
// otherwise.
//
// The lab listens on fixed addresses, so everything runs in one test:
// ctest starts each test in its own process, possibly in parallel.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/lab_util.h"
#include "integration/test_server.h"
#include "nlohmann/json.hpp"

namespace smtpscan {
namespace {

using Json = nlohmann::json;
using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kDnsLab[] = SMTPSCAN_TEST_DATA_DIR "/../../tools/dns_lab";
constexpr char kResolver[] = "127.0.53.1";
constexpr int kSmtpPort = 2525;

using test::CommandResult;
using test::RunCommand;

std::string TempPath(absl::string_view name) {
  return test::TempPath("domain_test", name);
}

struct ScanResult {
  int exit_code = -1;
  std::map<std::string, Json> by_input;  // record per input line text
  size_t records = 0;
  std::string stderr_text;
};

ScanResult Scan(const std::vector<std::string>& lines,
                const std::string& extra = "") {
  const test::ScanResult scan = test::RunScan(
      "domain_test", lines,
      absl::StrCat("--resolver ", kResolver, " -p ", kSmtpPort,
                   " --allow-private --ehlo-name scanner.example.test -r 0"
                   " --dns-timeout 500ms --dns-tries 2 ",
                   extra));
  ScanResult r;
  r.exit_code = scan.exit_code;
  for (const Json& j : scan.records) {
    ++r.records;
    r.by_input[j["input"].get<std::string>()] = j;
  }
  r.stderr_text = scan.stderr_text;
  return r;
}

std::vector<std::string> MxNames(const Json& record) {
  std::vector<std::string> names;
  for (const Json& mx : record["dns"]["mx"]) names.push_back(mx["name"]);
  return names;
}

std::vector<std::string> ProbeAddresses(const Json& record) {
  std::vector<std::string> out;
  for (const Json& p : record["probes"]) out.push_back(p["address"]);
  return out;
}

TEST(DomainLabTest, EveryZoneCaseEndToEnd) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: the DNS lab binds port 53";
  const CommandResult install = RunCommand(absl::StrCat(kDnsLab, " install"));
  if (install.exit_code != 0) {
    GTEST_SKIP() << "tools/dns_lab install failed: " << install.output;
  }
  const std::string dir = TempPath("lab");
  const CommandResult start =
      RunCommand(absl::StrCat(kDnsLab, " start ", dir, " ", getpid()));
  ASSERT_EQ(start.exit_code, 0) << start.output;

  std::vector<std::string> listeners;
  for (int i = 1; i <= 15; ++i) {
    listeners.push_back(absl::StrCat("127.0.60.", i, ":", kSmtpPort, "=fast"));
  }
  listeners.push_back(absl::StrCat("[::1]:", kSmtpPort, "=fast"));
  test::TestServer server(listeners);
  ASSERT_TRUE(server.ok()) << "test server did not start";

  const std::vector<std::string> domains = {
      "multi.smtpscan.test",
      "equal.smtpscan.test",
      "nullmx.smtpscan.test",
      "cname-target.smtpscan.test",
      "alias-domain.smtpscan.test",
      "implicit.smtpscan.test",
      "nothing.smtpscan.test",
      "dangling.smtpscan.test",
      "noaddr.smtpscan.test",
      "ipmx.smtpscan.test",
      "big.smtpscan.test",
      "v6only.smtpscan.test",
      "nxdomain.smtpscan.test",
      "servfail.smtpscan.test",
      "silent.smtpscan.test",
      "policy.smtpscan.test",
      "longspf.smtpscan.test",
      "shared1.smtpscan.test",
      "shared2.smtpscan.test",
      "shared3.smtpscan.test",
      "shared4.smtpscan.test",
      "shared5.smtpscan.test",
      "Bücher.smtpscan.test.",
      "twoaddr.smtpscan.test",
      "MULTI.SMTPSCAN.TEST.",
      "not a domain",
      "refused.example",
  };
  ScanResult r = Scan(domains, "--max-mx 10");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  // One record per input line, whatever happened to it.
  ASSERT_EQ(r.records, domains.size()) << r.stderr_text;

  {
    SCOPED_TRACE("multi: sorted by preference, every address probed");
    const Json& j = r.by_input["multi.smtpscan.test"];
    EXPECT_EQ(j["kind"], "domain");
    EXPECT_EQ(j["status"], "success") << j.dump();
    EXPECT_EQ(j["dns"]["mx_status"], "NOERROR");
    EXPECT_THAT(MxNames(j), ElementsAre("mx1.multi.smtpscan.test",
                                        "mx2.multi.smtpscan.test",
                                        "mx3.multi.smtpscan.test"));
    EXPECT_EQ(j["dns"]["mx"][0]["preference"], 10);
    EXPECT_EQ(j["dns"]["mx"][2]["preference"], 30);
    EXPECT_EQ(j["dns"]["mx"][0]["a_status"], "NOERROR");
    EXPECT_EQ(j["dns"]["mx"][0]["aaaa_status"], "NODATA");
    EXPECT_THAT(ProbeAddresses(j),
                ElementsAre("127.0.60.1", "127.0.60.2", "127.0.60.3"));
    for (const Json& p : j["probes"]) {
      EXPECT_EQ(p["status"], "success") << p.dump();
      EXPECT_EQ(p["port"], kSmtpPort);
      EXPECT_EQ(p["greeting"]["code"], 220);
    }
    EXPECT_EQ(j["probes"][1]["host"], "mx2.multi.smtpscan.test");
  }
  {
    SCOPED_TRACE("equal preferences keep their order");
    const Json& j = r.by_input["equal.smtpscan.test"];
    EXPECT_THAT(MxNames(j),
                ElementsAre("a.equal.smtpscan.test", "b.equal.smtpscan.test",
                            "c.equal.smtpscan.test"));
    EXPECT_EQ(j["probes"].size(), 3u);
  }
  {
    SCOPED_TRACE("null MX: nothing connected to, not even its A record");
    const Json& j = r.by_input["nullmx.smtpscan.test"];
    EXPECT_EQ(j["status"], "null-mx");
    EXPECT_EQ(j["dns"]["null_mx"], true);
    EXPECT_EQ(j["dns"]["mx"].size(), 0u);
    EXPECT_EQ(j["probes"].size(), 0u);
  }
  {
    SCOPED_TRACE("MX target that is a CNAME: followed and flagged");
    const Json& j = r.by_input["cname-target.smtpscan.test"];
    EXPECT_EQ(j["status"], "success") << j.dump();
    ASSERT_EQ(j["dns"]["mx"].size(), 1u);
    const Json& mx = j["dns"]["mx"][0];
    EXPECT_EQ(mx["name"], "alias.cname-target.smtpscan.test");
    EXPECT_EQ(mx["via_cname"], true);
    EXPECT_EQ(mx["canonical"], "real.cname-target.smtpscan.test");
    EXPECT_THAT(ProbeAddresses(j), ElementsAre("127.0.60.7"));
  }
  {
    SCOPED_TRACE("a domain that is a CNAME: followed");
    const Json& j = r.by_input["alias-domain.smtpscan.test"];
    EXPECT_EQ(j["status"], "success") << j.dump();
    EXPECT_EQ(j["dns"]["cname"], "multi.smtpscan.test");
    EXPECT_EQ(MxNames(j).size(), 3u);
  }
  {
    SCOPED_TRACE("no MX: implicit MX on the domain's own address");
    const Json& j = r.by_input["implicit.smtpscan.test"];
    EXPECT_EQ(j["status"], "success") << j.dump();
    EXPECT_EQ(j["dns"]["mx_status"], "NODATA");
    EXPECT_EQ(j["dns"]["implicit_mx"], true);
    EXPECT_THAT(MxNames(j), ElementsAre("implicit.smtpscan.test"));
    EXPECT_THAT(ProbeAddresses(j), ElementsAre("127.0.60.8"));
  }
  {
    SCOPED_TRACE("no MX and no address");
    const Json& j = r.by_input["nothing.smtpscan.test"];
    EXPECT_EQ(j["status"], "dns-error");
    EXPECT_EQ(j["status_detail"], "no mx and no address");
    EXPECT_EQ(j["dns"]["implicit_mx"], true);
    EXPECT_EQ(j["probes"].size(), 0u);
  }
  {
    SCOPED_TRACE("dangling MX target: visible, the other MX still used");
    const Json& j = r.by_input["dangling.smtpscan.test"];
    EXPECT_EQ(j["status"], "success") << j.dump();
    ASSERT_EQ(j["dns"]["mx"].size(), 2u);
    EXPECT_EQ(j["dns"]["mx"][0]["name"], "missing.dangling.smtpscan.test");
    EXPECT_EQ(j["dns"]["mx"][0]["a_status"], "NXDOMAIN");
    EXPECT_EQ(j["dns"]["mx"][0]["addresses"].size(), 0u);
    EXPECT_THAT(ProbeAddresses(j), ElementsAre("127.0.60.9"));
  }
  {
    SCOPED_TRACE("MX host without addresses");
    const Json& j = r.by_input["noaddr.smtpscan.test"];
    EXPECT_EQ(j["status"], "dns-error");
    EXPECT_EQ(j["status_detail"], "no address for any mail server");
    EXPECT_EQ(j["dns"]["mx"][0]["a_status"], "NODATA");
    EXPECT_EQ(j["dns"]["mx"][0]["aaaa_status"], "NODATA");
  }
  {
    SCOPED_TRACE("MX written as an IP address: flagged, not connected to");
    const Json& j = r.by_input["ipmx.smtpscan.test"];
    EXPECT_EQ(j["status"], "dns-error");
    ASSERT_EQ(j["dns"]["mx"].size(), 1u);
    EXPECT_EQ(j["dns"]["mx"][0]["name"], "127.0.60.10");
    EXPECT_EQ(j["dns"]["mx"][0]["invalid"], "address-literal");
    EXPECT_EQ(j["probes"].size(), 0u);
  }
  {
    SCOPED_TRACE("40 MX: truncated over UDP, whole over TCP, cut at --max-mx");
    const Json& j = r.by_input["big.smtpscan.test"];
    EXPECT_EQ(j["status"], "success") << j.dump();
    ASSERT_EQ(j["dns"]["mx"].size(), 10u);
    EXPECT_EQ(j["dns"]["mx_discarded"], 30);
    EXPECT_EQ(j["dns"]["mx"][0]["preference"], 1);
    EXPECT_EQ(j["dns"]["mx"][9]["preference"], 10);
    // All ten hosts share one address: ten probe slots, one connection.
    EXPECT_EQ(j["probes"].size(), 10u);
  }
  {
    SCOPED_TRACE("an MX with only AAAA");
    const Json& j = r.by_input["v6only.smtpscan.test"];
    EXPECT_EQ(j["status"], "success") << j.dump();
    EXPECT_EQ(j["dns"]["mx"][0]["a_status"], "NODATA");
    EXPECT_EQ(j["dns"]["mx"][0]["aaaa_status"], "NOERROR");
    EXPECT_THAT(ProbeAddresses(j), ElementsAre("::1"));
  }
  {
    SCOPED_TRACE("NXDOMAIN, SERVFAIL, a server that never answers, REFUSED");
    EXPECT_EQ(r.by_input["nxdomain.smtpscan.test"]["status"], "dns-error");
    EXPECT_EQ(r.by_input["nxdomain.smtpscan.test"]["status_detail"],
              "mx NXDOMAIN");
    EXPECT_EQ(r.by_input["servfail.smtpscan.test"]["status_detail"],
              "mx SERVFAIL");
    EXPECT_THAT(
        r.by_input["silent.smtpscan.test"]["status_detail"].get<std::string>(),
        AnyOf("mx TIMEOUT", "mx SERVFAIL"));
    EXPECT_EQ(r.by_input["refused.example"]["status_detail"], "mx REFUSED");
  }
  {
    SCOPED_TRACE("policy records");
    const Json& j = r.by_input["policy.smtpscan.test"];
    EXPECT_EQ(j["status"], "success") << j.dump();
    const Json& p = j["policy"];
    EXPECT_EQ(p["spf"]["dns_status"], "NOERROR");
    EXPECT_THAT(p["spf"]["records"],
                ElementsAre("v=spf1 ip4:127.0.60.12 -all"));
    EXPECT_EQ(p["spf"]["value"], "-all");
    EXPECT_EQ(p["dmarc"]["name"], "_dmarc.policy.smtpscan.test");
    EXPECT_EQ(p["dmarc"]["value"], "reject");
    EXPECT_EQ(p["mta_sts"]["value"], "20261121T000000");
    EXPECT_EQ(p["tls_rpt"]["value"], "mailto:tlsrpt@policy.smtpscan.test");
    // A domain without them: looked up, nothing found.
    const Json& multi = r.by_input["multi.smtpscan.test"]["policy"];
    EXPECT_EQ(multi["dmarc"]["dns_status"], "NXDOMAIN");
    EXPECT_EQ(multi["dmarc"]["records"].size(), 0u);
  }
  {
    SCOPED_TRACE("a TXT record of two strings is joined");
    const Json& spf = r.by_input["longspf.smtpscan.test"]["policy"]["spf"];
    ASSERT_EQ(spf["records"].size(), 1u) << spf.dump();
    EXPECT_GT(spf["records"][0].get<std::string>().size(), 255u);
    EXPECT_EQ(spf["value"], "~all");
  }
  {
    SCOPED_TRACE("a shared provider is probed once for five domains");
    std::string started;
    for (int i = 1; i <= 5; ++i) {
      const Json& j = r.by_input[absl::StrCat("shared", i, ".smtpscan.test")];
      EXPECT_EQ(j["status"], "success") << j.dump();
      ASSERT_EQ(j["probes"].size(), 1u);
      // The same result copied into each record. (Conversations started in
      // one loop batch share a start time too, so this alone does not prove
      // there was one connection: the --layout split check below does.)
      const std::string at = j["probes"][0]["started_at"];
      if (started.empty()) started = at;
      EXPECT_EQ(at, started);
    }
  }
  {
    SCOPED_TRACE("internationalised name: A-label and U-label recorded");
    const Json& j = r.by_input["Bücher.smtpscan.test."];
    EXPECT_EQ(j["domain"], "xn--bcher-kva.smtpscan.test");
    EXPECT_EQ(j["domain_unicode"], "bücher.smtpscan.test");
    EXPECT_EQ(j["status"], "success") << j.dump();
  }
  {
    SCOPED_TRACE("case and trailing dot normalised");
    EXPECT_EQ(r.by_input["MULTI.SMTPSCAN.TEST."]["domain"],
              "multi.smtpscan.test");
  }
  {
    SCOPED_TRACE("every address of a host, IPv4 first");
    const Json& j = r.by_input["twoaddr.smtpscan.test"];
    EXPECT_THAT(ProbeAddresses(j),
                ElementsAre("127.0.60.14", "127.0.60.15", "::1"));
  }
  EXPECT_EQ(r.by_input["not a domain"]["status"], "invalid-input");

  // -4 and -6 restrict the lookups; --no-policy skips the TXT records.
  r = Scan({"twoaddr.smtpscan.test"}, "-4 --no-policy");
  ASSERT_EQ(r.records, 1u) << r.stderr_text;
  EXPECT_THAT(ProbeAddresses(r.by_input["twoaddr.smtpscan.test"]),
              ElementsAre("127.0.60.14", "127.0.60.15"));
  EXPECT_FALSE(r.by_input["twoaddr.smtpscan.test"].contains("policy"));
  r = Scan({"twoaddr.smtpscan.test"}, "-6");
  EXPECT_THAT(ProbeAddresses(r.by_input["twoaddr.smtpscan.test"]),
              ElementsAre("::1"));

  // --layout split: the shared provider's probe is written once, as its own
  // record, and the five domain records refer to it.
  {
    std::vector<std::string> shared;
    for (int i = 1; i <= 5; ++i) {
      shared.push_back(absl::StrCat("shared", i, ".smtpscan.test"));
    }
    const std::string in = TempPath("split.txt");
    const std::string out_path = TempPath("split.ndjson");
    {
      std::ofstream f(in);
      for (const std::string& s : shared) f << s << "\n";
    }
    ASSERT_EQ(std::system(absl::StrCat(SMTPSCAN_BINARY, " -q -i ", in, " -o ",
                                       out_path, " --layout split --resolver ",
                                       kResolver, " -p ", kSmtpPort,
                                       " --allow-private -r 0 --no-policy"
                                       " --ehlo-name scanner.example.test")
                              .c_str()),
              0);
    std::ifstream f(out_path);
    std::string line;
    int probe_records = 0, domain_records = 0;
    while (std::getline(f, line)) {
      const Json j = Json::parse(line);
      if (j["kind"] == "probe") {
        ++probe_records;
        // STARTTLS is on (auto): the host name is part of the key.
        EXPECT_EQ(j["key"], absl::StrCat("mx.provider.smtpscan.test@"
                                         "127.0.60.13:",
                                         kSmtpPort));
        EXPECT_EQ(j["status"], "success");
      } else {
        ++domain_records;
        ASSERT_EQ(j["probes"].size(), 1u);
        EXPECT_EQ(
            j["probes"][0]["key"],
            absl::StrCat("mx.provider.smtpscan.test@127.0.60.13:", kSmtpPort));
        EXPECT_EQ(j["probes"][0]["host"], "mx.provider.smtpscan.test");
      }
    }
    EXPECT_EQ(probe_records, 1);
    EXPECT_EQ(domain_records, 5);
    // CSV has no split layout: a usage error.
    EXPECT_EQ(WEXITSTATUS(std::system(
                  absl::StrCat(SMTPSCAN_BINARY, " -q -i ", in, " -o ",
                               TempPath("x.csv"), " --layout split 2>/dev/null")
                      .c_str())),
              2);
  }

  // Without --allow-private the lab's loopback addresses are blocked.
  const std::string input = TempPath("blocked.txt");
  std::ofstream(input) << "multi.smtpscan.test\n";
  const std::string out = TempPath("blocked.ndjson");
  ASSERT_EQ(std::system(absl::StrCat(SMTPSCAN_BINARY, " -q -i ", input, " -o ",
                                     out, " --resolver ", kResolver,
                                     " --ehlo-name scanner.example.test")
                            .c_str()),
            0);
  std::ifstream blocked(out);
  std::string line;
  ASSERT_TRUE(std::getline(blocked, line));
  const Json b = Json::parse(line);
  EXPECT_EQ(b["status"], "blocked");
  EXPECT_EQ(b["probes"][0]["status_detail"],
            "reserved 127.0.0.0/8 loopback (RFC 1122)");

  RunCommand(absl::StrCat(kDnsLab, " stop ", dir));
}

}  // namespace
}  // namespace smtpscan
