#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace smtpscan::test_server {
namespace {

// Longest command line accepted, line end excluded; longer ones close.
constexpr std::size_t kMaxLine = 4096;
// Unsent output beyond which the server stops reading (and so stops
// answering) until the client catches up.
constexpr std::size_t kMaxOutput = 256 * 1024;
// Input held back before a delayed greeting; more closes the connection.
constexpr std::size_t kMaxHeldInput = 64 * 1024;
// endless-reply: this many bytes every kFillerPeriodMs, only once the
// previous batch has left.
constexpr std::size_t kFillerBytes = 4096;
constexpr std::uint64_t kFillerPeriodMs = 10;
constexpr std::uint64_t kPacedPeriodMs = 1000;
constexpr std::uint64_t kAcceptPauseMs = 100;
constexpr int kListenBacklog = 65535;  // the kernel caps it at somaxconn

// epoll_event.data.u64: a connection's fd, or one of these tags.
constexpr std::uint64_t kListenerTag = std::uint64_t{1} << 62;
constexpr std::uint64_t kSignalTag = std::uint64_t{1} << 63;

// Every read lands here first; the loop is single-threaded.
char g_read_buf[64 * 1024];

std::uint64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000000;
}

std::string ErrnoText(std::string_view what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// Formats "1.2.3.4:25" or "[::1]:25".
std::string FormatAddress(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(addr);
    inet_ntop(AF_INET, &v4.sin_addr, host, sizeof(host));
    return std::string(host) + ":" + std::to_string(ntohs(v4.sin_port));
  }
  const auto& v6 = reinterpret_cast<const sockaddr_in6&>(addr);
  inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof(host));
  std::string out = "[";
  out.append(host).append("]:").append(std::to_string(ntohs(v6.sin6_port)));
  return out;
}

// Writes as much of `data` as the socket takes. Returns the byte count, or -1
// on a fatal error (EPIPE, ECONNRESET, ...).
ssize_t WriteSome(int fd, std::string_view data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      return -1;
    }
  }
  return static_cast<ssize_t>(done);
}

// Reads and drops whatever input is already queued, so that close() sends FIN
// rather than RST (a close with unread input resets the connection).
void DrainInput(int fd) {
  char buf[4096];
  for (int i = 0; i < 16; ++i) {
    if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0) return;
  }
}

}  // namespace

Server::Server(std::string hostname) : hostname_(std::move(hostname)) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
}

Server::~Server() {
  for (auto& c : conns_) {
    if (!c) continue;
    SSL_free(c->ssl);
    close(c->fd);
  }
  for (const Listener& l : listeners_) close(l.fd);
  if (signal_fd_ >= 0) close(signal_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void Server::SetTlsContext(TlsProfile profile, SslCtxPtr ctx) {
  if (profile == TlsProfile::kModern) tls_modern_ = std::move(ctx);
  if (profile == TlsProfile::kLegacy) tls_legacy_ = std::move(ctx);
}

bool Server::Listen(const sockaddr_storage& addr, socklen_t len, Mode mode,
                    std::string* bound, std::string* error) {
  if (epoll_fd_ < 0) {
    *error = "epoll_create1 failed";
    return false;
  }
  if ((mode.tls_profile() == TlsProfile::kModern && !tls_modern_) ||
      (mode.tls_profile() == TlsProfile::kLegacy && !tls_legacy_)) {
    *error = "mode " + mode.name + " has no TLS context";
    return false;
  }
  int fd =
      socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = ErrnoText("socket");
    return false;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (addr.ss_family == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  sockaddr_storage real{};
  socklen_t real_len = sizeof(real);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 ||
      listen(fd, kListenBacklog) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&real), &real_len) != 0) {
    *error = ErrnoText("bind/listen " + FormatAddress(addr));
    close(fd);
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerTag | listeners_.size();
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    *error = ErrnoText("epoll_ctl");
    close(fd);
    return false;
  }
  listeners_.push_back(Listener{fd, std::move(mode)});
  *bound = FormatAddress(real);
  return true;
}

bool Server::Run(int max_seconds, std::string* error) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  signal_fd_ = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    *error = ErrnoText("signalfd");
    return false;
  }
  epoll_event sev{};
  sev.events = EPOLLIN;
  sev.data.u64 = kSignalTag;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd_, &sev);

  const std::uint64_t deadline =
      NowMs() + static_cast<std::uint64_t>(max_seconds) * 1000;
  constexpr int kMaxEvents = 1024;
  epoll_event events[kMaxEvents];
  for (;;) {
    std::uint64_t now = NowMs();
    if (now >= deadline) return true;
    if (accept_resume_ms_ != 0 && now >= accept_resume_ms_) {
      PauseAccepting(false);
    }
    RunDueTimers(now);
    std::uint64_t wake = deadline;
    if (!timers_.empty()) wake = std::min(wake, timers_.top().due);
    if (accept_resume_ms_ != 0) wake = std::min(wake, accept_resume_ms_);
    now = NowMs();
    int timeout =
        wake > now
            ? static_cast<int>(std::min<std::uint64_t>(wake - now, 60 * 1000))
            : 0;
    int n = epoll_wait(epoll_fd_, events, kMaxEvents, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = ErrnoText("epoll_wait");
      return false;
    }
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      if (tag == kSignalTag) return true;
      if (tag & kListenerTag) {
        AcceptAll(static_cast<std::uint32_t>(tag & ~kListenerTag));
        continue;
      }
      const auto fd = static_cast<std::size_t>(tag);
      if (fd < conns_.size() && conns_[fd]) {
        OnConnectionEvent(*conns_[fd], events[i].events);
      }
    }
  }
}

void Server::AcceptAll(std::uint32_t listener_index) {
  const Listener& listener = listeners_[listener_index];
  for (;;) {
    int fd =
        accept4(listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        // Level-triggered: the backlog would wake us again at once. Stop
        // watching the listeners for a moment instead of spinning.
        PauseAccepting(true);
      }
      return;  // EAGAIN: the backlog is empty
    }
    ++accepted_;
    peak_ = std::max(peak_, ++active_);
    const auto index = static_cast<std::size_t>(fd);
    if (index >= conns_.size()) conns_.resize(index + 1);
    conns_[index] = std::make_unique<Connection>();
    Connection& c = *conns_[index];
    c.fd = fd;
    c.id = next_id_++;
    c.listener = listener_index;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    const Mode& mode = listener.mode;
    std::string ip = mode.NeedsClientIp() ? ClientIp(fd) : std::string();
    Opening opening = MakeOpening(mode, Peer{hostname_, ip});
    c.paced = opening.paced;
    c.pregreet_closes = opening.pregreet_closes;
    switch (opening.phase) {
      case Phase::kDialogue:
        c.state = State::kDialogue;
        break;
      case Phase::kDiscard:
        c.state = State::kDiscard;
        break;
      case Phase::kIdle:
        c.state = State::kIdle;
        break;
      case Phase::kClose:
        c.state = State::kClosing;
        break;
      case Phase::kCloseOnInput:
        c.state = State::kCloseOnInput;
        break;
    }
    if (opening.delay_ms >= 0) {
      c.state = State::kGreetingWait;
      ArmTimer(c, static_cast<std::uint64_t>(opening.delay_ms));
    }
    if (!Send(c, opening.immediate)) continue;
    // Implicit TLS: the ClientHello is often queued already, so try at once
    // rather than wait a round of epoll.
    if (opening.tls && (!StartTls(c) || !ContinueHandshake(c))) continue;
    if (c.state == State::kClosing && c.out.empty()) {
      DrainInput(fd);
      Close(c);
      continue;
    }
    UpdateEvents(c);
  }
}

void Server::OnConnectionEvent(Connection& c, std::uint32_t events) {
  if (events & (EPOLLERR | EPOLLHUP)) {
    Close(c);
    return;
  }
  if (events & EPOLLOUT) {
    if (c.tls_want_write) {
      c.tls_want_write = false;
      if (c.state == State::kHandshake ? !ContinueHandshake(c) : !ReadTls(c)) {
        return;
      }
    }
    if (!FlushOut(c)) return;
  }
  if (events & EPOLLIN) {
    if (!ReadInput(c)) return;
  } else if (events & EPOLLRDHUP) {
    // The client closed while we were not reading (idle mode, or paused).
    Close(c);
    return;
  }
  UpdateEvents(c);
}

void Server::OnTimer(Connection& c) {
  if (c.state == State::kGreetingWait) {
    const Mode& mode = listeners_[c.listener].mode;
    std::string ip = mode.NeedsClientIp() ? ClientIp(c.fd) : std::string();
    Opening opening = MakeOpening(mode, Peer{hostname_, ip});
    c.state = State::kDialogue;
    if (!Send(c, opening.delayed)) return;
    if (!c.in.empty() && !ProcessLines(c, {})) return;
  } else if (c.paced) {
    if (!PumpPaced(c)) return;
  } else if (c.state == State::kEndless) {
    if (!PumpFiller(c)) return;
  }
  UpdateEvents(c);
}

bool Server::ReadInput(Connection& c) {
  if (c.ssl != nullptr) {
    if (c.state != State::kHandshake) return ReadTls(c);
    // The 220 to STARTTLS must be out before the handshake reads.
    return c.out.empty() ? ContinueHandshake(c) : true;
  }
  char* buf = g_read_buf;
  for (;;) {
    ssize_t n = recv(c.fd, buf, sizeof(g_read_buf), 0);
    if (n > 0) {
      if (!Consume(c, std::string_view(buf, static_cast<std::size_t>(n)))) {
        return false;
      }
      // After STARTTLS the socket's bytes belong to the handshake.
      if (c.paused || c.ssl != nullptr ||
          static_cast<std::size_t>(n) < sizeof(g_read_buf)) {
        return true;
      }
      continue;
    }
    if (n == 0) return OnPeerClosed(c);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    Close(c);
    return false;
  }
}

bool Server::OnPeerClosed(Connection& c) {
  // The client closed its side: finish sending what is queued (it may
  // still read), then close.
  if (c.out.empty() || c.state == State::kEndless) {
    Close(c);
    return false;
  }
  c.eof = true;
  c.state = State::kClosing;
  return true;
}

bool Server::StartTls(Connection& c) {
  SSL_CTX* ctx =
      listeners_[c.listener].mode.tls_profile() == TlsProfile::kLegacy
          ? tls_legacy_.get()
          : tls_modern_.get();
  c.ssl = ctx != nullptr ? SSL_new(ctx) : nullptr;
  // SSL_set_fd gives the SSL a socket BIO; the fd stays ours to close.
  if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1) {
    ERR_clear_error();
    Close(c);
    return false;
  }
  SSL_set_accept_state(c.ssl);
  c.state = State::kHandshake;
  return true;
}

bool Server::ContinueHandshake(Connection& c) {
  c.tls_want_write = false;
  // SSL_get_error(3): the thread's error queue must be empty before the call.
  ERR_clear_error();
  int r = SSL_do_handshake(c.ssl);
  if (r != 1) {
    switch (SSL_get_error(c.ssl, r)) {
      case SSL_ERROR_WANT_READ:
        return true;
      case SSL_ERROR_WANT_WRITE:
        c.tls_want_write = true;
        return true;
      default:  // a failed handshake: OpenSSL has sent its alert, if any
        ERR_clear_error();
        Close(c);
        return false;
    }
  }
  c.state = State::kDialogue;
  const Mode& mode = listeners_[c.listener].mode;
  Opening opening = MakeOpening(mode, Peer{hostname_, {}, true});
  if (!Send(c, opening.after_handshake)) return false;
  // Read-ahead may already hold the client's first records.
  return ReadTls(c);
}

bool Server::ReadTls(Connection& c) {
  for (;;) {
    if (c.paused) return true;
    ERR_clear_error();
    int n = SSL_read(c.ssl, g_read_buf, sizeof(g_read_buf));
    if (n > 0) {
      if (!Consume(c,
                   std::string_view(g_read_buf, static_cast<std::size_t>(n)))) {
        return false;
      }
      continue;
    }
    switch (SSL_get_error(c.ssl, n)) {
      case SSL_ERROR_WANT_READ:
        return true;
      case SSL_ERROR_WANT_WRITE:
        c.tls_want_write = true;
        return true;
      // close_notify, or a bare EOF (SSL_OP_IGNORE_UNEXPECTED_EOF).
      case SSL_ERROR_ZERO_RETURN:
        return OnPeerClosed(c);
      default:
        ERR_clear_error();
        Close(c);
        return false;
    }
  }
}

ssize_t Server::Write(Connection& c, std::string_view data) {
  if (c.ssl == nullptr || c.state == State::kHandshake) {
    return WriteSome(c.fd, data);
  }
  std::size_t done = 0;
  while (done < data.size()) {
    ERR_clear_error();
    // With SSL_MODE_ENABLE_PARTIAL_WRITE each call takes at least a record;
    // after WANT_WRITE the retry passes the same bytes again (from `out`).
    int n = SSL_write(
        c.ssl, data.data() + done,
        static_cast<int>(std::min<std::size_t>(data.size() - done, 1 << 30)));
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    int err = SSL_get_error(c.ssl, n);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) break;
    ERR_clear_error();
    return -1;
  }
  return static_cast<ssize_t>(done);
}

bool Server::Consume(Connection& c, std::string_view data) {
  switch (c.state) {
    case State::kGreetingWait:
      if (c.pregreet_closes) {  // postscreen: PREGREET, drop the client
        Close(c);
        return false;
      }
      c.in.append(data);
      if (c.in.size() > kMaxHeldInput) {
        Close(c);
        return false;
      }
      return true;
    case State::kDialogue:
      return ProcessLines(c, data);
    case State::kCloseOnInput:
      DrainInput(c.fd);  // so that close() sends FIN, not RST
      Close(c);
      return false;
    case State::kHandshake:
    case State::kDiscard:
    case State::kIdle:
    case State::kEndless:
    case State::kClosing:
      return true;
  }
  return true;
}

bool Server::ProcessLines(Connection& c, std::string_view data) {
  std::string joined;
  std::string_view rest = data;
  if (!c.in.empty()) {
    c.in.append(data);
    joined.swap(c.in);
    rest = joined;
  }
  const Mode& mode = listeners_[c.listener].mode;
  std::string ip = mode.NeedsClientIp() ? ClientIp(c.fd) : std::string();
  const Peer peer{hostname_, ip, c.ssl != nullptr};
  // Answers at most kMaxOutput bytes per batch; once the socket stops taking
  // them, the rest of the input waits in `c.in` and reading pauses.
  Next next = Next::kContinue;
  for (;;) {
    reply_.clear();
    bool batch_full = false;
    while (next == Next::kContinue) {
      if (reply_.size() >= kMaxOutput) {
        batch_full = true;
        break;
      }
      std::size_t nl = rest.find('\n');
      if (nl == std::string_view::npos) break;
      std::string_view line = rest.substr(0, nl);
      rest.remove_prefix(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.size() > kMaxLine) {
        Close(c);
        return false;
      }
      next = Answer(mode, peer, line, reply_);
    }
    if (next != Next::kContinue) break;
    if (!Send(c, reply_)) return false;
    if (c.out.size() >= kMaxOutput || (batch_full && !c.out.empty())) {
      c.paused = true;
      break;
    }
    if (!batch_full) break;
  }
  if (next != Next::kContinue) {
    std::string().swap(c.in);  // input after QUIT (or the like) is dropped
  } else if (!c.paused && rest.size() > kMaxLine + 1) {
    Close(c);  // a line too long, still unterminated
    return false;
  } else if (!rest.empty()) {
    c.in.assign(rest);
  }
  switch (next) {
    case Next::kContinue:
      return true;
    case Next::kClose:
      c.state = State::kClosing;
      c.tls_notify = c.ssl != nullptr;
      if (!Send(c, reply_)) return false;
      if (c.out.empty()) {
        Close(c);
        return false;
      }
      return true;
    case Next::kReset:
      if (!Send(c, reply_)) return false;
      Reset(c);
      return false;
    case Next::kEndless:
      c.state = State::kEndless;
      if (!Send(c, reply_)) return false;
      return PumpFiller(c);
    case Next::kStartTls:
      if (!Send(c, reply_) || !StartTls(c)) return false;
      // Handshake once the 220 is out (AfterOutputDrained), not before.
      return c.out.empty() ? ContinueHandshake(c) : true;
  }
  return true;
}

bool Server::Send(Connection& c, std::string_view data) {
  if (data.empty()) return true;
  if (c.paced) {
    c.out.append(data);
    return c.timer_due != 0 || PumpPaced(c);
  }
  if (!c.out.empty()) {
    c.out.append(data);
    return true;
  }
  ssize_t n = Write(c, data);
  if (n < 0) {
    Close(c);
    return false;
  }
  if (static_cast<std::size_t>(n) < data.size()) {
    c.out.assign(data.substr(static_cast<std::size_t>(n)));
  }
  return true;
}

bool Server::FlushOut(Connection& c) {
  if (c.out.empty() || c.paced) return true;
  ssize_t n = Write(c, c.out);
  if (n < 0) {
    Close(c);
    return false;
  }
  c.out.erase(0, static_cast<std::size_t>(n));
  return c.out.empty() ? AfterOutputDrained(c) : true;
}

bool Server::PumpPaced(Connection& c) {
  if (!c.out.empty()) {
    ssize_t n = WriteSome(c.fd, std::string_view(c.out).substr(0, 1));
    if (n < 0) {
      Close(c);
      return false;
    }
    c.out.erase(0, static_cast<std::size_t>(n));
  }
  if (!c.out.empty()) {
    ArmTimer(c, kPacedPeriodMs);
    return true;
  }
  return AfterOutputDrained(c);
}

bool Server::PumpFiller(Connection& c) {
  if (c.out.empty()) {
    reply_.clear();
    AppendFiller(&c.filler, kFillerBytes, reply_);
    if (!Send(c, reply_)) return false;
  }
  ArmTimer(c, kFillerPeriodMs);
  return true;
}

bool Server::AfterOutputDrained(Connection& c) {
  std::string().swap(c.out);
  if (c.state == State::kClosing) {
    Close(c);
    return false;
  }
  if (c.state == State::kHandshake) return ContinueHandshake(c);
  if (c.paused) {
    c.paused = false;
    if (!c.in.empty() && !ProcessLines(c, {})) return false;
    // Records read ahead stay inside the SSL, where epoll cannot see them.
    if (c.ssl != nullptr && !c.paused && SSL_has_pending(c.ssl)) {
      return ReadTls(c);
    }
  }
  return true;
}

void Server::UpdateEvents(Connection& c) {
  std::uint32_t mask = 0;
  if (!c.eof) {
    mask |= EPOLLRDHUP;
    // Before the 220 to STARTTLS is out, the handshake must not read.
    const bool tls_waits = c.state == State::kHandshake && !c.out.empty();
    if (!c.paused && c.state != State::kIdle && !tls_waits) mask |= EPOLLIN;
  }
  if (!c.paced && (!c.out.empty() || c.tls_want_write)) mask |= EPOLLOUT;
  if (c.registered && mask == c.events) return;
  epoll_event ev{};
  ev.events = mask;
  ev.data.u64 = static_cast<std::uint64_t>(c.fd);
  if (epoll_ctl(epoll_fd_, c.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd,
                &ev) != 0) {
    Close(c);
    return;
  }
  c.registered = true;
  c.events = mask;
}

void Server::ArmTimer(Connection& c, std::uint64_t delay_ms) {
  c.timer_due = NowMs() + delay_ms;
  timers_.push(Timer{c.timer_due, c.fd, c.id});
}

void Server::RunDueTimers(std::uint64_t now) {
  while (!timers_.empty() && timers_.top().due <= now) {
    Timer t = timers_.top();
    timers_.pop();
    const auto fd = static_cast<std::size_t>(t.fd);
    if (fd >= conns_.size() || !conns_[fd]) continue;
    Connection& c = *conns_[fd];
    if (c.id != t.id || c.timer_due != t.due) continue;  // stale
    c.timer_due = 0;
    OnTimer(c);
  }
}

void Server::Close(Connection& c) {
  if (c.ssl != nullptr) {
    // After QUIT, say close_notify (one record; no waiting for the peer's).
    if (c.tls_notify) {
      ERR_clear_error();
      SSL_shutdown(c.ssl);
    }
    SSL_free(c.ssl);
    ERR_clear_error();
  }
  // close() also removes the fd from the epoll set: it is never dup()ed.
  close(c.fd);
  --active_;
  conns_[static_cast<std::size_t>(c.fd)].reset();
}

void Server::Reset(Connection& c) {
  // SO_LINGER with a zero timeout makes close() send RST (socket(7)).
  linger lin{};
  lin.l_onoff = 1;
  lin.l_linger = 0;
  setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
  Close(c);
}

void Server::PauseAccepting(bool pause) {
  accept_resume_ms_ = pause ? NowMs() + kAcceptPauseMs : 0;
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    epoll_event ev{};
    ev.events = pause ? 0u : static_cast<std::uint32_t>(EPOLLIN);
    ev.data.u64 = kListenerTag | i;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listeners_[i].fd, &ev);
  }
}

std::string Server::ClientIp(int fd) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return "unknown";
  }
  char host[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in&>(addr).sin_addr, host,
              sizeof(host));
    return host;
  }
  const in6_addr& a6 = reinterpret_cast<sockaddr_in6&>(addr).sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(&a6)) {
    inet_ntop(AF_INET, &a6.s6_addr[12], host, sizeof(host));
  } else {
    inet_ntop(AF_INET6, &a6, host, sizeof(host));
  }
  return host;
}

}  // namespace smtpscan::test_server
