#include "tls/channel.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tls/context.h"
#include "tls/facts.h"
#include "tls/tls_test_util.h"

namespace smtpscan::tls {
namespace {

using test::CertSha256Hex;
using test::CertSpec;
using test::KeyAndCert;
using test::KeyKind;
using test::MakeContext;
using test::MakeSelfSigned;
using test::NotAfter;
using test::NotBefore;
using test::ServerConfig;
using test::SpkiSha256;
using test::SpkiSha256Hex;
using test::TestCa;
using test::TestServer;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Optional;

using State = Channel::State;

constexpr absl::string_view kHost = "mx.example.test";

// A VerifyError with this depth and X509_V_ERR_* code (any reason text).
auto VerifyErrorIs(int depth, int code) {
  return AllOf(Field("depth", &VerifyError::depth, depth),
               Field("code", &VerifyError::code, code),
               Field("reason", &VerifyError::reason, Not(IsEmpty())));
}

// An error text a reader understands as "the server closed the
// connection" (OpenSSL without SSL_OP_IGNORE_UNEXPECTED_EOF says
// "unexpected eof while reading"), not an SSL_get_error number.
bool SaysClosed(const std::string& error) {
  const std::string lower = absl::AsciiStrToLower(error);
  return absl::StrContains(lower, "eof") || absl::StrContains(lower, "closed");
}

dns::TlsaRecord Tlsa(uint8_t usage, uint8_t selector, uint8_t mtype,
                     std::string data) {
  dns::TlsaRecord r;
  r.usage = usage;
  r.selector = selector;
  r.mtype = mtype;
  r.data = std::move(data);
  return r;
}

// An authenticated NOERROR TLSA answer for _25._tcp.mx.example.test.
DaneResult AuthenticatedDane(std::vector<dns::TlsaRecord> records) {
  DaneResult dane;
  dane.tlsa_name = "_25._tcp.mx.example.test";
  dane.dns_status = "NOERROR";
  dane.authenticated = true;
  dane.records = std::move(records);
  return dane;
}

class ChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    trusted_ = MakeContext(ca_.pem_path());
    untrusted_ = MakeContext(other_ca_.pem_path());
    ASSERT_NE(trusted_, nullptr);
    ASSERT_NE(untrusted_, nullptr);
  }

  // A leaf for mx.example.test from the test CA.
  KeyAndCert Leaf(CertSpec spec = {}) const { return ca_.Issue(spec); }

  TestCa ca_;                         // "CN=smtpscan test CA,O=smtpscan tests"
  TestCa other_ca_{"other CA"};       // trusted by untrusted_ only
  std::unique_ptr<Context> trusted_;  // trusts ca_
  std::unique_ptr<Context> untrusted_;  // trusts other_ca_: none of ours
};

// --- A good handshake -------------------------------------------------------

TEST_F(ChannelTest, StartQueuesClientHello) {
  Channel channel(*trusted_, {.server_name = kHost});
  EXPECT_EQ(channel.state(), State::kHandshake);
  EXPECT_EQ(channel.Start(), State::kHandshake);
  EXPECT_TRUE(channel.HasCiphertext());
  std::string hello;
  channel.TakeCiphertext(&hello);
  ASSERT_GE(hello.size(), 5u);
  EXPECT_EQ(hello[0], '\x16');  // a handshake record
  EXPECT_EQ(hello[1], '\x03');
  EXPECT_FALSE(channel.HasCiphertext());
}

TEST_F(ChannelTest, ValidChainSessionFacts) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf, .chain = {ca_.cert()}});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  ASSERT_TRUE(server.handshake_done()) << server.error();

  const TlsFacts& facts = channel.facts();
  EXPECT_TRUE(facts.established);
  EXPECT_EQ(facts.sni, kHost);
  EXPECT_THAT(server.sni(), Optional(std::string(kHost)));
  EXPECT_EQ(facts.version, "TLSv1.3");
  EXPECT_EQ(facts.version, SSL_get_version(server.ssl()));
  EXPECT_EQ(facts.cipher, SSL_get_cipher_name(server.ssl()));
  EXPECT_FALSE(facts.cipher.empty());
  // OpenSSL's TLS name is "x25519"; OBJ_nid2sn gives "X25519".
  const char* group =
      SSL_group_to_name(server.ssl(), SSL_get_negotiated_group(server.ssl()));
  ASSERT_NE(group, nullptr);
  EXPECT_TRUE(absl::EqualsIgnoreCase(facts.group, group))
      << facts.group << " vs " << group;
  EVP_PKEY* server_kx = nullptr;
  ASSERT_EQ(SSL_get_tmp_key(server.ssl(), &server_kx), 1);
  EXPECT_EQ(facts.kx_bits, EVP_PKEY_get_bits(server_kx));
  EVP_PKEY_free(server_kx);
  EXPECT_THAT(facts.error, IsEmpty());
  EXPECT_EQ(facts.dane.verdict, DaneVerdict::kNotChecked);
}

TEST_F(ChannelTest, ValidChainCertificateFacts) {
  KeyAndCert leaf = Leaf({.dns_names = {"mx.example.test", "mail.example.test"},
                          .ip_addresses = {"192.0.2.25"}});
  TestServer server({.leaf = &leaf, .chain = {ca_.cert()}});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;

  const std::vector<Certificate>& chain = channel.facts().chain;
  ASSERT_EQ(chain.size(), 2u);
  const Certificate& c = chain[0];
  EXPECT_EQ(c.subject, "CN=mx.example.test");
  EXPECT_EQ(c.issuer, "CN=smtpscan test CA,O=smtpscan tests");
  EXPECT_THAT(c.dns_names, ElementsAre("mx.example.test", "mail.example.test"));
  EXPECT_THAT(c.ip_addresses, ElementsAre("192.0.2.25"));
  EXPECT_EQ(c.not_before, NotBefore(leaf.cert.get()));
  EXPECT_EQ(c.not_after, NotAfter(leaf.cert.get()));
  EXPECT_EQ(c.sha256, CertSha256Hex(leaf.cert.get()));
  EXPECT_EQ(c.spki_sha256, SpkiSha256Hex(leaf.cert.get()));
  EXPECT_EQ(c.key_type, "EC");
  EXPECT_EQ(c.key_bits, 256);
  EXPECT_EQ(c.signature_algorithm, "ecdsa-with-SHA256");
  EXPECT_FALSE(c.self_signed);

  const Certificate& root = chain[1];
  EXPECT_EQ(root.subject, "CN=smtpscan test CA,O=smtpscan tests");
  EXPECT_EQ(root.issuer, root.subject);
  EXPECT_EQ(root.sha256, CertSha256Hex(ca_.cert()));
  EXPECT_TRUE(root.self_signed);
}

TEST_F(ChannelTest, ValidChainVerifies) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf, .chain = {ca_.cert()}});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;

  const TlsFacts& facts = channel.facts();
  EXPECT_TRUE(facts.verified);
  EXPECT_EQ(facts.verify_code, X509_V_OK);
  EXPECT_THAT(facts.verify_errors, IsEmpty());
  EXPECT_THAT(facts.host_match, Optional(true));
}

TEST_F(ChannelTest, LeafAloneVerifiesAgainstTheStore) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});  // no CA in the chain
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_EQ(channel.facts().chain.size(), 1u);
  EXPECT_TRUE(channel.facts().verified);
  EXPECT_THAT(channel.facts().verify_errors, IsEmpty());
}

TEST_F(ChannelTest, RsaLeaf) {
  KeyAndCert leaf = Leaf({.key = KeyKind::kRsa2048});
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  ASSERT_EQ(channel.facts().chain.size(), 1u);
  EXPECT_EQ(channel.facts().chain[0].key_type, "RSA");
  EXPECT_EQ(channel.facts().chain[0].key_bits, 2048);
  EXPECT_TRUE(channel.facts().verified);
}

TEST_F(ChannelTest, Tls12Server) {
  KeyAndCert leaf = Leaf({.key = KeyKind::kRsa2048});
  TestServer server({.leaf = &leaf, .max_version = TLS1_2_VERSION});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_EQ(channel.facts().version, "TLSv1.2");
  EXPECT_EQ(channel.facts().cipher, SSL_get_cipher_name(server.ssl()));
  EXPECT_FALSE(channel.facts().group.empty());
  EXPECT_TRUE(channel.facts().verified);
}

// ENGINEERING.md §2.3: a default client context refuses this server; the
// scanner's context (security level 0) records it.
TEST_F(ChannelTest, Tls10ServerWithRsa1024Sha1SelfSigned) {
  KeyAndCert legacy = MakeSelfSigned({.key = KeyKind::kRsa1024, .sha1 = true});
  TestServer server({.leaf = &legacy,
                     .min_version = TLS1_VERSION,
                     .max_version = TLS1_VERSION,
                     .legacy = true});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen)
      << channel.facts().error << " / server: " << server.error();

  const TlsFacts& facts = channel.facts();
  EXPECT_EQ(facts.version, "TLSv1");
  EXPECT_EQ(facts.cipher, SSL_get_cipher_name(server.ssl()));
  ASSERT_EQ(facts.chain.size(), 1u);
  EXPECT_EQ(facts.chain[0].key_type, "RSA");
  EXPECT_EQ(facts.chain[0].key_bits, 1024);
  EXPECT_EQ(facts.chain[0].signature_algorithm, "sha1WithRSAEncryption");
  EXPECT_TRUE(facts.chain[0].self_signed);
  EXPECT_FALSE(facts.verified);
  EXPECT_THAT(
      facts.verify_errors,
      Contains(VerifyErrorIs(0, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)));
}

// A second round trip: the server wants a key share the client did not send.
TEST_F(ChannelTest, HelloRetryRequest) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf, .groups = "P-384"});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_EQ(channel.facts().version, "TLSv1.3");
  EXPECT_EQ(channel.facts().group, "secp384r1");
  EXPECT_EQ(channel.facts().kx_bits, 384);
}

// Many SMTP servers ask for a client certificate; the scanner has none and
// must go on with an empty Certificate message.
TEST_F(ChannelTest, ServerAsksForAClientCertificate) {
  for (int max_version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(max_version);
    KeyAndCert leaf = Leaf();
    TestServer server({.leaf = &leaf,
                       .max_version = max_version,
                       .request_client_cert = true});
    Channel channel(*trusted_, {.server_name = kHost});
    EXPECT_EQ(server.Handshake(channel), State::kOpen)
        << channel.facts().error << " / server: " << server.error();
    EXPECT_TRUE(server.handshake_done());
  }
}

TEST_F(ChannelTest, FiniteFieldDhe) {
  KeyAndCert leaf = Leaf({.key = KeyKind::kRsa2048});
  TestServer server({.leaf = &leaf,
                     .max_version = TLS1_2_VERSION,
                     .ciphers = "DHE-RSA-AES128-GCM-SHA256"});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen)
      << channel.facts().error << " / server: " << server.error();
  EXPECT_EQ(channel.facts().cipher, "DHE-RSA-AES128-GCM-SHA256");
  EXPECT_FALSE(channel.facts().group.empty());
  EXPECT_EQ(channel.facts().kx_bits, 2048);
}

// RSA key exchange has no ephemeral key: no group, no kx_bits.
TEST_F(ChannelTest, RsaKeyExchangeHasNoGroup) {
  KeyAndCert leaf = Leaf({.key = KeyKind::kRsa2048});
  TestServer server(
      {.leaf = &leaf, .max_version = TLS1_2_VERSION, .ciphers = "AES128-SHA"});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen)
      << channel.facts().error << " / server: " << server.error();
  EXPECT_EQ(channel.facts().cipher, "AES128-SHA");
  EXPECT_THAT(channel.facts().group, IsEmpty());
  EXPECT_EQ(channel.facts().kx_bits, 0);
}

// --- Application data and the end of the stream -----------------------------

TEST_F(ChannelTest, ApplicationDataBothWaysThenCloseNotify) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost});
  std::string plaintext;
  ASSERT_EQ(server.Handshake(channel, &plaintext), State::kOpen);
  EXPECT_THAT(plaintext, IsEmpty());  // NewSessionTicket is not data

  ASSERT_TRUE(channel.Write("EHLO x\r\n"));
  EXPECT_TRUE(channel.HasCiphertext());
  EXPECT_EQ(server.Pump(channel, &plaintext), State::kOpen);
  EXPECT_EQ(server.received(), "EHLO x\r\n");

  server.Write("250 ok\r\n");
  EXPECT_EQ(server.Pump(channel, &plaintext), State::kOpen);
  EXPECT_EQ(plaintext, "250 ok\r\n");

  server.Shutdown();
  EXPECT_EQ(server.Pump(channel, &plaintext), State::kClosed);
  EXPECT_EQ(plaintext, "250 ok\r\n");
  EXPECT_TRUE(channel.facts().established);
}

TEST_F(ChannelTest, DataAndCloseNotifyInOneFeed) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen);

  server.Write("220 ready\r\n");
  server.Shutdown();
  std::string plaintext;
  EXPECT_EQ(channel.Feed(server.TakeCiphertext(), &plaintext), State::kClosed);
  EXPECT_EQ(plaintext, "220 ready\r\n");
}

TEST_F(ChannelTest, LargeReplyArrivesWhole) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen);
  std::string reply;
  for (int i = 0; reply.size() < 100000; ++i) {
    reply += absl::StrCat("250-line ", i, "\r\n");
  }
  server.Write(reply);
  std::string plaintext;
  EXPECT_EQ(server.Pump(channel, &plaintext), State::kOpen);
  EXPECT_EQ(plaintext, reply);
}

// TLS 1.3 KeyUpdate (RFC 8446 §4.6.3): the client answers with its own,
// which only works if its ciphertext is drained after SSL_read too.
TEST_F(ChannelTest, KeyUpdateFromServer) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen);
  ASSERT_EQ(SSL_key_update(server.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
  server.Write("220 after key update\r\n");
  std::string plaintext;
  EXPECT_EQ(server.Pump(channel, &plaintext), State::kOpen);
  EXPECT_EQ(plaintext, "220 after key update\r\n");
  ASSERT_TRUE(channel.Write("QUIT\r\n"));
  EXPECT_EQ(server.Pump(channel, &plaintext), State::kOpen);
  EXPECT_EQ(server.received(), "QUIT\r\n");
  EXPECT_THAT(server.error(), IsEmpty());
}

TEST_F(ChannelTest, TcpEofAfterOpenCloses) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen);
  std::string plaintext;
  EXPECT_EQ(channel.FeedEof(&plaintext), State::kClosed);
  EXPECT_THAT(plaintext, IsEmpty());
}

TEST_F(ChannelTest, FeedOfNothingIsHarmless) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost});
  std::string plaintext;
  channel.Start();
  EXPECT_EQ(channel.Feed(absl::string_view(), &plaintext), State::kHandshake);
  EXPECT_EQ(channel.Feed("", &plaintext), State::kHandshake);
  ASSERT_EQ(server.Pump(channel, &plaintext), State::kOpen);
  EXPECT_EQ(channel.Feed(absl::string_view(), &plaintext), State::kOpen);
  EXPECT_THAT(plaintext, IsEmpty());
  EXPECT_FALSE(channel.HasCiphertext());
}

// A sans-I/O channel must not care how TCP splits the stream.
TEST_F(ChannelTest, ServerBytesFedOneAtATime) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  server.set_feed_chunk(1);
  Channel channel(*trusted_, {.server_name = kHost});
  std::string plaintext;
  ASSERT_EQ(server.Handshake(channel, &plaintext), State::kOpen)
      << channel.facts().error;
  EXPECT_TRUE(channel.facts().verified);
  server.Write("250-mx\r\n250 ok\r\n");
  EXPECT_EQ(server.Pump(channel, &plaintext), State::kOpen);
  EXPECT_EQ(plaintext, "250-mx\r\n250 ok\r\n");
}

TEST_F(ChannelTest, TakeFactsMovesThemOut) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen);
  TlsFacts facts = channel.TakeFacts();
  EXPECT_TRUE(facts.established);
  EXPECT_EQ(facts.version, "TLSv1.3");
  EXPECT_EQ(facts.chain.size(), 1u);
}

// --- Verification: recorded, never refused ----------------------------------

TEST_F(ChannelTest, ExpiredLeafIsRecordedNotRefused) {
  KeyAndCert leaf = Leaf({.not_before = absl::Now() - absl::Hours(48),
                          .not_after = absl::Now() - absl::Hours(24)});
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  const TlsFacts& facts = channel.facts();
  EXPECT_FALSE(facts.verified);
  EXPECT_EQ(facts.verify_code, X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_THAT(facts.verify_errors,
              ElementsAre(VerifyErrorIs(0, X509_V_ERR_CERT_HAS_EXPIRED)));
  EXPECT_EQ(facts.verify_reason, "certificate has expired");
  EXPECT_THAT(facts.host_match, Optional(true));
}

TEST_F(ChannelTest, NotYetValidLeafIsRecordedNotRefused) {
  KeyAndCert leaf = Leaf({.not_before = absl::Now() + absl::Hours(24),
                          .not_after = absl::Now() + absl::Hours(48)});
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_FALSE(channel.facts().verified);
  EXPECT_EQ(channel.facts().verify_code, X509_V_ERR_CERT_NOT_YET_VALID);
  EXPECT_THAT(channel.facts().verify_errors,
              ElementsAre(VerifyErrorIs(0, X509_V_ERR_CERT_NOT_YET_VALID)));
}

TEST_F(ChannelTest, SelfSignedLeaf) {
  KeyAndCert self = MakeSelfSigned({});
  TestServer server({.leaf = &self});
  Channel channel(*trusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  const TlsFacts& facts = channel.facts();
  ASSERT_EQ(facts.chain.size(), 1u);
  EXPECT_TRUE(facts.chain[0].self_signed);
  EXPECT_EQ(facts.chain[0].subject, facts.chain[0].issuer);
  EXPECT_FALSE(facts.verified);
  EXPECT_EQ(facts.verify_code, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
  EXPECT_THAT(
      facts.verify_errors,
      Contains(VerifyErrorIs(0, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)));
  EXPECT_THAT(facts.host_match, Optional(true));
}

// ENGINEERING.md §2.2: with no trust anchor the callback sees 20 and then 21.
TEST_F(ChannelTest, NoTrustAnchorForTheLeaf) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  Channel channel(*untrusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  const TlsFacts& facts = channel.facts();
  EXPECT_FALSE(facts.verified);
  EXPECT_THAT(facts.verify_code,
              AnyOf(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                    X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE));
  EXPECT_THAT(
      facts.verify_errors,
      Contains(VerifyErrorIs(0, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)));
  EXPECT_THAT(facts.verify_errors[0].reason,
              HasSubstr("unable to get local issuer certificate"));
  EXPECT_THAT(facts.host_match, Optional(true));  // the name is still checked
}

TEST_F(ChannelTest, UntrustedRootInTheChain) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf, .chain = {ca_.cert()}});
  Channel channel(*untrusted_, {.server_name = kHost});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_FALSE(channel.facts().verified);
  EXPECT_THAT(channel.facts().verify_errors,
              Contains(VerifyErrorIs(1, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)));
}

// --- Names and SNI ----------------------------------------------------------

TEST_F(ChannelTest, WrongHostChainStillVerifies) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf, .chain = {ca_.cert()}});
  Channel channel(*trusted_, {.server_name = "other.example.test"});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_EQ(channel.facts().sni, "other.example.test");
  EXPECT_TRUE(channel.facts().verified);
  EXPECT_THAT(channel.facts().host_match, Optional(false));
}

// Host matching for a certificate with `san`, checked as `server_name`.
class HostMatchTest : public ChannelTest {
 protected:
  absl::optional<bool> HostMatch(std::string san,
                                 absl::string_view server_name) {
    KeyAndCert leaf =
        Leaf({.common_name = "wildcard test", .dns_names = {std::move(san)}});
    TestServer server({.leaf = &leaf});
    Channel channel(*trusted_, {.server_name = server_name});
    EXPECT_EQ(server.Handshake(channel), State::kOpen);
    EXPECT_TRUE(channel.facts().verified);
    return channel.facts().host_match;
  }
};

TEST_F(HostMatchTest, WildcardMatchesOneLabel) {
  EXPECT_THAT(HostMatch("*.mail.example.test", "mx.mail.example.test"),
              Optional(true));
}

TEST_F(HostMatchTest, WildcardDoesNotMatchTwoLabels) {
  EXPECT_THAT(HostMatch("*.mail.example.test", "a.b.mail.example.test"),
              Optional(false));
}

TEST_F(HostMatchTest, WildcardDoesNotMatchItsParent) {
  EXPECT_THAT(HostMatch("*.mail.example.test", "mail.example.test"),
              Optional(false));
}

// facts.h: "RFC 6125, no partial wildcards".
TEST_F(HostMatchTest, PartialWildcardDoesNotMatch) {
  EXPECT_THAT(HostMatch("mx*.example.test", "mx1.example.test"),
              Optional(false));
}

TEST_F(HostMatchTest, CaseDoesNotMatter) {
  EXPECT_THAT(HostMatch("mx.example.test", "MX.Example.TEST"), Optional(true));
}

TEST_F(ChannelTest, TrailingDotIsStrippedForSniAndName) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = "mx.example.test."});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_EQ(channel.facts().sni, "mx.example.test");
  EXPECT_THAT(server.sni(), Optional(std::string("mx.example.test")));
  EXPECT_THAT(channel.facts().host_match, Optional(true));
}

TEST_F(ChannelTest, IpLiteralSendsNoSniAndChecksNoName) {
  for (absl::string_view address : {"192.0.2.25", "2001:db8::25"}) {
    SCOPED_TRACE(address);
    KeyAndCert leaf = Leaf({.ip_addresses = {"192.0.2.25", "2001:db8::25"}});
    TestServer server({.leaf = &leaf});
    Channel channel(*trusted_, {.server_name = address});
    ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
    EXPECT_TRUE(server.servername_callback_ran());
    EXPECT_EQ(server.sni(), absl::nullopt);
    EXPECT_THAT(channel.facts().sni, IsEmpty());
    EXPECT_EQ(channel.facts().host_match, absl::nullopt);
    EXPECT_TRUE(channel.facts().verified);
  }
}

TEST_F(ChannelTest, EmptyNameSendsNoSniAndChecksNoName) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_TRUE(server.servername_callback_ran());
  EXPECT_EQ(server.sni(), absl::nullopt);
  EXPECT_THAT(channel.facts().sni, IsEmpty());
  EXPECT_EQ(channel.facts().host_match, absl::nullopt);
  EXPECT_TRUE(channel.facts().verified);
}

// --- Failed handshakes ------------------------------------------------------

TEST_F(ChannelTest, PlaintextReplyInsteadOfServerHello) {
  Channel channel(*trusted_, {.server_name = kHost});
  channel.Start();
  std::string hello, plaintext;
  channel.TakeCiphertext(&hello);
  EXPECT_EQ(channel.Feed("220 hello\r\n", &plaintext), State::kFailed);
  const TlsFacts& facts = channel.facts();
  EXPECT_FALSE(facts.established);
  EXPECT_THAT(facts.error, HasSubstr("wrong version number"));
  // How far it got: waiting for the ServerHello. SSL_state_string_long
  // says only "error" once the failure is recorded, so it must be taken
  // before that.
  EXPECT_EQ(facts.failed_state, "SSLv3/TLS write client hello");
  EXPECT_EQ(facts.bytes_received, 11u);
  EXPECT_THAT(plaintext, IsEmpty());
  std::string alert;
  channel.TakeCiphertext(&alert);  // may hold an alert: fine either way
}

TEST_F(ChannelTest, RandomBytesInsteadOfServerHello) {
  std::string garbage;
  uint32_t x = 12345;
  for (int i = 0; i < 300; ++i) {
    x = x * 1103515245 + 12345;
    garbage.push_back(static_cast<char>(x >> 24));
  }
  // A well-formed handshake record header (TLS 1.2, 295 bytes) around
  // random contents, so OpenSSL parses the body instead of waiting.
  garbage.replace(0, 5, std::string("\x16\x03\x03\x01\x27", 5));
  Channel channel(*trusted_, {.server_name = kHost});
  channel.Start();
  std::string out, plaintext;
  channel.TakeCiphertext(&out);
  EXPECT_EQ(channel.Feed(garbage, &plaintext), State::kFailed);
  EXPECT_FALSE(channel.facts().error.empty());
  EXPECT_FALSE(channel.facts().failed_state.empty());
  EXPECT_GT(channel.facts().bytes_received, 0u);
  EXPECT_FALSE(channel.facts().established);
}

TEST_F(ChannelTest, FatalAlertFromServer) {
  Channel channel(*trusted_, {.server_name = kHost});
  channel.Start();
  std::string out, plaintext;
  channel.TakeCiphertext(&out);
  // An alert record: TLS 1.2, length 2, fatal(2) handshake_failure(40).
  const std::string alert("\x15\x03\x03\x00\x02\x02\x28", 7);
  EXPECT_EQ(channel.Feed(alert, &plaintext), State::kFailed);
  EXPECT_THAT(channel.facts().alert, HasSubstr("handshake failure"));
  EXPECT_THAT(channel.facts().alert, HasSubstr("received"));
  EXPECT_THAT(channel.facts().error, HasSubstr("handshake failure"));
  EXPECT_EQ(channel.facts().failed_state, "SSLv3/TLS write client hello");
  EXPECT_EQ(channel.facts().bytes_received, 7u);
}

TEST_F(ChannelTest, EofRightAfterClientHello) {
  Channel channel(*trusted_, {.server_name = kHost});
  channel.Start();
  std::string out, plaintext;
  channel.TakeCiphertext(&out);
  EXPECT_EQ(channel.FeedEof(&plaintext), State::kFailed);
  EXPECT_TRUE(SaysClosed(channel.facts().error)) << channel.facts().error;
  EXPECT_EQ(channel.facts().failed_state, "SSLv3/TLS write client hello");
  EXPECT_EQ(channel.facts().bytes_received, 0u);
  EXPECT_FALSE(channel.facts().established);
}

TEST_F(ChannelTest, EofInTheMiddleOfTheServerFlight) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost});
  channel.Start();
  std::string hello, plaintext;
  channel.TakeCiphertext(&hello);
  ASSERT_EQ(BIO_write(SSL_get_rbio(server.ssl()), hello.data(),
                      static_cast<int>(hello.size())),
            static_cast<int>(hello.size()));
  SSL_do_handshake(server.ssl());
  const std::string flight = server.TakeCiphertext();
  ASSERT_GT(flight.size(), 20u);
  EXPECT_EQ(channel.Feed(flight.substr(0, 20), &plaintext), State::kHandshake);
  EXPECT_EQ(channel.FeedEof(&plaintext), State::kFailed);
  EXPECT_TRUE(SaysClosed(channel.facts().error)) << channel.facts().error;
  EXPECT_EQ(channel.facts().bytes_received, 20u);
}

// --- DANE (RFC 7672) --------------------------------------------------------

TEST_F(ChannelTest, NoDaneOptionIsNotChecked) {
  KeyAndCert leaf = Leaf();
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost, .dane = nullptr});
  ASSERT_EQ(server.Handshake(channel), State::kOpen);
  EXPECT_EQ(channel.facts().dane.verdict, DaneVerdict::kNotChecked);
}

// DANE-EE authenticates a server the trust store knows nothing of; the PKIX
// facts still describe the chain against the store alone.
TEST_F(ChannelTest, DaneEeMatchWithoutTrustAnchor) {
  KeyAndCert leaf = Leaf();
  KeyAndCert stranger = Leaf();
  const DaneResult dane =
      AuthenticatedDane({Tlsa(3, 1, 1, SpkiSha256(stranger.cert.get())),
                         Tlsa(3, 1, 1, SpkiSha256(leaf.cert.get()))});
  TestServer server({.leaf = &leaf});
  Channel channel(*untrusted_, {.server_name = kHost, .dane = &dane});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;

  const TlsFacts& facts = channel.facts();
  EXPECT_EQ(facts.dane.verdict, DaneVerdict::kMatch);
  EXPECT_EQ(facts.dane.matched_record, 1);
  EXPECT_EQ(facts.dane.matched_depth, 0);
  EXPECT_EQ(facts.dane.records, dane.records);
  EXPECT_EQ(facts.dane.tlsa_name, dane.tlsa_name);
  EXPECT_EQ(facts.dane.dns_status, "NOERROR");
  EXPECT_TRUE(facts.dane.authenticated);
  EXPECT_FALSE(facts.verified);
  EXPECT_THAT(
      facts.verify_errors,
      Contains(VerifyErrorIs(0, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)));
  EXPECT_THAT(facts.host_match, Optional(true));
}

TEST_F(ChannelTest, DaneEeFullCertificateMatch) {
  KeyAndCert leaf = Leaf();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ASSERT_EQ(X509_digest(leaf.cert.get(), EVP_sha256(), md, &len), 1);
  const DaneResult dane = AuthenticatedDane(
      {Tlsa(3, 0, 1, std::string(reinterpret_cast<char*>(md), len))});
  TestServer server({.leaf = &leaf});
  Channel channel(*untrusted_, {.server_name = kHost, .dane = &dane});
  ASSERT_EQ(server.Handshake(channel), State::kOpen);
  EXPECT_EQ(channel.facts().dane.verdict, DaneVerdict::kMatch);
  EXPECT_EQ(channel.facts().dane.matched_record, 0);
  EXPECT_EQ(channel.facts().dane.matched_depth, 0);
}

// RFC 7672 §3.1.1: no name checks for DANE-EE(3).
TEST_F(ChannelTest, DaneEeMatchIgnoresTheName) {
  KeyAndCert leaf = Leaf();
  const DaneResult dane =
      AuthenticatedDane({Tlsa(3, 1, 1, SpkiSha256(leaf.cert.get()))});
  TestServer server({.leaf = &leaf});
  Channel channel(*untrusted_,
                  {.server_name = "other.example.test", .dane = &dane});
  ASSERT_EQ(server.Handshake(channel), State::kOpen);
  EXPECT_EQ(channel.facts().dane.verdict, DaneVerdict::kMatch);
  EXPECT_EQ(channel.facts().dane.matched_depth, 0);
  EXPECT_THAT(channel.facts().host_match, Optional(false));
}

TEST_F(ChannelTest, DaneEeWrongData) {
  KeyAndCert leaf = Leaf();
  KeyAndCert stranger = Leaf();
  const DaneResult dane =
      AuthenticatedDane({Tlsa(3, 1, 1, SpkiSha256(stranger.cert.get()))});
  TestServer server({.leaf = &leaf, .chain = {ca_.cert()}});
  Channel channel(*trusted_, {.server_name = kHost, .dane = &dane});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;

  const TlsFacts& facts = channel.facts();
  EXPECT_EQ(facts.dane.verdict, DaneVerdict::kNoMatch);
  EXPECT_EQ(facts.dane.matched_record, -1);
  EXPECT_EQ(facts.dane.matched_depth, -1);
  // The store trusts this chain: PKIX says so whatever DANE said (no
  // X509_V_ERR_DANE_NO_MATCH among the PKIX errors).
  EXPECT_TRUE(facts.verified);
  EXPECT_THAT(facts.verify_errors, IsEmpty());
  EXPECT_THAT(facts.host_match, Optional(true));
}

TEST_F(ChannelTest, DaneTaMatchesTheCaInTheChain) {
  KeyAndCert leaf = Leaf();
  const DaneResult dane =
      AuthenticatedDane({Tlsa(3, 1, 1, SpkiSha256(other_ca_.cert())),
                         Tlsa(2, 1, 1, SpkiSha256(ca_.cert()))});
  TestServer server({.leaf = &leaf, .chain = {ca_.cert()}});
  Channel channel(*untrusted_, {.server_name = kHost, .dane = &dane});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;

  const TlsFacts& facts = channel.facts();
  EXPECT_EQ(facts.dane.verdict, DaneVerdict::kMatch);
  EXPECT_EQ(facts.dane.matched_record, 1);
  EXPECT_EQ(facts.dane.matched_depth, 1);
  EXPECT_FALSE(facts.verified);
  EXPECT_THAT(facts.verify_errors,
              Contains(VerifyErrorIs(1, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)));
}

// SSL_CTX_dane_enable(3): SMTP clients use only DANE-TA(2) and DANE-EE(3).
TEST_F(ChannelTest, DaneOnlyPkixUsagesAreUnusable) {
  KeyAndCert leaf = Leaf();
  const DaneResult dane =
      AuthenticatedDane({Tlsa(0, 1, 1, SpkiSha256(ca_.cert())),
                         Tlsa(1, 1, 1, SpkiSha256(leaf.cert.get()))});
  TestServer server({.leaf = &leaf, .chain = {ca_.cert()}});
  Channel channel(*trusted_, {.server_name = kHost, .dane = &dane});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_EQ(channel.facts().dane.verdict, DaneVerdict::kNoUsableRecords);
  EXPECT_EQ(channel.facts().dane.matched_record, -1);
  EXPECT_TRUE(channel.facts().verified);
  EXPECT_THAT(channel.facts().verify_errors, IsEmpty());
}

// PKIX-EE(1) beside a DANE-EE(3) record must not be handed to OpenSSL: it
// would match this chain (the store trusts it) and hide the DANE failure.
TEST_F(ChannelTest, DanePkixRecordIgnoredBesideUsableOnes) {
  KeyAndCert leaf = Leaf();
  KeyAndCert stranger = Leaf();
  const DaneResult dane =
      AuthenticatedDane({Tlsa(1, 1, 1, SpkiSha256(leaf.cert.get())),
                         Tlsa(3, 1, 1, SpkiSha256(stranger.cert.get()))});
  TestServer server({.leaf = &leaf, .chain = {ca_.cert()}});
  Channel channel(*trusted_, {.server_name = kHost, .dane = &dane});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_EQ(channel.facts().dane.verdict, DaneVerdict::kNoMatch);
  EXPECT_EQ(channel.facts().dane.matched_record, -1);
  EXPECT_TRUE(channel.facts().verified);
}

// A SHA-256 association of the wrong length: SSL_dane_tlsa_add returns 0.
TEST_F(ChannelTest, DaneMalformedRecordIsUnusable) {
  KeyAndCert leaf = Leaf();
  const DaneResult dane = AuthenticatedDane({Tlsa(3, 1, 1, "short")});
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost, .dane = &dane});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_EQ(channel.facts().dane.verdict, DaneVerdict::kNoUsableRecords);
  EXPECT_TRUE(channel.facts().verified);
}

// Without the AD bit the records must not be used (RFC 7672 §2.2): a wrong
// record would otherwise fail verification with X509_V_ERR_DANE_NO_MATCH.
TEST_F(ChannelTest, DaneNotAuthenticatedIsNotUsed) {
  KeyAndCert leaf = Leaf();
  KeyAndCert stranger = Leaf();
  DaneResult dane =
      AuthenticatedDane({Tlsa(3, 1, 1, SpkiSha256(stranger.cert.get()))});
  dane.authenticated = false;
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost, .dane = &dane});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_EQ(channel.facts().dane.verdict, DaneVerdict::kNotAuthenticated);
  EXPECT_EQ(channel.facts().dane.matched_record, -1);
  EXPECT_FALSE(channel.facts().dane.authenticated);
  EXPECT_TRUE(channel.facts().verified);
  EXPECT_EQ(channel.facts().verify_code, X509_V_OK);
  EXPECT_THAT(channel.facts().verify_errors, IsEmpty());
}

// channel.h: "the verdict is in facts().dane either way".
TEST_F(ChannelTest, DaneLookupOutcomeIsCarriedThrough) {
  KeyAndCert leaf = Leaf();
  DaneResult dane;
  dane.verdict = DaneVerdict::kNoRecords;
  dane.tlsa_name = "_25._tcp.mx.example.test";
  dane.dns_status = "NXDOMAIN";
  TestServer server({.leaf = &leaf});
  Channel channel(*trusted_, {.server_name = kHost, .dane = &dane});
  ASSERT_EQ(server.Handshake(channel), State::kOpen) << channel.facts().error;
  EXPECT_EQ(channel.facts().dane.verdict, DaneVerdict::kNoRecords);
  EXPECT_EQ(channel.facts().dane.dns_status, "NXDOMAIN");
  EXPECT_TRUE(channel.facts().verified);
}

}  // namespace
}  // namespace smtpscan::tls
