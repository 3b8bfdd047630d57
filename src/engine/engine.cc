#include "engine/engine.h"

#include <liburing.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/timer_wheel.h"
#include "tls/channel.h"

namespace smtpscan::engine {
namespace {

// What a completion belongs to. user_data packs slot, generation and op so
// that a completion can never be mistaken for one of an earlier connection
// that used the same slot.
enum class Op : uint8_t {
  kConnect = 1,
  kRecv,
  kSend,
  kCancel,
  kPoll,        // a watched foreign descriptor (slot = watch index)
  kPollRemove,  // the removal of such a poll; its completion is ignored
};

uint64_t Pack(uint32_t slot, uint32_t generation, Op op) {
  return (uint64_t{slot} << 32) | (uint64_t{generation & 0xffffff} << 8) |
         static_cast<uint8_t>(op);
}
uint32_t SlotOf(uint64_t data) { return static_cast<uint32_t>(data >> 32); }
uint32_t GenerationOf(uint64_t data) {
  return static_cast<uint32_t>(data >> 8) & 0xffffff;
}
Op OpOf(uint64_t data) { return static_cast<Op>(data & 0xff); }

constexpr uint16_t kBufferGroup = 1;
constexpr absl::Duration kTick = absl::Milliseconds(10);
// Longest sleep in one wait, so the loop notices time passing.
constexpr absl::Duration kMaxWait = absl::Milliseconds(100);
// How often backoff entries that no longer matter are dropped.
constexpr absl::Duration kBackoffSweep = absl::Seconds(10);

std::string ReadSysctl(const char* path) {
  std::ifstream in(path);
  std::string value;
  in >> value;
  return value;
}

absl::Status RingSetupError(int error) {
  const std::string disabled = ReadSysctl("/proc/sys/kernel/io_uring_disabled");
  if (error == ENOSYS) {
    return absl::UnavailableError(
        "io_uring is not available: this kernel does not have it (ENOSYS); "
        "smtpscan needs Linux 6.0 or later");
  }
  if (error == EPERM || error == EACCES) {
    return absl::UnavailableError(absl::StrCat(
        "io_uring is not permitted here (", strerrorname_np(error), "): ",
        disabled.empty() || disabled == "0"
            ? "a seccomp profile blocks it (Docker's default does; run with "
              "--security-opt seccomp=unconfined or a profile that allows "
              "io_uring_setup)"
            : absl::StrCat("kernel.io_uring_disabled is ", disabled)));
  }
  return absl::UnavailableError(
      absl::StrCat("io_uring setup failed: ", strerror(error)));
}

// A key for the per-address limit: the family and the address bytes,
// 17 bytes inline (a std::string key would take 32 in every table slot).
using AddressKey = std::array<uint8_t, 17>;

AddressKey KeyOf(const sockaddr_in6& a) {
  AddressKey key{};
  key[0] = static_cast<uint8_t>(a.sin6_family);
  if (a.sin6_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    std::memcpy(&key[1], &v4.sin_addr, 4);
  } else {
    std::memcpy(&key[1], &a.sin6_addr, 16);
  }
  return key;
}

}  // namespace

// One connection slot. The TimerNode comes first so that a fired node can
// be turned back into its Connection.
struct Connection {
  TimerNode timer;
  uint32_t slot = 0;
  uint32_t generation = 0;
  int fd = -1;
  // Submitted operations whose last completion is pending (an armed
  // multishot receive counts once, until its final completion).
  int inflight = 0;
  bool recv_armed = false;
  bool send_inflight = false;
  bool closing = false;
  // The conversation ended with QUIT and its reply; the result has been
  // handed over and the connection waits for the server to close first.
  bool draining = false;
  smtp::Phase timed_phase = smtp::Phase::kDone;  // phase the timer is for
  Probe probe;
  absl::Time started_at;
  absl::Time session_deadline;
  absl::optional<smtp::Session> session;
  // Set from the session's kStartTls until the result is handed over: all
  // bytes in both directions then go through it.
  std::unique_ptr<tls::Channel> tls;
  std::string out;  // being sent; must not change while a send is in flight
  size_t out_sent = 0;
  std::string queued;  // commands that arrived while `out` was in flight
};

static_assert(offsetof(Connection, timer) == 0);

// A foreign descriptor watched for the caller (Engine::WatchFd).
struct Watch {
  int fd = -1;
  uint32_t events = 0;
  uint32_t generation = 0;  // 24 bits used; part of the handle
  bool active = false;
  Engine::FdCallback ready;
};

class Engine::Impl {
 public:
  Impl(EngineOptions options, ResultCallback done)
      : options_(std::move(options)),
        done_(std::move(done)),
        wheel_(absl::Now(), kTick) {}

  ~Impl() {
    for (auto& c : conns_) {
      if (c && c->fd >= 0) close(c->fd);
    }
    if (ring_ok_) io_uring_queue_exit(&ring_);
    if (buf_ring_ != nullptr) munmap(buf_ring_, buf_ring_bytes_);
  }

  absl::Status Init();
  bool Accepting() const { return queued_ < options_.concurrency; }
  void Submit(Probe probe);
  absl::Status Run(absl::FunctionRef<bool()> feed,
                   absl::FunctionRef<void()> after_batch,
                   absl::FunctionRef<bool()> finished);
  uint64_t WatchFd(int fd, uint32_t events, FdCallback ready);
  void UnwatchFd(uint64_t handle);
  size_t open_connections() const { return open_; }
  const EngineStats& stats() const { return stats_; }
  size_t DropQueued();
  void Abandon() { abandoned_ = true; }
  // Whether one more connection may open now.
  bool HasRoom() const {
    return open_ < options_.concurrency &&
           (options_.shared_open == nullptr ||
            options_.shared_open->load(std::memory_order_relaxed) <
                options_.shared_limit);
  }

 private:
  io_uring_sqe* GetSqe();
  void StartReady(absl::Time now);
  void Start(Probe probe, absl::Time now,
             absl::Duration backoff = absl::ZeroDuration());
  void HandleCompletion(const io_uring_cqe* cqe, absl::Time now);
  void Apply(Connection& c, smtp::Action action, absl::Time now);
  void ArmRecv(Connection& c);
  void SubmitSend(Connection& c);
  // Sends `bytes` (ciphertext once TLS is on) after what is in flight.
  void Send(Connection& c, std::string bytes);
  void StartTls(Connection& c, absl::Time now);
  // Passes received bytes through TLS (when on) to the session.
  void OnReceived(Connection& c, absl::string_view bytes, absl::Time now);
  void OnPeerClosed(Connection& c, absl::Time now);
  // Acts on the channel's state after it consumed input.
  void AfterTls(Connection& c, bool was_handshaking, absl::Time now);
  void FlushTls(Connection& c);
  void ArmDeadline(Connection& c, absl::Time now);
  void Close(Connection& c);
  // Makes the descriptor's close send RST (SO_LINGER 0).
  void ResetOnClose(Connection& c);
  void Drain(Connection& c, absl::Time now);
  void Deliver(Connection& c);
  void Release(Connection& c);
  void ReturnBuffer(uint16_t id);
  void ArmPoll(uint32_t index);
  void HandlePoll(const io_uring_cqe* cqe);
  void AddressDone(const Probe& probe);
  // The per-group gate: `probe` (holding its address's count) goes to
  // ready_ when its group has room, else waits for its group.
  void Admit(Probe probe);
  // A probe of `group` finished: its count passes to the oldest probe
  // waiting for the group, or is given back.
  void GroupDone(uint32_t group);
  void ReleaseGroupCount(uint32_t group);
  void ReleaseAddressCount(const Probe& probe);
  // When the backoff of `address` ends; InfinitePast when it has none.
  absl::Time BackedOffUntil(const sockaddr_in6& address) const;
  // Backs the probe's address off, or resets its backoff, by the outcome.
  void NoteOutcome(const Probe& probe, const smtp::SessionResult& result);
  void SweepBackoffs(absl::Time now);
  bool TakeToken(absl::Time now);

  EngineOptions options_;
  ResultCallback done_;
  io_uring ring_{};
  bool ring_ok_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  std::unique_ptr<char[]> buffers_;
  TimerWheel wheel_;

  std::vector<std::unique_ptr<Connection>> conns_;
  std::vector<uint32_t> free_;
  size_t open_ = 0;
  std::deque<Probe> ready_;  // may start now (per-address limit allows)
  // Probes ready or running per address. One entry per open connection,
  // so kept to 21 bytes a slot; the rare addresses with probes waiting for
  // the per-address limit have a queue in `waiting_`, oldest first (a
  // vector, not a deque: libstdc++'s deque allocates 576 bytes up front).
  absl::flat_hash_map<AddressKey, uint32_t> addresses_;
  absl::flat_hash_map<AddressKey, std::vector<Probe>> waiting_;
  // Per-group limit: probes ready or running per group (entries only while
  // non-zero), and the probes waiting for their group, oldest first (a
  // group's queue can be long: a deque, not a vector's front erase).
  absl::flat_hash_map<uint32_t, uint32_t> groups_;
  absl::flat_hash_map<uint32_t, std::deque<Probe>> group_waiting_;
  // Backoff per address: when it ends and how many times it doubled.
  struct Backoff {
    absl::Time until;
    int level = 0;
  };
  absl::flat_hash_map<AddressKey, Backoff> backoff_;
  // Probes held back by a backoff: a min-heap by `at` (Later()).
  struct Delayed {
    absl::Time at;     // when the backoff ends
    absl::Time since;  // when the probe was held back
    Probe probe;
  };
  static bool Later(const Delayed& a, const Delayed& b) { return a.at > b.at; }
  std::vector<Delayed> delayed_;
  // How long the probe on a slot waited for a backoff, for its outcome;
  // only slots whose probe did wait (Connection stays small).
  absl::flat_hash_map<uint32_t, absl::Duration> backoff_waited_;
  absl::Time backoff_swept_;
  EngineStats stats_;
  size_t queued_ = 0;                 // submitted, not yet started
  std::vector<uint32_t> recv_retry_;  // slots whose receive found no buffer
  std::string plain_;  // decrypted bytes, scratch for one completion
  // Watched foreign descriptors; boxed so that a callback that adds a watch
  // cannot move the one being called.
  std::vector<std::unique_ptr<Watch>> watches_;
  std::vector<uint32_t> free_watches_;
  double tokens_ = 0;
  absl::Time refilled_;
  bool abandoned_ = false;  // Abandon(): Run returns at its next turn
};

absl::Status Engine::Impl::Init() {
  if (options_.concurrency == 0) {
    return absl::InvalidArgumentError("concurrency must be at least 1");
  }
  const size_t max = MaxConcurrencyForFileLimit();
  if (options_.concurrency > max) {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    return absl::InvalidArgumentError(
        absl::StrCat("concurrency ", options_.concurrency,
                     " needs more open files than "
                     "the limit allows (",
                     limit.rlim_max, "); use -c ", max,
                     " or less, or raise the hard limit (ulimit -Hn)"));
  }
  const size_t buffers = options_.receive_buffers;
  if (buffers == 0 || buffers > 32768 || (buffers & (buffers - 1)) != 0) {
    return absl::InvalidArgumentError(
        "receive_buffers must be a power of two up to 32768");
  }

  // The completion queue must never overflow (liburing examples/proxy.c):
  // each connection has at most three operations in flight.
  const unsigned sq_entries = 1024;
  const unsigned cq_entries = static_cast<unsigned>(std::max<size_t>(
      4096, std::min<size_t>(options_.concurrency * 4, 1u << 20)));
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                 IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
  params.cq_entries = cq_entries;
  int ret = io_uring_queue_init_params(sq_entries, &ring_, &params);
  if (ret == -EINVAL) {
    // Before 6.1 (DEFER_TASKRUN) or 6.0 (SINGLE_ISSUER): plain flags.
    params = io_uring_params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = cq_entries;
    ret = io_uring_queue_init_params(sq_entries, &ring_, &params);
  }
  if (ret < 0) return RingSetupError(-ret);
  ring_ok_ = true;

  // Provided-buffer ring (kernel 5.19): page-aligned, as io_uring requires.
  buf_ring_bytes_ = buffers * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    return absl::ResourceExhaustedError("cannot map the receive buffer ring");
  }
  buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
  reg.ring_entries = static_cast<uint32_t>(buffers);
  reg.bgid = kBufferGroup;
  ret = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (ret < 0) {
    return absl::UnavailableError(
        absl::StrCat("io_uring provided buffer rings are not available (",
                     strerror(-ret), "); smtpscan needs Linux 6.0 or later"));
  }
  buffers_.reset(new char[buffers * options_.receive_buffer_bytes]);
  for (size_t i = 0; i < buffers; ++i) {
    io_uring_buf_ring_add(
        buf_ring_, buffers_.get() + i * options_.receive_buffer_bytes,
        static_cast<unsigned>(options_.receive_buffer_bytes),
        static_cast<unsigned short>(i),
        io_uring_buf_ring_mask(static_cast<uint32_t>(buffers)),
        static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buffers));
  refilled_ = absl::Now();
  tokens_ = 1;
  return absl::OkStatus();
}

io_uring_sqe* Engine::Impl::GetSqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;  // never null after a submit freed the queue
}

void Engine::Impl::Submit(Probe probe) {
  const AddressKey key = KeyOf(probe.address);
  uint32_t& count = addresses_[key];
  ++queued_;
  if (count < options_.per_address) {
    ++count;
    Admit(std::move(probe));
  } else {
    waiting_[key].push_back(std::move(probe));
  }
}

void Engine::Impl::Admit(Probe probe) {
  if (probe.group != 0 && options_.per_group != 0) {
    uint32_t& count = groups_[probe.group];
    if (count >= options_.per_group) {
      ++stats_.group_waits;
      group_waiting_[probe.group].push_back(std::move(probe));
      return;
    }
    ++count;
  }
  ready_.push_back(std::move(probe));
}

void Engine::Impl::GroupDone(uint32_t group) {
  if (group == 0 || options_.per_group == 0) return;
  if (auto w = group_waiting_.find(group); w != group_waiting_.end()) {
    // The group's count passes to its oldest waiting probe.
    ready_.push_back(std::move(w->second.front()));
    w->second.pop_front();
    if (w->second.empty()) group_waiting_.erase(w);
    return;
  }
  ReleaseGroupCount(group);
}

void Engine::Impl::ReleaseGroupCount(uint32_t group) {
  if (group == 0 || options_.per_group == 0) return;
  auto it = groups_.find(group);
  if (it != groups_.end() && --it->second == 0) groups_.erase(it);
}

void Engine::Impl::ReleaseAddressCount(const Probe& probe) {
  auto it = addresses_.find(KeyOf(probe.address));
  if (it != addresses_.end() && --it->second == 0) addresses_.erase(it);
}

void Engine::Impl::AddressDone(const Probe& probe) {
  // The group first: a probe of the same group waiting for this address
  // then finds the group's count given back.
  GroupDone(probe.group);
  const AddressKey key = KeyOf(probe.address);
  if (auto w = waiting_.find(key); w != waiting_.end()) {
    // The slot passes to the next probe for the same address.
    Probe next = std::move(w->second.front());
    w->second.erase(w->second.begin());
    if (w->second.empty()) waiting_.erase(w);
    Admit(std::move(next));
    return;
  }
  auto it = addresses_.find(key);
  if (it != addresses_.end() && --it->second == 0) addresses_.erase(it);
}

size_t Engine::Impl::DropQueued() {
  const size_t dropped = queued_;
  // Ready and delayed probes hold their address's and group's counts;
  // probes waiting for their group hold their address's; probes waiting
  // for their address hold none.
  for (const Probe& probe : ready_) {
    ReleaseAddressCount(probe);
    ReleaseGroupCount(probe.group);
  }
  for (const Delayed& d : delayed_) {
    ReleaseAddressCount(d.probe);
    ReleaseGroupCount(d.probe.group);
  }
  for (const auto& [group, probes] : group_waiting_) {
    for (const Probe& probe : probes) ReleaseAddressCount(probe);
  }
  ready_.clear();
  waiting_.clear();
  group_waiting_.clear();
  delayed_.clear();
  queued_ = 0;
  return dropped;
}

absl::Time Engine::Impl::BackedOffUntil(const sockaddr_in6& address) const {
  auto it = backoff_.find(KeyOf(address));
  return it == backoff_.end() ? absl::InfinitePast() : it->second.until;
}

namespace {

// Whether a conversation's outcome asks the scanner to come back later:
// 421 (RFC 5321 §3.8: the service is closing the channel; also what a
// busy server answers to too many connections) or a reset. Not a refused
// connect: that is an answer about one port (465 and 587 are closed on
// most MX hosts scanned with -p 25,465,587), and backing off from it would
// hold up the address's other ports for nothing.
bool AsksForBackoff(const smtp::SessionResult& r) {
  if (r.status == ScanStatus::kConnectionReset &&
      (r.status_detail == "ECONNRESET" || r.status_detail == "EPIPE")) {
    return true;
  }
  auto is421 = [](const auto& reply) {
    return reply.has_value() && reply->code == 421;
  };
  return is421(r.greeting) ||
         (r.ehlo.has_value() && r.ehlo->reply.code == 421) || is421(r.helo) ||
         is421(r.starttls) ||
         (r.ehlo_tls.has_value() && r.ehlo_tls->reply.code == 421) ||
         is421(r.helo_tls) || is421(r.help) || is421(r.unknown) ||
         is421(r.quit);
}

}  // namespace

void Engine::Impl::NoteOutcome(const Probe& probe,
                               const smtp::SessionResult& result) {
  if (options_.backoff_initial <= absl::ZeroDuration()) return;
  if (result.status == ScanStatus::kSuccess) {
    if (!backoff_.empty()) backoff_.erase(KeyOf(probe.address));
    return;
  }
  if (!AsksForBackoff(result)) return;
  const absl::Time now = absl::Now();
  Backoff& b = backoff_[KeyOf(probe.address)];
  // A quiet spell as long as the longest backoff starts over.
  if (b.level > 0 && now > b.until + options_.backoff_max) b.level = 0;
  const absl::Duration delay = std::min(
      options_.backoff_initial * (int64_t{1} << b.level), options_.backoff_max);
  b.until = std::max(b.until, now + delay);
  if (b.level < 30) ++b.level;
  ++stats_.backoffs;
}

void Engine::Impl::SweepBackoffs(absl::Time now) {
  backoff_swept_ = now;
  for (auto it = backoff_.begin(); it != backoff_.end();) {
    // Past its end and the quiet spell that resets it: it no longer
    // delays anything nor changes the next backoff.
    if (it->second.until + options_.backoff_max < now) {
      backoff_.erase(it++);
    } else {
      ++it;
    }
  }
}

bool Engine::Impl::TakeToken(absl::Time now) {
  if (options_.rate <= 0) return true;
  // Burst of at most a tenth of a second's worth (at least one).
  const double burst = std::max(1.0, options_.rate / 10);
  tokens_ = std::min(
      burst, tokens_ + absl::ToDoubleSeconds(now - refilled_) * options_.rate);
  refilled_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

void Engine::Impl::StartReady(absl::Time now) {
  // Probes whose backoff has ended go first: they have waited longest.
  while (!delayed_.empty() && delayed_.front().at <= now && HasRoom()) {
    std::pop_heap(delayed_.begin(), delayed_.end(), Later);
    Delayed& d = delayed_.back();
    const absl::Time until = BackedOffUntil(d.probe.address);
    if (until > now || !TakeToken(now)) {
      // Backed off again meanwhile (per_address > 1), or no token yet.
      if (until > now) d.at = until;
      std::push_heap(delayed_.begin(), delayed_.end(), Later);
      if (until > now) continue;
      return;
    }
    Delayed taken = std::move(d);
    delayed_.pop_back();
    --queued_;
    stats_.backoff_wait += now - taken.since;
    Start(std::move(taken.probe), now, now - taken.since);
  }
  while (!ready_.empty() && HasRoom()) {
    if (!backoff_.empty()) {
      const absl::Time until = BackedOffUntil(ready_.front().address);
      if (until > now) {
        delayed_.push_back({until, now, std::move(ready_.front())});
        std::push_heap(delayed_.begin(), delayed_.end(), Later);
        ready_.pop_front();
        ++stats_.backoff_delayed;
        continue;
      }
    }
    if (!TakeToken(now)) return;
    Probe probe = std::move(ready_.front());
    ready_.pop_front();
    --queued_;
    Start(std::move(probe), now);
  }
}

void Engine::Impl::Start(Probe probe, absl::Time now, absl::Duration backoff) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(conns_.size());
    conns_.push_back(std::make_unique<Connection>());
    conns_.back()->slot = slot;
  }
  Connection& c = *conns_[slot];
  ++c.generation;
  c.probe = std::move(probe);
  c.started_at = now;
  if (backoff > absl::ZeroDuration()) backoff_waited_[slot] = backoff;
  c.session_deadline = now + options_.deadlines.session;
  c.session.emplace(c.probe.config);
  c.session->Start(now);
  c.timed_phase = smtp::Phase::kDone;
  ++open_;
  if (options_.shared_open != nullptr) {
    options_.shared_open->fetch_add(1, std::memory_order_relaxed);
  }

  const int family = c.probe.address.sin6_family;
  c.fd =
      socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  int error = c.fd < 0 ? errno : 0;
  if (error == 0) {
    const sockaddr* source = nullptr;
    socklen_t source_length = 0;
    if (family == AF_INET && options_.source4) {
      source = reinterpret_cast<const sockaddr*>(&*options_.source4);
      source_length = sizeof(sockaddr_in);
    } else if (family == AF_INET6 && options_.source6) {
      source = reinterpret_cast<const sockaddr*>(&*options_.source6);
      source_length = sizeof(sockaddr_in6);
    }
    if (source != nullptr) {
      // Choose the port at connect time, per destination (ip(7)): binding
      // to port 0 would reserve one ephemeral port per socket.
      const int one = 1;
      setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
      if (bind(c.fd, source, source_length) != 0) error = errno;
    }
  }
  if (error != 0) {
    Apply(c, c.session->OnSocketError(error, now), now);
    return;
  }
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_connect(sqe, c.fd,
                        reinterpret_cast<const sockaddr*>(&c.probe.address),
                        c.probe.address_length());
  io_uring_sqe_set_data64(sqe, Pack(slot, c.generation, Op::kConnect));
  ++c.inflight;
  ArmDeadline(c, now);
}

void Engine::Impl::ArmDeadline(Connection& c, absl::Time now) {
  const smtp::Phase phase = c.session->phase();
  // Bytes that arrive do not extend a deadline: only a new phase does, so
  // a server dripping one byte a second cannot hold a connection forever.
  if (phase == c.timed_phase) return;
  c.timed_phase = phase;
  const Deadlines& d = options_.deadlines;
  const absl::Duration limit = phase == smtp::Phase::kConnect    ? d.connect
                               : phase == smtp::Phase::kGreeting ? d.greeting
                                                                 : d.reply;
  wheel_.Arm(&c.timer, std::min(now + limit, c.session_deadline));
}

void Engine::Impl::ArmRecv(Connection& c) {
  if (c.recv_armed || c.closing) return;
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_recv_multishot(sqe, c.fd, nullptr, 0, 0);
  // Multishot: armed once, it completes for every arrival (with
  // IORING_CQE_F_MORE while it stays armed) until EOF, an error, a cancel or
  // an empty buffer ring (-ENOBUFS, re-armed from recv_retry_). It is armed
  // right after the connect, when the server has had no time to speak, so
  // it waits for readiness before its first attempt (kernel 5.19).
  sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, Pack(c.slot, c.generation, Op::kRecv));
  ++c.inflight;
  c.recv_armed = true;
}

void Engine::Impl::SubmitSend(Connection& c) {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_send(sqe, c.fd, c.out.data() + c.out_sent,
                     c.out.size() - c.out_sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, Pack(c.slot, c.generation, Op::kSend));
  ++c.inflight;
  c.send_inflight = true;
}

void Engine::Impl::Send(Connection& c, std::string bytes) {
  if (c.send_inflight) {
    c.queued += bytes;
  } else {
    c.out = std::move(bytes);
    c.out_sent = 0;
    SubmitSend(c);
  }
}

void Engine::Impl::FlushTls(Connection& c) {
  if (c.tls == nullptr || !c.tls->HasCiphertext()) return;
  std::string bytes;
  c.tls->TakeCiphertext(&bytes);
  Send(c, std::move(bytes));
}

void Engine::Impl::Apply(Connection& c, smtp::Action action, absl::Time now) {
  switch (action.kind) {
    case smtp::Action::Kind::kSend:
      if (c.tls != nullptr) {
        // The session only sends inside TLS once the channel is open.
        if (!c.tls->Write(action.bytes)) {
          FlushTls(c);
          Apply(c, c.session->OnSocketError(EPROTO, now), now);
          return;
        }
        FlushTls(c);
      } else {
        Send(c, std::move(action.bytes));
      }
      [[fallthrough]];
    case smtp::Action::Kind::kRead:
      ArmRecv(c);
      ArmDeadline(c, now);
      return;
    case smtp::Action::Kind::kStartTls:
      StartTls(c, now);
      return;
    case smtp::Action::Kind::kClose:
      if (c.session->result().quit.has_value() && !c.closing) {
        Drain(c, now);
      } else {
        Close(c);
      }
      return;
  }
}

void Engine::Impl::StartTls(Connection& c, absl::Time now) {
  if (c.tls != nullptr) {  // Idle() repeats kStartTls while handshaking
    ArmRecv(c);
    ArmDeadline(c, now);
    return;
  }
  if (options_.tls_context == nullptr) {
    Apply(c, c.session->OnTlsFailed("no TLS context", now), now);
    return;
  }
  tls::ChannelOptions tls_options;
  tls_options.server_name = c.probe.server_name;
  tls_options.dane = c.probe.dane.get();
  c.tls = std::make_unique<tls::Channel>(*options_.tls_context, tls_options);
  const tls::Channel::State state = c.tls->Start();
  FlushTls(c);  // the ClientHello
  if (state == tls::Channel::State::kFailed) {
    Apply(c, c.session->OnTlsFailed(c.tls->facts().error, now), now);
    return;
  }
  ArmRecv(c);
  ArmDeadline(c, now);
}

void Engine::Impl::OnReceived(Connection& c, absl::string_view bytes,
                              absl::Time now) {
  if (c.tls == nullptr) {
    Apply(c, c.session->OnBytes(bytes, now), now);
    return;
  }
  const bool was_handshaking =
      c.tls->state() == tls::Channel::State::kHandshake;
  plain_.clear();
  c.tls->Feed(bytes, &plain_);
  AfterTls(c, was_handshaking, now);
}

void Engine::Impl::OnPeerClosed(Connection& c, absl::Time now) {
  if (c.tls == nullptr) {
    Apply(c, c.session->OnEof(now), now);
    return;
  }
  const bool was_handshaking =
      c.tls->state() == tls::Channel::State::kHandshake;
  plain_.clear();
  c.tls->FeedEof(&plain_);
  AfterTls(c, was_handshaking, now);
  if (!c.closing && c.session.has_value() && !c.session->done()) {
    Apply(c, c.session->OnEof(now), now);
  }
}

void Engine::Impl::AfterTls(Connection& c, bool was_handshaking,
                            absl::Time now) {
  const tls::Channel::State state = c.tls->state();
  if (was_handshaking && state == tls::Channel::State::kOpen) {
    // The client's last handshake flight leaves together with the EHLO
    // that follows it: two sends would meet Nagle and the server's delayed
    // ACK (~40 ms per STARTTLS session, measured in bench/tls).
    Apply(c, c.session->OnTlsEstablished(now), now);
    if (c.tls != nullptr) FlushTls(c);
  } else {
    FlushTls(c);  // handshake messages, alerts
    if (was_handshaking) {
      if (state == tls::Channel::State::kHandshake) {
        ArmRecv(c);
        return;
      }
      Apply(c, c.session->OnTlsFailed(c.tls->facts().error, now), now);
      return;
    }
  }
  // Application data that came with (or after) the last handshake message.
  if (!plain_.empty() && !c.closing && c.session.has_value()) {
    std::string plain = std::move(plain_);
    Apply(c, c.session->OnBytes(plain, now), now);
    plain_ = std::move(plain);
  }
  if (c.closing || !c.session.has_value() || c.session->done()) return;
  if (state == tls::Channel::State::kFailed) {
    // The record layer broke mid-conversation (a bad MAC, garbage).
    Apply(c, c.session->OnSocketError(EPROTO, now), now);
  } else if (state == tls::Channel::State::kClosed) {
    Apply(c, c.session->OnEof(now), now);
  }
}

void Engine::Impl::Close(Connection& c) {
  if (c.closing) return;
  c.closing = true;
  wheel_.Disarm(&c.timer);
  if (c.inflight == 0) {
    Release(c);
    return;
  }
  // One request cancels every operation on the descriptor (io_uring 5.19).
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_cancel_fd(sqe, c.fd, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, Pack(c.slot, c.generation, Op::kCancel));
  ++c.inflight;
}

// RFC 5321 §4.1.1.10: after its reply to QUIT the server closes the
// connection. Waiting for that close, rather than closing at the same time,
// leaves the scanner no TIME_WAIT state for a finished conversation. The
// server's close is then answered with RST, not FIN: the server's
// application has closed already, so nothing there sees it, and its socket
// goes at once instead of waiting out TIME_WAIT. That is one packet fewer
// per conversation (FIN, RST against FIN, FIN, ACK) and no LAST_ACK state
// here: 8-9% less client CPU per session (paired e2e rounds, README). A server
// that does not close within deadlines.peer_close is closed with FIN.
void Engine::Impl::Drain(Connection& c, absl::Time now) {
  c.draining = true;
  if (c.tls != nullptr) {
    // close_notify first: a TLS server may wait for it before it closes
    // (Exim waits ~2 s), and the wait below is for the server to close.
    c.tls->Shutdown();
    FlushTls(c);
  }
  Deliver(c);
  ArmRecv(c);
  wheel_.Arm(&c.timer,
             std::min(now + options_.deadlines.peer_close, c.session_deadline));
}

void Engine::Impl::ResetOnClose(Connection& c) {
  const linger reset{1, 0};
  setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
}

void Engine::Impl::Deliver(Connection& c) {
  if (!c.session.has_value()) return;
  // Built around the result, so that it is moved once.
  ProbeOutcome outcome{c.probe.id, c.started_at, c.session->TakeResult(),
                       nullptr, absl::ZeroDuration()};
  if (!backoff_waited_.empty()) {
    if (auto it = backoff_waited_.find(c.slot); it != backoff_waited_.end()) {
      outcome.backoff = it->second;
      backoff_waited_.erase(it);
    }
  }
  c.session.reset();
  NoteOutcome(c.probe, outcome.session);
  if (c.tls != nullptr) {
    // The SSL (most of a TLS connection's memory) goes with the result.
    outcome.tls = std::make_shared<const tls::TlsFacts>(c.tls->TakeFacts());
    c.tls.reset();
  }
  done_(std::move(outcome));
}

void Engine::Impl::Release(Connection& c) {
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
  Deliver(c);
  c.out.clear();
  c.queued.clear();
  c.out_sent = 0;
  c.recv_armed = c.send_inflight = c.closing = c.draining = false;
  c.tls.reset();
  const Probe probe = std::move(c.probe);
  free_.push_back(c.slot);
  --open_;
  if (options_.shared_open != nullptr) {
    options_.shared_open->fetch_sub(1, std::memory_order_relaxed);
  }
  AddressDone(probe);
}

void Engine::Impl::ReturnBuffer(uint16_t id) {
  const uint32_t entries = static_cast<uint32_t>(options_.receive_buffers);
  io_uring_buf_ring_add(
      buf_ring_, buffers_.get() + size_t{id} * options_.receive_buffer_bytes,
      static_cast<unsigned>(options_.receive_buffer_bytes), id,
      io_uring_buf_ring_mask(entries), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

uint64_t Engine::Impl::WatchFd(int fd, uint32_t events, FdCallback ready) {
  uint32_t index;
  if (!free_watches_.empty()) {
    index = free_watches_.back();
    free_watches_.pop_back();
  } else {
    index = static_cast<uint32_t>(watches_.size());
    watches_.push_back(std::make_unique<Watch>());
  }
  Watch& w = *watches_[index];
  w.generation = (w.generation + 1) & 0xffffff;
  w.fd = fd;
  w.events = events;
  w.active = true;
  w.ready = std::move(ready);
  ArmPoll(index);
  return (uint64_t{index} << 32) | w.generation;
}

void Engine::Impl::ArmPoll(uint32_t index) {
  const Watch& w = *watches_[index];
  io_uring_sqe* sqe = GetSqe();
  // One-shot, re-armed after each callback: arming checks the current state,
  // which makes the watch level-triggered. c-ares needs that: it reads a TCP
  // answer's length prefix and its body in separate calls and expects to be
  // told again while bytes remain (a multishot poll, edge-triggered, left a
  // truncated-then-TCP answer waiting forever).
  io_uring_prep_poll_add(sqe, w.fd, w.events);
  io_uring_sqe_set_data64(sqe, Pack(index, w.generation, Op::kPoll));
}

void Engine::Impl::UnwatchFd(uint64_t handle) {
  const uint32_t index = static_cast<uint32_t>(handle >> 32);
  const uint32_t generation = static_cast<uint32_t>(handle);
  if (index >= watches_.size()) return;
  Watch& w = *watches_[index];
  if (!w.active || w.generation != generation) return;
  w.active = false;
  w.ready = nullptr;
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_poll_remove(sqe, Pack(index, generation, Op::kPoll));
  io_uring_sqe_set_data64(sqe, Pack(index, generation, Op::kPollRemove));
  // The index may serve a new watch at once: its next generation keeps the
  // old poll's late completions apart.
  free_watches_.push_back(index);
}

void Engine::Impl::HandlePoll(const io_uring_cqe* cqe) {
  const uint32_t index = SlotOf(cqe->user_data);
  const uint32_t generation = GenerationOf(cqe->user_data);
  auto current = [&] {
    return index < watches_.size() && watches_[index]->active &&
           watches_[index]->generation == generation;
  };
  if (!current()) return;
  const uint32_t events =
      cqe->res >= 0 ? static_cast<uint32_t>(cqe->res) : uint32_t{POLLERR};
  // Called from a moved-out copy: the callback may unwatch this descriptor
  // (destroying the stored callback) or watch another.
  FdCallback ready = std::move(watches_[index]->ready);
  ready(events);
  if (!current()) return;
  watches_[index]->ready = std::move(ready);
  if (cqe->res >= 0) ArmPoll(index);  // a failed poll is not retried
}

void Engine::Impl::HandleCompletion(const io_uring_cqe* cqe, absl::Time now) {
  const uint64_t data = cqe->user_data;
  if (OpOf(data) == Op::kPoll) {
    HandlePoll(cqe);
    return;
  }
  if (OpOf(data) == Op::kPollRemove) return;
  const int res = cqe->res;
  const bool has_buffer = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
  const uint16_t buffer_id =
      static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
  const uint32_t slot = SlotOf(data);
  if (slot >= conns_.size() || conns_[slot]->generation != GenerationOf(data)) {
    if (has_buffer) ReturnBuffer(buffer_id);  // cannot happen; stay safe
    return;
  }
  Connection& c = *conns_[slot];
  const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  if (!more) --c.inflight;
  switch (OpOf(data)) {
    case Op::kConnect:
      if (c.closing) break;
      assert(!c.draining);
      if (res == 0) {
        Apply(c, c.session->OnConnected(now), now);
      } else {
        Apply(c, c.session->OnSocketError(-res, now), now);
      }
      break;
    case Op::kRecv:
      c.recv_armed = more;
      if (c.draining && !c.closing) {
        // Bytes after the reply to QUIT are not read; anything but the
        // close ends the wait too.
        if (has_buffer) ReturnBuffer(buffer_id);
        // The server's close, as expected: answer it with RST (see Drain).
        if (!has_buffer && res == 0) ResetOnClose(c);
        Close(c);
        break;
      }
      if (has_buffer) {
        if (!c.closing && res > 0) {
          OnReceived(c,
                     absl::string_view(
                         buffers_.get() +
                             size_t{buffer_id} * options_.receive_buffer_bytes,
                         static_cast<size_t>(res)),
                     now);
        }
        // The session and TLS copy what they keep: the buffer can go back.
        ReturnBuffer(buffer_id);
      } else if (c.closing || res == -ECANCELED) {
        break;
      } else if (res == 0) {
        OnPeerClosed(c, now);
      } else if (res == -ENOBUFS) {
        recv_retry_.push_back(slot);  // re-armed once buffers came back
      } else {
        Apply(c, c.session->OnSocketError(-res, now), now);
      }
      break;
    case Op::kSend:
      c.send_inflight = false;
      if (c.closing || res == -ECANCELED) break;
      if (res < 0) {
        Apply(c, c.session->OnSocketError(-res, now), now);
        break;
      }
      c.out_sent += static_cast<size_t>(res);
      if (c.out_sent < c.out.size()) {
        SubmitSend(c);
      } else if (!c.queued.empty()) {
        c.out.swap(c.queued);
        c.queued.clear();
        c.out_sent = 0;
        SubmitSend(c);
      }
      break;
    case Op::kCancel:
    case Op::kPoll:  // handled above
    case Op::kPollRemove:
      break;
  }
  if (c.closing && c.inflight == 0) Release(c);
}

absl::Status Engine::Impl::Run(absl::FunctionRef<bool()> feed,
                               absl::FunctionRef<void()> after_batch,
                               absl::FunctionRef<bool()> finished) {
  while (true) {
    if (abandoned_) return absl::OkStatus();
    absl::Time now = absl::Now();
    bool fed = true;
    while (Accepting() && (fed = feed())) {
    }
    StartReady(now);
    if (!fed && open_ == 0 && queued_ == 0 && finished()) {
      return absl::OkStatus();
    }

    absl::Time wake = wheel_.NextExpiry(now + kMaxWait);
    if (!ready_.empty() && open_ < options_.concurrency && options_.rate > 0) {
      wake = std::min(wake, now + absl::Seconds(1 / options_.rate));
    }
    if (!delayed_.empty()) wake = std::min(wake, delayed_.front().at);
    if (!recv_retry_.empty()) wake = now;
    const absl::Duration wait = std::max(absl::ZeroDuration(), wake - now);
    __kernel_timespec ts{};
    ts.tv_sec = absl::ToInt64Seconds(wait);
    ts.tv_nsec = absl::ToInt64Nanoseconds(wait - absl::Seconds(ts.tv_sec));
    io_uring_cqe* first = nullptr;
    const int ret =
        io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
    if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN &&
        ret != -EBUSY) {
      return absl::InternalError(
          absl::StrCat("io_uring wait failed: ", strerror(-ret)));
    }

    now = absl::Now();
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      HandleCompletion(cqe, now);
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);

    wheel_.Advance(now, [&](TimerNode* node) {
      Connection& c = *reinterpret_cast<Connection*>(node);
      if (c.draining) {
        Close(c);
      } else {
        Apply(c, c.session->OnDeadline(now), now);
      }
    });
    after_batch();
    if (!backoff_.empty() && now - backoff_swept_ >= kBackoffSweep) {
      SweepBackoffs(now);
    }
    if (!recv_retry_.empty()) {
      std::vector<uint32_t> retry;
      retry.swap(recv_retry_);
      for (uint32_t slot : retry) {
        Connection& c = *conns_[slot];
        if ((c.session.has_value() || c.draining) && !c.closing) ArmRecv(c);
      }
    }
  }
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(EngineOptions options,
                                                       ResultCallback done) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(done));
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

bool Engine::Accepting() const { return impl_->Accepting(); }
EngineStats Engine::stats() const { return impl_->stats(); }
size_t Engine::open_connections() const { return impl_->open_connections(); }
size_t Engine::DropQueued() { return impl_->DropQueued(); }
void Engine::Abandon() { impl_->Abandon(); }
void Engine::Submit(Probe probe) { impl_->Submit(std::move(probe)); }
absl::Status Engine::Run(absl::FunctionRef<bool()> feed,
                         absl::FunctionRef<void()> after_batch,
                         absl::FunctionRef<bool()> finished) {
  return impl_->Run(feed, after_batch, finished);
}
uint64_t Engine::WatchFd(int fd, uint32_t events, FdCallback ready) {
  return impl_->WatchFd(fd, events, std::move(ready));
}
void Engine::UnwatchFd(uint64_t handle) { impl_->UnwatchFd(handle); }

size_t MaxConcurrencyForFileLimit(size_t reserve) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur > reserve ? limit.rlim_cur - reserve : 0;
}

}  // namespace smtpscan::engine
