// smtp_test_server: a fast, single-threaded SMTP server with scripted
// behaviours, for smtpscan's integration tests and benchmarks. See README.md.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "mode.h"
#include "server.h"
#include "tls.h"

namespace smtpscan::test_server {
namespace {

constexpr std::string_view kUsage =
    "usage: smtp_test_server --listen ADDR:PORT=MODE [--listen ...] "
    "[--max-seconds N] [--hostname NAME] [--tls-cert FILE --tls-key FILE]";

struct ListenSpec {
  sockaddr_storage addr{};
  socklen_t len = 0;
  Mode mode;
};

struct Options {
  std::vector<ListenSpec> listens;
  int max_seconds = 600;
  std::string hostname = "mx.test.invalid";
  std::string tls_cert;  // PEM chain for the TLS modes; empty: generate
  std::string tls_key;
};

[[noreturn]] void UsageError(std::string_view message) {
  std::fprintf(stderr, "smtp_test_server: %.*s (%.*s)\n",
               static_cast<int>(message.size()), message.data(),
               static_cast<int>(kUsage.size()), kUsage.data());
  std::exit(2);
}

bool ParsePort(std::string_view text, std::uint16_t* port) {
  unsigned value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      value > 65535) {
    return false;
  }
  *port = static_cast<std::uint16_t>(value);
  return true;
}

// Parses "127.0.0.1:25=postfix" or "[::1]:0=delay:300".
bool ParseListen(std::string_view text, ListenSpec* spec) {
  std::size_t eq = text.find('=');
  if (eq == std::string_view::npos) return false;
  std::optional<Mode> mode = ParseMode(text.substr(eq + 1));
  if (!mode) return false;
  spec->mode = std::move(*mode);
  std::string_view endpoint = text.substr(0, eq);
  std::string host;
  std::string_view port_text;
  bool v6 = false;
  if (!endpoint.empty() && endpoint.front() == '[') {
    std::size_t close = endpoint.find(']');
    if (close == std::string_view::npos || close + 1 >= endpoint.size() ||
        endpoint[close + 1] != ':') {
      return false;
    }
    host = std::string(endpoint.substr(1, close - 1));
    port_text = endpoint.substr(close + 2);
    v6 = true;
  } else {
    std::size_t colon = endpoint.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = std::string(endpoint.substr(0, colon));
    port_text = endpoint.substr(colon + 1);
  }
  std::uint16_t port = 0;
  if (!ParsePort(port_text, &port)) return false;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&spec->addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) return false;
    spec->len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&spec->addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) return false;
    spec->len = sizeof(sockaddr_in);
  }
  return true;
}

bool ValidHostname(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char ch : name) {
    if (static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f) return false;
  }
  return true;
}

Options ParseArgs(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf("%.*s\n", static_cast<int>(kUsage.size()), kUsage.data());
      std::exit(0);
    }
    std::string_view value;
    if (std::size_t eq = arg.find('=');
        arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (arg == "--listen" || arg == "--max-seconds" ||
               arg == "--hostname" || arg == "--tls-cert" ||
               arg == "--tls-key") {
      if (i + 1 >= argc) UsageError(std::string(arg) + " needs a value");
      value = argv[++i];
    }
    if (arg == "--listen") {
      ListenSpec spec;
      if (!ParseListen(value, &spec)) {
        UsageError("bad --listen '" + std::string(value) +
                   "': want ADDR:PORT=MODE with a known MODE");
      }
      options.listens.push_back(std::move(spec));
    } else if (arg == "--max-seconds") {
      int n = 0;
      auto [end, ec] =
          std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || ec != std::errc() ||
          end != value.data() + value.size() || n <= 0) {
        UsageError("bad --max-seconds '" + std::string(value) + "'");
      }
      options.max_seconds = n;
    } else if (arg == "--hostname") {
      if (!ValidHostname(value)) {
        UsageError("bad --hostname '" + std::string(value) + "'");
      }
      options.hostname = std::string(value);
    } else if (arg == "--tls-cert" || arg == "--tls-key") {
      if (value.empty()) UsageError(std::string(arg) + " needs a file");
      (arg == "--tls-cert" ? options.tls_cert : options.tls_key) =
          std::string(value);
    } else {
      UsageError("unknown argument '" + std::string(argv[i]) + "'");
    }
  }
  if (options.listens.empty()) UsageError("at least one --listen is required");
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    UsageError("--tls-cert and --tls-key go together");
  }
  return options;
}

// Thousands of connections need thousands of descriptors: take all we may.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int Main(int argc, char** argv) {
  Options options = ParseArgs(argc, argv);
  RaiseFileLimit();
  // Writes use MSG_NOSIGNAL; ignoring SIGPIPE as well costs nothing.
  signal(SIGPIPE, SIG_IGN);
  // Server::Run reads SIGTERM and SIGINT from a signalfd.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);

  Server server(options.hostname);
  std::string error;
  // Contexts only for the profiles some listener uses: an RSA-1024 key
  // takes a few milliseconds to make, a P-256 key less.
  bool need[3] = {};
  for (const ListenSpec& spec : options.listens) {
    need[static_cast<int>(spec.mode.tls_profile())] = true;
  }
  if (need[static_cast<int>(TlsProfile::kModern)]) {
    SslCtxPtr ctx = MakeModernContext(options.tls_cert, options.tls_key,
                                      options.hostname, &error);
    if (!ctx) {
      std::fprintf(stderr, "smtp_test_server: %s\n", error.c_str());
      return 1;
    }
    server.SetTlsContext(TlsProfile::kModern, std::move(ctx));
  }
  if (need[static_cast<int>(TlsProfile::kLegacy)]) {
    SslCtxPtr ctx = MakeLegacyContext(options.hostname, &error);
    if (!ctx) {
      std::fprintf(stderr, "smtp_test_server: %s\n", error.c_str());
      return 1;
    }
    server.SetTlsContext(TlsProfile::kLegacy, std::move(ctx));
  }
  for (ListenSpec& spec : options.listens) {
    std::string name = spec.mode.name;
    std::string bound;
    if (!server.Listen(spec.addr, spec.len, std::move(spec.mode), &bound,
                       &error)) {
      std::fprintf(stderr, "smtp_test_server: %s\n", error.c_str());
      return 1;
    }
    std::printf("listening %s %s\n", bound.c_str(), name.c_str());
  }
  std::printf("ready\n");
  std::fflush(stdout);

  bool ok = server.Run(options.max_seconds, &error);
  std::fprintf(stderr, "smtp_test_server: exiting: accepted=%llu peak=%llu\n",
               static_cast<unsigned long long>(server.accepted()),
               static_cast<unsigned long long>(server.peak()));
  if (!ok) {
    std::fprintf(stderr, "smtp_test_server: %s\n", error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace smtpscan::test_server

int main(int argc, char** argv) {
  return smtpscan::test_server::Main(argc, argv);
}
