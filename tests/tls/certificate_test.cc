// DescribeCertificate (tls/certificate.cc) on certificates made at test
// time, each fact compared with what OpenSSL itself says about the same
// certificate.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tls/channel.h"
#include "tls/facts.h"
#include "tls/tls_test_util.h"

namespace smtpscan::tls {
namespace {

using test::BuildCertificate;
using test::CertSha256Hex;
using test::CertSpec;
using test::KeyAndCert;
using test::KeyKind;
using test::MakeKey;
using test::MakeSelfSigned;
using test::PkeyPtr;
using test::SpkiSha256Hex;
using test::TestCa;
using test::X509Ptr;
using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// 2026-11-22 10:00:00 UTC and a year later.
const absl::Time kNotBefore = absl::FromUnixSeconds(1795341600);
const absl::Time kNotAfter = kNotBefore + absl::Hours(24 * 365);

TEST(DescribeCertificateTest, LeafFromTheCa) {
  TestCa ca;
  KeyAndCert leaf =
      ca.Issue({.dns_names = {"mx.example.test", "*.example.test"},
                .ip_addresses = {"192.0.2.25"},
                .not_before = kNotBefore,
                .not_after = kNotAfter});
  const Certificate c = DescribeCertificate(leaf.cert.get());
  EXPECT_EQ(c.subject, "CN=mx.example.test");
  EXPECT_EQ(c.issuer, "CN=smtpscan test CA,O=smtpscan tests");
  EXPECT_THAT(c.dns_names, ElementsAre("mx.example.test", "*.example.test"));
  EXPECT_THAT(c.ip_addresses, ElementsAre("192.0.2.25"));
  EXPECT_EQ(c.not_before, kNotBefore);
  EXPECT_EQ(c.not_after, kNotAfter);
  EXPECT_EQ(c.sha256, CertSha256Hex(leaf.cert.get()));
  EXPECT_EQ(c.sha256.size(), 64u);
  EXPECT_EQ(c.spki_sha256, SpkiSha256Hex(leaf.cert.get()));
  EXPECT_NE(c.spki_sha256, c.sha256);
  EXPECT_EQ(c.key_type, "EC");
  EXPECT_EQ(c.key_bits, 256);
  EXPECT_EQ(c.signature_algorithm, "ecdsa-with-SHA256");
  EXPECT_FALSE(c.self_signed);
}

TEST(DescribeCertificateTest, TheCaIsSelfSigned) {
  TestCa ca;
  const Certificate c = DescribeCertificate(ca.cert());
  EXPECT_EQ(c.subject, "CN=smtpscan test CA,O=smtpscan tests");
  EXPECT_EQ(c.issuer, c.subject);
  EXPECT_THAT(c.dns_names, IsEmpty());
  EXPECT_THAT(c.ip_addresses, IsEmpty());
  EXPECT_TRUE(c.self_signed);
}

TEST(DescribeCertificateTest, RsaSha1) {
  KeyAndCert cert = MakeSelfSigned({.key = KeyKind::kRsa1024, .sha1 = true});
  const Certificate c = DescribeCertificate(cert.cert.get());
  EXPECT_EQ(c.key_type, "RSA");
  EXPECT_EQ(c.key_bits, 1024);
  EXPECT_EQ(c.signature_algorithm, "sha1WithRSAEncryption");
  EXPECT_TRUE(c.self_signed);
}

TEST(DescribeCertificateTest, Rsa2048Sha256) {
  KeyAndCert cert = MakeSelfSigned({.key = KeyKind::kRsa2048});
  const Certificate c = DescribeCertificate(cert.cert.get());
  EXPECT_EQ(c.key_type, "RSA");
  EXPECT_EQ(c.key_bits, 2048);
  EXPECT_EQ(c.signature_algorithm, "sha256WithRSAEncryption");
}

TEST(DescribeCertificateTest, Ed25519) {
  KeyAndCert cert = MakeSelfSigned({.key = KeyKind::kEd25519});
  const Certificate c = DescribeCertificate(cert.cert.get());
  EXPECT_EQ(c.key_type, "ED25519");
  EXPECT_EQ(c.signature_algorithm, "ED25519");
  EXPECT_TRUE(c.self_signed);
}

// facts.h: self-signed means "issuer == subject and the signature checks".
TEST(DescribeCertificateTest, SelfIssuedWithAForeignSignatureIsNotSelfSigned) {
  PkeyPtr subject_key = MakeKey(KeyKind::kEcP256);
  PkeyPtr other_key = MakeKey(KeyKind::kEcP256);
  X509Ptr cert =
      BuildCertificate({}, subject_key.get(), nullptr, other_key.get());
  const Certificate c = DescribeCertificate(cert.get());
  EXPECT_EQ(c.subject, c.issuer);
  EXPECT_FALSE(c.self_signed);
}

TEST(DescribeCertificateTest, Ipv6AltName) {
  KeyAndCert cert =
      MakeSelfSigned({.dns_names = {}, .ip_addresses = {"2001:db8::25"}});
  const Certificate c = DescribeCertificate(cert.cert.get());
  EXPECT_THAT(c.dns_names, IsEmpty());
  // RFC 5952 text (inet_ntop), or OpenSSL's own GENERAL_NAME_print form.
  EXPECT_THAT(c.ip_addresses,
              ElementsAre(AnyOf("2001:db8::25", "2001:DB8:0:0:0:0:0:25")));
}

TEST(DescribeCertificateTest, NonAsciiSubjectStaysUtf8) {
  KeyAndCert cert = MakeSelfSigned({.common_name = "B\xC3\xBC"
                                                   "cher"});
  const Certificate c = DescribeCertificate(cert.cert.get());
  EXPECT_EQ(c.subject,
            "CN=B\xC3\xBC"
            "cher");
}

TEST(DescribeCertificateTest, Rfc2253EscapesSpecials) {
  KeyAndCert cert = MakeSelfSigned({.common_name = "a,b+c"});
  const Certificate c = DescribeCertificate(cert.cert.get());
  EXPECT_EQ(c.subject, "CN=a\\,b\\+c");
}

}  // namespace
}  // namespace smtpscan::tls
