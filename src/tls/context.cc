#include "tls/context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <fstream>
#include <mutex>

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

// The system trust store, loaded by the first thread that needs it; the
// others wait for that load. The store is then read-only (OpenSSL's
// X509_STORE locks its own lookups) and shared by reference count with
// every context that attaches it. Not a thread of its own: a process that
// never starts one (smtpscan --threads 1) keeps glibc's and libstdc++'s
// single-threaded fast paths, worth 8-16% of the user-space work per
// conversation (bench/session_pipeline_bench.cc, with and without a
// thread started at load time).
class TrustLoader {
 public:
  TrustLoader() = default;
  ~TrustLoader() { X509_STORE_free(store_); }
  TrustLoader(const TrustLoader&) = delete;
  TrustLoader& operator=(const TrustLoader&) = delete;

  // The store (empty when the load failed), loading it on the first call.
  X509_STORE* Get() {
    std::call_once(once_, [this] {
      Load();
      loaded_.store(true, std::memory_order_release);
    });
    return store_;
  }
  // OK unless a load was made and failed.
  absl::Status status() const {
    return loaded_.load(std::memory_order_acquire) ? status_ : absl::OkStatus();
  }

 private:
  void Load() {
    store_ = X509_STORE_new();
    if (store_ == nullptr) {
      status_ = absl::ResourceExhaustedError(absl::StrCat(
          "cannot load the system trust store: ", LastOpenSslError()));
      return;
    }
    if (X509_STORE_set_default_paths(store_) != 1) {
      status_ = absl::FailedPreconditionError(absl::StrCat(
          "cannot load the system trust store: ", LastOpenSslError()));
    }
    ERR_clear_error();
  }

  X509_STORE* store_ = nullptr;
  absl::Status status_;
  std::once_flag once_;
  std::atomic<bool> loaded_{false};
};

namespace {

// A client context as a scanner needs it, without its trust store.
absl::StatusOr<SSL_CTX*> NewClientContext() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot create the TLS context: ", LastOpenSslError()));
  }
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
  // Per-connection DANE needs it on the context first; it costs nothing
  // for connections that do not use it.
  if (SSL_CTX_dane_enable(ctx) <= 0) {
    SSL_CTX_free(ctx);
    return absl::InternalError(
        absl::StrCat("cannot enable DANE: ", LastOpenSslError()));
  }
  ERR_clear_error();
  return ctx;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Context>> Context::Create(
    const ContextOptions& options) {
  std::unique_ptr<Context> context(new Context());
  if (options.share_trust_of != nullptr) {
    const Context& donor = *options.share_trust_of;
    if (donor.loader_ != nullptr) {
      context->trust_ = context->loader_ = donor.loader_;
      return context;  // built by the first get()
    }
    // The donor loaded its store at its creation: take it now.
    absl::Status built = context->Build();
    if (!built.ok()) return built;
    SSL_CTX_set1_cert_store(context->ctx_, SSL_CTX_get_cert_store(donor.ctx_));
    return context;
  }
  if (options.ca_file.empty() && options.load_when_needed) {
    context->trust_ = context->loader_ = std::make_shared<TrustLoader>();
    return context;  // built by the first get()
  }
  // A store loaded now, so that its errors are the caller's to report.
  absl::Status built = context->Build();
  if (!built.ok()) return built;
  SSL_CTX* ctx = context->ctx_;
  if (options.ca_file.empty()) {
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
  ERR_clear_error();
  return context;
}

absl::Status Context::Build() const {
  built_ = true;
  absl::StatusOr<SSL_CTX*> ctx = NewClientContext();
  if (!ctx.ok()) {
    build_error_ = std::string(ctx.status().message());
    return ctx.status();
  }
  ctx_ = *ctx;
  return absl::OkStatus();
}

Context::~Context() { SSL_CTX_free(ctx_); }

SSL_CTX* Context::Prepare() const {
  if (!built_) (void)Build();  // a failure leaves ctx_ null: build_error_
  if (ctx_ != nullptr && trust_ != nullptr) {
    X509_STORE* store = trust_->Get();
    if (store != nullptr) SSL_CTX_set1_cert_store(ctx_, store);
    trust_.reset();
  }
  return ctx_;
}

absl::Status Context::TrustStatus() const {
  return loader_ != nullptr ? loader_->status() : absl::OkStatus();
}

}  // namespace smtpscan::tls
