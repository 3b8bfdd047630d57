// The resolver against a DNS server on loopback (UDP, port 0) that answers
// from a test's function: what QueryTlsa puts on the wire (AD, RD, EDNS, a
// random ID) and how the answer's RCODE and AD bit come back.
#include "dns/resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smtpscan::dns {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint16_t kTypeTlsa = 52;
constexpr uint16_t kTypeTxt = 16;
constexpr uint16_t kTypeOpt = 41;

std::string NameBytes(absl::string_view name) {
  std::string out;
  for (absl::string_view label : absl::StrSplit(name, '.', absl::SkipEmpty())) {
    out.push_back(static_cast<char>(label.size()));
    out.append(label.data(), label.size());
  }
  out.push_back('\0');
  return out;
}

void PutU16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

uint16_t U16At(const std::string& bytes, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(bytes[at]) << 8 |
                               static_cast<uint8_t>(bytes[at + 1]));
}

// A query as the server saw it (one question, names uncompressed, as
// c-ares writes them).
struct SeenQuery {
  std::string bytes;
  uint16_t id() const { return U16At(bytes, 0); }
  bool rd() const { return (bytes[2] & 0x01) != 0; }
  bool ad() const { return (bytes[3] & 0x20) != 0; }
  size_t question_end() const {
    size_t p = 12;
    while (p < bytes.size() && bytes[p] != 0) p += 1 + bytes[p];
    return p + 1;
  }
  uint16_t qtype() const { return U16At(bytes, question_end()); }
  // The OPT record's flags (DO is 0x8000), if the query has one.
  std::optional<uint16_t> opt_flags() const {
    if (U16At(bytes, 10) != 1) return std::nullopt;  // ARCOUNT
    const size_t p = question_end() + 4;             // type, class
    if (p + 11 > bytes.size() || bytes[p] != 0) return std::nullopt;
    if (U16At(bytes, p + 1) != kTypeOpt) return std::nullopt;
    return U16At(bytes, p + 7);
  }
};

// The answer a test wants: header flags and RCODE, answer records.
struct Reply {
  bool drop = false;  // no answer at all
  bool ad = false;
  uint8_t rcode = 0;
  std::vector<std::string> tlsa_rdata;  // TLSA records of the question
};

// Answers every UDP query on 127.0.0.1 with `reply(query)`, echoing ID and
// question, from its own thread.
class FakeDnsServer {
 public:
  explicit FakeDnsServer(std::function<Reply(const SeenQuery&)> reply)
      : reply_(std::move(reply)) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeDnsServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::vector<SeenQuery> queries() {
    std::lock_guard<std::mutex> lock(mu_);
    return queries_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      char buffer[4096];
      sockaddr_in from{};
      socklen_t from_len = sizeof(from);
      const ssize_t n = recvfrom(fd_, buffer, sizeof(buffer), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 12) continue;
      SeenQuery query{std::string(buffer, static_cast<size_t>(n))};
      {
        std::lock_guard<std::mutex> lock(mu_);
        queries_.push_back(query);
      }
      const Reply reply = reply_(query);
      if (reply.drop) continue;
      const std::string question =
          query.bytes.substr(12, query.question_end() + 4 - 12);
      std::string out;
      PutU16(&out, query.id());
      out.push_back(static_cast<char>(0x80 | (query.bytes[2] & 0x01)));
      out.push_back(static_cast<char>(0x80 | (reply.ad ? 0x20 : 0) |
                                      (reply.rcode & 0x0f)));
      PutU16(&out, 1);
      PutU16(&out, static_cast<uint16_t>(reply.tlsa_rdata.size()));
      PutU16(&out, 0);
      PutU16(&out, 0);
      out += question;
      for (const std::string& rdata : reply.tlsa_rdata) {
        out += "\xc0\x0c";  // the question's name
        PutU16(&out, kTypeTlsa);
        PutU16(&out, 1);
        PutU16(&out, 0);
        PutU16(&out, 60);
        PutU16(&out, static_cast<uint16_t>(rdata.size()));
        out += rdata;
      }
      sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from),
             from_len);
    }
  }

  std::function<Reply(const SeenQuery&)> reply_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<SeenQuery> queries_;
};

// A Poller on poll(2), run by the test.
class TestPoller final : public Poller {
 public:
  uint64_t Watch(int fd, uint32_t events,
                 absl::AnyInvocable<void(uint32_t)> ready) override {
    const uint64_t handle = ++last_;
    watches_[handle] = {
        fd, events,
        std::make_shared<absl::AnyInvocable<void(uint32_t)>>(std::move(ready))};
    return handle;
  }
  void Unwatch(uint64_t handle) override { watches_.erase(handle); }

  // Polls and ticks until `done` or `limit`; false on the limit.
  bool RunUntil(Resolver* resolver, const std::function<bool()>& done,
                absl::Duration limit = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + limit;
    while (!done()) {
      if (absl::Now() > deadline) return false;
      std::vector<pollfd> fds;
      std::vector<uint64_t> handles;
      for (const auto& [handle, w] : watches_) {
        fds.push_back({w.fd, static_cast<short>(w.events), 0});
        handles.push_back(handle);
      }
      poll(fds.data(), fds.size(), 10);
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        auto it = watches_.find(handles[i]);  // a callback may unwatch
        if (it == watches_.end()) continue;
        // Kept alive while it runs: it may unwatch itself (the resolver
        // re-arms on every socket-state change).
        std::shared_ptr<absl::AnyInvocable<void(uint32_t)>> ready =
            it->second.ready;
        (*ready)(fds[i].revents);
      }
      resolver->Tick();
    }
    return true;
  }

 private:
  struct Watched {
    int fd;
    uint32_t events;
    std::shared_ptr<absl::AnyInvocable<void(uint32_t)>> ready;
  };
  uint64_t last_ = 0;
  std::map<uint64_t, Watched> watches_;
};

std::string Tlsa(uint8_t usage, uint8_t selector, uint8_t mtype,
                 const std::string& data) {
  std::string out;
  out.push_back(static_cast<char>(usage));
  out.push_back(static_cast<char>(selector));
  out.push_back(static_cast<char>(mtype));
  return out + data;
}

class ResolverTest : public ::testing::Test {
 protected:
  void Start(std::function<Reply(const SeenQuery&)> reply,
             size_t max_inflight = 100) {
    server_ = std::make_unique<FakeDnsServer>(std::move(reply));
    ResolverOptions options;
    options.servers = {server_->address()};
    options.timeout = absl::Milliseconds(300);
    options.tries = 1;
    options.max_inflight = max_inflight;
    auto resolver = Resolver::Create(options, &poller_);
    ASSERT_TRUE(resolver.ok()) << resolver.status();
    resolver_ = *std::move(resolver);
  }
  TlsaAnswer Tlsa(absl::string_view name) {
    std::optional<TlsaAnswer> answer;
    resolver_->QueryTlsa(name, [&](TlsaAnswer a) { answer = std::move(a); });
    EXPECT_FALSE(answer.has_value()) << "answered inside QueryTlsa";
    EXPECT_TRUE(
        poller_.RunUntil(resolver_.get(), [&] { return answer.has_value(); }));
    return answer.value_or(TlsaAnswer{});
  }

  TestPoller poller_;
  std::unique_ptr<FakeDnsServer> server_;
  std::unique_ptr<Resolver> resolver_;
};

TEST_F(ResolverTest, TlsaQueryAsksForAdWithRdAndEdnsButNotDo) {
  const std::string digest(32, '\x5a');
  Start([&](const SeenQuery&) {
    return Reply{.ad = true, .tlsa_rdata = {dns::Tlsa(3, 1, 1, digest)}};
  });
  const TlsaAnswer a = Tlsa("_25._tcp.mx.example.test");
  EXPECT_EQ(a.status, DnsStatus::kNoError);
  EXPECT_TRUE(a.authenticated);
  EXPECT_THAT(a.records, ElementsAre(TlsaRecord{3, 1, 1, digest}));
  const std::vector<SeenQuery> seen = server_->queries();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].ad());
  EXPECT_TRUE(seen[0].rd());
  EXPECT_EQ(seen[0].qtype(), kTypeTlsa);
  EXPECT_EQ(seen[0].bytes.substr(12, seen[0].question_end() - 12),
            NameBytes("_25._tcp.mx.example.test"));
  ASSERT_TRUE(seen[0].opt_flags().has_value()) << "no EDNS OPT record";
  EXPECT_EQ(*seen[0].opt_flags() & 0x8000, 0) << "DO set";
  EXPECT_EQ(resolver_->inflight(), 0u);
  EXPECT_EQ(resolver_->stats().queries, 1u);
  EXPECT_EQ(resolver_->stats().answered, 1u);
}

TEST_F(ResolverTest, AnswerWithoutAdIsNotAuthenticated) {
  Start([](const SeenQuery&) {
    return Reply{.tlsa_rdata = {dns::Tlsa(3, 1, 1, std::string(32, 'x'))}};
  });
  const TlsaAnswer a = Tlsa("_25._tcp.mx.example.test");
  EXPECT_EQ(a.status, DnsStatus::kNoError);
  EXPECT_FALSE(a.authenticated);
  EXPECT_EQ(a.records.size(), 1u);
}

// ares_send reports every matching answer as a success; the resolver maps
// the RCODE as ares_query would.
TEST_F(ResolverTest, RcodesBecomeStatuses) {
  Start([](const SeenQuery& q) {
    const std::string& b = q.bytes;
    if (b.find("nx") != std::string::npos) return Reply{.ad = true, .rcode = 3};
    if (b.find("fail") != std::string::npos) return Reply{.rcode = 2};
    if (b.find("refused") != std::string::npos) return Reply{.rcode = 5};
    return Reply{.ad = true};  // NOERROR, no records
  });
  const TlsaAnswer nx = Tlsa("_25._tcp.nx.test");
  EXPECT_EQ(nx.status, DnsStatus::kNxDomain);
  EXPECT_TRUE(nx.authenticated);
  EXPECT_EQ(Tlsa("_25._tcp.fail.test").status, DnsStatus::kServFail);
  EXPECT_EQ(Tlsa("_25._tcp.refused.test").status, DnsStatus::kRefused);
  const TlsaAnswer nodata = Tlsa("_25._tcp.empty.test");
  EXPECT_EQ(nodata.status, DnsStatus::kNoData);
  EXPECT_TRUE(nodata.authenticated);
  EXPECT_THAT(nodata.records, IsEmpty());
}

TEST_F(ResolverTest, QueryIdsAreRandom) {
  Start([](const SeenQuery&) { return Reply{}; });
  for (int i = 0; i < 16; ++i) Tlsa(absl::StrCat("_25._tcp.mx", i, ".test"));
  std::set<uint16_t> ids;
  for (const SeenQuery& q : server_->queries()) ids.insert(q.id());
  // 16 random 16-bit IDs: all equal, or counting up, would be a bug; a
  // collision or two is chance.
  EXPECT_GE(ids.size(), 14u);
  std::vector<uint16_t> in_order;
  for (const SeenQuery& q : server_->queries()) in_order.push_back(q.id());
  int consecutive = 0;
  for (size_t i = 1; i < in_order.size(); ++i) {
    if (in_order[i] == static_cast<uint16_t>(in_order[i - 1] + 1)) {
      ++consecutive;
    }
  }
  EXPECT_LT(consecutive, 3);
}

TEST_F(ResolverTest, TlsaQueriesObeyTheInflightCap) {
  Start([](const SeenQuery&) { return Reply{}; }, /*max_inflight=*/2);
  int answered = 0;
  for (int i = 0; i < 5; ++i) {
    resolver_->QueryTlsa(absl::StrCat("_25._tcp.mx", i, ".test"),
                         [&](TlsaAnswer a) {
                           EXPECT_EQ(a.status, DnsStatus::kNoData);
                           ++answered;
                         });
  }
  EXPECT_EQ(resolver_->inflight(), 2u);
  EXPECT_EQ(resolver_->pending(), 5u);
  size_t most = 0;
  EXPECT_TRUE(poller_.RunUntil(resolver_.get(), [&] {
    most = std::max(most, resolver_->inflight());
    return answered == 5;
  }));
  EXPECT_LE(most, 2u);
  EXPECT_EQ(server_->queries().size(), 5u);
}

TEST_F(ResolverTest, BadNameIsAnsweredLaterNotInsideTheCall) {
  Start([](const SeenQuery&) { return Reply{}; });
  // A label of 64 octets: ares_create_query refuses it.
  const TlsaAnswer a = Tlsa(absl::StrCat(std::string(64, 'a'), ".test"));
  EXPECT_EQ(a.status, DnsStatus::kError);
  EXPECT_TRUE(server_->queries().empty());
  EXPECT_EQ(resolver_->inflight(), 0u);
}

TEST_F(ResolverTest, SilentServerTimesOut) {
  Start([](const SeenQuery&) { return Reply{.drop = true}; });
  const TlsaAnswer a = Tlsa("_25._tcp.mx.example.test");
  EXPECT_EQ(a.status, DnsStatus::kTimeout);
  EXPECT_FALSE(a.authenticated);
  EXPECT_EQ(resolver_->stats().timeouts, 1u);
}

// The other types still go through ares_query, without AD.
TEST_F(ResolverTest, TxtQueryIsNotSentWithAd) {
  Start([](const SeenQuery&) { return Reply{}; });
  bool done = false;
  resolver_->QueryTxt("example.test", [&](TxtAnswer) { done = true; });
  EXPECT_TRUE(poller_.RunUntil(resolver_.get(), [&] { return done; }));
  const std::vector<SeenQuery> seen = server_->queries();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].qtype(), kTypeTxt);
  EXPECT_FALSE(seen[0].ad());
}

}  // namespace
}  // namespace smtpscan::dns
