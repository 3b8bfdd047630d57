// The MTA-STS policy fetcher on libcurl's multi socket interface
// (curl_multi_socket_action(3), "the multi_socket API").
//
// How curl is driven:
// - CURLMOPT_SOCKETFUNCTION tells which sockets to wait on, and for what; each
//   call becomes Poller::Unwatch of the socket's old watch, then Poller::Watch
//   with the new events (none on CURL_POLL_REMOVE). A watch is never kept
//   across calls: curl closes sockets (it says CURL_POLL_REMOVE first) and the
//   next one may get the same number, and a watch belongs to the old file
//   (the resolver does the same for c-ares, ENGINEERING.md §3.2).
// - CURLMOPT_TIMERFUNCTION gives the one deadline curl wants to be called
//   back at; Tick() calls curl_multi_socket_action(CURL_SOCKET_TIMEOUT) once
//   it has passed. curl asks for 0 ms after curl_multi_add_handle: Fetch and
//   the socket handlers honour that at once.
// - Poller callbacks call curl_multi_socket_action for their socket. After
//   each curl_multi_socket_action, finished transfers are read with
//   curl_multi_info_read and their results queued; the queue is delivered
//   (the `done` callbacks run) only at the end of a Poller callback or of
//   Tick, outside every curl call, so `done` may call Fetch again.
//
// Per transfer: a fresh easy handle, https only, no redirects, no proxy
// (not even from the environment), no connection reuse, no TLS session
// cache, HTTP/1.1, a DNS cache of its own (a CURLSH) holding only the
// CURLOPT_RESOLVE entry made from the caller's addresses: curl resolves
// nothing itself, and entries that CURLOPT_RESOLVE makes permanent do not
// pile up in the multi handle's shared cache over millions of domains.
//
// Destruction drops unfinished fetches: their `done` callbacks (queued,
// running or finished but not delivered) are destroyed without being called.
#include "mtasts/fetcher.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#ifndef SMTPSCAN_VERSION
#define SMTPSCAN_VERSION "0.1.0"
#endif

namespace smtpscan::mtasts {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kUserAgent[] = "smtpscan/" SMTPSCAN_VERSION;
constexpr char kPath[] = "/.well-known/mta-sts.txt";
constexpr size_t kMaxErrorBytes = 200;

// A domain that can go into a URL and a CURLOPT_RESOLVE entry as is.
bool IsPlainDomain(absl::string_view domain) {
  if (domain.empty() || domain.size() > 253) return false;
  return std::all_of(domain.begin(), domain.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

// "127.0.0.1" or "[::1]"; empty for an unknown family.
std::string AddressText(const dns::Address& a) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a.family == AF_INET) {
    if (inet_ntop(AF_INET, a.bytes, text, sizeof(text)) == nullptr) return "";
    return text;
  }
  if (a.family == AF_INET6) {
    if (inet_ntop(AF_INET6, a.bytes, text, sizeof(text)) == nullptr) return "";
    return absl::StrCat("[", text, "]");
  }
  return "";
}

// curl's message on one printable line, cut to kMaxErrorBytes.
std::string OneLine(absl::string_view message) {
  std::string out;
  for (char c : message) {
    const unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  absl::StripAsciiWhitespace(&out);
  if (out.size() > kMaxErrorBytes) out.resize(kMaxErrorBytes);
  return out;
}

// RFC 8461 §3.3: the media type must be text/plain; parameters (charset)
// are allowed. RFC 9110 §8.3.1: type and subtype are case-insensitive.
bool IsTextPlain(absl::string_view content_type) {
  const size_t semicolon = content_type.find(';');
  return absl::EqualsIgnoreCase(
      absl::StripAsciiWhitespace(content_type.substr(0, semicolon)),
      "text/plain");
}

// The status of a transfer that ended with `code` before an HTTP answer
// could be judged.
const char* StatusOfCurlError(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return "timeout";
    case CURLE_COULDNT_CONNECT:
      return "connect-error";
    case CURLE_COULDNT_RESOLVE_HOST:
      return "dns-error";  // cannot happen: curl has every address it needs
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
      return "tls-error";
    default:
      return "error";
  }
}

}  // namespace

class Fetcher::Impl {
 public:
  Impl(const FetcherOptions& options, dns::Poller* poller)
      : options_(options), poller_(poller) {}
  ~Impl();

  absl::Status Init();
  void Fetch(absl::string_view domain, std::vector<dns::Address> addresses,
             absl::AnyInvocable<void(FetchResult)> done);
  void Tick();
  size_t pending() const {
    return queue_.size() + active_.size() + undelivered_;
  }

 private:
  struct Transfer {
    Impl* impl = nullptr;
    std::string domain;
    std::vector<dns::Address> addresses;
    absl::AnyInvocable<void(FetchResult)> done;
    CURL* easy = nullptr;
    CURLSH* share = nullptr;
    curl_slist* resolve = nullptr;
    std::string body;
    bool too_large = false;  // the body passed max_body_bytes
    bool not_200 = false;    // stopped reading: the status is not 200
    bool not_text = false;   // stopped reading: not text/plain
    char error[CURL_ERROR_SIZE] = {};
    Clock::time_point started;

    ~Transfer() {
      if (easy != nullptr) curl_easy_cleanup(easy);
      if (share != nullptr) curl_share_cleanup(share);  // after the easy
      curl_slist_free_all(resolve);
    }
  };

  static int OnSocket(CURL* easy, curl_socket_t fd, int what, void* userp,
                      void* socketp);
  static int OnTimer(CURLM* multi, long timeout_ms, void* userp);
  static size_t OnWrite(char* data, size_t size, size_t count, void* userp);

  void OnReady(curl_socket_t fd, uint32_t events);
  // curl_multi_socket_action(fd, mask), then what it finished, then any
  // timeout curl wants at once.
  void Drive(curl_socket_t fd, int mask);
  bool TimerDue() const { return timer_armed_ && Clock::now() >= deadline_; }
  void ReadFinished();
  void Pump();
  // Sets the transfer up and hands it to curl; false (and `t` completed)
  // when curl refused.
  bool Start(std::unique_ptr<Transfer>& t);
  FetchResult Judge(Transfer& t, CURLcode code);
  void Complete(absl::AnyInvocable<void(FetchResult)> done, FetchResult result);
  void Drain();

  FetcherOptions options_;
  dns::Poller* poller_;
  CURLM* multi_ = nullptr;
  absl::flat_hash_map<curl_socket_t, uint64_t> watched_;  // fd → handle
  std::deque<std::unique_ptr<Transfer>> queue_;           // not started yet
  absl::flat_hash_map<CURL*, std::unique_ptr<Transfer>> active_;
  // Results read inside curl calls, delivered by Drain outside them.
  std::vector<std::pair<absl::AnyInvocable<void(FetchResult)>, FetchResult>>
      completed_;
  size_t undelivered_ = 0;  // in completed_ or in the batch Drain delivers
  bool timer_armed_ = false;
  Clock::time_point deadline_;
  bool draining_ = false;
  bool destroying_ = false;
};

absl::Status Fetcher::Impl::Init() {
  static std::once_flag once;
  static CURLcode global = CURLE_OK;
  std::call_once(once, [] { global = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (global != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot set up libcurl: ", curl_easy_strerror(global)));
  }
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  if ((info->features & CURL_VERSION_SSL) == 0) {
    return absl::UnavailableError("libcurl was built without TLS support");
  }
  if (poller_ == nullptr) {
    return absl::InvalidArgumentError("the MTA-STS fetcher needs a poller");
  }
  if (options_.max_concurrent == 0) {
    return absl::InvalidArgumentError(
        "MTA-STS fetcher: max_concurrent must be at least 1");
  }
  if (options_.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "MTA-STS fetcher: the timeout must be positive");
  }
  if (!options_.ca_file.empty() &&
      access(options_.ca_file.c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MTA-STS CA file '", options_.ca_file, "': ", std::strerror(errno)));
  }
  multi_ = curl_multi_init();
  if (multi_ == nullptr) {
    return absl::ResourceExhaustedError("curl_multi_init failed");
  }
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Impl::OnSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Impl::OnTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  return absl::OkStatus();
}

Fetcher::Impl::~Impl() {
  destroying_ = true;
  // Removing a handle may close its socket: OnSocket then only unwatches.
  for (auto& [easy, transfer] : active_) {
    curl_multi_remove_handle(multi_, easy);
  }
  active_.clear();
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
  for (const auto& [fd, handle] : watched_) poller_->Unwatch(handle);
  watched_.clear();
}

int Fetcher::Impl::OnSocket(CURL* /*easy*/, curl_socket_t fd, int what,
                            void* userp, void* /*socketp*/) {
  Impl* self = static_cast<Impl*>(userp);
  if (auto it = self->watched_.find(fd); it != self->watched_.end()) {
    self->poller_->Unwatch(it->second);
    self->watched_.erase(it);
  }
  if (self->destroying_ || what == CURL_POLL_REMOVE) return 0;
  const uint32_t events = ((what & CURL_POLL_IN) != 0 ? POLLIN : 0) |
                          ((what & CURL_POLL_OUT) != 0 ? POLLOUT : 0);
  if (events == 0) return 0;  // CURL_POLL_NONE
  self->watched_[fd] = self->poller_->Watch(
      fd, events, [self, fd](uint32_t ready) { self->OnReady(fd, ready); });
  return 0;
}

int Fetcher::Impl::OnTimer(CURLM* /*multi*/, long timeout_ms, void* userp) {
  // curl_multi_socket_action must not be called from here (curl's
  // CURLMOPT_TIMERFUNCTION(3)): only the deadline is noted.
  Impl* self = static_cast<Impl*>(userp);
  self->timer_armed_ = timeout_ms >= 0;
  if (self->timer_armed_) {
    self->deadline_ = Clock::now() + std::chrono::milliseconds(timeout_ms);
  }
  return 0;
}

size_t Fetcher::Impl::OnWrite(char* data, size_t size, size_t count,
                              void* userp) {
  Transfer* t = static_cast<Transfer*>(userp);
  const size_t n = size * count;
  // The headers are in: a body that is not a 200's, or not text/plain, is
  // not wanted (Judge tells why from the headers alone).
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    t->not_200 = true;
    return 0;  // CURLE_WRITE_ERROR: stop the transfer
  }
  const char* type = nullptr;
  curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &type);
  if (type == nullptr || !IsTextPlain(type)) {
    t->not_text = true;
    return 0;
  }
  if (n > t->impl->options_.max_body_bytes - t->body.size()) {
    t->too_large = true;
    return 0;
  }
  t->body.append(data, n);
  return n;
}

void Fetcher::Impl::OnReady(curl_socket_t fd, uint32_t events) {
  int mask = 0;
  if ((events & (POLLIN | POLLHUP)) != 0) mask |= CURL_CSELECT_IN;
  if ((events & POLLOUT) != 0) mask |= CURL_CSELECT_OUT;
  if ((events & POLLERR) != 0) mask |= CURL_CSELECT_ERR | CURL_CSELECT_IN;
  Drive(fd, mask);
  Drain();
}

void Fetcher::Impl::Drive(curl_socket_t fd, int mask) {
  int running = 0;
  if (fd == CURL_SOCKET_TIMEOUT) timer_armed_ = false;
  curl_multi_socket_action(multi_, fd, mask, &running);
  ReadFinished();
  // Finishing, or starting queued transfers, may make curl ask for a call
  // back at once (a 0 ms timer): honour it now rather than a Tick later.
  for (int i = 0; i < 8 && TimerDue(); ++i) {
    timer_armed_ = false;
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    ReadFinished();
  }
}

void Fetcher::Impl::ReadFinished() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    // `msg` dies with curl_multi_remove_handle: copy what it says first.
    CURL* easy = msg->easy_handle;
    const CURLcode code = msg->data.result;
    auto it = active_.find(easy);
    if (it == active_.end()) continue;
    std::unique_ptr<Transfer> t = std::move(it->second);
    active_.erase(it);
    curl_multi_remove_handle(multi_, easy);
    FetchResult result = Judge(*t, code);
    Complete(std::move(t->done), std::move(result));
  }
  Pump();
}

FetchResult Fetcher::Impl::Judge(Transfer& t, CURLcode code) {
  FetchResult r;
  r.took = absl::FromChrono(Clock::now() - t.started);
  long status = 0;
  curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
  r.http_status = static_cast<int>(status);
  const char* content_type = nullptr;
  curl_easy_getinfo(t.easy, CURLINFO_CONTENT_TYPE, &content_type);
  if (content_type != nullptr) r.content_type = OneLine(content_type);
  const bool answered =
      code == CURLE_OK || code == CURLE_FILESIZE_EXCEEDED ||
      (code == CURLE_WRITE_ERROR && (t.too_large || t.not_200 || t.not_text));
  if (!answered || status == 0) {
    r.status = StatusOfCurlError(code);
    r.error = OneLine(t.error[0] != '\0' ? t.error : curl_easy_strerror(code));
    return r;
  }
  if (status >= 300 && status < 400) {
    r.status = "redirect";  // §3.3: "HTTP 3xx redirects MUST NOT be followed"
    // The transfer was stopped at the body, before curl would work out
    // CURLINFO_REDIRECT_URL: the header itself says where.
    curl_header* location = nullptr;
    r.error = absl::StrCat("HTTP ", status);
    if (curl_easy_header(t.easy, "Location", 0, CURLH_HEADER, -1, &location) ==
            CURLHE_OK &&
        location != nullptr && location->value != nullptr) {
      r.error = OneLine(absl::StrCat(r.error, " to ", location->value));
    }
  } else if (status != 200) {
    r.status = "http-error";
    r.error = absl::StrCat("HTTP ", status);
  } else if (!IsTextPlain(r.content_type)) {
    r.status = "bad-content-type";
    r.error = r.content_type.empty()
                  ? "no Content-Type"
                  : OneLine(absl::StrCat("Content-Type ", r.content_type));
  } else if (t.too_large || code == CURLE_FILESIZE_EXCEEDED) {
    r.status = "too-large";
    r.error = absl::StrCat("body over ", options_.max_body_bytes, " bytes");
  } else {
    r.status = "ok";
    r.body = std::move(t.body);
  }
  return r;
}

void Fetcher::Impl::Complete(absl::AnyInvocable<void(FetchResult)> done,
                             FetchResult result) {
  ++undelivered_;
  completed_.emplace_back(std::move(done), std::move(result));
}

bool Fetcher::Impl::Start(std::unique_ptr<Transfer>& t) {
  std::vector<std::string> addresses;
  for (const dns::Address& a : t->addresses) {
    std::string text = AddressText(a);
    if (!text.empty()) addresses.push_back(std::move(text));
  }
  const std::string host = absl::StrCat("mta-sts.", t->domain);
  const std::string url =
      options_.port == 443
          ? absl::StrCat("https://", host, kPath)
          : absl::StrCat("https://", host, ":", options_.port, kPath);
  // "HOST:PORT:ADDR[,ADDR]..." (CURLOPT_RESOLVE(3), several since 7.59).
  const std::string entry = absl::StrCat(host, ":", options_.port, ":",
                                         absl::StrJoin(addresses, ","));
  t->impl = this;
  t->easy = curl_easy_init();
  t->share = curl_share_init();
  t->resolve = curl_slist_append(nullptr, entry.c_str());
  CURLcode rc = CURLE_OK;
  if (t->easy == nullptr || t->share == nullptr || t->resolve == nullptr ||
      curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
          CURLSHE_OK) {
    rc = CURLE_OUT_OF_MEMORY;
  }
  auto set = [&](CURLoption option, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(t->easy, option, value);
  };
  const long timeout_ms = static_cast<long>(
      std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.timeout)));
  set(CURLOPT_URL, url.c_str());  // curl copies strings
  set(CURLOPT_ERRORBUFFER, t->error);
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_PROTOCOLS_STR, "https");
  set(CURLOPT_REDIR_PROTOCOLS_STR, "https");
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_SHARE, t->share);
  set(CURLOPT_RESOLVE, t->resolve);
  set(CURLOPT_DOH_URL, static_cast<const char*>(nullptr));  // no DoH
  set(CURLOPT_PROXY, "");  // no proxy, whatever the environment says
  set(CURLOPT_NOPROXY, "*");
  set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  set(CURLOPT_FORBID_REUSE, 1L);
  set(CURLOPT_SSL_SESSIONID_CACHE, 0L);
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) {
    set(CURLOPT_CAINFO, options_.ca_file.c_str());
    set(CURLOPT_CAPATH, static_cast<const char*>(nullptr));  // only ca_file
  }
  set(CURLOPT_TIMEOUT_MS, timeout_ms);
  set(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  set(CURLOPT_USERAGENT, kUserAgent);
  set(CURLOPT_WRITEFUNCTION, &Impl::OnWrite);
  set(CURLOPT_WRITEDATA, static_cast<void*>(t.get()));
  if (options_.max_body_bytes > 0) {  // 0 would mean "no limit" to curl
    set(CURLOPT_MAXFILESIZE_LARGE,
        static_cast<curl_off_t>(options_.max_body_bytes));
  }
  if (rc == CURLE_OK) {
    t->started = Clock::now();
    const CURLMcode added = curl_multi_add_handle(multi_, t->easy);
    if (added == CURLM_OK) {
      CURL* easy = t->easy;
      active_.emplace(easy, std::move(t));
      return true;
    }
    FetchResult r;
    r.status = "error";
    r.error = OneLine(curl_multi_strerror(added));
    Complete(std::move(t->done), std::move(r));
    return false;
  }
  FetchResult r;
  r.status = "error";
  r.error = OneLine(
      absl::StrCat("cannot set up the transfer: ", curl_easy_strerror(rc)));
  Complete(std::move(t->done), std::move(r));
  return false;
}

void Fetcher::Impl::Pump() {
  while (!queue_.empty() && active_.size() < options_.max_concurrent) {
    std::unique_ptr<Transfer> t = std::move(queue_.front());
    queue_.pop_front();
    Start(t);
  }
}

void Fetcher::Impl::Fetch(absl::string_view domain,
                          std::vector<dns::Address> addresses,
                          absl::AnyInvocable<void(FetchResult)> done) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  const std::string name = absl::AsciiStrToLower(domain);
  bool any_address = false;
  for (const dns::Address& a : addresses) {
    any_address = any_address || !AddressText(a).empty();
  }
  if (!IsPlainDomain(name) || !any_address) {
    FetchResult r;
    r.status = IsPlainDomain(name) ? "dns-error" : "error";
    r.error = IsPlainDomain(name)
                  ? absl::StrCat("no address for mta-sts.", name)
                  : "not a domain name";
    Complete(std::move(done), std::move(r));  // delivered by the next Tick
    return;
  }
  auto t = std::make_unique<Transfer>();
  t->domain = name;
  t->addresses = std::move(addresses);
  t->done = std::move(done);
  queue_.push_back(std::move(t));
  Pump();
  // curl wants a call at once after curl_multi_add_handle (a 0 ms timer):
  // starts the connection now. Results only queue up here.
  if (TimerDue()) Drive(CURL_SOCKET_TIMEOUT, 0);
}

void Fetcher::Impl::Tick() {
  if (TimerDue()) Drive(CURL_SOCKET_TIMEOUT, 0);
  Drain();
}

void Fetcher::Impl::Drain() {
  if (draining_) return;  // the outer call delivers what arrives meanwhile
  draining_ = true;
  while (!completed_.empty()) {
    std::vector<std::pair<absl::AnyInvocable<void(FetchResult)>, FetchResult>>
        batch;
    batch.swap(completed_);
    for (auto& [done, result] : batch) {
      --undelivered_;
      done(std::move(result));
    }
  }
  draining_ = false;
}

absl::StatusOr<std::unique_ptr<Fetcher>> Fetcher::Create(
    const FetcherOptions& options, dns::Poller* poller) {
  auto impl = std::make_unique<Impl>(options, poller);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Fetcher>(new Fetcher(std::move(impl)));
}

Fetcher::Fetcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Fetcher::~Fetcher() = default;

void Fetcher::Fetch(absl::string_view domain,
                    std::vector<dns::Address> addresses,
                    absl::AnyInvocable<void(FetchResult)> done) {
  impl_->Fetch(domain, std::move(addresses), std::move(done));
}

void Fetcher::Tick() { impl_->Tick(); }
size_t Fetcher::pending() const { return impl_->pending(); }

}  // namespace smtpscan::mtasts
