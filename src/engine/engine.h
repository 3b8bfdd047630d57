// The scan engine: many concurrent SMTP conversations on one io_uring ring.
//
// The engine owns sockets, the ring, receive buffers and deadlines; it knows
// nothing of input files or output formats. The caller submits probes (an
// address, a port, a session configuration) while Accepting() says there is
// room, and receives each finished probe's SessionResult through a callback.
// Run() drives everything until the caller has nothing more to submit and
// every probe has finished.
//
// Design, measured and explained in README.md ("Engine"):
// - One ring, IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN when the kernel has
//   them (6.1), falling back to plain flags. Completions are reaped in
//   batches with one io_uring_cq_advance.
// - Plain socket descriptors, not registered files: socket() is a cheap
//   syscall, and a plain fd takes the setsockopt calls a source address
//   needs (direct descriptors cannot before kernel 6.7, ENGINEERING.md §1.6).
// - Receives use one shared provided-buffer ring (IOSQE_BUFFER_SELECT): a
//   connection waiting for its greeting holds no buffer at all, which is
//   what keeps an idle connection small. Each buffer goes back to the ring
//   as soon as the session has consumed its bytes. One multishot receive is
//   armed per connection, with IORING_RECVSEND_POLL_FIRST (the server has
//   had no time to answer yet, so the first attempt would find nothing).
// - After the reply to QUIT the result is handed over at once and the
//   connection waits (at most EngineOptions::deadlines.peer_close) for the
//   server to close first, as RFC 5321 §4.1.1.10 has it: the scanner then
//   keeps no TIME_WAIT state for finished conversations, and the multishot
//   receive ends by itself with the EOF, so the common path needs no cancel.
//   Measured in bench/e2e (5 rounds, medians, smtpscan/reference sessions/s):
//   single-shot receives and an immediate close gave 0.86x and 0.84x; multishot
//   with an immediate close 0.74x and 0.35x (every close then cancels the armed
//   receive); multishot with this wait 0.89-0.97x and 0.89-0.94x (three 5-round
//   runs). The server's close is answered with RST (SO_LINGER 0), which frees
//   the server's socket too and saves a packet: 8-9% less client CPU per
//   session than answering with FIN (6 paired rounds of 20,000 sessions at 1
//   and 2 threads, README).
// - Deadlines live in a TimerWheel (10 ms ticks); on expiry the session
//   records which phase timed out and the connection's operations are
//   cancelled with one IORING_ASYNC_CANCEL_FD | ALL before close.
// - Politeness. A probe starts when three limits allow: a connection slot
//   (concurrency and rate), the per-address limit and, for a probe with a
//   group, the per-group limit (--per-provider: at most per_group probes of
//   one group ready or running). A probe waiting for one limit holds the
//   ones it has passed (its address's count while it waits for its group);
//   a finished probe hands its counts to the oldest probe waiting for them.
//   An address whose server answered 421 or reset or refused the connection
//   is backed off from: probes to it wait (not retried, only delayed)
//   until backoff_initial has passed, doubling with every further such
//   outcome up to backoff_max, and back to nothing after a success. With
//   neither a group nor a backoff in play the added cost is two untaken
//   branches per probe.
#ifndef SMTPSCAN_ENGINE_ENGINE_H_
#define SMTPSCAN_ENGINE_ENGINE_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "smtp/session.h"
#include "tls/context.h"
#include "tls/facts.h"

namespace smtpscan::engine {

struct Deadlines {
  absl::Duration connect = absl::Seconds(10);
  // Generous: Postfix's postscreen delays the greeting on purpose (6 s by
  // default, postscreen_greet_wait), and RFC 5321 §4.5.3.2.1 allows 5 min.
  absl::Duration greeting = absl::Seconds(30);
  absl::Duration reply = absl::Seconds(30);     // each reply after that
  absl::Duration session = absl::Seconds(120);  // the whole conversation
  // After the reply to QUIT, how long to wait for the server to close
  // before closing first.
  absl::Duration peer_close = absl::Seconds(2);
};

struct EngineOptions {
  size_t concurrency = 1000;  // connections open at once
  // Engines that share one global limit (EnginePool's threads): connections
  // open in all of them, counted here, stay below shared_limit as well as
  // each engine's own `concurrency`. The check and the count are not one
  // atomic step, so for an instant the total may exceed the limit by at
  // most the number of engines minus one. Null: no shared limit.
  std::atomic<size_t>* shared_open = nullptr;
  size_t shared_limit = 0;
  double rate = 0;         // new connections per second; 0 = no limit
  size_t per_address = 1;  // connections at once to one address
  // Probes at once (ready or running) of one Probe::group; 0: no limit.
  // With several engines (EnginePool) each gets ceil(limit / engines).
  size_t per_group = 0;
  // After a 421 reply (to the greeting or any command), ECONNRESET or EPIPE
  // from an address (not ECONNREFUSED: a closed port), its next probes wait
  // this long, twice as long after each further one, at most backoff_max; a
  // success resets it. Zero: no backoff.
  absl::Duration backoff_initial = absl::Seconds(1);
  absl::Duration backoff_max = absl::Seconds(60);
  Deadlines deadlines;
  // Bind outgoing connections to this address (port 0), per family.
  absl::optional<sockaddr_in> source4;
  absl::optional<sockaddr_in6> source6;
  size_t receive_buffers = 1024;       // provided buffers, a power of two
  size_t receive_buffer_bytes = 4096;  // each
  // The TLS client context for STARTTLS and implicit TLS; must outlive the
  // engine. Without one, a probe that reaches TLS ends with
  // tls-handshake-error "no TLS context".
  const tls::Context* tls_context = nullptr;
};

// One conversation to run.
struct Probe {
  uint64_t id = 0;         // the caller's handle, returned with the result
  sockaddr_in6 address{};  // sockaddr_in for IPv4 (sin6_family tells)
  // The caller's group for EngineOptions::per_group (a provider, interned
  // by the caller); 0: none, no group limit applies. (Here, in what would
  // be padding: an idle connection holds a Probe.)
  uint32_t group = 0;
  // Shared by many probes; must outlive the probe.
  const smtp::SessionConfig* config = nullptr;
  // For TLS: the host name (SNI and the certificate's name check; empty or
  // an IP literal: neither) and the DANE TLSA lookup of (host, port), or
  // null when DANE is not checked.
  std::string server_name;
  std::shared_ptr<const tls::DaneResult> dane;

  socklen_t address_length() const {
    return address.sin6_family == AF_INET ? sizeof(sockaddr_in)
                                          : sizeof(sockaddr_in6);
  }
};

struct ProbeOutcome {
  uint64_t id = 0;
  absl::Time started_at;  // wall clock when the connect was submitted
  smtp::SessionResult session;
  // Present when a TLS handshake was attempted.
  std::shared_ptr<const tls::TlsFacts> tls;
  // How long the probe waited because its address was backed off (zero
  // when it did not), before started_at.
  absl::Duration backoff;
};

// Counters of the politeness limits, since the engine was created.
struct EngineStats {
  uint64_t backoffs = 0;         // outcomes that backed an address off
  uint64_t backoff_delayed = 0;  // probes that waited for a backoff
  absl::Duration backoff_wait;   // their waits, summed
  uint64_t group_waits = 0;      // probes that waited for their group
};

class Engine {
 public:
  // Takes the outcome by rvalue reference: a SessionResult is about 1 KiB
  // of members, and every hop by value (engine, worker queue, pool, scan)
  // moved all of them once more.
  using ResultCallback = absl::AnyInvocable<void(ProbeOutcome&&)>;

  // Sets up the ring and buffers. Fails with a one-line reason when
  // io_uring is unavailable (seccomp, kernel.io_uring_disabled, an old
  // kernel) or the options cannot be met (open-files limit too low).
  static absl::StatusOr<std::unique_ptr<Engine>> Create(EngineOptions options,
                                                        ResultCallback done);
  ~Engine();

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // True while the engine wants more probes: its queue of probes not yet
  // started is shorter than the concurrency. Submitting more is allowed
  // but only grows memory.
  bool Accepting() const;

  // Queues a probe. It starts when a connection slot, the rate limit and
  // the per-address limit allow. REQUIRES: probe.config != nullptr.
  void Submit(Probe probe);

  // Runs until `finished` returns true and every probe has finished. `feed`
  // is called whenever Accepting() is true; it submits probes (or starts
  // work that will submit them later, such as DNS queries) and returns
  // false when it has nothing more for now. Results arrive through the
  // callback given to Create, from inside Run. `after_batch` runs after
  // each batch of completions, at least every 100 ms (for time-based work
  // such as flushing output or a resolver's timeouts). `finished` says the
  // caller will submit nothing more; by default, once `feed` returned false.
  absl::Status Run(
      absl::FunctionRef<bool()> feed,
      absl::FunctionRef<void()> after_batch = [] {},
      absl::FunctionRef<bool()> finished = [] { return true; });

  // Watches a descriptor that is not the engine's own (a resolver's
  // socket) with polls on the ring: `ready` gets the poll events (POLLIN,
  // POLLOUT, POLLERR, POLLHUP) whenever it is ready, level-triggered (again
  // after each call while still ready), from inside Run, until UnwatchFd.
  // `events` is POLLIN and/or POLLOUT. Returns a handle; a handle is never
  // reused, so a late completion for a removed watch is dropped even if the
  // descriptor number was reused (c-ares closes and reopens sockets;
  // ENGINEERING.md §3.2).
  // Connections open now.
  size_t open_connections() const;

  EngineStats stats() const;

  // Drops every probe not yet started (queued for a slot, the rate or the
  // per-address limit); their results never arrive. Returns how many.
  // Conversations already running go on.
  size_t DropQueued();

  // Makes Run return at its next turn without waiting for anything; open
  // connections are closed when the engine is destroyed, without results.
  void Abandon();

  using FdCallback = absl::AnyInvocable<void(uint32_t events)>;
  uint64_t WatchFd(int fd, uint32_t events, FdCallback ready);
  void UnwatchFd(uint64_t handle);

 private:
  class Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The largest concurrency the process's open-files limit allows, after
// raising the soft limit to the hard limit, keeping `reserve` descriptors
// for everything else (input, output, resolver sockets).
size_t MaxConcurrencyForFileLimit(size_t reserve = 64);

}  // namespace smtpscan::engine

#endif  // SMTPSCAN_ENGINE_ENGINE_H_
