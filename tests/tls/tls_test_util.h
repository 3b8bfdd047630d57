// Test scaffolding for the TLS layer: certificates made at test time with
// the OpenSSL 3.0 API, and an in-process TLS server over two memory BIOs
// that a tls::Channel talks to (STYLE.md: "TLS client and server in one
// process over memory BIOs with certificates made at test time").
//
//   TestCa ca;                                   // EC P-256 root, PEM file
//   KeyAndCert leaf = ca.Issue({.dns_names = {"mx.example.test"}});
//   TestServer server({.leaf = &leaf, .chain = {ca.cert()}});
//   Channel channel(*context, {.server_name = "mx.example.test"});
//   server.Handshake(channel);                   // Start() + Pump()
//
// Nothing here touches a socket or the network.
#ifndef SMTPSCAN_TESTS_TLS_TLS_TEST_UTIL_H_
#define SMTPSCAN_TESTS_TLS_TLS_TEST_UTIL_H_

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gtest/gtest.h"
#include "tls/channel.h"
#include "tls/context.h"
#include "tls/facts.h"

namespace smtpscan::tls {

// Readable gtest output for the channel's enums and errors.
inline void PrintTo(Channel::State state, std::ostream* os) {
  switch (state) {
    case Channel::State::kHandshake:
      *os << "kHandshake";
      return;
    case Channel::State::kOpen:
      *os << "kOpen";
      return;
    case Channel::State::kFailed:
      *os << "kFailed";
      return;
    case Channel::State::kClosed:
      *os << "kClosed";
      return;
  }
  *os << "State(" << static_cast<int>(state) << ")";
}
inline void PrintTo(DaneVerdict verdict, std::ostream* os) {
  *os << DaneVerdictName(verdict);
}
inline void PrintTo(const VerifyError& e, std::ostream* os) {
  *os << "{depth " << e.depth << ", code " << e.code << " \"" << e.reason
      << "\"}";
}

namespace test {

struct OpenSslFree {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
  void operator()(SSL* p) const { SSL_free(p); }
};
using X509Ptr = std::unique_ptr<X509, OpenSslFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslFree>;
using SslPtr = std::unique_ptr<SSL, OpenSslFree>;

// The OpenSSL error queue as one line (for failure messages); drains it.
inline std::string DrainOpenSslErrors() {
  std::vector<std::string> parts;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    parts.emplace_back(buf);
  }
  return absl::StrJoin(parts, "; ");
}

enum class KeyKind { kEcP256, kRsa2048, kRsa1024, kEd25519 };

// A fresh key. RSA keys are slow to make, so those are made once per kind
// and shared (a new reference each call); EC and Ed25519 keys are new.
inline PkeyPtr MakeKey(KeyKind kind) {
  static EVP_PKEY* rsa2048 = nullptr;
  static EVP_PKEY* rsa1024 = nullptr;
  EVP_PKEY* key = nullptr;
  switch (kind) {
    case KeyKind::kEcP256:
      key = EVP_EC_gen("P-256");
      break;
    case KeyKind::kEd25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case KeyKind::kRsa2048:
      if (rsa2048 == nullptr) rsa2048 = EVP_RSA_gen(2048);
      key = rsa2048;
      if (key != nullptr) EVP_PKEY_up_ref(key);
      break;
    case KeyKind::kRsa1024:
      if (rsa1024 == nullptr) rsa1024 = EVP_RSA_gen(1024);
      key = rsa1024;
      if (key != nullptr) EVP_PKEY_up_ref(key);
      break;
  }
  EXPECT_NE(key, nullptr) << DrainOpenSslErrors();
  return PkeyPtr(key);
}

// What a test certificate looks like. Defaults: a leaf for
// mx.example.test, EC P-256, SHA-256, valid from an hour ago for a year.
struct CertSpec {
  // Subject: "O=<organization>, CN=<common_name>" (O omitted when empty).
  std::string common_name = "mx.example.test";
  std::string organization = {};
  std::vector<std::string> dns_names = {"mx.example.test"};
  std::vector<std::string> ip_addresses = {};  // "192.0.2.25", "2001:db8::25"
  KeyKind key = KeyKind::kEcP256;
  bool sha1 = false;  // sign with SHA-1 instead of SHA-256
  absl::Time not_before =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now() - absl::Hours(1)));
  absl::Time not_after = absl::FromUnixSeconds(
      absl::ToUnixSeconds(absl::Now() + absl::Hours(24 * 365)));
  bool is_ca = false;  // basicConstraints CA:TRUE, keyUsage keyCertSign
};

struct KeyAndCert {
  PkeyPtr key;
  X509Ptr cert;
};

namespace internal {

inline bool AddExtension(X509* cert, X509* issuer, int nid,
                         const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

}  // namespace internal

// Builds a certificate for `subject_key` as `spec` says, issued by `issuer`
// (its subject becomes our issuer name; nullptr: self-issued) and signed
// with `signing_key`. A self-signed certificate passes the same key twice
// and issuer nullptr; a different `signing_key` with issuer nullptr gives a
// self-issued certificate whose signature does not check.
inline X509Ptr BuildCertificate(const CertSpec& spec, EVP_PKEY* subject_key,
                                X509* issuer, EVP_PKEY* signing_key) {
  static long serial = 1000;
  X509Ptr cert(X509_new());
  X509* x = cert.get();
  bool ok = X509_set_version(x, X509_VERSION_3) == 1 &&
            ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial) == 1 &&
            ASN1_TIME_set(X509_getm_notBefore(x),
                          absl::ToTimeT(spec.not_before)) != nullptr &&
            ASN1_TIME_set(X509_getm_notAfter(x),
                          absl::ToTimeT(spec.not_after)) != nullptr &&
            X509_set_pubkey(x, subject_key) == 1;
  X509_NAME* name = X509_get_subject_name(x);
  if (!spec.organization.empty()) {
    ok = ok &&
         X509_NAME_add_entry_by_txt(
             name, "O", MBSTRING_UTF8,
             reinterpret_cast<const unsigned char*>(spec.organization.c_str()),
             -1, -1, 0) == 1;
  }
  ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                        reinterpret_cast<const unsigned char*>(
                                            spec.common_name.c_str()),
                                        -1, -1, 0) == 1;
  ok = ok &&
       X509_set_issuer_name(
           x, issuer != nullptr ? X509_get_subject_name(issuer) : name) == 1;
  if (spec.is_ca) {
    ok = ok &&
         internal::AddExtension(x, issuer, NID_basic_constraints,
                                "critical,CA:TRUE") &&
         internal::AddExtension(x, issuer, NID_key_usage,
                                "critical,keyCertSign,cRLSign");
  } else {
    ok = ok &&
         internal::AddExtension(x, issuer, NID_basic_constraints, "CA:FALSE");
  }
  std::vector<std::string> sans;
  for (const std::string& dns : spec.dns_names) sans.push_back("DNS:" + dns);
  for (const std::string& ip : spec.ip_addresses) sans.push_back("IP:" + ip);
  if (!sans.empty()) {
    ok = ok && internal::AddExtension(x, issuer, NID_subject_alt_name,
                                      absl::StrJoin(sans, ","));
  }
  // Ed25519 signs without a separate digest.
  const EVP_MD* md = nullptr;
  if (EVP_PKEY_get_id(signing_key) != EVP_PKEY_ED25519) {
    md = spec.sha1 ? EVP_sha1() : EVP_sha256();
  }
  ok = ok && X509_sign(x, signing_key, md) > 0;
  EXPECT_TRUE(ok) << "cannot build certificate " << spec.common_name << ": "
                  << DrainOpenSslErrors();
  return cert;
}

inline KeyAndCert MakeSelfSigned(const CertSpec& spec) {
  KeyAndCert out;
  out.key = MakeKey(spec.key);
  out.cert = BuildCertificate(spec, out.key.get(), nullptr, out.key.get());
  return out;
}

inline std::string TempPath(absl::string_view name) {
  static int counter = 0;
  return absl::StrCat(::testing::TempDir(), "tls_test_", getpid(), "_",
                      ++counter, "_", name);
}

inline void WritePem(const std::string& path, X509* cert) {
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  EXPECT_EQ(PEM_write_X509(f, cert), 1);
  fclose(f);
}

// A root CA: EC P-256, subject "O=smtpscan tests, CN=<name>" (RFC 2253:
// "CN=<name>,O=smtpscan tests"), written to a PEM file for ContextOptions.
class TestCa {
 public:
  explicit TestCa(std::string name = "smtpscan test CA") {
    CertSpec spec;
    spec.common_name = std::move(name);
    spec.organization = "smtpscan tests";
    spec.dns_names.clear();
    spec.is_ca = true;
    spec.not_before = absl::FromUnixSeconds(
        absl::ToUnixSeconds(absl::Now() - absl::Hours(24)));
    spec.not_after = spec.not_before + absl::Hours(24 * 3650);
    ca_ = MakeSelfSigned(spec);
    pem_path_ = TempPath("ca.pem");
    WritePem(pem_path_, ca_.cert.get());
  }
  ~TestCa() { unlink(pem_path_.c_str()); }

  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  // A certificate with a fresh key (spec.key), signed by this CA.
  KeyAndCert Issue(const CertSpec& spec) const {
    KeyAndCert out;
    out.key = MakeKey(spec.key);
    out.cert =
        BuildCertificate(spec, out.key.get(), ca_.cert.get(), ca_.key.get());
    return out;
  }

  X509* cert() const { return ca_.cert.get(); }
  EVP_PKEY* key() const { return ca_.key.get(); }
  const std::string& pem_path() const { return pem_path_; }

 private:
  KeyAndCert ca_;
  std::string pem_path_;
};

// A scanner context trusting only the CA in `ca_file`; nullptr (and a test
// failure) when it cannot be made.
inline std::unique_ptr<Context> MakeContext(const std::string& ca_file) {
  absl::StatusOr<std::unique_ptr<Context>> context =
      Context::Create(ContextOptions{.ca_file = ca_file});
  EXPECT_TRUE(context.ok()) << context.status();
  if (!context.ok()) return nullptr;
  return *std::move(context);
}

inline std::string Sha256(absl::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(
      EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr), 1);
  return std::string(reinterpret_cast<char*>(md), len);
}

// SHA-256 of the DER certificate, lower-case hex (X509_digest).
inline std::string CertSha256Hex(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(X509_digest(cert, EVP_sha256(), md, &len), 1);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<char*>(md), len));
}

// SHA-256 of the DER SubjectPublicKeyInfo, binary: the data of a TLSA
// "3 1 1" (or "2 1 1") record.
inline std::string SpkiSha256(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  EXPECT_GT(len, 0);
  std::string digest =
      Sha256(absl::string_view(reinterpret_cast<char*>(der), len));
  OPENSSL_free(der);
  return digest;
}
inline std::string SpkiSha256Hex(X509* cert) {
  return absl::BytesToHexString(SpkiSha256(cert));
}

inline absl::Time NotBefore(X509* cert) {
  struct tm tm = {};
  EXPECT_EQ(ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm), 1);
  return absl::FromTM(tm, absl::UTCTimeZone());
}
inline absl::Time NotAfter(X509* cert) {
  struct tm tm = {};
  EXPECT_EQ(ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm), 1);
  return absl::FromTM(tm, absl::UTCTimeZone());
}

struct ServerConfig {
  const KeyAndCert* leaf = nullptr;  // REQUIRED; must outlive the server
  // Sent after the leaf, in order (e.g. the CA). Empty: the leaf alone.
  std::vector<X509*> chain = {};
  int min_version = 0;  // 0: OpenSSL's default (TLS1_VERSION, ...)
  int max_version = 0;
  // Security level 0 and "DEFAULT:@SECLEVEL=0": old protocols, RSA-1024
  // and SHA-1 certificates (the server refuses them otherwise).
  bool legacy = false;
  std::string ciphers = {};  // TLS 1.2 and older; empty: OpenSSL's default
  std::string groups = {};   // e.g. "P-384"; empty: OpenSSL's default
  // Send a CertificateRequest (the client may answer with no certificate).
  bool request_client_cert = false;
};

// An OpenSSL server over two memory BIOs, driven by Pump().
class TestServer {
 public:
  // Bounds Pump(): a handshake takes a handful of rounds.
  static constexpr int kMaxRounds = 100;

  explicit TestServer(const ServerConfig& config) {
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX* ctx = ctx_.get();
    // Only the chain we configure is sent: no building from a store.
    SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
    // DHE suites need parameters; "auto" picks them by the key size.
    SSL_CTX_set_dh_auto(ctx, 1);
    if (config.legacy) {
      SSL_CTX_set_security_level(ctx, 0);
      EXPECT_EQ(SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0"), 1);
    }
    if (!config.ciphers.empty()) {
      EXPECT_EQ(SSL_CTX_set_cipher_list(ctx, config.ciphers.c_str()), 1);
    }
    if (!config.groups.empty()) {
      EXPECT_EQ(SSL_CTX_set1_groups_list(ctx, config.groups.c_str()), 1);
    }
    if (config.request_client_cert) {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER,
                         [](int, X509_STORE_CTX*) { return 1; });
    }
    if (config.min_version != 0) {
      EXPECT_EQ(SSL_CTX_set_min_proto_version(ctx, config.min_version), 1);
    }
    if (config.max_version != 0) {
      EXPECT_EQ(SSL_CTX_set_max_proto_version(ctx, config.max_version), 1);
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, &TestServer::OnServerName);
    SSL_CTX_set_tlsext_servername_arg(ctx, this);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx, config.leaf->cert.get()), 1)
        << DrainOpenSslErrors();
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx, config.leaf->key.get()), 1)
        << DrainOpenSslErrors();
    for (X509* extra : config.chain) {
      EXPECT_EQ(SSL_CTX_add1_chain_cert(ctx, extra), 1) << DrainOpenSslErrors();
    }
    ssl_.reset(SSL_new(ctx));
    rbio_ = BIO_new(BIO_s_mem());
    wbio_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_.get(), rbio_, wbio_);
    SSL_set_accept_state(ssl_.get());
  }

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // channel.Start(), then Pump(). Returns the channel's state.
  Channel::State Handshake(Channel& channel, std::string* plaintext = nullptr) {
    std::string ignored;
    if (plaintext == nullptr) plaintext = &ignored;
    channel.Start();
    return Pump(channel, plaintext);
  }

  // Moves ciphertext both ways until neither side has anything to send
  // (or kMaxRounds). The server handshakes, then reads application data
  // into received(). The channel's plaintext is appended to *plaintext.
  // Bytes are not fed to a channel that has failed or closed.
  Channel::State Pump(Channel& channel, std::string* plaintext) {
    for (int round = 0; round < kMaxRounds; ++round) {
      std::string to_server;
      channel.TakeCiphertext(&to_server);
      if (!to_server.empty()) {
        EXPECT_EQ(BIO_write(rbio_, to_server.data(),
                            static_cast<int>(to_server.size())),
                  static_cast<int>(to_server.size()));
      }
      Drive();
      std::string to_client = TakeCiphertext();
      const bool channel_live = channel.state() == Channel::State::kHandshake ||
                                channel.state() == Channel::State::kOpen;
      if (!to_client.empty() && channel_live) {
        // In pieces of at most feed_chunk_ bytes (a sans-I/O channel must
        // not care how TCP split the stream).
        absl::string_view rest = to_client;
        while (!rest.empty() &&
               (channel.state() == Channel::State::kHandshake ||
                channel.state() == Channel::State::kOpen)) {
          const size_t n = std::min(rest.size(), feed_chunk_);
          channel.Feed(rest.substr(0, n), plaintext);
          rest.remove_prefix(n);
        }
      }
      if (to_server.empty() && (to_client.empty() || !channel_live)) {
        return channel.state();
      }
    }
    ADD_FAILURE() << "Pump: no quiescence after " << kMaxRounds << " rounds";
    return channel.state();
  }

  // Pump() feeds the channel at most `bytes` per Feed() call.
  void set_feed_chunk(size_t bytes) { feed_chunk_ = bytes; }

  // Sends application data to the client (after the handshake).
  void Write(absl::string_view data) {
    ERR_clear_error();
    EXPECT_EQ(SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size())),
              static_cast<int>(data.size()))
        << DrainOpenSslErrors();
  }

  // Sends close_notify.
  void Shutdown() {
    ERR_clear_error();
    EXPECT_GE(SSL_shutdown(ssl_.get()), 0) << DrainOpenSslErrors();
  }

  // Ciphertext the server produced since the last call (its wbio).
  std::string TakeCiphertext() {
    std::string out;
    char buf[4096];
    int n;
    while ((n = BIO_read(wbio_, buf, sizeof(buf))) > 0) out.append(buf, n);
    return out;
  }

  SSL* ssl() const { return ssl_.get(); }
  bool handshake_done() const { return SSL_is_init_finished(ssl_.get()); }
  // Application data the server read from the client.
  const std::string& received() const { return received_; }
  // SNI seen in the ClientHello; nullopt: the client sent none.
  const absl::optional<std::string>& sni() const { return sni_; }
  bool servername_callback_ran() const { return servername_callback_ran_; }
  // OpenSSL's reason when the server's handshake failed; empty otherwise.
  const std::string& error() const { return error_; }

 private:
  static int OnServerName(SSL* ssl, int* /*alert*/, void* arg) {
    auto* self = static_cast<TestServer*>(arg);
    self->servername_callback_ran_ = true;
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name != nullptr) self->sni_ = name;
    return SSL_TLSEXT_ERR_OK;
  }

  void Drive() {
    if (!error_.empty()) return;
    ERR_clear_error();
    if (!SSL_is_init_finished(ssl_.get())) {
      const int rc = SSL_do_handshake(ssl_.get());
      if (rc != 1) {
        NoteError(rc);
        return;
      }
    }
    char buf[4096];
    for (;;) {
      const int n = SSL_read(ssl_.get(), buf, sizeof(buf));
      if (n <= 0) {
        NoteError(n);
        return;
      }
      received_.append(buf, n);
    }
  }

  void NoteError(int rc) {
    const int err = SSL_get_error(ssl_.get(), rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ||
        err == SSL_ERROR_ZERO_RETURN) {
      return;
    }
    error_ = DrainOpenSslErrors();
    if (error_.empty()) error_ = absl::StrCat("SSL_get_error ", err);
  }

  SslCtxPtr ctx_;
  SslPtr ssl_;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  std::string received_;
  absl::optional<std::string> sni_;
  bool servername_callback_ran_ = false;
  size_t feed_chunk_ = SIZE_MAX;
  std::string error_;
};

}  // namespace test
}  // namespace smtpscan::tls

#endif  // SMTPSCAN_TESTS_TLS_TLS_TEST_UTIL_H_
