// smtp_reference_tls_client: the baseline for bench/tls/run.
//
// A minimal blocking OpenSSL SMTP client: one connection at a time per
// process, each a whole conversation, with nothing recorded but counters.
//   implicit TLS (port in --implicit-tls-ports): connect, TLS handshake,
//     220 greeting, EHLO, 250, QUIT, 221, close;
//   otherwise STARTTLS: connect, 220, EHLO, 250, STARTTLS, 220, handshake,
//     EHLO, 250, QUIT, 221, close.
// Close is SO_LINGER {1, 0} (RST), as bench/e2e's reference client does.
// The context is set up as ENGINEERING.md §2.2 sets up the scanner's:
// security level 0, every protocol version, no tickets, no session cache,
// SSL_MODE_RELEASE_BUFFERS, and verification that runs but never refuses
// (SSL_VERIFY_NONE, then SSL_get_verify_result) against --ca-file or, without
// it, OpenSSL's default paths. No SNI (targets are IP literals). It does not
// read certificate facts beyond the verification result.
//
//   smtp_reference_tls_client --targets FILE --sessions N [--procs P]
//       [--ca-file PEM] [--implicit-tls-ports 465,...] [--ehlo NAME]
//       [--timeout SECONDS]
//
// --targets FILE: one ADDR:PORT (IPv4) a line; session i uses line i mod
//   lines. --procs P forks P processes that share the sessions (session i
//   goes to process i mod P); P = 1 runs in this process.
// --hold SECONDS: instead, open --sessions connections at once, send each
//   one's ClientHello (implicit TLS) and keep them all mid-handshake for
//   SECONDS, then exit: the OpenSSL floor for memory per connection waiting
//   for a ServerHello (bench/tls/run scenario 3). Prints "held=N" when all
//   are out.
// Prints one summary line on stdout:
//   sessions=N ok=N verified=N failures=N elapsed_s=F sessions_per_s=F
//   cpu_us_per_session=F maxrss_kib=N procs=P verify=ca-file|system
//   fail_connect=N fail_tls=N fail_reply=N fail_closed=N
// where cpu and maxrss include the forked processes (getrusage), verified
// counts handshakes whose SSL_get_verify_result was X509_V_OK.
// Exit status: 0 when every session succeeded, 1 when some failed, 2 on a
// usage or setup error.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view kUsage =
    "usage: smtp_reference_tls_client --targets FILE --sessions N "
    "[--procs P] [--ca-file PEM] [--implicit-tls-ports 465,...] "
    "[--ehlo NAME] [--timeout SECONDS] [--hold SECONDS]";

[[noreturn]] void Usage(std::string_view why) {
  std::fprintf(stderr, "smtp_reference_tls_client: %.*s\n%.*s\n",
               static_cast<int>(why.size()), why.data(),
               static_cast<int>(kUsage.size()), kUsage.data());
  std::exit(2);
}

bool ParseU64(std::string_view text, uint64_t* out) {
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

struct Target {
  sockaddr_in addr;
  bool implicit_tls;
};

// Outcome counters, in memory shared with forked workers.
struct Counters {
  std::atomic<uint64_t> ok, verified, fail_connect, fail_tls, fail_reply,
      fail_closed;
};

enum class Outcome { kOk, kConnect, kTls, kReply, kClosed };

// One connection's reply reader over either the socket or the SSL.
class Conn {
 public:
  Conn(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  void set_ssl(SSL* ssl) { ssl_ = ssl; }
  size_t buffered() const { return len_ - pos_; }
  void Discard() { pos_ = len_ = 0; }

  // Reads one whole reply (up to a "DDD " line) and returns its code, or
  // -1 when the connection closed or failed first.
  int ReadReply() {
    for (;;) {
      // Complete lines in the buffer.
      while (pos_ < len_) {
        const char* start = buf_ + pos_;
        const void* nl = std::memchr(start, '\n', len_ - pos_);
        if (nl == nullptr) break;
        const size_t line_len =
            static_cast<size_t>(static_cast<const char*>(nl) - start) + 1;
        pos_ += line_len;
        if (line_len >= 5 && start[3] == ' ') return std::atoi(start);
        if (line_len < 5 || start[3] != '-') return 0;  // not a reply line
      }
      if (pos_ > 0) {  // keep a partial line at the front
        std::memmove(buf_, buf_ + pos_, len_ - pos_);
        len_ -= pos_;
        pos_ = 0;
      }
      if (len_ == sizeof(buf_)) return 0;  // a line too long
      int n = ssl_ != nullptr ? SSL_read(ssl_, buf_ + len_,
                                         static_cast<int>(sizeof(buf_) - len_))
                              : static_cast<int>(recv(fd_, buf_ + len_,
                                                      sizeof(buf_) - len_, 0));
      if (n <= 0) return -1;
      len_ += static_cast<size_t>(n);
    }
  }

  bool Send(std::string_view data) {
    if (ssl_ != nullptr) {
      return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) ==
             static_cast<int>(data.size());
    }
    return send(fd_, data.data(), data.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(data.size());
  }

 private:
  int fd_;
  SSL* ssl_;
  size_t pos_ = 0, len_ = 0;
  char buf_[4096];
};

struct Config {
  SSL_CTX* ctx;
  std::string ehlo_cmd;
  int timeout_s;
};

// The conversation after the TLS handshake, or the whole plaintext part.
Outcome Expect(Conn& conn, int code) {
  int got = conn.ReadReply();
  if (got < 0) return Outcome::kClosed;
  return got == code ? Outcome::kOk : Outcome::kReply;
}

Outcome Handshake(const Config& config, int fd, Conn& conn, SSL** ssl,
                  bool* verified) {
  *ssl = SSL_new(config.ctx);
  if (*ssl == nullptr || SSL_set_fd(*ssl, fd) != 1) return Outcome::kTls;
  ERR_clear_error();
  if (SSL_connect(*ssl) != 1) {
    ERR_clear_error();
    return Outcome::kTls;
  }
  *verified = SSL_get_verify_result(*ssl) == X509_V_OK;
  conn.set_ssl(*ssl);
  return Outcome::kOk;
}

Outcome Session(const Config& config, const Target& target, bool* verified) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Outcome::kConnect;
  timeval tv{config.timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  SSL* ssl = nullptr;
  Outcome out = Outcome::kOk;
  Conn conn(fd, nullptr);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&target.addr),
              sizeof(target.addr)) != 0) {
    out = Outcome::kConnect;
  } else if (target.implicit_tls) {
    out = Handshake(config, fd, conn, &ssl, verified);
    if (out == Outcome::kOk) out = Expect(conn, 220);
    if (out == Outcome::kOk && !conn.Send(config.ehlo_cmd)) {
      out = Outcome::kClosed;
    }
    if (out == Outcome::kOk) out = Expect(conn, 250);
  } else {
    out = Expect(conn, 220);
    if (out == Outcome::kOk && !conn.Send(config.ehlo_cmd)) {
      out = Outcome::kClosed;
    }
    if (out == Outcome::kOk) out = Expect(conn, 250);
    if (out == Outcome::kOk && !conn.Send("STARTTLS\r\n")) {
      out = Outcome::kClosed;
    }
    if (out == Outcome::kOk) out = Expect(conn, 220);
    // Bytes after the 220 are never handed to TLS (CVE-2011-0411): the
    // SSL reads the socket, and the buffer is dropped.
    conn.Discard();
    if (out == Outcome::kOk) out = Handshake(config, fd, conn, &ssl, verified);
    if (out == Outcome::kOk && !conn.Send(config.ehlo_cmd)) {
      out = Outcome::kClosed;
    }
    if (out == Outcome::kOk) out = Expect(conn, 250);
  }
  if (out == Outcome::kOk && !conn.Send("QUIT\r\n")) out = Outcome::kClosed;
  if (out == Outcome::kOk) out = Expect(conn, 221);
  SSL_free(ssl);
  linger lin{1, 0};  // RST: no TIME_WAIT left behind
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
  close(fd);
  ERR_clear_error();
  return out;
}

void Worker(const Config& config, const std::vector<Target>& targets,
            uint64_t sessions, uint64_t first, uint64_t step,
            Counters* counters) {
  for (uint64_t i = first; i < sessions; i += step) {
    bool verified = false;
    switch (Session(config, targets[i % targets.size()], &verified)) {
      case Outcome::kOk:
        counters->ok.fetch_add(1, std::memory_order_relaxed);
        if (verified) counters->verified.fetch_add(1);
        break;
      case Outcome::kConnect:
        counters->fail_connect.fetch_add(1, std::memory_order_relaxed);
        break;
      case Outcome::kTls:
        counters->fail_tls.fetch_add(1, std::memory_order_relaxed);
        break;
      case Outcome::kReply:
        counters->fail_reply.fetch_add(1, std::memory_order_relaxed);
        break;
      case Outcome::kClosed:
        counters->fail_closed.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }
}

// The scanner's context (ENGINEERING.md §2.2), minus DANE.
SSL_CTX* MakeContext(const std::string& ca_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return nullptr;
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_min_proto_version(ctx, 0);
  SSL_CTX_set_options(ctx, SSL_OP_LEGACY_SERVER_CONNECT |
                               SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET |
                               SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  const bool loaded =
      ca_file.empty()
          ? SSL_CTX_set_default_verify_paths(ctx) == 1
          : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) == 1;
  if (!loaded) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

std::vector<Target> ReadTargets(const std::string& path,
                                const std::vector<uint16_t>& implicit_ports) {
  std::ifstream in(path);
  if (!in) Usage("cannot read --targets " + path);
  std::vector<Target> targets;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const size_t colon = line.rfind(':');
    uint64_t port = 0;
    Target t{};
    t.addr.sin_family = AF_INET;
    if (colon == std::string::npos ||
        !ParseU64(std::string_view(line).substr(colon + 1), &port) ||
        port == 0 || port > 65535 ||
        inet_pton(AF_INET, line.substr(0, colon).c_str(), &t.addr.sin_addr) !=
            1) {
      Usage("bad target line '" + line + "' (want IPv4:PORT)");
    }
    t.addr.sin_port = htons(static_cast<uint16_t>(port));
    t.implicit_tls = std::find(implicit_ports.begin(), implicit_ports.end(),
                               port) != implicit_ports.end();
    targets.push_back(t);
  }
  if (targets.empty()) Usage("no targets in " + path);
  return targets;
}

// --hold: every connection sends its ClientHello and then waits, never
// read again, until `seconds` pass.
int Hold(const Config& config, const std::vector<Target>& targets,
         uint64_t count, uint64_t seconds) {
  std::vector<std::pair<int, SSL*>> held;
  held.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    const Target& target = targets[i % targets.size()];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&target.addr),
                          sizeof(target.addr)) != 0) {
      std::perror("smtp_reference_tls_client: connect");
      return 1;
    }
    SSL* ssl = SSL_new(config.ctx);
    SSL_set_fd(ssl, fd);
    // Non-blocking from here: SSL_connect writes the ClientHello and
    // returns WANT_READ, as a scanner's connection would sit.
    fcntl(fd, F_SETFL, O_NONBLOCK);
    ERR_clear_error();
    SSL_connect(ssl);
    ERR_clear_error();
    held.emplace_back(fd, ssl);
  }
  std::printf("held=%zu\n", held.size());
  std::fflush(stdout);
  sleep(static_cast<unsigned>(seconds));
  for (auto& [fd, ssl] : held) {
    SSL_free(ssl);
    close(fd);
  }
  return 0;
}

double NowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int Main(int argc, char** argv) {
  std::string targets_path, ca_file, ehlo = "bench.example.test";
  std::vector<uint16_t> implicit_ports = {465};
  uint64_t sessions = 0, procs = 1, timeout_s = 30, hold_s = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::printf("%.*s\n", static_cast<int>(kUsage.size()), kUsage.data());
      return 0;
    }
    if (i + 1 >= argc) Usage(std::string(arg) + " needs a value");
    std::string_view value = argv[++i];
    if (arg == "--targets") {
      targets_path = value;
    } else if (arg == "--ca-file") {
      ca_file = value;
    } else if (arg == "--ehlo") {
      ehlo = value;
    } else if (arg == "--sessions") {
      if (!ParseU64(value, &sessions)) Usage("bad --sessions");
    } else if (arg == "--procs") {
      if (!ParseU64(value, &procs) || procs == 0 || procs > 256) {
        Usage("bad --procs");
      }
    } else if (arg == "--timeout") {
      if (!ParseU64(value, &timeout_s) || timeout_s == 0 || timeout_s > 3600) {
        Usage("bad --timeout");
      }
    } else if (arg == "--hold") {
      if (!ParseU64(value, &hold_s) || hold_s == 0 || hold_s > 3600) {
        Usage("bad --hold");
      }
    } else if (arg == "--implicit-tls-ports") {
      implicit_ports.clear();
      std::string_view rest = value;
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        uint64_t port = 0;
        if (!ParseU64(rest.substr(0, comma), &port) || port > 65535) {
          Usage("bad --implicit-tls-ports");
        }
        implicit_ports.push_back(static_cast<uint16_t>(port));
        rest = comma == std::string_view::npos ? std::string_view()
                                               : rest.substr(comma + 1);
      }
    } else {
      Usage("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (targets_path.empty() || sessions == 0) {
    Usage("--targets and --sessions are required");
  }
  std::vector<Target> targets = ReadTargets(targets_path, implicit_ports);
  rlimit files{};  // --hold keeps a descriptor per connection
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  signal(SIGPIPE, SIG_IGN);  // SSL_write on a reset socket
  Config config{MakeContext(ca_file), "EHLO " + ehlo + "\r\n",
                static_cast<int>(timeout_s)};
  if (config.ctx == nullptr) {
    std::fprintf(stderr,
                 "smtp_reference_tls_client: cannot set up the TLS "
                 "context (bad --ca-file?)\n");
    return 2;
  }
  if (hold_s > 0) return Hold(config, targets, sessions, hold_s);
  void* shared = mmap(nullptr, sizeof(Counters), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) {
    std::perror("smtp_reference_tls_client: mmap");
    return 2;
  }
  auto* counters = new (shared) Counters{};

  const double start = NowSeconds();
  if (procs == 1) {
    Worker(config, targets, sessions, 0, 1, counters);
  } else {
    std::vector<pid_t> kids;
    for (uint64_t k = 0; k < procs; ++k) {
      pid_t pid = fork();
      if (pid == 0) {
        Worker(config, targets, sessions, k, procs, counters);
        _exit(0);
      }
      if (pid < 0) {
        std::perror("smtp_reference_tls_client: fork");
        break;
      }
      kids.push_back(pid);
    }
    for (pid_t pid : kids) waitpid(pid, nullptr, 0);
  }
  const double elapsed = NowSeconds() - start;

  rusage self{}, children{};
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
  auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  const double cpu = secs(self.ru_utime) + secs(self.ru_stime) +
                     secs(children.ru_utime) + secs(children.ru_stime);
  const uint64_t ok = counters->ok.load();
  const uint64_t failures = sessions - ok;
  std::printf(
      "sessions=%llu ok=%llu verified=%llu failures=%llu elapsed_s=%.3f "
      "sessions_per_s=%.0f cpu_us_per_session=%.1f maxrss_kib=%ld procs=%llu "
      "verify=%s fail_connect=%llu fail_tls=%llu fail_reply=%llu "
      "fail_closed=%llu\n",
      static_cast<unsigned long long>(sessions),
      static_cast<unsigned long long>(ok),
      static_cast<unsigned long long>(counters->verified.load()),
      static_cast<unsigned long long>(failures), elapsed,
      static_cast<double>(sessions) / elapsed,
      cpu * 1e6 / static_cast<double>(sessions),
      std::max(self.ru_maxrss, children.ru_maxrss),
      static_cast<unsigned long long>(procs),
      ca_file.empty() ? "system" : "ca-file",
      static_cast<unsigned long long>(counters->fail_connect.load()),
      static_cast<unsigned long long>(counters->fail_tls.load()),
      static_cast<unsigned long long>(counters->fail_reply.load()),
      static_cast<unsigned long long>(counters->fail_closed.load()));
  SSL_CTX_free(config.ctx);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
