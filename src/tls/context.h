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

#include "absl/status/statusor.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace smtpscan::tls {

class Context;

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
};

class Context {
 public:
  // Fails with a one-line reason (an unreadable or empty --ca-file).
  static absl::StatusOr<std::unique_ptr<Context>> Create(
      const ContextOptions& options);
  ~Context();

  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  SSL_CTX* get() const { return ctx_; }

 private:
  explicit Context(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

}  // namespace smtpscan::tls

#endif  // SMTPSCAN_TLS_CONTEXT_H_
