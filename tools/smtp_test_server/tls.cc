#include "tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>

namespace smtpscan::test_server {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

// `what` and the first queued OpenSSL error, which it drains.
std::string OpensslError(const std::string& what) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return what;
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return what + ": " + text;
}

// A self-signed certificate for `hostname` (CN and one DNS SAN) over `key`,
// signed with `md`.
X509Ptr SelfSigned(EVP_PKEY* key, const EVP_MD* md,
                   const std::string& hostname) {
  X509Ptr x(X509_new());
  if (!x) return nullptr;
  std::uint64_t serial = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof(serial)) !=
      1) {
    return nullptr;
  }
  serial >>= 1;  // a positive INTEGER of at most 63 bits
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  GENERAL_NAME* dns = GENERAL_NAME_new();
  ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
  bool ok = names != nullptr && dns != nullptr && ia5 != nullptr &&
            ASN1_STRING_set(ia5, hostname.data(),
                            static_cast<int>(hostname.size())) == 1;
  if (ok) {
    GENERAL_NAME_set0_value(dns, GEN_DNS, ia5);
    ia5 = nullptr;
    ok = sk_GENERAL_NAME_push(names, dns) > 0;
    if (ok) dns = nullptr;
  }
  X509_NAME* subject = X509_get_subject_name(x.get());
  ok = ok && X509_set_version(x.get(), X509_VERSION_3) == 1 &&
       ASN1_INTEGER_set_uint64(X509_get_serialNumber(x.get()), serial) == 1 &&
       X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600) != nullptr &&
       X509_gmtime_adj(X509_getm_notAfter(x.get()), 10L * 365 * 86400) !=
           nullptr &&
       X509_set_pubkey(x.get(), key) == 1 &&
       X509_NAME_add_entry_by_txt(
           subject, "CN", MBSTRING_ASC,
           reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1,
           0) == 1 &&
       X509_set_issuer_name(x.get(), subject) == 1 &&
       X509_add1_ext_i2d(x.get(), NID_subject_alt_name, names, 0,
                         X509V3_ADD_DEFAULT) == 1 &&
       X509_sign(x.get(), key, md) > 0;
  ASN1_IA5STRING_free(ia5);
  GENERAL_NAME_free(dns);
  GENERAL_NAMES_free(names);
  return ok ? std::move(x) : nullptr;
}

// A server context with the settings every profile shares.
SslCtxPtr NewServerContext() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return nullptr;
  // No resumption: every client is new, and tickets cost a write and CPU
  // per handshake. A client's EOF without close_notify is a plain EOF.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  // RELEASE_BUFFERS: an idle connection holds no 16 KiB record buffers.
  // PARTIAL_WRITE and MOVING_WRITE_BUFFER: SSL_write behaves like send(),
  // and a retry may pass the same bytes from a moved std::string.
  // NO_AUTO_CHAIN: send the chain as loaded; without it OpenSSL builds a
  // chain for a certificate without extra certs (the generated ones) with
  // X509_verify_cert on every handshake.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS |
                                  SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_NO_AUTO_CHAIN);
  // Read-ahead: one recv() takes every record queued, instead of a header
  // read and a body read per record. The server then loops SSL_read until
  // WANT_READ, since epoll cannot see bytes buffered inside the SSL.
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  return ctx;
}

bool UseGenerated(SSL_CTX* ctx, EVP_PKEY* key, const EVP_MD* md,
                  const std::string& hostname, std::string* error) {
  if (key == nullptr) {
    *error = OpensslError("key generation failed");
    return false;
  }
  X509Ptr cert = SelfSigned(key, md, hostname);
  if (!cert) {
    *error = OpensslError("certificate generation failed");
    return false;
  }
  if (SSL_CTX_use_certificate(ctx, cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key) != 1) {
    *error = OpensslError("cannot use the generated certificate");
    return false;
  }
  return true;
}

}  // namespace

void SslCtxFree::operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }

SslCtxPtr MakeModernContext(const std::string& cert_file,
                            const std::string& key_file,
                            const std::string& hostname, std::string* error) {
  SslCtxPtr ctx = NewServerContext();
  if (!ctx) {
    *error = OpensslError("SSL_CTX_new failed");
    return nullptr;
  }
  if (cert_file.empty() != key_file.empty()) {
    *error = "--tls-cert and --tls-key go together";
    return nullptr;
  }
  if (!cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
      *error = OpensslError("cannot load --tls-cert " + cert_file);
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      *error = OpensslError("cannot use --tls-key " + key_file);
      return nullptr;
    }
    return ctx;
  }
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!UseGenerated(ctx.get(), key.get(), EVP_sha256(), hostname, error)) {
    return nullptr;
  }
  return ctx;
}

SslCtxPtr MakeLegacyContext(const std::string& hostname, std::string* error) {
  SslCtxPtr ctx = NewServerContext();
  if (!ctx) {
    *error = OpensslError("SSL_CTX_new failed");
    return nullptr;
  }
  // The level first: at Debian's default level 2, SSL_CTX_use_certificate
  // refuses an RSA-1024 key ("ee key too small").
  SSL_CTX_set_security_level(ctx.get(), 0);
  if (SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0") != 1 ||
      SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx.get(), TLS1_VERSION) != 1) {
    *error = OpensslError("cannot restrict the legacy context to TLS 1.0");
    return nullptr;
  }
  PkeyPtr key(EVP_RSA_gen(1024));
  if (!UseGenerated(ctx.get(), key.get(), EVP_sha1(), hostname, error)) {
    return nullptr;
  }
  return ctx;
}

}  // namespace smtpscan::test_server
