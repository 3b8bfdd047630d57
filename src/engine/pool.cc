#include "engine/pool.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <thread>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace smtpscan::engine {
namespace {

// A counter-mode eventfd: Notify wakes whoever watches it, Drain resets it.
class Wakeup {
 public:
  Wakeup() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~Wakeup() {
    if (fd_ >= 0) close(fd_);
  }
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void Notify() const {
    const uint64_t one = 1;
    // EAGAIN only when the counter would overflow: it is set anyway.
    while (write(fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }
  void Drain() const {
    uint64_t n;
    while (read(fd_, &n, sizeof(n)) < 0 && errno == EINTR) {
    }
  }

 private:
  int fd_;
};

// Which worker owns an address: a hash of the address bytes alone (not the
// port), so every probe of one server meets the same per-address limit.
size_t OwnerOf(const sockaddr_in6& address, size_t workers) {
  size_t h;
  if (address.sin6_family == AF_INET) {
    const auto& a4 = reinterpret_cast<const sockaddr_in&>(address);
    h = absl::HashOf(a4.sin_addr.s_addr);
  } else {
    h = absl::HashOf(absl::string_view(
        reinterpret_cast<const char*>(address.sin6_addr.s6_addr), 16));
  }
  return h % workers;
}

}  // namespace

// One engine thread and its two queues.
struct Worker {
  // Probes for this worker; the worker takes the vector whole.
  absl::Mutex in_mu;
  std::vector<Probe> in ABSL_GUARDED_BY(in_mu);
  Wakeup in_wake;  // written when `in` becomes non-empty, or to stop
  std::atomic<bool> stop{false};     // no more probes will come
  std::atomic<bool> drop{false};     // DropQueued requested
  std::atomic<bool> abandon{false};  // Abandon requested
  std::thread thread;
};

class EnginePool::Impl {
 public:
  Impl(PoolOptions options, Engine::ResultCallback done)
      : options_(std::move(options)), done_(std::move(done)) {}

  ~Impl() {
    for (auto& w : workers_) {
      w->abandon = true;
      w->stop = true;
      w->in_wake.Notify();
    }
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    if (home_ != nullptr && out_watch_ != 0) home_->UnwatchFd(out_watch_);
  }

  absl::Status Init();
  Engine& home() { return *home_; }
  bool Accepting() const {
    return outstanding_ < 2 * options_.engine.concurrency;
  }
  void Submit(Probe probe);
  size_t open_connections() const;
  void DropQueued();
  void Abandon();
  absl::Status Run(absl::FunctionRef<bool()> feed,
                   absl::FunctionRef<void()> after_batch,
                   absl::FunctionRef<bool()> finished);

 private:
  void WorkerMain(Worker* w, EngineOptions options,
                  std::promise<absl::Status>* ready);
  // On the calling thread: hands the workers' results to `done_`.
  void TakeResults();
  void Deliver(ProbeOutcome&& outcome) {
    --outstanding_;
    done_(std::move(outcome));
  }

  PoolOptions options_;
  Engine::ResultCallback done_;
  std::unique_ptr<Engine> home_;
  std::vector<std::unique_ptr<Worker>> workers_;
  size_t outstanding_ = 0;  // calling thread only
  bool abandoned_ = false;

  // Results from every worker to the calling thread.
  absl::Mutex out_mu_;
  std::vector<ProbeOutcome> out_ ABSL_GUARDED_BY(out_mu_);
  // TakeResults' side of out_: swapped with it, so both keep their storage
  // (a fresh vector grew by reallocation, moving every outcome again).
  std::vector<ProbeOutcome> taken_;  // calling thread only
  // Connections open in all workers (EngineOptions::shared_open).
  std::atomic<size_t> shared_open_{0};
  // Probes dropped by DropQueued in the workers, not yet subtracted.
  std::atomic<size_t> dropped_{0};
  Wakeup out_wake_;
  uint64_t out_watch_ = 0;
};

absl::Status EnginePool::Impl::Init() {
  if (options_.threads == 0) {
    return absl::InvalidArgumentError("threads must be at least 1");
  }
  const EngineOptions& global = options_.engine;
  // Each worker needs at least one connection of the global concurrency.
  options_.threads =
      std::min(options_.threads, std::max<size_t>(1, global.concurrency));
  if (options_.threads == 1) {
    auto home = Engine::Create(global, [this](ProbeOutcome&& outcome) {
      Deliver(std::move(outcome));
    });
    if (!home.ok()) return home.status();
    home_ = *std::move(home);
    return absl::OkStatus();
  }

  // Fail as one engine would when the open-files limit cannot hold the
  // whole concurrency (each worker alone would pass with its share).
  const size_t max = MaxConcurrencyForFileLimit();
  if (global.concurrency > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("concurrency ", global.concurrency,
                     " needs more open files than the limit allows; use -c ",
                     max, " or less, or raise the hard limit (ulimit -Hn)"));
  }
  // The home engine runs no probes: one slot and one receive buffer.
  EngineOptions home_options = global;
  home_options.concurrency = 1;
  home_options.receive_buffers = 1;
  auto home = Engine::Create(home_options, [](ProbeOutcome&&) {});
  if (!home.ok()) return home.status();
  home_ = *std::move(home);
  if (!out_wake_.ok()) {
    return absl::InternalError(
        absl::StrCat("eventfd failed: ", strerror(errno)));
  }
  out_watch_ = home_->WatchFd(out_wake_.fd(), POLLIN, [this](uint32_t) {
    out_wake_.Drain();
    TakeResults();
  });

  const size_t n = options_.threads;
  std::vector<std::promise<absl::Status>> ready(n);
  // Workers start with SIGINT and SIGTERM blocked (a thread inherits its
  // creator's mask), so those land on the calling thread, whose ring wait
  // they interrupt.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  for (size_t i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    if (!w->in_wake.ok()) {
      return absl::InternalError(
          absl::StrCat("eventfd failed: ", strerror(errno)));
    }
    EngineOptions o = global;
    // Not a fixed share each: probes go where their address hashes, which
    // is never exactly even, and a worker with more than its share would
    // leave the others' slots idle (1,480 of 1,500 idle connections held,
    // measured). Every worker may use the whole concurrency; the shared
    // count keeps the sum within it.
    o.concurrency = global.concurrency;
    o.shared_open = &shared_open_;
    o.shared_limit = global.concurrency;
    o.rate = global.rate / static_cast<double>(n);
    // A provider's addresses are spread over the workers: each may open
    // its share, rounded up (so the cap can be exceeded by < n).
    if (global.per_group > 0) o.per_group = (global.per_group + n - 1) / n;
    o.tls_context = nullptr;
    w->thread =
        std::thread(&Impl::WorkerMain, this, w.get(), std::move(o), &ready[i]);
    workers_.push_back(std::move(w));
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  absl::Status first = absl::OkStatus();
  for (auto& r : ready) {
    absl::Status s = r.get_future().get();
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

void EnginePool::Impl::WorkerMain(Worker* w, EngineOptions options,
                                  std::promise<absl::Status>* ready) {
  std::unique_ptr<tls::Context> tls;
  if (options_.make_tls_context) {
    auto context = options_.make_tls_context();
    if (!context.ok()) {
      ready->set_value(context.status());
      return;
    }
    tls = *std::move(context);
    options.tls_context = tls.get();
  }
  // Results wait here until the end of the batch: one lock and at most one
  // wake-up per batch.
  std::vector<ProbeOutcome> results;
  auto engine = Engine::Create(std::move(options), [&](ProbeOutcome&& outcome) {
    results.push_back(std::move(outcome));
  });
  if (!engine.ok()) {
    ready->set_value(engine.status());
    return;
  }
  Engine& e = **engine;
  e.WatchFd(w->in_wake.fd(), POLLIN, [w](uint32_t) { w->in_wake.Drain(); });
  ready->set_value(absl::OkStatus());
  ready = nullptr;

  std::vector<Probe> batch;
  const auto control = [&] {
    if (w->abandon.load(std::memory_order_acquire)) {
      e.Abandon();
    } else if (w->drop.exchange(false, std::memory_order_acq_rel)) {
      size_t n = e.DropQueued();
      {
        // Probes still in the inbound queue are dropped too.
        absl::MutexLock lock(&w->in_mu);
        n += w->in.size();
        w->in.clear();
      }
      dropped_.fetch_add(n, std::memory_order_acq_rel);
      out_wake_.Notify();
    }
  };
  const absl::Status status = e.Run(
      [&] {
        control();
        {
          absl::MutexLock lock(&w->in_mu);
          batch.swap(w->in);
        }
        for (Probe& p : batch) e.Submit(std::move(p));
        batch.clear();
        return false;  // everything there was is submitted
      },
      [&] {
        control();
        if (results.empty()) return;
        bool was_empty;
        {
          absl::MutexLock lock(&out_mu_);
          was_empty = out_.empty();
          if (was_empty) {
            out_.swap(results);
          } else {
            for (ProbeOutcome& r : results) out_.push_back(std::move(r));
          }
        }
        results.clear();
        if (was_empty) out_wake_.Notify();
      },
      [&] {
        if (!w->stop.load(std::memory_order_acquire)) return false;
        absl::MutexLock lock(&w->in_mu);
        return w->in.empty();
      });
  (void)status;  // a failing ring ends this worker; its probes never return
}

void EnginePool::Impl::Submit(Probe probe) {
  ++outstanding_;
  if (workers_.empty()) {
    home_->Submit(std::move(probe));
    return;
  }
  Worker& w = *workers_[OwnerOf(probe.address, workers_.size())];
  bool was_empty;
  {
    absl::MutexLock lock(&w.in_mu);
    was_empty = w.in.empty();
    w.in.push_back(std::move(probe));
  }
  if (was_empty) w.in_wake.Notify();
}

void EnginePool::Impl::TakeResults() {
  outstanding_ -= dropped_.exchange(0, std::memory_order_acq_rel);
  {
    absl::MutexLock lock(&out_mu_);
    taken_.swap(out_);
  }
  for (ProbeOutcome& r : taken_) Deliver(std::move(r));
  taken_.clear();
}

size_t EnginePool::Impl::open_connections() const {
  if (workers_.empty()) return home_->open_connections();
  return shared_open_.load(std::memory_order_relaxed);
}

void EnginePool::Impl::DropQueued() {
  if (workers_.empty()) {
    outstanding_ -= home_->DropQueued();
    return;
  }
  for (auto& w : workers_) {
    w->drop = true;
    w->in_wake.Notify();
  }
}

void EnginePool::Impl::Abandon() {
  abandoned_ = true;
  home_->Abandon();
  for (auto& w : workers_) {
    w->abandon = true;
    w->in_wake.Notify();
  }
}

absl::Status EnginePool::Impl::Run(absl::FunctionRef<bool()> feed,
                                   absl::FunctionRef<void()> after_batch,
                                   absl::FunctionRef<bool()> finished) {
  const absl::Status status = home_->Run(feed, after_batch, [&] {
    if (!workers_.empty()) TakeResults();
    return outstanding_ == 0 && finished();
  });
  // Workers end once their connections are closed: those that wait for
  // the server to close first (Engine's peer_close) get their time.
  for (auto& w : workers_) {
    w->stop = true;
    if (abandoned_) w->abandon = true;
    w->in_wake.Notify();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  return status;
}

EnginePool::EnginePool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EnginePool::~EnginePool() = default;

absl::StatusOr<std::unique_ptr<EnginePool>> EnginePool::Create(
    PoolOptions options, Engine::ResultCallback done) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(done));
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<EnginePool>(new EnginePool(std::move(impl)));
}

Engine& EnginePool::home() { return impl_->home(); }
bool EnginePool::Accepting() const { return impl_->Accepting(); }
void EnginePool::Submit(Probe probe) { impl_->Submit(std::move(probe)); }
size_t EnginePool::open_connections() const {
  return impl_->open_connections();
}
void EnginePool::DropQueued() { impl_->DropQueued(); }
void EnginePool::Abandon() { impl_->Abandon(); }
absl::Status EnginePool::Run(absl::FunctionRef<bool()> feed,
                             absl::FunctionRef<void()> after_batch,
                             absl::FunctionRef<bool()> finished) {
  return impl_->Run(feed, after_batch, finished);
}

}  // namespace smtpscan::engine
