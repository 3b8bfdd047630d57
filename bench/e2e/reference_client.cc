// smtp_reference_client: the baseline for smtpscan's end-to-end benchmark.
//
// A bare, single-threaded epoll SMTP client that does the least a scanner
// could do per session: non-blocking connect, wait for the greeting, EHLO,
// QUIT, close with RST. It looks only at line ends and at the first four
// bytes of each line ("250 " ends a reply, "250-" continues it); it records
// nothing. C++20, POSIX and Linux epoll only; no other dependency.
//
//   smtp_reference_client --sessions N --concurrency C
//       (--targets FILE | --generate N) [--port P] [--timeout SECONDS]
//       [--ehlo NAME]
//
// --targets FILE: one IPv4 address per line, optionally ADDR:PORT (the
//   format smtpscan reads, without names). Session i uses line i mod lines.
// --generate N: N distinct loopback addresses 127.B.C.D, the same sequence
//   bench/e2e/run writes: address k is 127.(1 + k/64516).(k/254%254+1).
//   (k%254+1), so no octet is 0 or 255.
// Prints one summary line on stdout:
//   sessions=N ok=N failures=N elapsed_s=F sessions_per_s=F cpu_us_per_session=F
//   maxrss_kib=N fail_connect=N fail_reply=N fail_closed=N fail_timeout=N
// Exit status: 0 when every session succeeded, 1 when some failed, 2 on a
// usage error or a setup failure.

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view kUsage =
    "usage: smtp_reference_client --sessions N --concurrency C "
    "(--targets FILE | --generate N) [--port P] [--timeout SECONDS] "
    "[--ehlo NAME]";

[[noreturn]] void Usage(std::string_view why) {
  std::fprintf(stderr, "smtp_reference_client: %.*s\n%.*s\n",
               static_cast<int>(why.size()), why.data(),
               static_cast<int>(kUsage.size()), kUsage.data());
  std::exit(2);
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "smtp_reference_client: %s: %s\n", what,
               std::strerror(errno));
  std::exit(2);
}

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<uint64_t>(ts.tv_nsec);
}

bool ParseU64(std::string_view text, uint64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

struct Target {
  uint32_t addr;  // network order
  uint16_t port;  // host order, 0 = use --port
};

// Where one connection is in its conversation.
enum class State : uint8_t { kFree, kConnecting, kGreeting, kEhlo, kQuit };

struct Conn {
  int fd = -1;
  State state = State::kFree;
  // The first bytes of the current line (up to 4) and how many we have:
  // enough to tell "250 " (a reply's last line) from "250-".
  uint8_t prefix_len = 0;
  char prefix[4] = {};
  uint64_t deadline_ns = 0;
};

struct Counters {
  uint64_t ok = 0, fail_connect = 0, fail_reply = 0, fail_closed = 0,
           fail_timeout = 0;
  uint64_t failures() const {
    return fail_connect + fail_reply + fail_closed + fail_timeout;
  }
};

constexpr std::string_view kQuit = "QUIT\r\n";

class Client {
 public:
  Client(std::vector<Target> targets, uint16_t port, uint64_t sessions,
         size_t concurrency, uint64_t timeout_ns, std::string ehlo)
      : targets_(std::move(targets)),
        port_(port),
        sessions_(sessions),
        timeout_ns_(timeout_ns),
        ehlo_cmd_("EHLO " + ehlo + "\r\n"),
        conns_(concurrency) {
    free_.reserve(concurrency);
    for (size_t i = concurrency; i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
  }

  void Run() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) Die("epoll_create1");
    std::vector<epoll_event> events(4096);
    uint64_t next_sweep = NowNs() + kSweepNs;
    while (done_ < sessions_) {
      while (started_ < sessions_ && !free_.empty()) Start();
      int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()),
                         static_cast<int>(kSweepNs / 1000000));
      if (n < 0) {
        if (errno == EINTR) continue;
        Die("epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        Handle(static_cast<uint32_t>(events[i].data.u32), events[i].events);
      }
      const uint64_t now = NowNs();
      if (now >= next_sweep) {
        Sweep(now);
        next_sweep = now + kSweepNs;
      }
    }
    close(epfd_);
  }

  const Counters& counters() const { return counters_; }

 private:
  static constexpr uint64_t kSweepNs = 100 * 1000000ull;

  void Start() {
    const uint32_t slot = free_.back();
    free_.pop_back();
    const Target& t = targets_[started_ % targets_.size()];
    ++started_;
    Conn& c = conns_[slot];
    c = Conn{};
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      // Out of descriptors or ports is a failure of this session, not of the
      // run; anything else is unexpected.
      if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS &&
          errno != ENOMEM) {
        Die("socket");
      }
      Finish(slot, &counters_.fail_connect);
      return;
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(t.port != 0 ? t.port : port_);
    sa.sin_addr.s_addr = t.addr;
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 &&
        errno != EINPROGRESS) {
      Finish(slot, &counters_.fail_connect);
      return;
    }
    c.state = State::kConnecting;
    c.deadline_ns = NowNs() + timeout_ns_;
    // Edge-triggered, registered once: no EPOLL_CTL_MOD per state change.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u32 = slot;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) Die("epoll_ctl");
  }

  // Closes the connection with RST (SO_LINGER {1, 0}), counts the outcome
  // and frees the slot.
  void Finish(uint32_t slot, uint64_t* counter) {
    Conn& c = conns_[slot];
    if (c.fd >= 0) {
      linger lin{1, 0};
      setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
      close(c.fd);  // also removes it from the epoll set
    }
    c.fd = -1;
    c.state = State::kFree;
    ++*counter;
    ++done_;
    free_.push_back(slot);
  }

  bool Send(Conn& c, std::string_view data) {
    ssize_t n = send(c.fd, data.data(), data.size(), MSG_NOSIGNAL);
    return n == static_cast<ssize_t>(data.size());
  }

  void Handle(uint32_t slot, uint32_t events) {
    Conn& c = conns_[slot];
    if (c.state == State::kFree) return;  // closed earlier in this batch
    if (c.state == State::kConnecting) {
      if (events & EPOLLERR) {
        Finish(slot, &counters_.fail_connect);
        return;
      }
      if (!(events & (EPOLLOUT | EPOLLIN))) return;
      c.state = State::kGreeting;
      // No EPOLLIN yet: the greeting's arrival raises a new edge.
      if (!(events & EPOLLIN)) return;
    }
    // Read until a reply is complete or the socket is drained. The server
    // says nothing more until we send, so once the final line is in we need
    // not read on to EAGAIN.
    char buf[4096];
    for (;;) {
      ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        Finish(slot, &counters_.fail_closed);
        return;
      }
      if (n == 0) {
        Finish(slot, &counters_.fail_closed);
        return;
      }
      switch (Scan(c, std::string_view(buf, static_cast<size_t>(n)))) {
        case ScanResult::kMore:
          continue;
        case ScanResult::kBad:
          Finish(slot, &counters_.fail_reply);
          return;
        case ScanResult::kComplete:
          break;
      }
      // The expected reply is complete.
      switch (c.state) {
        case State::kGreeting:
          if (!Send(c, ehlo_cmd_)) {
            Finish(slot, &counters_.fail_closed);
            return;
          }
          c.state = State::kEhlo;
          return;
        case State::kEhlo:
          if (!Send(c, kQuit)) {
            Finish(slot, &counters_.fail_closed);
            return;
          }
          c.state = State::kQuit;
          return;
        case State::kQuit:
          Finish(slot, &counters_.ok);
          return;
        default:
          return;
      }
    }
  }

  enum class ScanResult { kMore, kComplete, kBad };

  // Looks for the end of the reply the state expects: a line that starts
  // with the expected code and a space ("221" alone will do for QUIT).
  ScanResult Scan(Conn& c, std::string_view data) {
    const char* want = c.state == State::kGreeting ? "220"
                       : c.state == State::kEhlo   ? "250"
                                                   : "221";
    for (char ch : data) {
      if (ch != '\n') {
        if (c.prefix_len < 4) c.prefix[c.prefix_len++] = ch;
        continue;
      }
      const bool final_line = c.prefix_len < 4 || c.prefix[3] != '-';
      const bool code_ok =
          c.prefix_len >= 3 && std::memcmp(c.prefix, want, 3) == 0;
      c.prefix_len = 0;
      if (!final_line) continue;
      return code_ok ? ScanResult::kComplete : ScanResult::kBad;
    }
    return ScanResult::kMore;
  }

  void Sweep(uint64_t now) {
    for (uint32_t slot = 0; slot < conns_.size(); ++slot) {
      Conn& c = conns_[slot];
      if (c.state != State::kFree && now >= c.deadline_ns) {
        Finish(slot, &counters_.fail_timeout);
      }
    }
  }

  std::vector<Target> targets_;
  uint16_t port_;
  uint64_t sessions_;
  uint64_t timeout_ns_;
  std::string ehlo_cmd_;
  std::vector<Conn> conns_;
  std::vector<uint32_t> free_;
  int epfd_ = -1;
  uint64_t started_ = 0;
  uint64_t done_ = 0;
  Counters counters_;
};

std::vector<Target> ReadTargets(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "smtp_reference_client: cannot read %s\n",
                 path.c_str());
    std::exit(2);
  }
  std::vector<Target> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    Target t{0, 0};
    std::string addr = line;
    if (size_t comma = addr.find(','); comma != std::string::npos) {
      addr.resize(comma);
    }
    if (size_t colon = addr.find(':'); colon != std::string::npos) {
      uint64_t p = 0;
      if (!ParseU64(std::string_view(addr).substr(colon + 1), &p) || p == 0 ||
          p > 65535) {
        Usage("bad port in targets line '" + line + "'");
      }
      t.port = static_cast<uint16_t>(p);
      addr.resize(colon);
    }
    in_addr a{};
    if (inet_pton(AF_INET, addr.c_str(), &a) != 1) {
      Usage("not an IPv4 address in targets line '" + line + "'");
    }
    t.addr = a.s_addr;
    out.push_back(t);
  }
  if (out.empty()) Usage("no targets in " + path);
  return out;
}

std::vector<Target> GenerateTargets(uint64_t n) {
  std::vector<Target> out;
  out.reserve(n);
  for (uint64_t k = 0; k < n; ++k) {
    const uint32_t b = static_cast<uint32_t>(1 + k / (254 * 254));
    const uint32_t c = static_cast<uint32_t>(k / 254 % 254 + 1);
    const uint32_t d = static_cast<uint32_t>(k % 254 + 1);
    if (b > 254) Usage("--generate: at most 254*254*254 addresses");
    out.push_back({htonl((127u << 24) | (b << 16) | (c << 8) | d), 0});
  }
  return out;
}

void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t sessions = 0, concurrency = 0, generate = 0, port = 25;
  double timeout_s = 30;
  std::string targets_path;
  std::string ehlo = "bench.example.test";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf("%.*s\n", static_cast<int>(kUsage.size()), kUsage.data());
      return 0;
    }
    if (i + 1 >= argc) Usage(std::string(arg) + ": needs a value");
    std::string_view value = argv[++i];
    bool ok = true;
    if (arg == "--sessions") {
      ok = ParseU64(value, &sessions) && sessions > 0;
    } else if (arg == "--concurrency") {
      ok = ParseU64(value, &concurrency) && concurrency > 0;
    } else if (arg == "--generate") {
      ok = ParseU64(value, &generate) && generate > 0;
    } else if (arg == "--targets") {
      targets_path = std::string(value);
    } else if (arg == "--port") {
      ok = ParseU64(value, &port) && port > 0 && port < 65536;
    } else if (arg == "--timeout") {
      char* end = nullptr;
      std::string v(value);
      timeout_s = std::strtod(v.c_str(), &end);
      ok = end != v.c_str() && *end == '\0' && timeout_s > 0;
    } else if (arg == "--ehlo") {
      ehlo = std::string(value);
      ok = !ehlo.empty();
    } else {
      Usage("unknown argument '" + std::string(arg) + "'");
    }
    if (!ok) Usage("bad value for " + std::string(arg));
  }
  if (sessions == 0 || concurrency == 0) {
    Usage("--sessions and --concurrency are required");
  }
  if (targets_path.empty() == (generate == 0)) {
    Usage("give exactly one of --targets and --generate");
  }

  RaiseFileLimit();
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur != RLIM_INFINITY && concurrency + 16 > limit.rlim_cur) {
    std::fprintf(stderr,
                 "smtp_reference_client: concurrency %llu needs more open "
                 "files than the limit (%llu)\n",
                 static_cast<unsigned long long>(concurrency),
                 static_cast<unsigned long long>(limit.rlim_cur));
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  std::vector<Target> targets =
      targets_path.empty() ? GenerateTargets(generate) : ReadTargets(targets_path);
  const size_t in_flight =
      static_cast<size_t>(concurrency < sessions ? concurrency : sessions);
  Client client(std::move(targets), static_cast<uint16_t>(port), sessions,
                in_flight, static_cast<uint64_t>(timeout_s * 1e9),
                std::move(ehlo));

  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const uint64_t start = NowNs();
  client.Run();
  const double elapsed = static_cast<double>(NowNs() - start) / 1e9;
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  auto us = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec);
  };
  const double cpu_us = us(after.ru_utime) - us(before.ru_utime) +
                        us(after.ru_stime) - us(before.ru_stime);

  const Counters& k = client.counters();
  std::printf(
      "sessions=%llu ok=%llu failures=%llu elapsed_s=%.3f "
      "sessions_per_s=%.0f cpu_us_per_session=%.1f maxrss_kib=%ld "
      "fail_connect=%llu fail_reply=%llu fail_closed=%llu fail_timeout=%llu\n",
      static_cast<unsigned long long>(sessions),
      static_cast<unsigned long long>(k.ok),
      static_cast<unsigned long long>(k.failures()), elapsed,
      static_cast<double>(sessions) / elapsed,
      cpu_us / static_cast<double>(sessions), after.ru_maxrss,
      static_cast<unsigned long long>(k.fail_connect),
      static_cast<unsigned long long>(k.fail_reply),
      static_cast<unsigned long long>(k.fail_closed),
      static_cast<unsigned long long>(k.fail_timeout));
  return k.failures() == 0 ? 0 : 1;
}
