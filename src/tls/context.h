// The scanner's OpenSSL client context (ENGINEERING.md §2.2): one per
// engine thread, shared by every connection of that thread.
//
// It accepts every protocol version and cipher OpenSSL can speak (security
// level 0: a TLS 1.0 server with an RSA-1024 certificate is recorded, not
// refused), never resumes sessions, and verifies without refusing: the
// handshake goes on whatever the verification says, and the channel
// records what it said.
#ifndef SMTPSCAN_TLS_CONTEXT_H_
#define SMTPSCAN_TLS_CONTEXT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace smtpscan::tls {

class Context;
class TrustLoader;

struct ContextOptions {
  // PEM file of trust anchors; empty: the system store
  // (/etc/ssl/certs via OpenSSL's default paths).
  std::string ca_file;
  // Share this context's trust store instead of loading one (ca_file is
  // then ignored): engine threads each have their own context, and
  // loading the system store costs about 40 ms of CPU per copy. OpenSSL's
  // X509_STORE is reference-counted and locks its own lookups, so one
  // store serves contexts on several threads. Must outlive nothing: the
  // store is held by reference count.
  const Context* share_trust_of = nullptr;
  // With an empty ca_file and no share_trust_of: load the system store
  // when the first handshake needs it (the first get()), not now. OpenSSL
  // 3.0 takes about 25 ms of CPU to parse Debian's bundle, which a scan
  // without TLS never needs. Contexts created with share_trust_of share
  // the one load.
  bool load_when_needed = false;
};

class Context {
 public:
  // Fails with a one-line reason (an unreadable or empty --ca-file).
  static absl::StatusOr<std::unique_ptr<Context>> Create(
      const ContextOptions& options);
  ~Context();

  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // The context, with its trust store, or null when it could not be made
  // (error() says why). Contexts that defer their store are made by the
  // first call: a scan without TLS never pays OpenSSL's context set-up
  // (about 3 ms of CPU at start, perf). That call also loads the deferred
  // store (or waits for another thread's load of it). Not thread-safe: a
  // context belongs to one thread (its engine's).
  SSL_CTX* get() const {
    if (ctx_ == nullptr || trust_ != nullptr) return Prepare();
    return ctx_;
  }
  // Why get() gave null.
  const std::string& error() const { return build_error_; }

  // Why the deferred load failed (then get() gave an empty store, and
  // every verification failed); OK when it did not, or was never needed.
  // Thread-safe.
  absl::Status TrustStatus() const;

 private:
  Context() = default;
  // Makes ctx_ (built_ records the attempt; build_error_ a failure).
  absl::Status Build() const;
  // get()'s slow path: Build() once, then attach a deferred store.
  SSL_CTX* Prepare() const;

  mutable SSL_CTX* ctx_ = nullptr;
  mutable bool built_ = false;
  mutable std::string build_error_;
  // Set while a deferred store is still to be attached.
  mutable std::shared_ptr<TrustLoader> trust_;
  // Kept after the attach, for TrustStatus().
  std::shared_ptr<TrustLoader> loader_;
};

}  // namespace smtpscan::tls

#endif  // SMTPSCAN_TLS_CONTEXT_H_
