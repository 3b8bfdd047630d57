// The real smtpscan binary's TLS facts against real Postfix, Exim and
// Sendmail, each run by its tools/*_lab script with LAB_TLS_DIR: a
// certificate from a throwaway CA (tools/test_ca) for the MTA's host name,
// STARTTLS on ports 25 and 587 (AUTH only inside TLS on 587), TLS from the
// first byte on 465. One line "ADDR,HOST" probes the three ports; HOST is
// the SNI and the name the certificate is checked against. Needs root, as
// the plaintext lab tests.
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <utility>
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
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr char kTestCa[] = SMTPSCAN_TEST_DATA_DIR "/../../tools/test_ca";
constexpr char kEhloName[] = "scanner.example.test";
// A name the labs' certificates do not carry.
constexpr char kOtherName[] = "other.example.test";

// What differs between the three MTAs. Each suite has its own loopback /16
// (the plaintext tests use 127.8., 127.25. and 127.26.).
struct Postfix {
  static constexpr char kScript[] =
      SMTPSCAN_TEST_DATA_DIR "/../../tools/postfix_lab";
  static constexpr char kTestName[] = "tls_lab_postfix";
  static constexpr char kHost[] = "mx.postfix.test";  // set by postfix_lab
  static constexpr char kAddressPrefix[] = "127.9.";
  static constexpr bool kPrintsReady = false;
  // AUTH inside TLS on 587 and on 465 (Cyrus SASL's mech_list order).
  static std::vector<std::string> Auth() { return {"PLAIN", "LOGIN"}; }
};

struct Exim {
  static constexpr char kScript[] =
      SMTPSCAN_TEST_DATA_DIR "/../../tools/exim_lab";
  static constexpr char kTestName[] = "tls_lab_exim";
  static constexpr char kHost[] = "mx.exim.test";  // set by exim_lab
  static constexpr char kAddressPrefix[] = "127.27.";
  static constexpr bool kPrintsReady = true;
  // The authenticators in the configuration's order.
  static std::vector<std::string> Auth() { return {"PLAIN", "LOGIN"}; }
};

struct Sendmail {
  static constexpr char kScript[] =
      SMTPSCAN_TEST_DATA_DIR "/../../tools/sendmail_lab";
  static constexpr char kTestName[] = "tls_lab_sendmail";
  static constexpr char kHost[] = "mx.sendmail.test";  // set by sendmail_lab
  static constexpr char kAddressPrefix[] = "127.28.";
  static constexpr bool kPrintsReady = true;
  // confAUTH_MECHANISMS, in its order.
  static std::vector<std::string> Auth() { return {"LOGIN", "PLAIN"}; }
};

// `j[key]`, or null when `j` is not an object or lacks `key` (operator[] on
// a const json must not be asked for a missing key).
const Json& At(const Json& j, const std::string& key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string String(const Json& j) {
  return j.is_string() ? j.get<std::string>() : "";
}

// The probe on `port`; fails the test when there is none.
const Json& Probe(const Json& record, int port) {
  static const Json kNull;
  const Json* p = test::ProbeOnPort(record, port);
  EXPECT_NE(p, nullptr) << "no probe on port " << port << ": " << record.dump();
  return p == nullptr ? kNull : *p;
}

// A STARTTLS conversation (25, 587): the plaintext EHLO offers STARTTLS,
// the server says 220 to it, and EHLO is sent again inside TLS. AUTH, when
// the MTA offers it (587), is only in the EHLO reply inside TLS.
void ExpectStartTls(const Json& p, const std::string& host,
                    const std::vector<std::string>& auth_inside) {
  SCOPED_TRACE(absl::StrCat("port ", At(p, "port").dump()));
  EXPECT_EQ(At(p, "tls_mode"), "starttls") << p.dump();
  EXPECT_EQ(At(p, "status"), "success") << p.dump();
  EXPECT_EQ(At(At(p, "greeting"), "code"), 220);
  EXPECT_EQ(At(At(p, "greeting"), "host"), host);
  const Json& ehlo = At(p, "ehlo");
  EXPECT_EQ(At(ehlo, "code"), 250) << p.dump();
  EXPECT_EQ(At(ehlo, "starttls"), true);
  EXPECT_THAT(test::Keywords(ehlo), Contains("STARTTLS"));
  EXPECT_THAT(test::AuthMechanisms(ehlo), IsEmpty()) << ehlo.dump();
  EXPECT_EQ(At(At(p, "starttls"), "code"), 220) << p.dump();
  ASSERT_TRUE(p.contains("ehlo_tls")) << p.dump();
  const Json& ehlo_tls = At(p, "ehlo_tls");
  EXPECT_EQ(At(ehlo_tls, "code"), 250);
  EXPECT_EQ(At(ehlo_tls, "starttls"), false) << ehlo_tls.dump();
  EXPECT_THAT(test::AuthMechanisms(ehlo_tls), ElementsAreArray(auth_inside))
      << ehlo_tls.dump();
  EXPECT_EQ(At(At(p, "quit"), "code"), 221);
  EXPECT_TRUE(At(At(p, "timings_us"), "starttls").is_number()) << p.dump();
  EXPECT_TRUE(At(At(p, "timings_us"), "ehlo_tls").is_number()) << p.dump();
}

// TLS from the first byte (465): the greeting and EHLO came inside TLS
// (the labs send nothing in plaintext there), no STARTTLS step.
void ExpectImplicitTls(const Json& p, const std::string& host,
                       const std::vector<std::string>& auth) {
  SCOPED_TRACE("port 465");
  EXPECT_EQ(At(p, "tls_mode"), "implicit") << p.dump();
  EXPECT_EQ(At(p, "status"), "success") << p.dump();
  EXPECT_EQ(At(At(p, "greeting"), "code"), 220) << p.dump();
  EXPECT_EQ(At(At(p, "greeting"), "host"), host);
  const Json& ehlo = At(p, "ehlo");
  EXPECT_EQ(At(ehlo, "code"), 250) << p.dump();
  EXPECT_EQ(At(ehlo, "starttls"), false);
  EXPECT_THAT(test::AuthMechanisms(ehlo), ElementsAreArray(auth))
      << ehlo.dump();
  EXPECT_FALSE(p.contains("starttls")) << p.dump();
  EXPECT_FALSE(p.contains("ehlo_tls")) << p.dump();
  EXPECT_EQ(At(At(p, "quit"), "code"), 221);
  const Json& t = At(p, "timings_us");
  EXPECT_TRUE(At(t, "tls_handshake").is_number()) << p.dump();
  EXPECT_TRUE(At(t, "greeting").is_number()) << p.dump();
}

// The handshake's facts, whatever the verification said: the session, and
// the lab's certificate (issued by test_ca for `cert_host`, sent with the
// CA after it) as the first in the chain.
void ExpectHandshake(const Json& p, const std::string& sni,
                     const std::string& cert_host,
                     const std::string& leaf_sha256) {
  SCOPED_TRACE(absl::StrCat("port ", At(p, "port").dump()));
  EXPECT_EQ(At(p, "tls_established"), true) << p.dump();
  ASSERT_TRUE(p.contains("tls")) << p.dump();
  const Json& t = At(p, "tls");
  EXPECT_EQ(At(t, "established"), true) << t.dump();
  EXPECT_EQ(At(t, "sni"), sni);
  EXPECT_THAT(String(At(t, "version")), StartsWith("TLSv1.")) << t.dump();
  EXPECT_NE(String(At(t, "cipher")), "") << t.dump();
  EXPECT_FALSE(t.contains("error")) << t.dump();
  EXPECT_FALSE(t.contains("alert")) << t.dump();
  EXPECT_FALSE(t.contains("failed_state")) << t.dump();
  EXPECT_FALSE(t.contains("dane")) << t.dump();  // an address target
  const Json& chain = At(t, "chain");
  ASSERT_TRUE(chain.is_array() && !chain.empty()) << t.dump();
  const Json& leaf = chain[0];
  EXPECT_THAT(String(At(leaf, "subject")),
              HasSubstr(absl::StrCat("CN=", cert_host)));
  EXPECT_THAT(String(At(leaf, "issuer")), HasSubstr("CN=smtpscan test CA"));
  ASSERT_TRUE(At(leaf, "dns_names").is_array()) << leaf.dump();
  EXPECT_THAT(At(leaf, "dns_names").get<std::vector<std::string>>(),
              Contains(cert_host));
  EXPECT_EQ(At(leaf, "sha256"), leaf_sha256);
  EXPECT_EQ(At(leaf, "self_signed"), false);
  EXPECT_EQ(At(leaf, "key_type"), "EC");  // test_ca: P-256
  EXPECT_EQ(At(leaf, "key_bits"), 256);
  // The labs serve server.chain.pem: the CA follows.
  ASSERT_EQ(chain.size(), 2u) << t.dump();
  EXPECT_THAT(String(At(chain[1], "subject")),
              HasSubstr("CN=smtpscan test CA"));
  EXPECT_EQ(At(chain[1], "self_signed"), true);
}

// Verification against the test CA succeeded.
void ExpectVerified(const Json& p) {
  SCOPED_TRACE(absl::StrCat("port ", At(p, "port").dump()));
  const Json& v = At(At(p, "tls"), "verify");
  EXPECT_EQ(At(v, "ok"), true) << v.dump();
  EXPECT_EQ(At(v, "code"), 0) << v.dump();
  ASSERT_TRUE(At(v, "errors").is_array()) << v.dump();
  EXPECT_TRUE(At(v, "errors").empty()) << v.dump();
}

template <typename Mta>
class TlsLabTest : public test::LabTest {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    ca_dir_ = test::TempPath(Mta::kTestName, "ca");
    ca_error_ = test::MakeServerCertificate(kTestCa, ca_dir_, Mta::kHost);
    leaf_sha256_ = test::CertificateSha256(ca_dir_ + "/server.crt");
    if (!ca_error_.empty()) return;
    // The lab script inherits it: ca_dir_ is laid out as LAB_TLS_DIR wants.
    test::ScopedEnv tls("LAB_TLS_DIR", ca_dir_);
    SetUpLab(Mta::kScript, Mta::kTestName, Mta::kAddressPrefix,
             Mta::kPrintsReady);
  }

  static void TearDownTestSuite() {
    TearDownLab();
    if (!ca_dir_.empty()) {
      const int rc = std::system(("rm -rf " + ca_dir_).c_str());
      (void)rc;
    }
  }

  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "real MTAs need root (port 25, namespaces); run as "
                      "root to include them";
    }
    ASSERT_TRUE(ca_error_.empty()) << ca_error_;
    ASSERT_FALSE(leaf_sha256_.empty())
        << "cannot read " << ca_dir_ << "/server.crt";
    if (!lab_->started()) {
      // No MTA to run (no package source): nothing to test here. A lab that
      // is installed but does not start with TLS is a failure.
      const std::string script(Mta::kScript);
      const std::string name = script.substr(script.rfind('/') + 1);
      if (absl::StartsWith(lab_->error(), absl::StrCat(name, " install:"))) {
        GTEST_SKIP() << lab_->error();
      }
      FAIL() << lab_->error();
    }
  }

  static std::string CaFile() { return ca_dir_ + "/ca.crt"; }

  // One line "ADDR,name" probed on 25, 465 and 587, with `extra` options.
  static test::ScanResult ScanPorts(absl::string_view name,
                                    absl::string_view extra) {
    return Scan({absl::StrCat(lab_->address(), ",", name)}, kEhloName,
                absl::StrCat("-p 25,465,587 ", extra));
  }

  // Runs ScanPorts and checks the record's frame: one record, every probe
  // a success. Returns the record (null when there is none).
  static Json ScanOk(absl::string_view name, absl::string_view extra) {
    const test::ScanResult r = ScanPorts(name, extra);
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    EXPECT_EQ(r.records.size(), 1u) << r.stderr_text;
    if (r.records.size() != 1) return Json();
    const Json& j = r.records[0];
    EXPECT_EQ(At(j, "kind"), "address");
    EXPECT_EQ(At(j, "address"), lab_->address());
    EXPECT_EQ(At(j, "status"), "success") << j.dump();
    EXPECT_EQ(At(j, "probes").size(), 3u) << j.dump();
    return j;
  }

  // The scenarios, the same for every MTA.
  void TrustedCertificateOnEveryPort() {
    const Json j = ScanOk(Mta::kHost, absl::StrCat("--ca-file ", CaFile()));
    for (const int port : {25, 587}) {
      const Json& p = Probe(j, port);
      ExpectStartTls(p, Mta::kHost,
                     port == 587 ? Mta::Auth() : std::vector<std::string>{});
      ExpectHandshake(p, Mta::kHost, Mta::kHost, leaf_sha256_);
      ExpectVerified(p);
      EXPECT_EQ(At(At(p, "tls"), "host_match"), true) << p.dump();
    }
    const Json& p = Probe(j, 465);
    ExpectImplicitTls(p, Mta::kHost, Mta::Auth());
    ExpectHandshake(p, Mta::kHost, Mta::kHost, leaf_sha256_);
    ExpectVerified(p);
    EXPECT_EQ(At(At(p, "tls"), "host_match"), true) << p.dump();
  }

  // Without --ca-file the system store does not know the test CA: the
  // scanner records why, with the depth of each error, and goes on.
  void UnknownCaIsRecordedNotRefused() {
    const Json j = ScanOk(Mta::kHost, "");
    for (const int port : {25, 465, 587}) {
      SCOPED_TRACE(port);
      const Json& p = Probe(j, port);
      EXPECT_EQ(At(p, "tls_mode"), port == 465 ? "implicit" : "starttls");
      EXPECT_EQ(At(p, "status"), "success") << p.dump();
      ExpectHandshake(p, Mta::kHost, Mta::kHost, leaf_sha256_);
      const Json& v = At(At(p, "tls"), "verify");
      EXPECT_EQ(At(v, "ok"), false) << v.dump();
      EXPECT_NE(At(v, "code"), 0) << v.dump();
      EXPECT_NE(String(At(v, "reason")), "") << v.dump();
      const Json& errors = At(v, "errors");
      ASSERT_TRUE(errors.is_array() && !errors.empty()) << v.dump();
      for (const Json& e : errors) {
        ASSERT_TRUE(At(e, "depth").is_number_integer()) << e.dump();
        EXPECT_GE(At(e, "depth").get<int>(), 0);
        EXPECT_LE(At(e, "depth").get<int>(), 1);  // the leaf or the CA
        EXPECT_NE(At(e, "code"), 0) << e.dump();
        EXPECT_NE(String(At(e, "reason")), "") << e.dump();
      }
      // The name check does not depend on the trust anchors.
      EXPECT_EQ(At(At(p, "tls"), "host_match"), true) << p.dump();
      // The conversation went on inside TLS all the same.
      if (port != 465) {
        EXPECT_TRUE(p.contains("ehlo_tls")) << p.dump();
      }
      EXPECT_EQ(At(At(p, "quit"), "code"), 221);
    }
  }

  // A name on the input line that the certificate does not carry: sent as
  // SNI (the labs serve one certificate whatever it is), the chain still
  // verifies, the host does not match.
  void OtherHostNameDoesNotMatch() {
    const Json j = ScanOk(kOtherName, absl::StrCat("--ca-file ", CaFile()));
    for (const int port : {25, 465, 587}) {
      SCOPED_TRACE(port);
      const Json& p = Probe(j, port);
      EXPECT_EQ(At(p, "host"), kOtherName);
      EXPECT_EQ(At(p, "status"), "success") << p.dump();
      ExpectHandshake(p, kOtherName, Mta::kHost, leaf_sha256_);
      ExpectVerified(p);
      EXPECT_EQ(At(At(p, "tls"), "host_match"), false) << p.dump();
    }
  }

  // --starttls never: the plaintext ports stay in plaintext (STARTTLS is
  // still seen in the EHLO reply); 465 is TLS whatever --starttls says.
  void StartTlsNeverStaysInPlaintext() {
    const Json j = ScanOk(
        Mta::kHost, absl::StrCat("--starttls never --ca-file ", CaFile()));
    for (const int port : {25, 587}) {
      SCOPED_TRACE(port);
      const Json& p = Probe(j, port);
      EXPECT_EQ(At(p, "tls_mode"), "none") << p.dump();
      EXPECT_EQ(At(p, "status"), "success") << p.dump();
      EXPECT_EQ(At(At(p, "ehlo"), "code"), 250) << p.dump();
      EXPECT_EQ(At(At(p, "ehlo"), "starttls"), true) << p.dump();
      EXPECT_EQ(At(p, "tls_established"), false) << p.dump();
      EXPECT_FALSE(p.contains("tls")) << p.dump();
      EXPECT_FALSE(p.contains("starttls")) << p.dump();
      EXPECT_FALSE(p.contains("ehlo_tls")) << p.dump();
      EXPECT_EQ(At(At(p, "quit"), "code"), 221);
    }
    const Json& p = Probe(j, 465);
    ExpectImplicitTls(p, Mta::kHost, Mta::Auth());
    ExpectHandshake(p, Mta::kHost, Mta::kHost, leaf_sha256_);
    ExpectVerified(p);
  }

  static inline std::string ca_dir_;  // the CA, and LAB_TLS_DIR
  static inline std::string ca_error_;
  static inline std::string leaf_sha256_;  // of ca_dir_/server.crt
};

// One suite per MTA, so that each has its own lab and a plain test name.
class PostfixTlsTest : public TlsLabTest<Postfix> {};
class EximTlsTest : public TlsLabTest<Exim> {};
class SendmailTlsTest : public TlsLabTest<Sendmail> {};

TEST_F(PostfixTlsTest, TrustedCertificateOnEveryPort) {
  TrustedCertificateOnEveryPort();
}
TEST_F(PostfixTlsTest, UnknownCaIsRecordedNotRefused) {
  UnknownCaIsRecordedNotRefused();
}
TEST_F(PostfixTlsTest, OtherHostNameDoesNotMatch) {
  OtherHostNameDoesNotMatch();
}
TEST_F(PostfixTlsTest, StartTlsNeverStaysInPlaintext) {
  StartTlsNeverStaysInPlaintext();
}

// Postfix logs each handshake (smtpd_tls_loglevel = 1): its version and
// cipher are the ones the scanner recorded, on each of the three services.
TEST_F(PostfixTlsTest, MaillogAgreesOnVersionAndCipher) {
  const std::string maillog = lab_->dir() + "/maillog";
  const auto count = [&](const std::vector<std::string>& parts) {
    return test::CountLinesWithAll(test::ReadFile(maillog), parts);
  };
  const std::vector<std::pair<int, std::string>> services = {
      {25, "postfix/smtpd["},
      {587, "postfix/submission/smtpd["},
      {465, "postfix/submissions/smtpd["}};
  std::vector<int> before;
  for (const auto& [port, service] : services) {
    before.push_back(
        count({service, "TLS connection established from unknown[127.0.0.1]"}));
  }
  const Json j = ScanOk(Postfix::kHost, absl::StrCat("--ca-file ", CaFile()));
  for (size_t i = 0; i < services.size(); ++i) {
    const auto& [port, service] = services[i];
    SCOPED_TRACE(port);
    const Json& t = At(Probe(j, port), "tls");
    const std::vector<std::string> parts = {
        service, "TLS connection established from unknown[127.0.0.1]: ",
        absl::StrCat(": ", String(At(t, "version")), " with cipher ",
                     String(At(t, "cipher")), " ")};
    EXPECT_EQ(test::WaitForCount([&] { return count(parts); }, before[i] + 1),
              before[i] + 1)
        << t.dump() << "\n"
        << test::ReadFile(maillog);
  }
}

TEST_F(EximTlsTest, TrustedCertificateOnEveryPort) {
  TrustedCertificateOnEveryPort();
}
TEST_F(EximTlsTest, UnknownCaIsRecordedNotRefused) {
  UnknownCaIsRecordedNotRefused();
}
TEST_F(EximTlsTest, OtherHostNameDoesNotMatch) { OtherHostNameDoesNotMatch(); }
TEST_F(EximTlsTest, StartTlsNeverStaysInPlaintext) {
  StartTlsNeverStaysInPlaintext();
}

TEST_F(SendmailTlsTest, TrustedCertificateOnEveryPort) {
  TrustedCertificateOnEveryPort();
}
TEST_F(SendmailTlsTest, UnknownCaIsRecordedNotRefused) {
  UnknownCaIsRecordedNotRefused();
}
TEST_F(SendmailTlsTest, OtherHostNameDoesNotMatch) {
  OtherHostNameDoesNotMatch();
}
TEST_F(SendmailTlsTest, StartTlsNeverStaysInPlaintext) {
  StartTlsNeverStaysInPlaintext();
}

}  // namespace
}  // namespace smtpscan
