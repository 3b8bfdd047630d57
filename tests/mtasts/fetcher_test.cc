// The MTA-STS fetcher against real servers on loopback: nginx run by
// tools/https_lab (127.0.62.1:443, needs root) for the HTTP and TLS cases,
// and sockets the test opens itself for connect errors and timeouts. A
// dns::Poller made of poll(2) drives the fetcher, and checks the Poller
// contract as it goes (no fd watched twice at once, no watch left on a
// closed fd).
//
// The lab's address is fixed, and ctest runs each test in its own process,
// possibly in parallel: lab tests hold /tmp/https_lab.test.lock while the
// lab runs.
#include "mtasts/fetcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mtasts/policy.h"

namespace smtpscan::mtasts {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kHttpsLab[] = SMTPSCAN_TEST_DATA_DIR "/../../tools/https_lab";
constexpr char kTestCa[] = SMTPSCAN_TEST_DATA_DIR "/../../tools/test_ca";
constexpr char kLabAddress[] = "127.0.62.1";
constexpr char kNobodyAddress[] = "127.0.62.2";  // nothing listens there
constexpr char kSilentAddress[] = "127.0.62.3";  // the test's mute listener
constexpr char kLabLock[] = "/tmp/https_lab.test.lock";

dns::Address V4(const char* text) {
  dns::Address a;
  a.family = AF_INET;
  inet_pton(AF_INET, text, a.bytes);
  return a;
}

dns::Address V6(const char* text) {
  dns::Address a;
  a.family = AF_INET6;
  inet_pton(AF_INET6, text, a.bytes);
  return a;
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* p = popen(absl::StrCat(command, " 2>&1 </dev/null").c_str(), "r");
  if (p == nullptr) return r;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string TempDir(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "fetcher_test_", getpid(), "_",
                      name);
}

// A dns::Poller on poll(2). Level-triggered like the engine's: a ready
// callback runs on every round while its fd is ready. Callbacks may Watch
// and Unwatch (their own handle included).
class PollLoop : public dns::Poller {
 public:
  using Callback = absl::AnyInvocable<void(uint32_t)>;

  uint64_t Watch(int fd, uint32_t events, Callback ready) override {
    for (const auto& [handle, w] : watches_) {
      // The fetcher must drop a socket's watch before it watches it again.
      if (w.fd == fd) ++double_watches_;
    }
    const uint64_t handle = next_++;
    watches_[handle] = {fd, events,
                        std::make_shared<Callback>(std::move(ready))};
    ++watch_calls_;
    max_watched_ = std::max(max_watched_, watches_.size());
    return handle;
  }

  void Unwatch(uint64_t handle) override {
    if (watches_.erase(handle) == 0) ++bad_unwatches_;
  }

  // One round: poll up to `timeout`, run the ready callbacks.
  void RunOnce(absl::Duration timeout) {
    std::vector<pollfd> fds;
    std::vector<uint64_t> handles;
    for (const auto& [handle, w] : watches_) {
      fds.push_back({w.fd, static_cast<short>(w.events), 0});
      handles.push_back(handle);
    }
    const int n = poll(fds.data(), fds.size(),
                       static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    if (n <= 0) return;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if ((fds[i].revents & POLLNVAL) != 0) ++closed_fd_watches_;
      auto it = watches_.find(handles[i]);
      if (it == watches_.end()) continue;  // unwatched by an earlier callback
      // Kept alive even if the callback unwatches itself.
      std::shared_ptr<Callback> callback = it->second.ready;
      (*callback)(static_cast<uint32_t>(fds[i].revents));
    }
  }

  size_t watched() const { return watches_.size(); }
  size_t max_watched() const { return max_watched_; }
  int watch_calls() const { return watch_calls_; }
  // Contract violations; all must stay 0.
  int double_watches() const { return double_watches_; }
  int bad_unwatches() const { return bad_unwatches_; }
  int closed_fd_watches() const { return closed_fd_watches_; }

 private:
  struct Entry {
    int fd;
    uint32_t events;
    std::shared_ptr<Callback> ready;
  };
  std::map<uint64_t, Entry> watches_;
  uint64_t next_ = 1;
  size_t max_watched_ = 0;
  int watch_calls_ = 0;
  int double_watches_ = 0;
  int bad_unwatches_ = 0;
  int closed_fd_watches_ = 0;
};

// A TCP listener on `address`, port 0, that never accepts: the kernel
// completes handshakes into the backlog and nothing is ever said.
class SilentListener {
 public:
  explicit SilentListener(const char* address) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, address, &sa.sin_addr);
    socklen_t len = sizeof(sa);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
        listen(fd_, 512) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      return;
    }
    port_ = ntohs(sa.sin_port);
  }
  ~SilentListener() {
    if (fd_ >= 0) close(fd_);
  }
  uint16_t port() const { return port_; }  // 0: did not start

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// Fetches through a fresh fetcher and a PollLoop, and checks what every
// fetch must keep to.
class Harness {
 public:
  explicit Harness(FetcherOptions options) {
    absl::StatusOr<std::unique_ptr<Fetcher>> f =
        Fetcher::Create(options, &loop_);
    EXPECT_TRUE(f.ok()) << f.status();
    if (f.ok()) fetcher_ = *std::move(f);
  }

  ~Harness() {
    fetcher_.reset();
    // Everything unwatched once the fetcher is gone; no contract broken.
    EXPECT_EQ(loop_.watched(), 0u);
    EXPECT_EQ(loop_.double_watches(), 0);
    EXPECT_EQ(loop_.bad_unwatches(), 0);
    EXPECT_EQ(loop_.closed_fd_watches(), 0);
  }

  // Starts a fetch whose result lands in results()[index].
  size_t Start(absl::string_view domain, std::vector<dns::Address> addresses) {
    const size_t index = results_.size();
    results_.emplace_back();
    in_fetch_ = true;
    fetcher_->Fetch(domain, std::move(addresses), [this, index](FetchResult r) {
      EXPECT_FALSE(in_fetch_) << "done ran inside Fetch";
      EXPECT_FALSE(results_[index].has_value()) << "done ran twice";
      results_[index] = std::move(r);
      ++done_;
    });
    in_fetch_ = false;
    return index;
  }

  // Runs the loop until every fetch is done or `cap` has passed.
  bool RunUntilDone(absl::Duration cap = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + cap;
    while (done_ < results_.size() && absl::Now() < deadline) {
      loop_.RunOnce(absl::Milliseconds(10));
      fetcher_->Tick();
    }
    EXPECT_EQ(done_, results_.size()) << "fetches still pending after " << cap;
    if (done_ == results_.size()) {
      EXPECT_EQ(fetcher_->pending(), 0u);
    }
    return done_ == results_.size();
  }

  // One fetch, run to its end.
  FetchResult FetchOne(absl::string_view domain,
                       std::vector<dns::Address> addresses,
                       absl::Duration cap = absl::Seconds(20)) {
    const size_t i = Start(domain, std::move(addresses));
    RunUntilDone(cap);
    if (results_[i].has_value()) return *results_[i];
    FetchResult r;
    r.status = "not-done";
    return r;
  }

  const std::vector<std::optional<FetchResult>>& results() const {
    return results_;
  }
  Fetcher& fetcher() { return *fetcher_; }
  PollLoop& loop() { return loop_; }
  size_t done() const { return done_; }

 private:
  PollLoop loop_;
  std::unique_ptr<Fetcher> fetcher_;
  std::vector<std::optional<FetchResult>> results_;
  size_t done_ = 0;
  bool in_fetch_ = false;
};

std::string Describe(const FetchResult& r) {
  return absl::StrCat(r.status, " http=", r.http_status, " type='",
                      r.content_type, "' error='", r.error,
                      "' body=", r.body.size(), " bytes");
}

// ------------------------------------------------------------ no lab needed

TEST(FetcherTest, CreateRejectsBadOptions) {
  PollLoop loop;
  FetcherOptions o;
  o.max_concurrent = 0;
  EXPECT_FALSE(Fetcher::Create(o, &loop).ok());
  o = FetcherOptions{};
  o.timeout = absl::ZeroDuration();
  EXPECT_FALSE(Fetcher::Create(o, &loop).ok());
  o = FetcherOptions{};
  o.ca_file = "/nonexistent/ca.crt";
  absl::StatusOr<std::unique_ptr<Fetcher>> f = Fetcher::Create(o, &loop);
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(std::string(f.status().message()),
              HasSubstr("/nonexistent/ca.crt"));
  EXPECT_FALSE(Fetcher::Create(FetcherOptions{}, nullptr).ok());
  EXPECT_TRUE(Fetcher::Create(FetcherOptions{}, &loop).ok());
}

TEST(FetcherTest, NoAddressIsDnsErrorDeliveredByTick) {
  Harness h(FetcherOptions{});
  const size_t i = h.Start("sts-ok.smtpscan.test", {});
  // Not from inside Fetch: it waits for the next Tick.
  EXPECT_FALSE(h.results()[i].has_value());
  EXPECT_EQ(h.fetcher().pending(), 1u);
  EXPECT_EQ(h.loop().watch_calls(), 0);  // no transfer started
  h.fetcher().Tick();
  ASSERT_TRUE(h.results()[i].has_value());
  EXPECT_EQ(h.results()[i]->status, "dns-error");
  EXPECT_THAT(h.results()[i]->error, HasSubstr("mta-sts.sts-ok.smtpscan.test"));
  EXPECT_EQ(h.fetcher().pending(), 0u);
}

TEST(FetcherTest, AddressOfUnknownFamilyCountsAsNone) {
  Harness h(FetcherOptions{});
  dns::Address bogus;
  bogus.family = 12345;
  EXPECT_EQ(h.FetchOne("a.test", {bogus}).status, "dns-error");
}

TEST(FetcherTest, NotADomain) {
  Harness h(FetcherOptions{});
  for (const char* domain :
       {"", "a b.test", "a.test:80", "a.test/x", "a.test,1.2.3.4", "a@b"}) {
    SCOPED_TRACE(domain);
    const FetchResult r = h.FetchOne(domain, {V4(kNobodyAddress)});
    EXPECT_EQ(r.status, "error");
    EXPECT_EQ(r.error, "not a domain name");
  }
  EXPECT_EQ(h.loop().watch_calls(), 0);
}

TEST(FetcherTest, ConnectErrorWhereNothingListens) {
  Harness h(FetcherOptions{});
  const FetchResult r =
      h.FetchOne("sts-ok.smtpscan.test", {V4(kNobodyAddress)});
  EXPECT_EQ(r.status, "connect-error") << Describe(r);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(r.error.find('\n'), std::string::npos);
  EXPECT_THAT(r.body, IsEmpty());
}

TEST(FetcherTest, TimeoutAgainstAListenerThatNeverAnswers) {
  SilentListener silent(kSilentAddress);
  ASSERT_NE(silent.port(), 0) << "cannot listen on " << kSilentAddress;
  FetcherOptions o;
  o.port = silent.port();
  o.timeout = absl::Milliseconds(700);
  Harness h(o);
  const absl::Time start = absl::Now();
  const FetchResult r =
      h.FetchOne("sts-ok.smtpscan.test", {V4(kSilentAddress)});
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status, "timeout") << Describe(r);
  EXPECT_GE(took, absl::Milliseconds(650));
  EXPECT_LT(took, absl::Seconds(3));
  EXPECT_GE(r.took, absl::Milliseconds(650));
}

TEST(FetcherTest, DestructionDropsUnfinishedFetches) {
  SilentListener silent(kSilentAddress);
  ASSERT_NE(silent.port(), 0);
  FetcherOptions o;
  o.port = silent.port();
  o.max_concurrent = 2;
  int called = 0;
  {
    Harness h(o);
    for (int i = 0; i < 5; ++i) {
      h.fetcher().Fetch(absl::StrCat("d", i, ".test"), {V4(kSilentAddress)},
                        [&called](FetchResult) { ++called; });
    }
    for (int i = 0; i < 20; ++i) h.loop().RunOnce(absl::Milliseconds(10));
    // Finished, not delivered yet (that takes a Tick or a socket event).
    h.fetcher().Fetch("none.test", {}, [&called](FetchResult) { ++called; });
    EXPECT_EQ(h.fetcher().pending(), 6u);  // 2 running, 3 queued, 1 undelivered
    EXPECT_GT(h.loop().watched(), 0u);
    // ~Harness destroys the fetcher and checks every watch is gone.
  }
  EXPECT_EQ(called, 0);
}

// ------------------------------------------------------------ with the lab

class HttpsLabTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_ = "needs root: tools/https_lab binds port 443";
      return;
    }
    const CommandResult install =
        RunCommand(absl::StrCat(kHttpsLab, " install"));
    if (install.exit_code != 0) {
      skip_ = absl::StrCat("tools/https_lab install failed: ", install.output);
      return;
    }
    // One lab at a time, across test processes: held until TearDown.
    lock_fd_ = open(kLabLock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    const absl::Time deadline = absl::Now() + absl::Minutes(5);
    while (lock_fd_ >= 0 && flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      if (absl::Now() > deadline) {
        error_ = absl::StrCat("timed out waiting for ", kLabLock);
        return;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    dir_ = TempDir("lab");
    const CommandResult start =
        RunCommand(absl::StrCat(kHttpsLab, " start ", dir_, " ", getpid()));
    if (start.exit_code != 0 || !absl::StrContains(start.output, "ready")) {
      error_ = absl::StrCat("tools/https_lab start failed: ", start.output);
      return;
    }
    ca_file_ = absl::StrCat(dir_, "/ca/ca.crt");
  }

  static void TearDownTestSuite() {
    if (!dir_.empty()) {
      const CommandResult stop =
          RunCommand(absl::StrCat(kHttpsLab, " stop ", dir_));
      EXPECT_EQ(stop.exit_code, 0) << stop.output;
      RunCommand(absl::StrCat("rm -rf ", dir_));
    }
    if (lock_fd_ >= 0) close(lock_fd_);  // releases the lock
    lock_fd_ = -1;
    dir_.clear();
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(error_.empty()) << error_;
  }

  static FetcherOptions LabOptions() {
    FetcherOptions o;
    o.ca_file = ca_file_;
    o.timeout = absl::Seconds(5);
    return o;
  }

  static FetchResult Fetch(absl::string_view domain,
                           FetcherOptions options = LabOptions()) {
    Harness h(options);
    return h.FetchOne(domain, {V4(kLabAddress)});
  }

  static inline std::string skip_;
  static inline std::string error_;
  static inline std::string dir_;
  static inline std::string ca_file_;
  static inline int lock_fd_ = -1;
};

TEST_F(HttpsLabTest, OkPolicyParses) {
  const FetchResult r = Fetch("sts-ok.smtpscan.test");
  ASSERT_EQ(r.status, "ok") << Describe(r);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.content_type, "text/plain");
  EXPECT_EQ(r.error, "");
  EXPECT_GT(r.took, absl::ZeroDuration());
  absl::StatusOr<Policy> p = ParsePolicy(r.body);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->mode, "enforce");
  EXPECT_EQ(p->max_age, 86400);
  EXPECT_TRUE(PolicyMatchesHost(*p, "mx.sts-ok.smtpscan.test"));
}

TEST_F(HttpsLabTest, MismatchPolicy) {
  const FetchResult r = Fetch("sts-mismatch.smtpscan.test");
  ASSERT_EQ(r.status, "ok") << Describe(r);
  absl::StatusOr<Policy> p = ParsePolicy(r.body);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->mode, "testing");
  EXPECT_FALSE(PolicyMatchesHost(*p, "mx.sts-mismatch.smtpscan.test"));
  EXPECT_TRUE(PolicyMatchesHost(*p, "mx.elsewhere.test"));
}

TEST_F(HttpsLabTest, CharsetParameterIsAllowed) {
  const FetchResult r = Fetch("charset.smtpscan.test");
  EXPECT_EQ(r.status, "ok") << Describe(r);
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
  EXPECT_TRUE(ParsePolicy(r.body).ok());
}

TEST_F(HttpsLabTest, EmptyBodyIsFetchedAndFailsToParse) {
  const FetchResult r = Fetch("empty.smtpscan.test");
  ASSERT_EQ(r.status, "ok") << Describe(r);
  EXPECT_EQ(r.body, "");
  EXPECT_FALSE(ParsePolicy(r.body).ok());
}

TEST_F(HttpsLabTest, RedirectIsNotFollowed) {
  const FetchResult r = Fetch("redirect.smtpscan.test");
  EXPECT_EQ(r.status, "redirect") << Describe(r);
  EXPECT_EQ(r.http_status, 301);
  EXPECT_EQ(r.error,
            "HTTP 301 to "
            "https://mta-sts.sts-ok.smtpscan.test/.well-known/mta-sts.txt");
  EXPECT_THAT(r.body, IsEmpty());
}

TEST_F(HttpsLabTest, NotFoundIsHttpError) {
  const FetchResult r = Fetch("notfound.smtpscan.test");
  EXPECT_EQ(r.status, "http-error") << Describe(r);
  EXPECT_EQ(r.http_status, 404);
  EXPECT_EQ(r.error, "HTTP 404");
  EXPECT_THAT(r.body, IsEmpty());
}

TEST_F(HttpsLabTest, WrongContentType) {
  const FetchResult r = Fetch("wrong-type.smtpscan.test");
  EXPECT_EQ(r.status, "bad-content-type") << Describe(r);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.content_type, "text/html");
  EXPECT_THAT(r.body, IsEmpty());
}

TEST_F(HttpsLabTest, TooLargeWithContentLength) {
  const FetchResult r = Fetch("too-large.smtpscan.test");
  EXPECT_EQ(r.status, "too-large") << Describe(r);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_THAT(r.body, IsEmpty());
}

TEST_F(HttpsLabTest, TooLargeChunked) {
  const FetchResult r = Fetch("too-large-chunked.smtpscan.test");
  EXPECT_EQ(r.status, "too-large") << Describe(r);
  EXPECT_THAT(r.body, IsEmpty());
}

TEST_F(HttpsLabTest, BodyLimitIsTheOption) {
  FetcherOptions o = LabOptions();
  o.max_body_bytes = 100 * 1024;
  const FetchResult big = Fetch("too-large-chunked.smtpscan.test", o);
  EXPECT_EQ(big.status, "ok") << Describe(big);
  EXPECT_EQ(big.body.size(), 70000u);
  EXPECT_TRUE(ParsePolicy(big.body).ok());
  o.max_body_bytes = 71;  // sts-ok's policy is 72 bytes
  EXPECT_EQ(Fetch("sts-ok.smtpscan.test", o).status, "too-large");
  o.max_body_bytes = 72;
  EXPECT_EQ(Fetch("sts-ok.smtpscan.test", o).status, "ok");
}

TEST_F(HttpsLabTest, SlowAnswerTimesOut) {
  FetcherOptions o = LabOptions();
  o.timeout = absl::Seconds(1);
  const FetchResult r = Fetch("slow.smtpscan.test", o);
  EXPECT_EQ(r.status, "timeout") << Describe(r);
  EXPECT_LT(r.took, absl::Seconds(3));
}

TEST_F(HttpsLabTest, TlsErrorWithAnotherCa) {
  const std::string other = TempDir("other_ca");
  const CommandResult init = RunCommand(absl::StrCat(kTestCa, " init ", other));
  ASSERT_EQ(init.exit_code, 0) << init.output;
  FetcherOptions o = LabOptions();
  o.ca_file = absl::StrCat(other, "/ca.crt");
  const FetchResult r = Fetch("sts-ok.smtpscan.test", o);
  RunCommand(absl::StrCat("rm -rf ", other));
  EXPECT_EQ(r.status, "tls-error") << Describe(r);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_FALSE(r.error.empty());
}

TEST_F(HttpsLabTest, TlsErrorWithTheSystemStore) {
  FetcherOptions o = LabOptions();
  o.ca_file.clear();  // the lab's CA is in no system store
  const FetchResult r = Fetch("sts-ok.smtpscan.test", o);
  EXPECT_EQ(r.status, "tls-error") << Describe(r);
}

TEST_F(HttpsLabTest, TlsErrorForANameNotOnTheCertificate) {
  const FetchResult r = Fetch("wrong-name.smtpscan.test");
  EXPECT_EQ(r.status, "tls-error") << Describe(r);
  EXPECT_THAT(r.error, HasSubstr("wrong-name"));
}

TEST_F(HttpsLabTest, NextAddressAfterARefusal) {
  Harness h(LabOptions());
  // Nothing on ::1:443 or 127.0.62.2:443; curl moves on to the lab.
  const FetchResult r = h.FetchOne(
      "sts-ok.smtpscan.test", {V6("::1"), V4(kNobodyAddress), V4(kLabAddress)});
  EXPECT_EQ(r.status, "ok") << Describe(r);
}

TEST_F(HttpsLabTest, DoneMayFetchAgain) {
  Harness h(LabOptions());
  std::vector<std::string> statuses;
  std::function<void(int)> chain = [&](int left) {
    h.fetcher().Fetch("sts-ok.smtpscan.test", {V4(kLabAddress)},
                      [&, left](FetchResult r) {
                        statuses.push_back(r.status);
                        if (left > 0) chain(left - 1);
                      });
  };
  chain(4);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (statuses.size() < 5 && absl::Now() < deadline) {
    h.loop().RunOnce(absl::Milliseconds(10));
    h.fetcher().Tick();
  }
  EXPECT_EQ(statuses, std::vector<std::string>(5, "ok"));
  EXPECT_EQ(h.fetcher().pending(), 0u);
}

TEST_F(HttpsLabTest, TwoHundredFetchesTenAtATime) {
  FetcherOptions o = LabOptions();
  o.max_concurrent = 10;
  o.timeout = absl::Seconds(20);
  Harness h(o);
  const char* domains[] = {"sts-ok.smtpscan.test", "sts-mismatch.smtpscan.test",
                           "notfound.smtpscan.test", "redirect.smtpscan.test"};
  for (int i = 0; i < 200; ++i) h.Start(domains[i % 4], {V4(kLabAddress)});
  EXPECT_EQ(h.fetcher().pending(), 200u);
  ASSERT_TRUE(h.RunUntilDone(absl::Seconds(60)));
  std::map<std::string, int> count;
  for (const std::optional<FetchResult>& r : h.results()) {
    ASSERT_TRUE(r.has_value());
    ++count[r->status];
  }
  EXPECT_EQ(count["ok"], 100);
  EXPECT_EQ(count["http-error"], 50);
  EXPECT_EQ(count["redirect"], 50);
  // One socket per transfer: never more than 10 watched at once.
  EXPECT_LE(h.loop().max_watched(), 10u);
  EXPECT_GT(h.loop().max_watched(), 1u);
}

}  // namespace
}  // namespace smtpscan::mtasts
