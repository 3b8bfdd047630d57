#include "dns/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <mutex>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "dns/answer.h"

namespace smtpscan::dns {
namespace {

constexpr int kClassIn = 1;
constexpr int kTypeA = 1;
constexpr int kTypeMx = 15;
constexpr int kTypeTxt = 16;
constexpr int kTypeAaaa = 28;
constexpr int kTypeTlsa = 52;
constexpr int kEdnsUdpSize = 1232;  // the DNS flag day 2020 size
// The header's fourth octet: AD (RFC 4035 §3.2.3). Set in a query it asks
// a validating resolver to report validation (RFC 6840 §5.7).
constexpr unsigned char kFlagAd = 0x20;

// A query ID nobody can guess (ares_send takes the caller's, unlike
// ares_query). getrandom(2) with flags 0 blocks only until the kernel's
// pool is first initialised, long past at any scan; two bytes are never
// cut short (random(7)), so only a signal (EINTR) asks for a retry.
uint16_t RandomQueryId() {
  uint16_t id = 0;
  ssize_t got;
  do {
    got = getrandom(&id, sizeof(id), 0);
  } while (got < 0 && errno == EINTR);
  if (got != static_cast<ssize_t>(sizeof(id))) {
    std::random_device device;  // a kernel without getrandom(2) (< 3.17)
    id = static_cast<uint16_t>(device());
  }
  return id;
}

}  // namespace

absl::StatusOr<std::string> ParseServer(absl::string_view text) {
  std::string host(text);
  std::string port = "53";
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--resolver: '", text, "' has no closing ']'"));
    }
    host = std::string(text.substr(1, close - 1));
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("--resolver: '", text, "' is not [IPv6]:PORT"));
      }
      port = std::string(rest.substr(1));
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const size_t colon = text.find(':');
    host = std::string(text.substr(0, colon));
    port = std::string(text.substr(colon + 1));
  }
  unsigned char buffer[16];
  const bool v6 = host.find(':') != std::string::npos;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), buffer) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--resolver: '", text, "' is not an IP address with an optional port"));
  }
  int number = 0;
  if (!absl::SimpleAtoi(port, &number) || number < 1 || number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--resolver: port '", port, "' is not in 1..65535"));
  }
  return v6 ? absl::StrCat("[", host, "]:", number)
            : absl::StrCat(host, ":", number);
}

class Resolver::Impl {
 public:
  Impl(const ResolverOptions& options, Poller* poller)
      : options_(options), poller_(poller) {}
  ~Impl() {
    destroying_ = true;
    if (channel_ != nullptr) ares_destroy(channel_);
    for (const auto& [fd, handle] : watched_) poller_->Unwatch(handle);
  }

  absl::Status Init();
  // `ad`: the query goes out with the AD bit set (TLSA).
  void Enqueue(int type, absl::string_view name, bool ad,
               absl::AnyInvocable<void(int, const unsigned char*, int)> done);
  void Tick();
  void Drain();

  size_t pending() const { return queue_.size() + inflight_; }
  size_t inflight() const { return inflight_; }
  std::vector<std::string> servers() const;
  Stats stats_;

 private:
  struct Request {
    Impl* impl;
    int type;
    bool ad;  // sent by Send with the AD bit, not by ares_query
    std::string name;
    absl::AnyInvocable<void(int, const unsigned char*, int)> done;
  };

  static void OnSocketState(void* data, ares_socket_t fd, int readable,
                            int writable);
  static void OnAnswer(void* arg, int status, int timeouts, unsigned char* abuf,
                       int alen);
  void Pump();
  void Send(Request* r);
  bool TakeToken();

  ResolverOptions options_;
  Poller* poller_;
  ares_channel channel_ = nullptr;
  absl::flat_hash_map<int, uint64_t> watched_;  // fd → poller handle
  std::deque<std::unique_ptr<Request>> queue_;  // not sent yet
  size_t inflight_ = 0;
  // Answers parsed inside c-ares, delivered by Drain outside it.
  std::vector<absl::AnyInvocable<void()>> completed_;
  bool draining_ = false;
  bool destroying_ = false;
  double tokens_ = 1;
  absl::Time refilled_ = absl::Now();
};

absl::Status Resolver::Impl::Init() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  ares_options o{};
  // NOSEARCH: names are absolute. NOCHECKRESP: keep SERVFAIL and REFUSED
  // answers; otherwise c-ares 1.18 moves on to the next server and, when
  // none is left, reports ECONNREFUSED ("could not contact DNS servers"),
  // losing the status the record must show.
  o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOCHECKRESP | ARES_FLAG_EDNS;
  o.ednspsz = kEdnsUdpSize;  // no IP fragmentation
  o.timeout = static_cast<int>(
      std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.timeout)));
  o.tries = std::max(1, options_.tries);
  o.sock_state_cb = &Impl::OnSocketState;
  o.sock_state_cb_data = this;
  // One UDP socket per server carries every query (c-ares 1.18): give
  // bursts of answers room (clamped by net.core.rmem_max).
  o.socket_receive_buffer_size = 1 << 20;
  const int mask = ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ | ARES_OPT_TIMEOUTMS |
                   ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB |
                   ARES_OPT_SOCK_RCVBUF;
  const int status = ares_init_options(&channel_, &o, mask);
  if (status != ARES_SUCCESS) {
    channel_ = nullptr;
    return absl::UnavailableError(
        absl::StrCat("cannot set up the resolver: ", ares_strerror(status)));
  }
  if (!options_.servers.empty()) {
    std::vector<std::string> csv;
    for (const std::string& s : options_.servers) {
      absl::StatusOr<std::string> entry = ParseServer(s);
      if (!entry.ok()) return entry.status();
      csv.push_back(*std::move(entry));
    }
    const std::string joined = absl::StrJoin(csv, ",");
    if (ares_set_servers_ports_csv(channel_, joined.c_str()) != ARES_SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat("--resolver: c-ares refused '", joined, "'"));
    }
  }
  if (servers().empty()) {
    return absl::UnavailableError(
        "no DNS resolver: /etc/resolv.conf lists none; pass --resolver IP");
  }
  return absl::OkStatus();
}

std::vector<std::string> Resolver::Impl::servers() const {
  std::vector<std::string> out;
  ares_addr_port_node* nodes = nullptr;
  if (ares_get_servers_ports(channel_, &nodes) != ARES_SUCCESS) return out;
  for (const ares_addr_port_node* n = nodes; n != nullptr; n = n->next) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(n->family, &n->addr, text, sizeof(text));
    const int port = n->udp_port != 0 ? n->udp_port : 53;
    out.push_back(n->family == AF_INET6 ? absl::StrCat("[", text, "]:", port)
                                        : absl::StrCat(text, ":", port));
  }
  ares_free_data(nodes);
  return out;
}

void Resolver::Impl::OnSocketState(void* data, ares_socket_t fd, int readable,
                                   int writable) {
  Impl* self = static_cast<Impl*>(data);
  if (self->destroying_) return;
  // Always drop the old watch and arm a new one: c-ares may close a socket
  // and open another that gets the same number, and a poll belongs to the
  // old file (ENGINEERING.md §3.2: merging the two lost every query).
  if (auto it = self->watched_.find(fd); it != self->watched_.end()) {
    self->poller_->Unwatch(it->second);
    self->watched_.erase(it);
  }
  if (!readable && !writable) return;
  const uint32_t events = (readable ? POLLIN : 0) | (writable ? POLLOUT : 0);
  self->watched_[fd] =
      self->poller_->Watch(fd, events, [self, fd](uint32_t ready) {
        const bool in = (ready & (POLLIN | POLLERR | POLLHUP)) != 0;
        const bool out = (ready & POLLOUT) != 0;
        ares_process_fd(self->channel_, in ? fd : ARES_SOCKET_BAD,
                        out ? fd : ARES_SOCKET_BAD);
        self->Drain();
      });
}

void Resolver::Impl::OnAnswer(void* arg, int status, int /*timeouts*/,
                              unsigned char* abuf, int alen) {
  std::unique_ptr<Request> request(static_cast<Request*>(arg));
  Impl* self = request->impl;
  --self->inflight_;
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) return;
  ++self->stats_.answered;
  if (status == ARES_ETIMEOUT) ++self->stats_.timeouts;
  // ares_send reports any matching answer as a success: map its RCODE as
  // ares_query does for the others.
  if (request->ad && status == ARES_SUCCESS) {
    status = SentQueryStatus(abuf, alen);
  }
  // Parsed now (abuf lives only during this call), delivered later.
  Request* r = request.release();
  std::string wire(reinterpret_cast<const char*>(abuf),
                   abuf != nullptr ? static_cast<size_t>(alen) : 0);
  self->completed_.push_back([r, status, wire = std::move(wire)]() mutable {
    std::unique_ptr<Request> owned(r);
    owned->done(status, reinterpret_cast<const unsigned char*>(wire.data()),
                static_cast<int>(wire.size()));
  });
}

bool Resolver::Impl::TakeToken() {
  if (options_.rate <= 0) return true;
  const absl::Time now = absl::Now();
  const double burst = std::max(1.0, options_.rate / 10);
  tokens_ = std::min(
      burst, tokens_ + absl::ToDoubleSeconds(now - refilled_) * options_.rate);
  refilled_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

void Resolver::Impl::Pump() {
  while (!queue_.empty() && inflight_ < options_.max_inflight && TakeToken()) {
    std::unique_ptr<Request> request = std::move(queue_.front());
    queue_.pop_front();
    ++inflight_;
    ++stats_.queries;
    Request* r = request.release();
    if (r->ad) {
      Send(r);
      continue;
    }
    // May answer at once (a bad name): OnAnswer only queues the result.
    ares_query(channel_, r->name.c_str(), kClassIn, r->type, &Impl::OnAnswer,
               r);
  }
}

// ares_query cannot set AD, so the query is built here (as ares_query
// builds it: RD=1, an EDNS OPT record of kEdnsUdpSize) and sent with
// ares_send (ENGINEERING.md §3.3). Without DO in the OPT record unbound
// still answers AD=1 for validated data, and no RRSIG records travel.
void Resolver::Impl::Send(Request* r) {
  unsigned char* query = nullptr;
  int length = 0;
  const int built =
      ares_create_query(r->name.c_str(), kClassIn, r->type, RandomQueryId(),
                        /*rd=*/1, &query, &length, kEdnsUdpSize);
  if (built != ARES_SUCCESS) {
    // A bad name: answered like ares_query answers it, through the queue.
    OnAnswer(r, built, 0, nullptr, 0);
    return;
  }
  query[3] |= kFlagAd;
  // ares_send copies the query. It may answer at once (no server).
  ares_send(channel_, query, length, &Impl::OnAnswer, r);
  ares_free_string(query);
}

void Resolver::Impl::Enqueue(
    int type, absl::string_view name, bool ad,
    absl::AnyInvocable<void(int, const unsigned char*, int)> done) {
  auto request = std::make_unique<Request>();
  request->impl = this;
  request->type = type;
  request->ad = ad;
  request->name = std::string(name);
  request->done = std::move(done);
  queue_.push_back(std::move(request));
  Pump();
}

void Resolver::Impl::Tick() {
  ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  Drain();
}

void Resolver::Impl::Drain() {
  if (draining_) return;  // the outer call delivers what arrives meanwhile
  draining_ = true;
  while (true) {
    Pump();
    if (completed_.empty()) break;
    std::vector<absl::AnyInvocable<void()>> batch;
    batch.swap(completed_);
    for (auto& deliver : batch) deliver();
  }
  draining_ = false;
}

absl::StatusOr<std::unique_ptr<Resolver>> Resolver::Create(
    const ResolverOptions& options, Poller* poller) {
  auto impl = std::make_unique<Impl>(options, poller);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Resolver>(new Resolver(std::move(impl)));
}

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Resolver::~Resolver() = default;

void Resolver::QueryMx(absl::string_view name,
                       absl::AnyInvocable<void(MxAnswer)> done) {
  impl_->Enqueue(kTypeMx, name, /*ad=*/false,
                 [name = std::string(name), done = std::move(done)](
                     int status, const unsigned char* abuf, int alen) mutable {
                   done(ParseMx(status, abuf, alen, name));
                 });
}

void Resolver::QueryAddresses(absl::string_view name, int family,
                              absl::AnyInvocable<void(AddressAnswer)> done) {
  impl_->Enqueue(family == AF_INET ? kTypeA : kTypeAaaa, name, /*ad=*/false,
                 [name = std::string(name), family, done = std::move(done)](
                     int status, const unsigned char* abuf, int alen) mutable {
                   done(ParseAddresses(status, abuf, alen, name, family));
                 });
}

void Resolver::QueryTxt(absl::string_view name,
                        absl::AnyInvocable<void(TxtAnswer)> done) {
  impl_->Enqueue(kTypeTxt, name, /*ad=*/false,
                 [done = std::move(done)](int status, const unsigned char* abuf,
                                          int alen) mutable {
                   done(ParseTxt(status, abuf, alen));
                 });
}

void Resolver::QueryTlsa(absl::string_view name,
                         absl::AnyInvocable<void(TlsaAnswer)> done) {
  impl_->Enqueue(kTypeTlsa, name, /*ad=*/true,
                 [name = std::string(name), done = std::move(done)](
                     int status, const unsigned char* abuf, int alen) mutable {
                   done(ParseTlsa(status, abuf, alen, name));
                 });
}

void Resolver::Tick() { impl_->Tick(); }
size_t Resolver::pending() const { return impl_->pending(); }
size_t Resolver::inflight() const { return impl_->inflight(); }
std::vector<std::string> Resolver::servers() const { return impl_->servers(); }
const Resolver::Stats& Resolver::stats() const { return impl_->stats_; }

}  // namespace smtpscan::dns
