// Engine threads: one scan spread over several io_uring engines.
//
// The pool is shared-nothing in the way DESIGN.md (principle 6) asks: each
// worker thread owns an Engine (its ring, receive buffers, connections,
// timer wheel) and its own TLS client context, and a probe is routed to the
// worker that owns the hash of its address, so the per-address limit (and
// the backoff a server earns) stays exact across threads. The calling
// thread keeps a "home" engine that runs the caller's event loop: input,
// DNS and HTTP sockets (Engine::WatchFd) and the workers' results. With one
// thread there are no workers: the home engine runs the probes itself and
// nothing crosses a thread.
//
// Between threads there are two queues per worker, each a mutex-guarded
// vector that the consumer takes whole, and an eventfd per consumer that is
// written only when a queue goes from empty to non-empty: one wake-up per
// batch, not per probe. Everything else (records, planning, output) stays
// on the calling thread.
//
// Global limits across the workers: the concurrency through one shared
// count of open connections (each worker may use all of it, since probes
// go where their address hashes, which is never exactly even), the rate
// split evenly, the per-address limit as is (an address belongs to one
// worker), a per-group limit (--per-provider) as ceil(limit / workers) (a
// provider's addresses are spread over workers).
#ifndef SMTPSCAN_ENGINE_POOL_H_
#define SMTPSCAN_ENGINE_POOL_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "tls/context.h"

namespace smtpscan::engine {

struct PoolOptions {
  // Engine threads besides the calling one; 1 runs probes on the calling
  // thread's own engine.
  size_t threads = 1;
  // The global limits; `engine.tls_context` is ignored when threads > 1:
  // every worker gets its own from make_tls_context.
  EngineOptions engine;
  // Makes one TLS client context per worker (called on the worker's
  // thread). Empty: workers have none, as engine.tls_context == nullptr.
  absl::AnyInvocable<absl::StatusOr<std::unique_ptr<tls::Context>>()>
      make_tls_context;
};

class EnginePool {
 public:
  // Creates the home engine on the calling thread and starts the workers,
  // each creating its engine on its own thread (a SINGLE_ISSUER ring
  // belongs to the thread that made it). Fails with the first worker's
  // error. `done` is called on the calling thread, from inside Run.
  static absl::StatusOr<std::unique_ptr<EnginePool>> Create(
      PoolOptions options, Engine::ResultCallback done);
  // Stops and joins the workers; probes still running are abandoned.
  ~EnginePool();

  EnginePool(const EnginePool&) = delete;
  EnginePool& operator=(const EnginePool&) = delete;

  // The calling thread's engine, for WatchFd (resolver and HTTP sockets).
  Engine& home();

  // True while the pool wants more probes: fewer are outstanding (queued
  // or running, in any thread) than twice the global concurrency.
  bool Accepting() const;

  // Routes a probe to the engine that owns its address.
  void Submit(Probe probe);

  // Connections open now in all engines (a relaxed read of the shared
  // count: a snapshot for progress reports).
  size_t open_connections() const;

  // Stops starting new probes: every probe not yet connected is dropped
  // (its result never arrives and Accepting() no longer counts it);
  // conversations already running go on to their end or their deadlines.
  void DropQueued();

  // Ends everything now: Run returns at once, running conversations are
  // abandoned without results.
  void Abandon();

  // Runs the home engine's loop (Engine::Run) until `finished` is true and
  // no probe is outstanding, or until Abandon.
  absl::Status Run(absl::FunctionRef<bool()> feed,
                   absl::FunctionRef<void()> after_batch,
                   absl::FunctionRef<bool()> finished);

 private:
  class Impl;
  explicit EnginePool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace smtpscan::engine

#endif  // SMTPSCAN_ENGINE_POOL_H_
