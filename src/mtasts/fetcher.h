// Fetching MTA-STS policies over HTTPS with libcurl's multi interface,
// driven by the caller's event loop (the engine's ring) through the same
// dns::Poller the resolver uses. No thread, no blocking call.
//
// RFC 8461 §3.3: https://mta-sts.<domain>/.well-known/mta-sts.txt, the
// certificate validated against the trust store for mta-sts.<domain>, no
// redirects, a 200 answer with media type text/plain, a size limit (64 KiB
// by default) and a time limit. The caller resolves mta-sts.<domain>
// through its own resolver and passes the addresses: curl does no DNS.
#ifndef SMTPSCAN_MTASTS_FETCHER_H_
#define SMTPSCAN_MTASTS_FETCHER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dns/resolver.h"

namespace smtpscan::mtasts {

struct FetcherOptions {
  std::string ca_file;  // PEM trust anchors; empty: the system store
  absl::Duration timeout = absl::Seconds(10);  // whole fetch, connect included
  size_t max_body_bytes = 64 * 1024;
  uint16_t port = 443;          // tests serve the policy on another port
  size_t max_concurrent = 100;  // transfers at once; more wait in a queue
};

struct FetchResult {
  // "ok", "dns-error" (no address given), "connect-error", "tls-error"
  // (handshake or certificate), "timeout", "http-error" (status not 200),
  // "redirect" (3xx: never followed), "bad-content-type" (not text/plain),
  // "too-large", "error" (anything else).
  std::string status;
  int http_status = 0;  // when an HTTP answer came
  std::string error;    // curl's message, one line; empty for "ok"
  std::string content_type;
  std::string body;  // "ok" only
  absl::Duration took = absl::ZeroDuration();
};

// Destroying the fetcher drops unfinished fetches: their `done` callbacks
// are destroyed without being called. It must not be destroyed from inside
// a `done` callback. FetchResult::took counts from the transfer's start
// (time queued behind max_concurrent is not in it). The Poller must allow
// Watch and Unwatch from inside a ready callback.
class Fetcher {
 public:
  // `poller` must outlive the fetcher.
  static absl::StatusOr<std::unique_ptr<Fetcher>> Create(
      const FetcherOptions& options, dns::Poller* poller);
  ~Fetcher();

  // Fetches the policy of `domain` (A-label, lower case, no trailing dot)
  // from mta-sts.<domain> at `addresses`. `done` is called exactly once,
  // never from inside Fetch, from inside a Poller callback or Tick.
  void Fetch(absl::string_view domain, std::vector<dns::Address> addresses,
             absl::AnyInvocable<void(FetchResult)> done);

  // Drives curl's timeouts; call every ~50 ms.
  void Tick();

  size_t pending() const;  // fetches asked for and not yet done

  class Impl;

 private:
  explicit Fetcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace smtpscan::mtasts

#endif  // SMTPSCAN_MTASTS_FETCHER_H_
