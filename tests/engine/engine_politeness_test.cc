// The engine's politeness limits against tools/smtp_test_server on
// loopback: the per-group limit (--per-provider) and the backoff after 421,
// resets and refusals. Time only appears as lower bounds the engine must
// keep (a probe never starts before its backoff ends), never as upper ones.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/test_server.h"
#include "smtp/session.h"

namespace smtpscan::engine {
namespace {

using test::TestServer;

sockaddr_in6 Loopback(int port) {
  sockaddr_in6 storage{};
  auto& a = reinterpret_cast<sockaddr_in&>(storage);
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return storage;
}

// A loopback port nobody listens on: bound, then closed.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t length = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length);
  close(fd);
  return ntohs(a.sin_port);
}

class EnginePolitenessTest : public testing::Test {
 protected:
  EnginePolitenessTest() {
    config_.ehlo_name = "scanner.example.test";
    // The postfix-like modes answer STARTTLS with 454: stay in plaintext.
    config_.starttls = smtp::StartTlsPolicy::kNever;
  }

  struct Planned {
    int port;
    uint32_t group;
  };

  // Runs `probes` (ids are their indexes) through one engine; the outcomes
  // by id.
  std::vector<ProbeOutcome> RunAll(EngineOptions options,
                                   const std::vector<Planned>& probes) {
    std::vector<ProbeOutcome> outcomes(probes.size());
    auto engine = Engine::Create(std::move(options), [&](ProbeOutcome o) {
      const uint64_t id = o.id;
      outcomes.at(id) = std::move(o);
    });
    EXPECT_TRUE(engine.ok()) << engine.status();
    if (!engine.ok()) return {};
    size_t next = 0;
    const absl::Status status = (*engine)->Run([&] {
      if (next == probes.size()) return false;
      Probe p;
      p.id = next;
      p.address = Loopback(probes[next].port);
      p.config = &config_;
      p.group = probes[next].group;
      (*engine)->Submit(std::move(p));
      ++next;
      return true;
    });
    EXPECT_TRUE(status.ok()) << status;
    stats_ = (*engine)->stats();
    return outcomes;
  }

  smtp::SessionConfig config_;
  EngineStats stats_;
};

// The most probes of `group` whose conversations overlapped in time, from
// their results. A conversation holds its group's count from before
// started_at until after started_at + total, so this never overstates.
int PeakOverlap(const std::vector<ProbeOutcome>& outcomes,
                const std::vector<uint32_t>& groups, uint32_t group) {
  std::vector<std::pair<absl::Time, int>> events;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (groups[i] != group) continue;
    const ProbeOutcome& o = outcomes[i];
    if (!o.session.timings.total.has_value()) continue;
    events.emplace_back(o.started_at, +1);
    events.emplace_back(o.started_at + *o.session.timings.total, -1);
  }
  std::sort(events.begin(), events.end());  // an end before a start
  int open = 0;
  int peak = 0;
  for (const auto& [time, delta] : events) {
    open += delta;
    peak = std::max(peak, open);
  }
  return peak;
}

TEST_F(EnginePolitenessTest, GroupLimitCapsConnectionsPerGroup) {
  // The greeting comes after 200 ms: every conversation lasts that long.
  TestServer server({"127.0.0.1:0=delay:200"});
  ASSERT_TRUE(server.ok());
  const int port = server.Of("delay:200").at(0).port;
  std::vector<Planned> probes;
  std::vector<uint32_t> groups;
  for (int i = 0; i < 12; ++i) {
    // Eight probes of group 7, four of group 9 (interleaved).
    const uint32_t group = i % 3 == 2 ? 9 : 7;
    probes.push_back({port, group});
    groups.push_back(group);
  }
  EngineOptions options;
  options.concurrency = 100;
  options.per_address = 100;  // one address: only the group limit counts
  options.per_group = 2;
  const std::vector<ProbeOutcome> outcomes = RunAll(options, probes);
  ASSERT_THAT(outcomes, testing::SizeIs(12));
  for (const ProbeOutcome& o : outcomes) {
    EXPECT_EQ(o.session.status, ScanStatus::kSuccess)
        << o.id << " " << o.session.status_detail;
  }
  // Both groups start two at once, and never more.
  EXPECT_EQ(PeakOverlap(outcomes, groups, 7), 2);
  EXPECT_EQ(PeakOverlap(outcomes, groups, 9), 2);
  EXPECT_EQ(stats_.group_waits, 6u + 2u);
  EXPECT_EQ(stats_.backoffs, 0u);

  // Without the limit, all twelve run at once.
  options.per_group = 0;
  const std::vector<ProbeOutcome> free = RunAll(options, probes);
  std::vector<uint32_t> one_group(12, 7);
  EXPECT_EQ(PeakOverlap(free, one_group, 7), 12);
  EXPECT_EQ(stats_.group_waits, 0u);
}

TEST_F(EnginePolitenessTest, ProbesWithoutGroupAreNotLimited) {
  TestServer server({"127.0.0.1:0=delay:200"});
  ASSERT_TRUE(server.ok());
  const int port = server.Of("delay:200").at(0).port;
  EngineOptions options;
  options.per_address = 100;
  options.per_group = 1;
  const std::vector<ProbeOutcome> outcomes =
      RunAll(options, std::vector<Planned>(6, {port, 0}));
  EXPECT_EQ(PeakOverlap(outcomes, std::vector<uint32_t>(6, 0), 0), 6);
  EXPECT_EQ(stats_.group_waits, 0u);
}

TEST_F(EnginePolitenessTest, GreetingWith421BacksOffDoubling) {
  TestServer server({"127.0.0.1:0=greet421"});
  ASSERT_TRUE(server.ok());
  const int port = server.Of("greet421").at(0).port;
  EngineOptions options;
  options.backoff_initial = absl::Milliseconds(150);
  options.backoff_max = absl::Seconds(10);
  const std::vector<ProbeOutcome> o =
      RunAll(options, {{port, 0}, {port, 0}, {port, 0}});
  ASSERT_THAT(o, testing::SizeIs(3));
  for (const ProbeOutcome& outcome : o) {
    EXPECT_EQ(outcome.session.status, ScanStatus::kGreetingRejected);
    EXPECT_EQ(outcome.session.status_detail, "421");
  }
  // Nothing is retried: three probes, three conversations. The second
  // waits 150 ms after the first ended, the third 300 ms after the second.
  EXPECT_EQ(o[0].backoff, absl::ZeroDuration());
  EXPECT_GT(o[1].backoff, absl::ZeroDuration());
  EXPECT_GT(o[2].backoff, absl::ZeroDuration());
  EXPECT_GE(o[1].started_at - o[0].started_at, absl::Milliseconds(150));
  EXPECT_GE(o[2].started_at - o[1].started_at, absl::Milliseconds(300));
  EXPECT_EQ(stats_.backoffs, 3u);
  EXPECT_EQ(stats_.backoff_delayed, 2u);
  EXPECT_GE(stats_.backoff_wait, o[1].backoff + o[2].backoff);
}

TEST_F(EnginePolitenessTest, BackoffIsCappedAndResetBySuccess) {
  // Two ports of one address: a backoff belongs to the address.
  TestServer server({"127.0.0.1:0=greet421", "127.0.0.1:0=fast"});
  ASSERT_TRUE(server.ok());
  const int bad = server.Of("greet421").at(0).port;
  const int good = server.Of("fast").at(0).port;
  EngineOptions options;
  options.backoff_initial = absl::Milliseconds(100);
  options.backoff_max = absl::Milliseconds(150);
  const std::vector<ProbeOutcome> o =
      RunAll(options, {{bad, 0}, {bad, 0}, {bad, 0}, {good, 0}, {good, 0}});
  ASSERT_THAT(o, testing::SizeIs(5));
  EXPECT_GE(o[1].started_at - o[0].started_at, absl::Milliseconds(100));
  EXPECT_GE(o[2].started_at - o[1].started_at, absl::Milliseconds(150));
  // The fast port waits for the address's backoff too, then succeeds,
  // which ends the backoff: the last probe starts at once.
  EXPECT_GT(o[3].backoff, absl::ZeroDuration());
  EXPECT_EQ(o[3].session.status, ScanStatus::kSuccess);
  EXPECT_EQ(o[4].backoff, absl::ZeroDuration());
  EXPECT_EQ(o[4].session.status, ScanStatus::kSuccess);
  EXPECT_EQ(stats_.backoffs, 3u);
  EXPECT_EQ(stats_.backoff_delayed, 3u);
}

TEST_F(EnginePolitenessTest, ResetBacksOffRefusalDoesNot) {
  TestServer server({"127.0.0.1:0=reset-mid-reply"});
  ASSERT_TRUE(server.ok());
  const int reset = server.Of("reset-mid-reply").at(0).port;
  const int refused = ClosedPort();
  EngineOptions options;
  options.backoff_initial = absl::Milliseconds(100);
  // Refused first: a closed port earns no backoff, so the reset probes
  // start at once; the second reset probe waits for the first's backoff.
  const std::vector<ProbeOutcome> o =
      RunAll(options, {{refused, 0}, {refused, 0}, {reset, 0}, {reset, 0}});
  ASSERT_THAT(o, testing::SizeIs(4));
  EXPECT_EQ(o[0].session.status, ScanStatus::kConnectionRefused);
  EXPECT_EQ(o[0].session.status_detail, "ECONNREFUSED");
  EXPECT_EQ(o[2].session.status, ScanStatus::kConnectionReset);
  EXPECT_EQ(o[2].session.status_detail, "ECONNRESET");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(o[i].backoff, absl::ZeroDuration()) << i;
  }
  EXPECT_GT(o[3].backoff, absl::ZeroDuration());
  EXPECT_GE(o[3].started_at - o[2].started_at, absl::Milliseconds(100));
  EXPECT_EQ(stats_.backoffs, 2u);
}

TEST_F(EnginePolitenessTest, OtherFailuresAndZeroBackoffDoNotDelay) {
  TestServer server({"127.0.0.1:0=greet554", "127.0.0.1:0=greet421"});
  ASSERT_TRUE(server.ok());
  const int rejected = server.Of("greet554").at(0).port;
  const int busy = server.Of("greet421").at(0).port;
  EngineOptions options;
  options.backoff_initial = absl::Seconds(30);  // a delay would be obvious
  std::vector<ProbeOutcome> o =
      RunAll(options, {{rejected, 0}, {rejected, 0}, {rejected, 0}});
  for (const ProbeOutcome& outcome : o) {
    EXPECT_EQ(outcome.session.status, ScanStatus::kGreetingRejected);
    EXPECT_EQ(outcome.backoff, absl::ZeroDuration());
  }
  EXPECT_EQ(stats_.backoffs, 0u);
  options.backoff_initial = absl::ZeroDuration();  // off
  o = RunAll(options, {{busy, 0}, {busy, 0}, {busy, 0}});
  for (const ProbeOutcome& outcome : o) {
    EXPECT_EQ(outcome.session.status_detail, "421");
    EXPECT_EQ(outcome.backoff, absl::ZeroDuration());
  }
  EXPECT_EQ(stats_.backoffs, 0u);
  EXPECT_EQ(stats_.backoff_delayed, 0u);
}

// A probe waiting for its group keeps its address's slot, and a probe
// waiting for its address passes through the group limit when it gets the
// address: with both limits at 1 everything still finishes.
TEST_F(EnginePolitenessTest, GroupAndAddressLimitsTogether) {
  TestServer server({"127.0.0.1:0=fast"});
  ASSERT_TRUE(server.ok());
  const int port = server.Of("fast").at(0).port;
  EngineOptions options;
  options.per_address = 1;
  options.per_group = 1;
  std::vector<Planned> probes;
  for (int i = 0; i < 20; ++i) probes.push_back({port, 1u + i % 3});
  const std::vector<ProbeOutcome> o = RunAll(options, probes);
  ASSERT_THAT(o, testing::SizeIs(20));
  for (const ProbeOutcome& outcome : o) {
    EXPECT_EQ(outcome.session.status, ScanStatus::kSuccess);
  }
}

}  // namespace
}  // namespace smtpscan::engine
