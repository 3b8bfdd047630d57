#include "cli/scan_command.h"

#include <fcntl.h>
#include <netdb.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/app.h"
#include "cli/progress.h"
#include "dns/name.h"
#include "dns/resolver.h"
#include "engine/engine.h"
#include "engine/pool.h"
#include "fingerprint/fingerprint.h"
#include "fingerprint/observation.h"
#include "mtasts/fetcher.h"
#include "mtasts/policy.h"
#include "output/metadata.h"
#include "output/resume.h"
#include "output/sink.h"
#include "output/writer.h"
#include "scan/address_policy.h"
#include "scan/domain_scan.h"
#include "scan/opt_out.h"
#include "scan/provider.h"
#include "scan/shard.h"
#include "scan/target.h"
#include "scan/target_reader.h"
#include "tls/context.h"

namespace smtpscan::cli {
namespace {

// Records are written in batches of this many bytes, or sooner when the
// oldest unwritten one has waited kFlushInterval: a slow scan piped into
// another program still streams, and an interrupted one loses little.
constexpr size_t kFlushBytes = 64 << 10;
// Written records kept for reuse (Scan::spare_records_): about what the
// default concurrency finishes between two reads of the input.
constexpr size_t kMaxSpareRecords = 1024;
constexpr absl::Duration kFlushInterval = absl::Milliseconds(250);
// How often the resolver gets to expire queries (c-ares does not say when
// a query times out: the loop must ask, ENGINEERING.md §3.2).
constexpr absl::Duration kDnsTick = absl::Milliseconds(50);
// Engine probe ids: address lines use (line << 16 | port index); probes of
// domain mode carry this bit and the planner's probe id.
constexpr uint64_t kDomainProbe = uint64_t{1} << 63;

// "30s", "500ms", "2m" (absl::ParseDuration), or a bare number of seconds,
// from 1 ms to 24 h: below that no phase can finish, above it a stuck
// conversation would hold its slot for days (and "inf" or "1e300" would
// overflow deadline arithmetic).
absl::StatusOr<absl::Duration> ParseTimeout(const std::string& flag,
                                            const std::string& text) {
  absl::Duration d;
  double seconds = 0;
  bool parsed = absl::ParseDuration(text, &d);
  if (!parsed && absl::SimpleAtod(text, &seconds) && std::isfinite(seconds)) {
    d = absl::Seconds(seconds);
    parsed = true;
  }
  if (parsed && d >= absl::Milliseconds(1) && d <= absl::Hours(24)) return d;
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": '", text,
                   "' is not a duration from 1ms to 24h (e.g. 30s, 500ms)"));
}

// A rate option's value: a finite number of events per second, 0 for no
// limit. CLI11's NonNegativeNumber accepts "nan" and prints DBL_MAX.
CLI::Validator RateValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double value = 0;
        if (absl::SimpleAtod(text, &value) && std::isfinite(value) &&
            value >= 0 && value <= 1e9) {
          return "";
        }
        return absl::StrCat("'", text,
                            "' is not a number from 0 to 1e9 per second (0 "
                            "for no limit)");
      },
      "RATE");
}

// Checks an EHLO/HELO argument (RFC 5321 §4.1.1.1): a host name of letters,
// digits and inner hyphens, or an address literal "[192.0.2.1]" /
// "[IPv6:2001:db8::1]". Anything else (underscores, IDN U-labels, a name
// without a dot) is refused unless `force`, which sends any printable ASCII
// word as is (to study how servers treat bad names). Spaces, control bytes
// (CR/LF would inject a command) and non-ASCII are refused even then.
absl::StatusOr<std::string> CheckEhloName(const std::string& name, bool force) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--ehlo-name: '", absl::CHexEscape(name), "' ", why,
        "; pass a host name you control, e.g. --ehlo-name scan.example.org"));
  };
  const bool printable_word =
      !name.empty() && name.size() <= 255 &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return absl::ascii_isgraph(static_cast<unsigned char>(c));
      });
  if (force) {
    if (printable_word) return name;
    return invalid(
        "has a space, a control byte or non-ASCII (not sent even "
        "with --force-ehlo-name)");
  }
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    absl::string_view inner(name.data() + 1, name.size() - 2);
    const bool v6 = absl::ConsumePrefix(&inner, "IPv6:");
    auto ip = scan::ParseIpAddress(inner);
    if (ip.has_value() && (ip->family == AF_INET6) == v6) return name;
    return invalid(
        "is not an address literal ([192.0.2.1], [IPv6:2001:db8::1])");
  }
  if (name.find('.') == std::string::npos) {
    return invalid(
        "is not fully qualified and servers may refuse it "
        "(--force-ehlo-name sends it anyway)");
  }
  auto parsed = dns::ParseDomainName(name);
  if (!parsed.ok() || !parsed->unicode.empty()) {
    return invalid(absl::StrCat(
        "is not a host name",
        parsed.ok() ? " in ASCII (use the xn-- form)"
                    : absl::StrCat(": ", parsed.status().message())));
  }
  return parsed->ascii;
}

// Binds a throwaway socket to `source` so that an address this machine
// does not have is refused at start, not reported as EADDRNOTAVAIL by
// every probe.
absl::Status CheckBindable(const std::string& text,
                           const scan::SocketAddress& source) {
  const int fd =
      socket(source.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("--source-address ", text, ": socket: ", strerror(errno)));
  }
  const int r = bind(fd, source.get(), source.length);
  const int error = errno;
  close(fd);
  if (r == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--source-address ", text, ": cannot bind: ", strerror(error)));
}

// The machine's fully qualified name, as `hostname -f` finds it.
std::string FullyQualifiedHostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  addrinfo hints{};
  hints.ai_flags = AI_CANONNAME;
  addrinfo* info = nullptr;
  std::string result = name;
  if (getaddrinfo(name, nullptr, &hints, &info) == 0 && info != nullptr) {
    if (info->ai_canonname != nullptr) result = info->ai_canonname;
    freeaddrinfo(info);
  }
  return absl::AsciiStrToLower(result);
}

// A line whose probes are running; written when the last one finishes.
// Small on purpose (one per open connection at most): the record's probes
// are built when results arrive, not when the line is read.
struct PendingRecord {
  output::AddressRecord record;  // probes empty until the first result
  absl::InlinedVector<uint16_t, 4> ports;  // scan::Target::ports
  size_t remaining = 0;
};

// The resolver's sockets, watched by polls on the engine's ring.
class EnginePoller final : public dns::Poller {
 public:
  explicit EnginePoller(engine::Engine* engine) : engine_(engine) {}
  uint64_t Watch(int fd, uint32_t events,
                 absl::AnyInvocable<void(uint32_t)> ready) override {
    return engine_->WatchFd(fd, events, std::move(ready));
  }
  void Unwatch(uint64_t handle) override { engine_->UnwatchFd(handle); }

 private:
  engine::Engine* engine_;
};

// Cores this process may run on (its affinity mask), at least 1.
size_t CoreCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    return std::max(1, CPU_COUNT(&set));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// SIGINT and SIGTERM, counted by a handler that only stores: the scan's
// loop looks at them after every batch (at least every 100 ms; a signal
// also ends the ring wait at once when it lands on the main thread, where
// engine threads leave it by blocking both).
std::atomic<int> g_interrupt_signal{0};
std::atomic<int> g_interrupt_count{0};

void OnInterrupt(int signo) {
  int expected = 0;
  g_interrupt_signal.compare_exchange_strong(expected, signo);
  g_interrupt_count.fetch_add(1);
}

// Installs the handlers for the scan's lifetime, then restores the old ones.
class InterruptSignals {
 public:
  InterruptSignals() {
    g_interrupt_signal = 0;
    g_interrupt_count = 0;
    struct sigaction sa {};
    sa.sa_handler = OnInterrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~InterruptSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  InterruptSignals(const InterruptSignals&) = delete;
  InterruptSignals& operator=(const InterruptSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// The DNS servers a resolver made with `servers` would use, for the
// metadata of a run that did not need DNS: c-ares reads /etc/resolv.conf
// when `servers` is empty, and nothing is sent. `servers` as given when
// no resolver can be made.
std::vector<std::string> ConfiguredResolvers(
    const std::vector<std::string>& servers) {
  class NoPoller final : public dns::Poller {
   public:
    uint64_t Watch(int, uint32_t, absl::AnyInvocable<void(uint32_t)>) override {
      return 0;
    }
    void Unwatch(uint64_t) override {}
  };
  NoPoller poller;
  dns::ResolverOptions o;
  o.servers = servers;
  auto resolver = dns::Resolver::Create(o, &poller);
  return resolver.ok() ? (*resolver)->servers() : servers;
}

// Whether a line that is not a valid address target was meant as one (so
// its error should be the address parser's) rather than as a domain.
bool LooksLikeAddress(absl::string_view text) {
  text = text.substr(0, text.find(','));
  return text.find_first_of(":[]") != absl::string_view::npos ||
         (!text.empty() &&
          text.find_first_not_of("0123456789.") == absl::string_view::npos);
}

class Scan {
 public:
  Scan(const ScanOptions& options, const RunInfo& run)
      : options_(options), run_(run) {}
  int Run();

 private:
  // Reads input lines until one has probes to submit or the input ends.
  bool Feed();
  bool IsImplicitTls(uint16_t port) const {
    return std::find(implicit_tls_ports_.begin(), implicit_tls_ports_.end(),
                     port) != implicit_tls_ports_.end();
  }
  output::TlsMode TlsModeOf(uint16_t port) const {
    return IsImplicitTls(port) ? output::TlsMode::kImplicit : plain_tls_mode_;
  }
  void Finished(engine::ProbeOutcome&& outcome);
  // A cleared PendingRecord, reused when one is spare.
  std::unique_ptr<PendingRecord> TakeSpareRecord();
  // Names the software of a finished probe (when it said anything).
  void Identify(output::ProbeResult* probe);
  // Sets up the resolver and the planner at the first domain line.
  absl::Status StartDomainMode();
  void SubmitDomainProbe(const scan::ProbeRequest& request);
  // Resolves mta-sts.<domain>, fetches and parses its policy.
  void FetchMtaSts(const std::string& domain,
                   scan::DomainScan::MtaStsDone done);
  // Per MX host: does the domain's MTA-STS policy list it?
  static void MatchMtaSts(output::DomainRecord* record);
  // True once the input is read and every domain's record is out, or the
  // scan was interrupted (domains still resolving then get no record:
  // --resume scans them again).
  bool AllFed() const {
    return stopping_ || (input_done_ && (domains_ == nullptr ||
                                         domains_->domains_in_progress() == 0));
  }
  // After every batch: ends the run when the output failed, and acts on
  // SIGINT and SIGTERM. The first signal stops taking input and drops
  // probes not yet connected; the conversations running get until the
  // grace time ends. A second signal, or the end of the grace time,
  // abandons them.
  void CheckInterrupt();
  void Emit(const output::AddressRecord& record);
  void Emit(const output::DomainRecord& record);
  void Emit(const output::InvalidInputRecord& record);
  void Flush(bool force);
  int Fail(absl::string_view message);
  // Before the loop: starts the progress line (unless --quiet) and, with
  // -m, fills in the metadata known at the start and writes it, so that a
  // path that cannot be written fails the run at once.
  absl::Status StartRunReport(absl::Time start);
  // Every way out of Run once the loop started goes through here, the
  // interrupted one included: writes the metadata (-m) with `exit_code`
  // and returns the exit code (1 when the metadata cannot be written).
  int Finish(int exit_code);
  // The counters of the progress line, now.
  ProgressSnapshot Progress(absl::Time now) const;
  // After every batch: a progress line when one is due.
  void ReportProgress();

  const ScanOptions& options_;
  std::vector<uint16_t> ports_;
  std::vector<uint16_t> implicit_tls_ports_;
  smtp::SessionConfig plain_;
  smtp::SessionConfig implicit_tls_;
  // STARTTLS on plaintext ports: kNone with --starttls never.
  output::TlsMode plain_tls_mode_ = output::TlsMode::kStartTls;
  std::unique_ptr<tls::Context> tls_context_;
  std::unique_ptr<fingerprint::Fingerprinter> fingerprinter_;
  fingerprint::Observation observation_;  // Identify's, reused
  std::unique_ptr<scan::AddressPolicy> policy_;
  std::unique_ptr<scan::OptOutList> opt_out_;        // --opt-out names
  std::unique_ptr<scan::ProviderGroups> providers_;  // --per-provider
  std::unique_ptr<scan::TargetReader> reader_;
  scan::Shard shard_;  // --shard: the lines this run scans
  std::unique_ptr<output::RecordWriter> writer_;
  std::unique_ptr<engine::EnginePool> pool_;
  // Domain mode (declared after the engine: destroyed before it).
  absl::Duration dns_timeout_;
  absl::Duration mta_sts_timeout_;
  std::unique_ptr<EnginePoller> poller_;
  std::unique_ptr<dns::Resolver> resolver_;
  std::unique_ptr<mtasts::Fetcher> mta_sts_;
  std::unique_ptr<scan::DomainScan> domains_;
  // Each domain-mode probe in flight: its address text, port and DANE
  // lookup, for its result.
  struct DomainProbe {
    std::string address;
    uint16_t port = 0;
    std::string server_name;  // the MX host when the probe uses TLS
    std::shared_ptr<const tls::DaneResult> dane;
  };
  absl::flat_hash_map<uint64_t, DomainProbe> domain_probes_;
  absl::Time dns_ticked_ = absl::Now();
  bool input_done_ = false;
  bool stopping_ = false;  // interrupted: finishing what is running
  bool abandoned_ = false;
  int interrupt_count_ = 0;  // signals acted on
  absl::Time grace_end_;
  absl::Duration grace_;
  int in_fd_ = -1;
  std::unique_ptr<output::OutputSink> sink_;  // -o, compressed by extension
  // --resume: what the output already has, and the input lines skipped
  // for it with their digest (output/resume.h), checked at the end.
  std::unique_ptr<output::ResumeState> resume_;
  uint64_t skipped_ = 0;
  uint64_t skipped_digest_ = 0;
  std::string out_;
  absl::Time flushed_ = absl::Now();  // when out_ was last written
  absl::Status failure_;              // the first failure of the tool itself
  bool output_failed_ = false;        // failure_ is a write to the output
  // Boxed: a flat table of large records would cost its slot size for
  // every empty slot too.
  absl::flat_hash_map<uint64_t, std::unique_ptr<PendingRecord>> pending_;
  // Written records' boxes, cleared, for the next lines: a record's probes
  // (over 1 KiB each) stay allocated, and glibc consolidates its fast bins
  // on every allocation that large.
  std::vector<std::unique_ptr<PendingRecord>> spare_records_;
  absl::flat_hash_map<std::string, uint64_t> counts_;  // records by status
  uint64_t records_ = 0;
  bool split_probes_ = false;   // --layout split
  uint64_t probe_records_ = 0;  // --layout split: records of kind probe
  // -m and the progress line. The metadata also holds the counts per
  // status and per port.
  const RunInfo& run_;
  output::RunMetadata metadata_;
  std::unique_ptr<ProgressReporter> progress_;  // null with --quiet
  absl::Time started_;
  uint64_t input_bytes_ = 0;  // a regular input file's size; 0: unknown
};

int Scan::Fail(absl::string_view message) {
  std::cerr << "smtpscan: " << message << "\n";
  return kExitFailure;
}

int Scan::Run() {
  // Option values that CLI11 cannot check by itself.
  // Each error names its option: "-p/--ports: bad port list '0': ...".
  auto named = [](absl::string_view flag, auto result) {
    if (!result.ok()) {
      result =
          absl::Status(result.status().code(),
                       absl::StrCat(flag, ": ", result.status().message()));
    }
    return result;
  };
  auto ports = named("-p/--ports", scan::ParsePortList(options_.ports));
  auto implicit = named("--implicit-tls-ports",
                        scan::ParsePortList(options_.implicit_tls_ports));
  auto connect = ParseTimeout("--connect-timeout", options_.connect_timeout);
  auto greeting = ParseTimeout("--greeting-timeout", options_.greeting_timeout);
  auto reply = ParseTimeout("--reply-timeout", options_.reply_timeout);
  auto session = ParseTimeout("--session-timeout", options_.session_timeout);
  auto dns_timeout = ParseTimeout("--dns-timeout", options_.dns_timeout);
  auto mta_sts_timeout =
      ParseTimeout("--mta-sts-timeout", options_.mta_sts_timeout);
  auto grace = ParseTimeout("--grace-time", options_.grace_time);
  for (const absl::Status& s :
       {ports.status(), implicit.status(), connect.status(), greeting.status(),
        reply.status(), session.status(), dns_timeout.status(),
        mta_sts_timeout.status(), grace.status()}) {
    if (!s.ok()) {
      std::cerr << "smtpscan: " << s.message() << " (see smtpscan --help)\n";
      return kExitUsage;
    }
  }
  ports_ = *ports;
  implicit_tls_ports_ = *implicit;
  dns_timeout_ = *dns_timeout;
  mta_sts_timeout_ = *mta_sts_timeout;
  auto shard = scan::ParseShard(options_.shard, scan::ProcessEnvironment());
  if (!shard.ok()) {
    std::cerr << "smtpscan: " << shard.status().message()
              << " (see smtpscan --help)\n";
    return kExitUsage;
  }
  shard_ = *shard;
  grace_ = *grace;

  engine::EngineOptions engine_options;
  engine_options.concurrency = options_.concurrency;
  engine_options.rate = options_.rate;
  engine_options.per_address = std::max<size_t>(1, options_.per_address);
  engine_options.per_group = options_.per_provider;  // per engine: see pool.h
  if (options_.backoff == "0") {
    engine_options.backoff_initial = absl::ZeroDuration();
  } else {
    auto backoff = ParseTimeout("--backoff", options_.backoff);
    auto backoff_max = ParseTimeout("--backoff-max", options_.backoff_max);
    for (const absl::Status& s : {backoff.status(), backoff_max.status()}) {
      if (!s.ok()) {
        std::cerr << "smtpscan: " << s.message() << " (see smtpscan --help)\n";
        return kExitUsage;
      }
    }
    if (*backoff_max < *backoff) {
      std::cerr << "smtpscan: --backoff-max " << options_.backoff_max
                << " is shorter than --backoff " << options_.backoff
                << " (see smtpscan --help)\n";
      return kExitUsage;
    }
    engine_options.backoff_initial = *backoff;
    engine_options.backoff_max = *backoff_max;
  }
  engine_options.deadlines = {*connect, *greeting, *reply, *session};
  for (const std::string& text : options_.source_addresses) {
    auto ip = scan::ParseIpAddress(text);
    if (!ip.has_value()) {
      std::cerr << "smtpscan: --source-address: '" << text
                << "' is not an IP address (see smtpscan --help)\n";
      return kExitUsage;
    }
    const bool seen = ip->family == AF_INET
                          ? engine_options.source4.has_value()
                          : engine_options.source6.has_value();
    if (seen) {
      std::cerr << "smtpscan: --source-address: more than one "
                << (ip->family == AF_INET ? "IPv4" : "IPv6")
                << " address; give at most one per family (see smtpscan "
                   "--help)\n";
      return kExitUsage;
    }
    const scan::SocketAddress sa =
        scan::MakeSocketAddress(ip->family, ip->bytes.data(), 0);
    if (absl::Status s = CheckBindable(text, sa); !s.ok()) {
      std::cerr << "smtpscan: " << s.message() << "\n";
      return kExitUsage;
    }
    if (ip->family == AF_INET) {
      engine_options.source4 = *reinterpret_cast<const sockaddr_in*>(sa.get());
    } else {
      engine_options.source6 = *reinterpret_cast<const sockaddr_in6*>(sa.get());
    }
  }

  for (const std::string& text : options_.resolvers) {
    if (auto server = dns::ParseServer(text); !server.ok()) {
      std::cerr << "smtpscan: " << server.status().message()
                << " (see smtpscan --help)\n";
      return kExitUsage;
    }
  }

  auto ehlo =
      CheckEhloName(options_.ehlo_name.empty() ? FullyQualifiedHostName()
                                               : options_.ehlo_name,
                    options_.force_ehlo_name);
  if (!ehlo.ok()) {
    std::cerr << "smtpscan: " << ehlo.status().message()
              << (options_.ehlo_name.empty() ? " (this machine's name)" : "")
              << "\n";
    return kExitUsage;
  }
  plain_.ehlo_name = *ehlo;
  plain_.probe = options_.probe;
  plain_.starttls =
      options_.starttls == "always"  ? smtp::StartTlsPolicy::kAlways
      : options_.starttls == "never" ? smtp::StartTlsPolicy::kNever
                                     : smtp::StartTlsPolicy::kAuto;
  plain_tls_mode_ = options_.starttls == "never" ? output::TlsMode::kNone
                                                 : output::TlsMode::kStartTls;
  implicit_tls_ = plain_;
  implicit_tls_.implicit_tls = true;

  // A bad list file is named with its option: "--blocklist FILE:LINE: ...".
  policy_ = std::make_unique<scan::AddressPolicy>(
      *scan::AddressPolicy::Create(options_.allow_private, {}, {}));
  using ListKind = scan::AddressPolicy::ListKind;
  for (const auto& [flag, kind, paths] :
       {std::tuple("--blocklist", ListKind::kBlocklist, &options_.blocklists),
        std::tuple("--allowlist", ListKind::kAllowlist,
                   &options_.allowlists)}) {
    for (const std::string& path : *paths) {
      if (absl::Status s = policy_->AddListFile(kind, path); !s.ok()) {
        std::cerr << "smtpscan: " << flag << " " << s.message() << "\n";
        return kExitUsage;
      }
    }
  }
  opt_out_ = std::make_unique<scan::OptOutList>();
  for (const std::string& path : options_.opt_outs) {
    if (absl::Status s = opt_out_->AddFile(path, policy_.get()); !s.ok()) {
      std::cerr << "smtpscan: --opt-out " << s.message() << "\n";
      return kExitUsage;
    }
  }

  if (options_.input == "-") {
    if (StandardStreamWasClosed(0)) {
      return Fail("cannot read standard input: it is closed");
    }
    in_fd_ = 0;
  } else {
    in_fd_ = open(options_.input.c_str(), O_RDONLY | O_CLOEXEC);
    if (in_fd_ < 0) {
      return Fail(
          absl::StrCat("cannot open ", options_.input, ": ", strerror(errno)));
    }
  }
  reader_ = std::make_unique<scan::TargetReader>(in_fd_);
  struct stat input_stat;
  if (fstat(in_fd_, &input_stat) == 0 && S_ISREG(input_stat.st_mode)) {
    input_bytes_ = static_cast<uint64_t>(input_stat.st_size);
  }

  const output::Format format =
      output::ResolveFormat(options_.format, options_.output);
  output::WriterOptions writer_options;
  writer_options.greeting_raw = options_.greeting_raw;
  writer_options.csv_raw_cells = options_.csv_raw_cells;
  writer_options.split_probes = split_probes_ = options_.layout == "split";
  metadata_.scan_id = output::NewScanId();
  writer_options.scan_id = metadata_.scan_id;
  if (writer_options.split_probes && format == output::Format::kCsv) {
    std::cerr << "smtpscan: --layout split needs NDJSON output: CSV already "
                 "has one row per probe (see smtpscan --help)\n";
    return kExitUsage;
  }
  if (options_.resume && options_.output == "-") {
    std::cerr << "smtpscan: --resume needs -o FILE: it continues the run "
                 "that file holds (see smtpscan --help)\n";
    return kExitUsage;
  }
  writer_ = output::MakeWriter(format, writer_options);

  auto fingerprinter =
      fingerprint::Fingerprinter::CreateFromFiles(options_.fingerprints);
  if (!fingerprinter.ok()) {
    std::cerr << "smtpscan: --fingerprints " << fingerprinter.status().message()
              << "\n";
    return kExitUsage;
  }
  fingerprinter_ = *std::move(fingerprinter);

  auto tls_context = tls::Context::Create(
      {.ca_file = options_.ca_file, .load_when_needed = true});
  if (!tls_context.ok()) {
    std::cerr << "smtpscan: " << tls_context.status().message() << "\n";
    return absl::IsInvalidArgument(tls_context.status()) ? kExitUsage
                                                         : kExitFailure;
  }
  tls_context_ = *std::move(tls_context);
  engine_options.tls_context = tls_context_.get();

  engine::PoolOptions pool_options;
  pool_options.threads = options_.threads > 0 ? options_.threads : CoreCount();
  pool_options.engine = engine_options;
  pool_options.make_tls_context = [this] {
    tls::ContextOptions o;
    o.share_trust_of = tls_context_.get();
    return tls::Context::Create(o);
  };
  auto pool = engine::EnginePool::Create(
      std::move(pool_options),
      [this](engine::ProbeOutcome&& outcome) { Finished(std::move(outcome)); });
  if (!pool.ok()) return Fail(pool.status().message());
  pool_ = std::move(*pool);

  const output::Compression compression =
      output::CompressionForPath(options_.output);
  bool write_header = true;
  if (options_.resume) {
    // Reads the output, cuts a torn end, then appends to it.
    auto state = output::PrepareResume(options_.output, format, compression);
    if (!state.ok()) {
      return Fail(absl::StrCat("--resume: ", state.status().message()));
    }
    resume_ = std::make_unique<output::ResumeState>(*std::move(state));
    write_header = resume_->needs_header || !resume_->existed;
    if (!options_.quiet && resume_->existed) {
      std::cerr << "smtpscan: resuming " << options_.output << ": "
                << resume_->done.count() << " lines done"
                << (resume_->cut_bytes > 0
                        ? absl::StrCat(", a torn end of ", resume_->cut_bytes,
                                       " bytes cut")
                        : "")
                << (resume_->duplicates > 0
                        ? absl::StrCat(", ", resume_->duplicates,
                                       " duplicate records already in it")
                        : "")
                << "\n";
    }
  }
  if (options_.output == "-" && StandardStreamWasClosed(1)) {
    return Fail("cannot write standard output: it is closed");
  }
  auto sink = output::OutputSink::Open(
      options_.output, compression,
      options_.resume ? output::OutputSink::Mode::kAppend
                      : output::OutputSink::Mode::kTruncate);
  if (!sink.ok()) return Fail(sink.status().message());
  sink_ = *std::move(sink);

  const absl::Time start = absl::Now();
  if (absl::Status s = StartRunReport(start); !s.ok()) {
    return Fail(s.message());
  }
  if (write_header) writer_->WriteHeader(&out_);
  InterruptSignals signals;
  const absl::Status run = pool_->Run(
      [this] { return Feed(); },
      [this] {
        CheckInterrupt();
        Flush(/*force=*/false);
        ReportProgress();
        if (resolver_ != nullptr && absl::Now() - dns_ticked_ >= kDnsTick) {
          dns_ticked_ = absl::Now();
          resolver_->Tick();
          if (mta_sts_ != nullptr) mta_sts_->Tick();
        }
      },
      [this] { return AllFed(); });
  if (progress_ != nullptr) progress_->Finish(Progress(absl::Now()));
  Flush(/*force=*/true);
  if (absl::Status s = sink_->Close(); !s.ok() && failure_.ok()) failure_ = s;
  // The system trust store loads at the first handshake; if that failed,
  // every certificate verification in the records failed with it.
  if (absl::Status s = tls_context_->TrustStatus(); !s.ok() && failure_.ok()) {
    failure_ = s;
  }
  if (in_fd_ > 0) close(in_fd_);
  if (!run.ok()) return Finish(Fail(run.message()));
  if (!failure_.ok()) return Finish(Fail(failure_.message()));
  // --resume, the whole input read: the lines skipped must be exactly the
  // ones the output had, with the same text.
  if (resume_ != nullptr && input_done_) {
    if (skipped_ != resume_->done.count()) {
      return Finish(Fail(absl::StrCat(
          "--resume: ", options_.output,
          " does not belong to this input: ", resume_->done.count() - skipped_,
          " of its records name lines this input (and --shard) does not "
          "have")));
    }
    if (skipped_digest_ != resume_->digest) {
      return Finish(Fail(absl::StrCat(
          "--resume: ", options_.output, " does not belong to this input: ",
          "the input text of its records differs from these input lines")));
    }
  }
  if (!options_.quiet) {
    std::vector<std::string> parts;
    for (const auto& [status, n] : counts_)
      parts.push_back(absl::StrCat(status, " ", n));
    std::sort(parts.begin(), parts.end());
    std::cerr << "smtpscan: " << records_ << " records in "
              << absl::FormatDuration(
                     absl::Trunc(absl::Now() - start, absl::Milliseconds(1)))
              << (parts.empty() ? "" : ": ") << absl::StrJoin(parts, ", ");
    if (domains_ != nullptr) {
      if (probe_records_ > 0) {
        std::cerr << "; " << probe_records_ << " probe records";
      }
      std::cerr << "; domains: " << domains_->probe_slots()
                << " probes answered by " << domains_->unique_probes()
                << " connections, " << resolver_->stats().queries
                << " DNS queries";
    }
    if (resume_ != nullptr) {
      std::cerr << "; " << skipped_ << " lines skipped as already done";
    }
    if (stopping_) {
      std::cerr << "; interrupted"
                << (abandoned_ ? ", running conversations abandoned" : "");
    }
    std::cerr << "\n";
  }
  // 128 + the signal, as a shell reports a process the signal ended.
  if (stopping_) return Finish(128 + g_interrupt_signal.load());
  return Finish(kExitOk);
}

absl::Status Scan::StartRunReport(absl::Time start) {
  started_ = start;
  if (!options_.quiet) {
    progress_ = std::make_unique<ProgressReporter>(
        start,
        ProgressReporter::ForStandardError(
            /*records_to_terminal=*/options_.output == "-" && isatty(1) == 1));
  }
  if (options_.metadata.empty()) return absl::OkStatus();
  metadata_.version = SMTPSCAN_VERSION;
  metadata_.start = start;
  metadata_.command_line = run_.command_line;
  metadata_.options = run_.options;
  metadata_.ehlo_name = plain_.ehlo_name;
  metadata_.source_addresses = options_.source_addresses;
  metadata_.resolvers = ConfiguredResolvers(options_.resolvers);
  if (!shard_.whole()) {
    metadata_.shard = output::RunMetadata::Shard{shard_.index, shard_.count};
  }
  return output::WriteMetadataFile(options_.metadata, metadata_);
}

int Scan::Finish(int exit_code) {
  if (options_.metadata.empty()) return exit_code;
  metadata_.end = absl::Now();
  metadata_.exit_code = exit_code;
  metadata_.interrupted = stopping_;
  metadata_.input_lines = reader_->lines_seen();
  metadata_.records = records_;
  metadata_.probe_records = probe_records_;
  if (resolver_ != nullptr) {
    metadata_.resolvers = resolver_->servers();
    const dns::Resolver::Stats& stats = resolver_->stats();
    metadata_.dns =
        output::RunMetadata::Dns{stats.queries, stats.answered, stats.timeouts};
  }
  const absl::Status s =
      output::WriteMetadataFile(options_.metadata, metadata_);
  if (!s.ok()) {
    Fail(s.message());
    return exit_code == kExitOk ? kExitFailure : exit_code;
  }
  return exit_code;
}

ProgressSnapshot Scan::Progress(absl::Time now) const {
  ProgressSnapshot s;
  s.elapsed = now - started_;
  s.lines_read = reader_->lines_seen();
  s.lines_in_progress =
      pending_.size() +
      (domains_ != nullptr ? domains_->domains_in_progress() : 0);
  s.records = records_;
  s.records_success =
      metadata_.records_by_status[static_cast<int>(ScanStatus::kSuccess)];
  if (input_bytes_ > 0) {
    // The reader's position in the file: read(2) moves it, nothing else.
    const off_t at = lseek(in_fd_, 0, SEEK_CUR);
    s.input_bytes = input_bytes_;
    s.input_bytes_read = at > 0 ? static_cast<uint64_t>(at) : 0;
  }
  s.connections_open = pool_->open_connections();
  if (resolver_ != nullptr) s.dns_in_flight = resolver_->inflight();
  return s;
}

void Scan::ReportProgress() {
  if (progress_ == nullptr) return;
  const absl::Time now = absl::Now();
  if (progress_->Due(now)) progress_->Report(now, Progress(now));
}

absl::Status Scan::StartDomainMode() {
  dns::ResolverOptions o;
  o.servers = options_.resolvers;
  o.timeout = dns_timeout_;
  o.tries = options_.dns_tries;
  o.max_inflight = options_.dns_max_inflight;
  o.rate = options_.dns_rate;
  poller_ = std::make_unique<EnginePoller>(&pool_->home());
  auto resolver = dns::Resolver::Create(o, poller_.get());
  if (!resolver.ok()) return resolver.status();
  resolver_ = *std::move(resolver);
  scan::DomainScanOptions d;
  d.ports = ports_;
  d.implicit_tls_ports = implicit_tls_ports_;
  d.plain_tls_mode = plain_tls_mode_;
  d.max_mx = options_.max_mx;
  d.ipv4 = !options_.ipv6_only;
  d.ipv6 = !options_.ipv4_only;
  d.policy = !options_.no_policy;
  d.dane = !options_.no_dane;
  d.mta_sts = d.policy && !options_.no_mta_sts;
  d.opt_out = opt_out_.get();
  if (options_.per_provider > 0) {
    auto providers = scan::ProviderGroups::Create();
    if (!providers.ok()) return providers.status();
    providers_ = *std::move(providers);
    d.providers = providers_.get();
  }
  if (d.mta_sts) {
    mtasts::FetcherOptions f;
    f.ca_file = options_.ca_file;
    f.timeout = mta_sts_timeout_;
    f.port = options_.mta_sts_port;
    auto fetcher = mtasts::Fetcher::Create(f, poller_.get());
    if (!fetcher.ok()) return fetcher.status();
    mta_sts_ = *std::move(fetcher);
  }
  domains_ = std::make_unique<scan::DomainScan>(
      d, resolver_.get(), policy_.get(),
      [this](const scan::ProbeRequest& request) { SubmitDomainProbe(request); },
      [this](output::DomainRecord record) {
        MatchMtaSts(&record);
        Emit(record);
      });
  if (d.mta_sts) {
    domains_->SetMtaStsFetcher(
        [this](const std::string& domain, scan::DomainScan::MtaStsDone done) {
          FetchMtaSts(domain, std::move(done));
        });
  }
  return absl::OkStatus();
}

void Scan::SubmitDomainProbe(const scan::ProbeRequest& request) {
  // Interrupted: the domain will have no record, --resume redoes it.
  if (stopping_) return;
  engine::Probe p;
  p.id = kDomainProbe | request.id;
  const scan::SocketAddress sa = scan::MakeSocketAddress(
      request.address.family, request.address.bytes, request.port);
  std::memcpy(&p.address, &sa.storage, sa.length);
  p.config = IsImplicitTls(request.port) ? &implicit_tls_ : &plain_;
  p.server_name = request.server_name;
  p.dane = request.dane;
  p.group = request.group;
  domain_probes_[request.id] = {
      scan::FormatIpAddress(request.address.family, request.address.bytes),
      request.port, request.server_name, request.dane};
  pool_->Submit(std::move(p));
}

void Scan::FetchMtaSts(const std::string& domain,
                       scan::DomainScan::MtaStsDone done) {
  struct Fetch {
    std::string domain;
    scan::DomainScan::MtaStsDone done;
    std::vector<dns::Address> addresses;
    int lookups = 0;
  };
  auto fetch = std::make_shared<Fetch>();
  fetch->domain = domain;
  fetch->done = std::move(done);
  const std::string host = absl::StrCat("mta-sts.", domain);
  std::vector<int> families;
  if (!options_.ipv6_only) families.push_back(AF_INET);
  if (!options_.ipv4_only) families.push_back(AF_INET6);
  fetch->lookups = static_cast<int>(families.size());
  // An --opt-out suffix covering the policy host keeps it unconnected too.
  const bool opted_out = opt_out_->CheckHost(host).has_value();
  for (int family : families) {
    resolver_->QueryAddresses(
        host, family, [this, fetch, opted_out](dns::AddressAnswer answer) {
          for (const dns::Address& a : answer.addresses) {
            // The policy host is a server like any other: the address
            // policy (reserved ranges, --blocklist) applies to it too.
            if (!opted_out && !policy_->Check(a.family, a.bytes).has_value()) {
              fetch->addresses.push_back(a);
            }
          }
          if (--fetch->lookups > 0) return;
          mta_sts_->Fetch(
              fetch->domain, std::move(fetch->addresses),
              [fetch](mtasts::FetchResult f) {
                output::MtaStsResult m;
                m.url = absl::StrCat("https://mta-sts.", fetch->domain,
                                     "/.well-known/mta-sts.txt");
                m.fetch_status = std::move(f.status);
                m.http_status = f.http_status;
                m.fetch_error = std::move(f.error);
                m.took = f.took;
                if (m.fetch_status == "ok") {
                  absl::StatusOr<mtasts::Policy> policy =
                      mtasts::ParsePolicy(f.body);
                  if (policy.ok()) {
                    m.valid = true;
                    m.version = std::move(policy->version);
                    m.mode = std::move(policy->mode);
                    m.mx = std::move(policy->mx);
                    m.max_age = policy->max_age;
                  } else {
                    m.policy_error = std::string(policy.status().message());
                  }
                }
                fetch->done(std::move(m));
              });
        });
  }
}

void Scan::MatchMtaSts(output::DomainRecord* record) {
  if (!record->mta_sts.has_value() || !record->mta_sts->valid) return;
  mtasts::Policy policy;
  policy.mx = record->mta_sts->mx;
  for (output::MxHost& host : record->mx) {
    if (host.name == ".") continue;
    host.mta_sts_match = mtasts::PolicyMatchesHost(policy, host.name);
  }
}

void Scan::CheckInterrupt() {
  // An output that failed (full disk, reader gone) ends the run at once:
  // no later record could be written, so nothing is read or kept running.
  if (output_failed_ && !abandoned_) {
    stopping_ = true;
    input_done_ = true;
    abandoned_ = true;
    pool_->DropQueued();
    pool_->Abandon();
    return;
  }
  const int count = g_interrupt_count.load();
  const absl::Time now = absl::Now();
  if (count > interrupt_count_ && !stopping_) {
    interrupt_count_ = 1;
    stopping_ = true;
    input_done_ = true;
    grace_end_ = now + grace_;
    pool_->DropQueued();
    if (!options_.quiet) {
      std::cerr << "\nsmtpscan: " << strsignal(g_interrupt_signal.load())
                << ": finishing the conversations running ("
                << pool_->open_connections() << ") within "
                << absl::FormatDuration(grace_)
                << " (signal again to stop now)\n";
    }
  }
  if (stopping_ && !abandoned_ &&
      (g_interrupt_count.load() > interrupt_count_ || now >= grace_end_)) {
    abandoned_ = true;
    pool_->Abandon();
  }
}

bool Scan::Feed() {
  while (failure_.ok() && !input_done_) {
    if (!pool_->Accepting()) return false;
    // Domains in progress hold DNS queries and probes: take new ones only
    // while the resolver has room and the domains waiting for probes are
    // within a few times the connections, so memory follows the limits,
    // not the input (and a few tarpits cannot stall the DNS side).
    if (domains_ != nullptr &&
        (resolver_->pending() >= options_.dns_max_inflight ||
         domains_->domains_in_progress() >=
             2 * std::max(options_.dns_max_inflight, options_.concurrency))) {
      return false;
    }
    absl::StatusOr<absl::optional<scan::InputLine>> next = reader_->Next();
    if (!next.ok()) {
      failure_ = absl::DataLossError(absl::StrCat(
          options_.input == "-" ? "standard input" : options_.input, ": ",
          next.status().message()));
      input_done_ = true;
      return false;
    }
    if (!next->has_value()) {
      input_done_ = true;
      return false;
    }
    scan::InputLine& line = **next;
    // Another shard's line: read (and counted), but not this run's to
    // parse or record. Line numbers stay those of the whole input, so
    // the shards' outputs merge with cat.
    if (!shard_.whole() && !scan::InShard(shard_, scan::ShardKey(line.text))) {
      continue;
    }
    // --resume: the output has this line's record already.
    if (resume_ != nullptr && resume_->done.Contains(line.number)) {
      ++skipped_;
      skipped_digest_ += output::ResumeDigestTerm(line.number, line.text);
      continue;
    }
    if (line.too_long) {
      Emit(output::InvalidInputRecord{
          line.number, std::move(line.text),
          absl::StrCat("line longer than ",
                       scan::TargetReader::kDefaultMaxLineBytes, " bytes")});
      continue;
    }
    absl::StatusOr<scan::Target> target =
        scan::ParseTargetLine(line.text, line.number, ports_);
    if (!target.ok() && !LooksLikeAddress(line.text)) {
      // A name: an email domain.
      absl::StatusOr<dns::DomainName> name = dns::ParseDomainName(line.text);
      if (!name.ok()) {
        Emit(output::InvalidInputRecord{
            line.number, std::move(line.text),
            absl::StrCat("not an address or a domain: ",
                         name.status().message())});
        continue;
      }
      if (domains_ == nullptr) {
        if (absl::Status s = StartDomainMode(); !s.ok()) {
          failure_ = s;
          input_done_ = true;
          return false;
        }
      }
      domains_->Add(line.number, std::move(line.text), *std::move(name));
      return true;
    }
    if (!target.ok()) {
      Emit(output::InvalidInputRecord{line.number, std::move(line.text),
                                      std::string(target.status().message())});
      continue;
    }
    output::AddressRecord record;
    record.line = target->line;
    record.input = target->input;
    record.address = target->address;
    record.host = target->name;
    absl::optional<std::string> why;
    if (!target->name.empty()) why = opt_out_->CheckHost(target->name);
    if (!why.has_value()) {
      why = policy_->Check(target->family, target->bytes.data());
    }
    if (why.has_value()) {
      record.status = ScanStatus::kBlocked;
      record.status_detail = *why;
      Emit(record);
      continue;
    }
    std::unique_ptr<PendingRecord> pending = TakeSpareRecord();
    pending->remaining = target->ports.size();
    for (size_t i = 0; i < target->ports.size(); ++i) {
      const uint16_t port = target->ports[i];
      engine::Probe p;
      p.id = (record.line << 16) | i;
      const scan::SocketAddress sa = scan::MakeSocketAddress(*target, port);
      std::memcpy(&p.address, &sa.storage, sa.length);
      p.config = IsImplicitTls(port) ? &implicit_tls_ : &plain_;
      p.server_name = target->name;
      pool_->Submit(std::move(p));
    }
    pending->ports = std::move(target->ports);
    // A spare record's (empty) probes keep their storage.
    record.probes.swap(pending->record.probes);
    pending->record = std::move(record);
    pending_[pending->record.line] = std::move(pending);
    return true;
  }
  return false;
}

void Scan::Finished(engine::ProbeOutcome&& outcome) {
  if ((outcome.id & kDomainProbe) != 0) {
    const uint64_t id = outcome.id & ~kDomainProbe;
    auto it = domain_probes_.find(id);
    if (it == domain_probes_.end()) return;  // cannot happen
    output::ProbeResult result;
    result.address = std::move(it->second.address);
    result.port = it->second.port;
    // A TLS probe belongs to one host name (its split-layout key says so);
    // a plaintext one may serve several, each domain record names its own.
    result.host = std::move(it->second.server_name);
    result.dane = std::move(it->second.dane);
    result.tls_mode = TlsModeOf(result.port);
    result.started_at = outcome.started_at;
    result.session = std::move(outcome.session);
    output::StatusCounts& by_port = metadata_.probes_by_port[result.port];
    ++by_port[static_cast<int>(result.session.status)];
    result.tls = std::move(outcome.tls);
    domain_probes_.erase(it);
    Identify(&result);
    if (split_probes_) {
      writer_->WriteProbe(result, &out_);
      ++probe_records_;
    }
    domains_->OnProbeResult(id, std::move(result));
    return;
  }
  const uint64_t line = outcome.id >> 16;
  const size_t index = outcome.id & 0xffff;
  auto it = pending_.find(line);
  if (it == pending_.end()) return;  // cannot happen
  PendingRecord& pending = *it->second;
  output::AddressRecord& record = pending.record;
  if (record.probes.empty()) {
    record.probes.resize(pending.ports.size());
    for (size_t i = 0; i < pending.ports.size(); ++i) {
      output::ProbeResult& p = record.probes[i];
      p.address = record.address;
      p.port = pending.ports[i];
      p.host = record.host;
      p.tls_mode = TlsModeOf(p.port);
    }
  }
  output::ProbeResult& probe = record.probes[index];
  probe.started_at = outcome.started_at;
  probe.session = std::move(outcome.session);
  output::StatusCounts& by_port = metadata_.probes_by_port[probe.port];
  ++by_port[static_cast<int>(probe.session.status)];
  probe.tls = std::move(outcome.tls);
  Identify(&probe);
  if (--pending.remaining > 0) return;
  output::ProbeSummary summary = output::SummarizeProbes(record.probes);
  record.status = summary.status;
  record.status_detail = std::move(summary.status_detail);
  Emit(record);
  std::unique_ptr<PendingRecord> done = std::move(it->second);
  pending_.erase(it);
  if (spare_records_.size() < kMaxSpareRecords) {
    // Cleared as a new one, but the probes' storage is kept.
    std::vector<output::ProbeResult> probes = std::move(done->record.probes);
    probes.clear();
    *done = PendingRecord{};
    done->record.probes = std::move(probes);
    spare_records_.push_back(std::move(done));
  }
}

std::unique_ptr<PendingRecord> Scan::TakeSpareRecord() {
  if (spare_records_.empty()) return std::make_unique<PendingRecord>();
  std::unique_ptr<PendingRecord> record = std::move(spare_records_.back());
  spare_records_.pop_back();
  return record;
}

void Scan::Identify(output::ProbeResult* probe) {
  if (!probe->session.greeting.has_value()) return;  // nothing to go on
  fingerprint::FillObservation(*probe, &observation_);
  probe->fingerprint = fingerprinter_->IdentifyShared(observation_);
}

void Scan::Emit(const output::AddressRecord& record) {
  writer_->Write(record, &out_);
  ++records_;
  ++counts_[ScanStatusName(record.status)];
  ++metadata_.records_by_status[static_cast<int>(record.status)];
  Flush(false);
}

void Scan::Emit(const output::DomainRecord& record) {
  writer_->Write(record, &out_);
  ++records_;
  ++counts_[ScanStatusName(record.status)];
  ++metadata_.records_by_status[static_cast<int>(record.status)];
  Flush(false);
}

void Scan::Emit(const output::InvalidInputRecord& record) {
  writer_->Write(record, &out_);
  ++records_;
  ++counts_[ScanStatusName(ScanStatus::kInvalidInput)];
  ++metadata_.records_by_status[static_cast<int>(ScanStatus::kInvalidInput)];
  Flush(false);
}

void Scan::Flush(bool force) {
  if (out_.empty()) return;
  const absl::Time now = absl::Now();
  if (!force && out_.size() < kFlushBytes && now - flushed_ < kFlushInterval) {
    return;
  }
  flushed_ = now;
  // Whole records: with compression, one frame each (output/sink.h).
  if (failure_.ok()) {
    if (absl::Status s = sink_->Write(out_); !s.ok()) {
      failure_ = s;
      output_failed_ = true;  // the loop stops at its next batch
    }
  }
  out_.clear();
}

}  // namespace

void AddScanOptions(CLI::App* app, ScanOptions* o) {
  app->add_option("-i,--input", o->input,
                  "Targets, one per line: 192.0.2.1, 192.0.2.1:587, "
                  "[2001:db8::1]:25, each optionally followed by ,name; "
                  "- for standard input");
  app->add_option("--shard", o->shard,
                  "Scan one part of the input: I/N is part I of N (0-based), "
                  "by a hash of each line's address or domain; auto takes I "
                  "and N from a Kubernetes Indexed Job "
                  "(JOB_COMPLETION_INDEX, SMTPSCAN_SHARD_COUNT) or a Slurm "
                  "job array (SLURM_ARRAY_TASK_*)")
      ->capture_default_str();
  app->add_option("-o,--output", o->output,
                  "Output file, - for standard output")
      ->capture_default_str();
  app->add_option("--format", o->format,
                  "ndjson or csv (default: from the output file's extension)")
      ->check(CLI::IsMember({"ndjson", "csv"}));
  app->add_flag("--resume", o->resume,
                "Continue an interrupted run into the same -o file: keep its "
                "complete records, cut a torn end, skip the input lines it "
                "has and append the others");
  app->add_option("-p,--ports", o->ports,
                  "Ports for lines without one, comma-separated")
      ->capture_default_str();
  app->add_option("--implicit-tls-ports", o->implicit_tls_ports,
                  "Ports that speak TLS from the first byte (RFC 8314)")
      ->capture_default_str();
  app->add_option("--starttls", o->starttls,
                  "auto: STARTTLS when the EHLO reply offers it; always: "
                  "after any positive EHLO; never: stay in plaintext")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app->add_option("--ca-file", o->ca_file,
                  "PEM trust anchors for certificate verification and "
                  "MTA-STS (default: the system store)")
      ->check(CLI::ExistingFile);
  app->add_flag("--probe", o->probe,
                "Before QUIT, send HELP and one unknown command: their "
                "replies identify software whose banner is hidden");
  app->add_option("--fingerprints", o->fingerprints,
                  "YAML file of fingerprint rules that add to or override "
                  "the built-in ones (repeatable)")
      ->check(CLI::ExistingFile);
  app->add_option("--threads", o->threads,
                  "Engine threads, each with its own io_uring ring and TLS "
                  "context (default 0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{256}));
  app->add_option("--grace-time", o->grace_time,
                  "On SIGINT/SIGTERM, how long running conversations may "
                  "go on (a second signal stops at once)")
      ->capture_default_str();
  app->add_option("-c,--concurrency", o->concurrency,
                  "Connections open at once")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  app->add_option("-r,--rate", o->rate,
                  "New connections per second, 0 for no limit")
      ->capture_default_str()
      ->check(RateValidator());
  app->add_option("--per-address", o->per_address,
                  "Connections at once to one address")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1000}));
  app->add_option("--connect-timeout", o->connect_timeout,
                  "Deadline for the TCP connect")
      ->capture_default_str();
  app->add_option("--greeting-timeout", o->greeting_timeout,
                  "Deadline for the complete greeting (postscreen waits 6s on "
                  "purpose)")
      ->capture_default_str();
  app->add_option("--reply-timeout", o->reply_timeout,
                  "Deadline for each later reply")
      ->capture_default_str();
  app->add_option("--session-timeout", o->session_timeout,
                  "Deadline for the whole conversation")
      ->capture_default_str();
  app->add_option("--source-address", o->source_addresses,
                  "Bind outgoing connections to this address (once per "
                  "family)");
  app->add_option("--ehlo-name", o->ehlo_name,
                  "Name sent with EHLO/HELO: one you control (default: this "
                  "machine's fully qualified name)");
  app->add_flag("--force-ehlo-name", o->force_ehlo_name,
                "Accept an EHLO name without a dot");
  app->add_flag("--allow-private", o->allow_private,
                "Also scan private, loopback, link-local and other reserved "
                "addresses");
  app->add_option("--blocklist", o->blocklists,
                  "File of CIDRs never to connect to (repeatable)")
      ->check(CLI::ExistingFile);
  app->add_option("--allowlist", o->allowlists,
                  "File of CIDRs: connect to addresses inside them only "
                  "(repeatable)")
      ->check(CLI::ExistingFile);
  app->add_option("--opt-out", o->opt_outs,
                  "File of domains (not resolved), .suffixes of MX host names "
                  "and CIDRs (not connected to) of those who asked not to be "
                  "scanned (repeatable)")
      ->check(CLI::ExistingFile);
  app->add_option("--per-provider", o->per_provider,
                  "Domain lines: connections at once to one provider (MX "
                  "hosts with the same registrable domain), 0 for no limit")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{1} << 20));
  app->add_option("--backoff", o->backoff,
                  "After a 421 or a reset from an address, wait this long "
                  "before the next connection to it, doubling up to "
                  "--backoff-max; 0 for no backoff")
      ->capture_default_str();
  app->add_option("--backoff-max", o->backoff_max, "Longest backoff")
      ->capture_default_str();
  app->add_option("--resolver", o->resolvers,
                  "DNS server for domain lines, IP or IP:PORT ([IPv6]:PORT); "
                  "repeatable (default: /etc/resolv.conf)");
  app->add_option("--max-mx", o->max_mx,
                  "MX records used per domain, lowest preference first")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1000}));
  auto* v4 = app->add_flag("-4,--ipv4-only", o->ipv4_only,
                           "Domain lines: look up and probe IPv4 (A) only");
  auto* v6 = app->add_flag("-6,--ipv6-only", o->ipv6_only,
                           "Domain lines: look up and probe IPv6 (AAAA) only");
  v4->excludes(v6);
  app->add_flag("--no-policy", o->no_policy,
                "Domain lines: skip the SPF, DMARC, MTA-STS and TLS-RPT "
                "records");
  app->add_flag("--no-dane", o->no_dane,
                "Domain lines: skip the TLSA lookups of DANE (RFC 7672)");
  app->add_flag("--no-mta-sts", o->no_mta_sts,
                "Domain lines: do not fetch MTA-STS policies (RFC 8461)");
  app->add_option("--mta-sts-timeout", o->mta_sts_timeout,
                  "Deadline for fetching one MTA-STS policy")
      ->capture_default_str();
  app->add_option("--mta-sts-port", o->mta_sts_port,
                  "HTTPS port of MTA-STS policy hosts (443; for test labs)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  app->add_option("--dns-timeout", o->dns_timeout,
                  "First try's timeout per DNS query (doubles per retry)")
      ->capture_default_str();
  app->add_option("--dns-tries", o->dns_tries, "Tries per DNS query")
      ->capture_default_str()
      ->check(CLI::Range(1, 10));
  app->add_option("--dns-max-inflight", o->dns_max_inflight,
                  "DNS queries sent and not yet answered, at most")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  app->add_option("--dns-rate", o->dns_rate,
                  "DNS queries per second, 0 for no limit")
      ->capture_default_str()
      ->check(RateValidator());
  app->add_option("--layout", o->layout,
                  "nested: every domain record holds its probes in full; "
                  "split (NDJSON): each probe result is written once, as "
                  "its own record, and domain records refer to it by key")
      ->capture_default_str()
      ->check(CLI::IsMember({"nested", "split"}));
  app->add_flag("--greeting-raw", o->greeting_raw,
                "NDJSON: add the greeting's exact bytes as base64");
  app->add_flag("--csv-raw-cells", o->csv_raw_cells,
                "CSV: do not neutralise cells that a spreadsheet would run as "
                "formulas");
  app->add_flag("-q,--quiet", o->quiet,
                "No progress line and no summary on standard error");
  app->add_option("-m,--metadata", o->metadata,
                  "Write the run's metadata (times, command line, options, "
                  "counts) to this JSON file, at the start and at the end");
}

int RunScan(const ScanOptions& options, const RunInfo& run) {
  return Scan(options, run).Run();
}

}  // namespace smtpscan::cli
