#include "tls/context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fstream>

#include "absl/strings/str_cat.h"

namespace smtpscan::tls {
namespace {

std::string LastOpenSslError() {
  const unsigned long code = ERR_get_error();  // NOLINT(runtime/int): API
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

}  // namespace

absl::StatusOr<std::unique_ptr<Context>> Context::Create(
    const ContextOptions& options) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot create the TLS context: ", LastOpenSslError()));
  }
  std::unique_ptr<Context> context(new Context(ctx));
  // ENGINEERING.md §2.2: Debian builds with security level 2, which refuses
  // TLS 1.0/1.1 and small keys; a scanner must record those servers.
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_min_proto_version(ctx, 0);  // the lowest compiled in
  SSL_CTX_set_max_proto_version(ctx, 0);  // the highest
  // Every cipher OpenSSL has, for TLS 1.2 and older; TLS 1.3 suites keep
  // OpenSSL's default list (all of them are enabled).
  SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
  SSL_CTX_set_options(ctx, SSL_OP_LEGACY_SERVER_CONNECT |
                               SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET |
                               SSL_OP_NO_RENEGOTIATION);
  // Buffers are freed between records: 42.6 KB instead of 75.9 KB per
  // connection mid-handshake (ENGINEERING.md §2.5).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (options.share_trust_of != nullptr) {
    SSL_CTX_set1_cert_store(
        ctx, SSL_CTX_get_cert_store(options.share_trust_of->get()));
  } else if (options.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot load the system trust store: ", LastOpenSslError()));
    }
  } else {
    if (!std::ifstream(options.ca_file).good()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--ca-file ", options.ca_file, ": cannot read it"));
    }
    if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) !=
        1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--ca-file ", options.ca_file, ": no PEM certificate in it (",
          LastOpenSslError(), ")"));
    }
  }
  // Per-connection DANE needs it on the context first; it costs nothing
  // for connections that do not use it.
  if (SSL_CTX_dane_enable(ctx) <= 0) {
    return absl::InternalError(
        absl::StrCat("cannot enable DANE: ", LastOpenSslError()));
  }
  ERR_clear_error();
  return context;
}

Context::~Context() { SSL_CTX_free(ctx_); }

}  // namespace smtpscan::tls
