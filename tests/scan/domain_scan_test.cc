// Unit tests of the domain-mode planner, DomainScan: MX handling, address
// lookups, probe planning and sharing (the dedupe table), policy lookups,
// the record's status, and independence from the order answers arrive in.
//
// DNS goes through FakeLookup, which records every query and keeps its
// callback until the test answers it (never from inside the Query call, as
// dns::Lookup promises). Probes go out through the SubmitProbe callback,
// which records them; the test reports their results with OnProbeResult.
#include "scan/domain_scan.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dns/name.h"
#include "dns/policy.h"
#include "dns/resolver.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "output/record.h"
#include "scan/address_policy.h"
#include "scan/opt_out.h"
#include "scan/provider.h"
#include "scan/scan_status.h"

namespace smtpscan::scan {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

using dns::DnsStatus;
using output::TlsMode;

// ---------------------------------------------------------------------------
// Queries and answers.

enum class QueryType { kMx, kA, kAaaa, kTxt, kTlsa };

absl::string_view QueryTypeName(QueryType type) {
  switch (type) {
    case QueryType::kMx:
      return "MX";
    case QueryType::kA:
      return "A";
    case QueryType::kAaaa:
      return "AAAA";
    case QueryType::kTxt:
      return "TXT";
    case QueryType::kTlsa:
      return "TLSA";
  }
  return "?";
}

struct Query {
  QueryType type = QueryType::kMx;
  std::string name;
  int family = 0;  // AF_INET or AF_INET6 for address queries, else 0

  friend bool operator==(const Query&, const Query&) = default;
};

void PrintTo(const Query& query, std::ostream* os) {
  *os << QueryTypeName(query.type) << " " << query.name;
}

Query MxQ(absl::string_view name) {
  return {QueryType::kMx, std::string(name), 0};
}
Query AQ(absl::string_view name) {
  return {QueryType::kA, std::string(name), AF_INET};
}
Query AaaaQ(absl::string_view name) {
  return {QueryType::kAaaa, std::string(name), AF_INET6};
}
Query TxtQ(absl::string_view name) {
  return {QueryType::kTxt, std::string(name), 0};
}
Query TlsaQ(absl::string_view name) {
  return {QueryType::kTlsa, std::string(name), 0};
}

dns::Address Ip(absl::string_view text) {
  dns::Address address;
  const std::string s(text);
  address.family = s.find(':') == std::string::npos ? AF_INET : AF_INET6;
  EXPECT_EQ(inet_pton(address.family, s.c_str(), address.bytes), 1) << s;
  return address;
}

std::string IpText(const dns::Address& address) {
  char buffer[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(address.family, address.bytes, buffer, sizeof(buffer)) ==
      nullptr) {
    return "?";
  }
  return buffer;
}

dns::MxAnswer MxOk(std::vector<dns::MxRecord> records,
                   std::string canonical = "") {
  dns::MxAnswer answer;
  answer.status = DnsStatus::kNoError;
  answer.records = std::move(records);
  answer.canonical = std::move(canonical);
  return answer;
}

dns::MxAnswer MxFail(DnsStatus status, std::string canonical = "") {
  dns::MxAnswer answer;
  answer.status = status;
  answer.canonical = std::move(canonical);
  return answer;
}

// NOERROR with `addresses` (all of one family, as a real answer).
dns::AddressAnswer Ips(const std::vector<std::string>& addresses,
                       std::string canonical = "") {
  dns::AddressAnswer answer;
  answer.status = DnsStatus::kNoError;
  for (const std::string& a : addresses) answer.addresses.push_back(Ip(a));
  answer.canonical = std::move(canonical);
  return answer;
}

dns::AddressAnswer AddrFail(DnsStatus status, std::string canonical = "") {
  dns::AddressAnswer answer;
  answer.status = status;
  answer.canonical = std::move(canonical);
  return answer;
}

dns::TxtAnswer Txt(std::vector<std::string> records) {
  dns::TxtAnswer answer;
  answer.status = DnsStatus::kNoError;
  answer.records = std::move(records);
  return answer;
}

dns::TxtAnswer TxtFail(DnsStatus status) {
  dns::TxtAnswer answer;
  answer.status = status;
  return answer;
}

// What a test's DNS knows. Names not listed: MX is NXDOMAIN, A, AAAA and TXT
// are NODATA.
struct Zone {
  std::map<std::string, dns::MxAnswer> mx;
  std::map<std::string, dns::AddressAnswer> a;
  std::map<std::string, dns::AddressAnswer> aaaa;
  std::map<std::string, dns::TxtAnswer> txt;

  // `name` has `addresses` (either family, answer order kept per family);
  // a family without any is NODATA.
  void Host(const std::string& name, const std::vector<std::string>& addresses,
            const std::string& canonical = "") {
    std::vector<std::string> v4, v6;
    for (const std::string& text : addresses) {
      (text.find(':') == std::string::npos ? v4 : v6).push_back(text);
    }
    a[name] = v4.empty() ? AddrFail(DnsStatus::kNoData, canonical)
                         : Ips(v4, canonical);
    aaaa[name] = v6.empty() ? AddrFail(DnsStatus::kNoData, canonical)
                            : Ips(v6, canonical);
  }
};

// ---------------------------------------------------------------------------
// FakeLookup: records queries, holds callbacks until the test answers.

class FakeLookup final : public dns::Lookup {
 public:
  void QueryMx(absl::string_view name,
               absl::AnyInvocable<void(dns::MxAnswer)> done) override {
    Push(MxQ(name)).mx = std::move(done);
  }
  void QueryAddresses(
      absl::string_view name, int family,
      absl::AnyInvocable<void(dns::AddressAnswer)> done) override {
    EXPECT_TRUE(family == AF_INET || family == AF_INET6) << family;
    Push(family == AF_INET ? AQ(name) : AaaaQ(name)).addresses =
        std::move(done);
  }
  void QueryTxt(absl::string_view name,
                absl::AnyInvocable<void(dns::TxtAnswer)> done) override {
    Push(TxtQ(name)).txt = std::move(done);
  }
  void QueryTlsa(absl::string_view name,
                 absl::AnyInvocable<void(dns::TlsaAnswer)> done) override {
    Push(TlsaQ(name)).tlsa = std::move(done);
  }

  // Every query asked, in order, answered or not.
  const std::vector<Query>& queries() const { return queries_; }
  std::vector<Query> queries_of(QueryType type) const {
    std::vector<Query> out;
    for (const Query& q : queries_) {
      if (q.type == type) out.push_back(q);
    }
    return out;
  }
  size_t pending() const { return pending_.size(); }
  std::vector<Query> pending_queries() const {
    std::vector<Query> out;
    for (const auto& p : pending_) out.push_back(p->query);
    return out;
  }

  // Answers the oldest pending query equal to `query`; false (and a test
  // failure) when there is none.
  bool Answer(const Query& query, dns::MxAnswer answer) {
    std::unique_ptr<Pending> p = Take(query);
    if (p == nullptr || !p->mx) return Fail(query);
    p->mx(std::move(answer));
    return true;
  }
  bool Answer(const Query& query, dns::AddressAnswer answer) {
    std::unique_ptr<Pending> p = Take(query);
    if (p == nullptr || !p->addresses) return Fail(query);
    p->addresses(std::move(answer));
    return true;
  }
  bool Answer(const Query& query, dns::TxtAnswer answer) {
    std::unique_ptr<Pending> p = Take(query);
    if (p == nullptr || !p->txt) return Fail(query);
    p->txt(std::move(answer));
    return true;
  }
  bool Answer(const Query& query, dns::TlsaAnswer answer) {
    std::unique_ptr<Pending> p = Take(query);
    if (p == nullptr || !p->tlsa) return Fail(query);
    p->tlsa(std::move(answer));
    return true;
  }

  // Answers pending query number `index` (0 = oldest) from `zone`.
  void AnswerFromZone(size_t index, const Zone& zone) {
    ASSERT_LT(index, pending_.size());
    std::unique_ptr<Pending> p = std::move(pending_[index]);
    pending_.erase(pending_.begin() + static_cast<ptrdiff_t>(index));
    const std::string& name = p->query.name;
    switch (p->query.type) {
      case QueryType::kMx: {
        auto it = zone.mx.find(name);
        p->mx(it == zone.mx.end() ? MxFail(DnsStatus::kNxDomain) : it->second);
        break;
      }
      case QueryType::kA:
      case QueryType::kAaaa: {
        const auto& table = p->query.type == QueryType::kA ? zone.a : zone.aaaa;
        auto it = table.find(name);
        p->addresses(it == table.end() ? AddrFail(DnsStatus::kNoData)
                                       : it->second);
        break;
      }
      case QueryType::kTxt: {
        auto it = zone.txt.find(name);
        p->txt(it == zone.txt.end() ? TxtFail(DnsStatus::kNoData) : it->second);
        break;
      }
      case QueryType::kTlsa: {
        dns::TlsaAnswer answer;
        answer.status = DnsStatus::kNxDomain;
        p->tlsa(std::move(answer));
        break;
      }
    }
  }

  // Answers every pending query from `zone`, oldest first, including those
  // the answers cause.
  void Drain(const Zone& zone) {
    while (!pending_.empty()) AnswerFromZone(0, zone);
  }

 private:
  struct Pending {
    Query query;
    absl::AnyInvocable<void(dns::MxAnswer)> mx;
    absl::AnyInvocable<void(dns::AddressAnswer)> addresses;
    absl::AnyInvocable<void(dns::TxtAnswer)> txt;
    absl::AnyInvocable<void(dns::TlsaAnswer)> tlsa;
  };

  Pending& Push(Query query) {
    queries_.push_back(query);
    pending_.push_back(std::make_unique<Pending>());
    pending_.back()->query = std::move(query);
    return *pending_.back();
  }

  // Removes the oldest pending `query` before its callback runs, since the
  // callback may ask new queries.
  std::unique_ptr<Pending> Take(const Query& query) {
    for (size_t i = 0; i < pending_.size(); ++i) {
      if (pending_[i]->query == query) {
        std::unique_ptr<Pending> p = std::move(pending_[i]);
        pending_.erase(pending_.begin() + static_cast<ptrdiff_t>(i));
        return p;
      }
    }
    return nullptr;
  }

  static bool Fail(const Query& query) {
    ADD_FAILURE() << "no pending " << QueryTypeName(query.type) << " query for "
                  << query.name;
    return false;
  }

  std::vector<Query> queries_;
  std::vector<std::unique_ptr<Pending>> pending_;
};

// ---------------------------------------------------------------------------
// Harness: one DomainScan with its fake DNS, submissions and records.

struct Submission {
  uint64_t id = 0;
  std::string address;
  int family = 0;
  uint16_t port = 0;
};

class Harness {
 public:
  explicit Harness(DomainScanOptions options = {}, bool allow_private = true,
                   absl::string_view blocklist = "")
      : options_(options) {
    absl::StatusOr<AddressPolicy> policy =
        AddressPolicy::Create(allow_private, {});
    EXPECT_TRUE(policy.ok()) << policy.status();
    policy_ = std::make_unique<AddressPolicy>(*std::move(policy));
    if (!blocklist.empty()) {
      EXPECT_TRUE(policy_->AddBlocklistText(blocklist, "test-blocklist").ok());
    }
    scan_ = std::make_unique<DomainScan>(
        std::move(options), &lookup, policy_.get(),
        [this](const ProbeRequest& r) {
          submissions.push_back(
              {r.id, IpText(r.address), r.address.family, r.port});
          server_names.push_back(r.server_name);
          danes.push_back(r.dane);
          groups.push_back(r.group);
          completed.push_back(false);
        },
        [this](output::DomainRecord record) {
          records.push_back(std::move(record));
        });
  }

  DomainScan& scan() { return *scan_; }

  // Adds a plain ASCII domain; the input line is the domain itself.
  void Add(uint64_t line, const std::string& domain) {
    scan_->Add(line, domain, dns::DomainName{domain, ""});
  }

  // Answers the four policy TXT queries of `domain` with `status`.
  void AnswerPolicies(const std::string& domain,
                      DnsStatus status = DnsStatus::kNoData) {
    for (dns::PolicyKind kind :
         {dns::PolicyKind::kSpf, dns::PolicyKind::kDmarc,
          dns::PolicyKind::kMtaSts, dns::PolicyKind::kTlsRpt}) {
      lookup.Answer(TxtQ(dns::PolicyQueryName(kind, domain)), TxtFail(status));
    }
  }

  // What the engine would report for submission `index`.
  output::ProbeResult ResultFor(size_t index, ScanStatus status,
                                const std::string& detail = "") const {
    const Submission& s = submissions.at(index);
    output::ProbeResult result;
    result.address = s.address;
    result.port = s.port;
    result.host = "set-by-the-engine";  // DomainScan puts the MX name here
    const bool implicit =
        std::find(options_.implicit_tls_ports.begin(),
                  options_.implicit_tls_ports.end(),
                  s.port) != options_.implicit_tls_ports.end();
    result.tls_mode = implicit ? TlsMode::kImplicit : options_.plain_tls_mode;
    // Depends on the probe, never on the id, so that any answer order
    // gives the same records.
    result.started_at = absl::FromUnixSeconds(1700000000 + s.port);
    result.session.status = status;
    result.session.status_detail = detail;
    result.session.greeting_raw = absl::StrCat("220 ", s.address, ":", s.port);
    return result;
  }

  void Complete(size_t index, ScanStatus status = ScanStatus::kSuccess,
                const std::string& detail = "") {
    ASSERT_LT(index, submissions.size());
    EXPECT_FALSE(completed[index]) << "submission " << index;
    completed[index] = true;
    scan_->OnProbeResult(submissions[index].id,
                         ResultFor(index, status, detail));
  }

  // Completes submission for (address, port).
  void Complete(absl::string_view address, uint16_t port,
                ScanStatus status = ScanStatus::kSuccess,
                const std::string& detail = "") {
    for (size_t i = 0; i < submissions.size(); ++i) {
      if (submissions[i].address == address && submissions[i].port == port) {
        Complete(i, status, detail);
        return;
      }
    }
    ADD_FAILURE() << "no submission for " << address << ":" << port;
  }

  void CompleteAll(ScanStatus status = ScanStatus::kSuccess,
                   const std::string& detail = "") {
    for (size_t i = 0; i < submissions.size(); ++i) {
      if (!completed[i]) Complete(i, status, detail);
    }
  }

  std::vector<size_t> outstanding() const {
    std::vector<size_t> out;
    for (size_t i = 0; i < completed.size(); ++i) {
      if (!completed[i]) out.push_back(i);
    }
    return out;
  }

  // "address:port" of every submission, in order ("[v6]:port" for IPv6).
  std::vector<std::string> submitted() const {
    std::vector<std::string> out;
    for (const Submission& s : submissions) {
      out.push_back(s.family == AF_INET6
                        ? absl::StrCat("[", s.address, "]:", s.port)
                        : absl::StrCat(s.address, ":", s.port));
    }
    return out;
  }

  // The one record of `line` (nullptr and a failure when not exactly one).
  const output::DomainRecord* Record(uint64_t line) const {
    const output::DomainRecord* found = nullptr;
    int count = 0;
    for (const output::DomainRecord& r : records) {
      if (r.line == line) {
        found = &r;
        ++count;
      }
    }
    if (count != 1) {
      ADD_FAILURE() << count << " records for line " << line;
      return nullptr;
    }
    return found;
  }

  FakeLookup lookup;
  std::vector<Submission> submissions;
  std::vector<std::string> server_names;  // per submission
  std::vector<std::shared_ptr<const tls::DaneResult>> danes;
  std::vector<uint32_t> groups;  // per submission
  std::vector<bool> completed;
  std::vector<output::DomainRecord> records;

 private:
  DomainScanOptions options_;
  std::unique_ptr<AddressPolicy> policy_;
  std::unique_ptr<DomainScan> scan_;
};

DomainScanOptions NoPolicy() {
  DomainScanOptions options;
  options.policy = false;
  return options;
}

// Plaintext only: probes are shared by (address, port) whatever the host
// name (with TLS the name is part of the conversation, and of the key).
DomainScanOptions PlainNoPolicy() {
  DomainScanOptions options = NoPolicy();
  options.plain_tls_mode = TlsMode::kNone;
  return options;
}

std::vector<std::string> MxNames(const output::DomainRecord& r) {
  std::vector<std::string> out;
  for (const output::MxHost& h : r.mx) out.push_back(h.name);
  return out;
}

std::vector<int> MxPreferences(const output::DomainRecord& r) {
  std::vector<int> out;
  for (const output::MxHost& h : r.mx) out.push_back(h.preference);
  return out;
}

// "host address port tls_mode status" of every probe slot.
std::vector<std::string> ProbeSlots(const output::DomainRecord& r) {
  std::vector<std::string> out;
  for (const output::ProbeResult& p : r.probes) {
    out.push_back(absl::StrCat(p.host, " ", p.address, " ", p.port, " ",
                               output::TlsModeName(p.tls_mode), " ",
                               ScanStatusName(p.session.status)));
  }
  return out;
}

const char* Bool(bool b) { return b ? "true" : "false"; }

// Everything in a record, for comparing whole records.
std::string Describe(const output::DomainRecord& r) {
  std::string s = absl::StrCat(
      "line=", r.line, " input=", r.input, " domain=", r.domain,
      " unicode=", r.domain_unicode, " status=", ScanStatusName(r.status),
      " detail=", r.status_detail, " mx_dns=", r.mx_dns_status,
      " mx_canonical=", r.mx_canonical, " null_mx=", Bool(r.null_mx),
      " implicit_mx=", Bool(r.implicit_mx), " discarded=", r.mx_discarded,
      "\n");
  for (const output::MxHost& h : r.mx) {
    absl::StrAppend(&s, "  mx ", h.preference, " ", h.name, " a=", h.a_status,
                    " aaaa=", h.aaaa_status, " via_cname=", Bool(h.via_cname),
                    " canonical=", h.canonical, " invalid=", h.invalid,
                    " addresses=", absl::StrJoin(h.addresses, ","), "\n");
  }
  for (const output::PolicyResult& p : r.policies) {
    absl::StrAppend(&s, "  policy ", p.kind, " ", p.name, " dns=", p.dns_status,
                    " valid=", Bool(p.valid), " error=", p.error,
                    " value=", p.value,
                    " records=", absl::StrJoin(p.records, "|"), "\n");
  }
  for (const output::ProbeResult& p : r.probes) {
    absl::StrAppend(&s, "  probe ", p.host, " ", p.address, " ", p.port, " ",
                    output::TlsModeName(p.tls_mode), " ",
                    absl::ToUnixSeconds(p.started_at), " ",
                    ScanStatusName(p.session.status), " ",
                    p.session.status_detail, " ", p.session.greeting_raw, "\n");
  }
  return s;
}

// ---------------------------------------------------------------------------
// MX records.

TEST(DomainScanTest, QueriesMxAndPoliciesOnAddAndAnswersNothingInside) {
  Harness h;
  h.Add(1, "example.test");
  EXPECT_THAT(
      h.lookup.queries(),
      ElementsAre(MxQ("example.test"), TxtQ("example.test"),
                  TxtQ("_dmarc.example.test"), TxtQ("_mta-sts.example.test"),
                  TxtQ("_smtp._tls.example.test")));
  EXPECT_EQ(h.lookup.pending(), 5u);
  EXPECT_THAT(h.records, IsEmpty());
  EXPECT_THAT(h.submissions, IsEmpty());
  EXPECT_EQ(h.scan().domains_in_progress(), 1u);
}

TEST(DomainScanTest, MxHostsSortedByPreference) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{30, "c.example.test"},
                                             {10, "a.example.test"},
                                             {20, "b.example.test"}}));
  // Address lookups go out in preference order too.
  EXPECT_THAT(h.lookup.queries_of(QueryType::kA),
              ElementsAre(AQ("a.example.test"), AQ("b.example.test"),
                          AQ("c.example.test")));
  h.lookup.Drain(Zone{});
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  EXPECT_EQ(r.mx_dns_status, "NOERROR");
  EXPECT_THAT(MxNames(r), ElementsAre("a.example.test", "b.example.test",
                                      "c.example.test"));
  EXPECT_THAT(MxPreferences(r), ElementsAre(10, 20, 30));
  EXPECT_EQ(r.mx_discarded, 0u);
  EXPECT_FALSE(r.null_mx);
  EXPECT_FALSE(r.implicit_mx);
}

TEST(DomainScanTest, EqualPreferencesKeepAnswerOrder) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "d.example.test"},
                                             {20, "z.example.test"},
                                             {10, "b.example.test"},
                                             {5, "y.example.test"},
                                             {10, "a.example.test"},
                                             {20, "c.example.test"}}));
  h.lookup.Drain(Zone{});
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_THAT(
      MxNames(h.records[0]),
      ElementsAre("y.example.test", "d.example.test", "b.example.test",
                  "a.example.test", "z.example.test", "c.example.test"));
  EXPECT_THAT(MxPreferences(h.records[0]), ElementsAre(5, 10, 10, 10, 20, 20));
}

TEST(DomainScanTest, HostAtTwoPreferencesAppearsOnceAtTheLowest) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{20, "a.example.test"},
                                             {30, "b.example.test"},
                                             {10, "a.example.test"}}));
  EXPECT_THAT(h.lookup.queries_of(QueryType::kA),
              ElementsAre(AQ("a.example.test"), AQ("b.example.test")));
  EXPECT_THAT(h.lookup.queries_of(QueryType::kAaaa),
              ElementsAre(AaaaQ("a.example.test"), AaaaQ("b.example.test")));
  Zone zone;
  zone.Host("a.example.test", {"192.0.2.1"});
  h.lookup.Drain(zone);
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.1:25"));
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_THAT(MxNames(h.records[0]),
              ElementsAre("a.example.test", "b.example.test"));
  EXPECT_THAT(MxPreferences(h.records[0]), ElementsAre(10, 30));
  EXPECT_EQ(h.records[0].mx_discarded, 0u);
  EXPECT_THAT(h.records[0].probes, SizeIs(1));
}

TEST(DomainScanTest, NullMx) {
  Harness h;
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{0, ""}}));
  // No address lookups; the record still waits for the policy answers.
  EXPECT_THAT(h.lookup.queries_of(QueryType::kA), IsEmpty());
  EXPECT_THAT(h.lookup.queries_of(QueryType::kAaaa), IsEmpty());
  EXPECT_THAT(h.records, IsEmpty());
  h.AnswerPolicies("example.test");
  EXPECT_THAT(h.submissions, IsEmpty());
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  EXPECT_TRUE(r.null_mx);
  EXPECT_FALSE(r.implicit_mx);
  EXPECT_EQ(r.mx_dns_status, "NOERROR");
  EXPECT_THAT(r.mx, IsEmpty());
  EXPECT_THAT(r.probes, IsEmpty());
  EXPECT_EQ(r.status, ScanStatus::kNullMx);
  EXPECT_EQ(h.scan().domains_in_progress(), 0u);
  EXPECT_EQ(h.scan().unique_probes(), 0u);
}

TEST(DomainScanTest, NullMxAmongOthersIsInvalidAndNotLookedUp) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"),
                  MxOk({{10, "mx.example.test"}, {0, ""}}));
  EXPECT_THAT(h.lookup.pending_queries(),
              ElementsAre(AQ("mx.example.test"), AaaaQ("mx.example.test")));
  Zone zone;
  zone.Host("mx.example.test", {"192.0.2.1"});
  h.lookup.Drain(zone);
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.1:25"));
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  EXPECT_FALSE(r.null_mx);
  ASSERT_THAT(r.mx, SizeIs(2));
  EXPECT_EQ(r.mx[0].name, ".");
  EXPECT_EQ(r.mx[0].preference, 0);
  EXPECT_EQ(r.mx[0].invalid, "null-mx-among-others");
  EXPECT_EQ(r.mx[0].a_status, "");
  EXPECT_EQ(r.mx[0].aaaa_status, "");
  EXPECT_THAT(r.mx[0].addresses, IsEmpty());
  EXPECT_EQ(r.mx[1].name, "mx.example.test");
  EXPECT_EQ(r.mx[1].invalid, "");
  EXPECT_EQ(r.mx[1].a_status, "NOERROR");
  EXPECT_EQ(r.mx[1].aaaa_status, "NODATA");
  EXPECT_THAT(ProbeSlots(r),
              ElementsAre("mx.example.test 192.0.2.1 25 starttls success"));
  EXPECT_EQ(r.status, ScanStatus::kSuccess);
}

TEST(DomainScanTest, AddressLiteralTargetsAreInvalidAndNotLookedUp) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{5, "127.0.60.10"},
                                             {10, "mx.example.test"},
                                             {20, "2001:db8::25"}}));
  EXPECT_THAT(h.lookup.pending_queries(),
              ElementsAre(AQ("mx.example.test"), AaaaQ("mx.example.test")));
  Zone zone;
  zone.Host("mx.example.test", {"192.0.2.1"});
  h.lookup.Drain(zone);
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.1:25"));
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  EXPECT_THAT(MxNames(r),
              ElementsAre("127.0.60.10", "mx.example.test", "2001:db8::25"));
  EXPECT_EQ(r.mx[0].invalid, "address-literal");
  EXPECT_EQ(r.mx[1].invalid, "");
  EXPECT_EQ(r.mx[2].invalid, "address-literal");
  for (size_t i : {0u, 2u}) {
    EXPECT_EQ(r.mx[i].a_status, "") << i;
    EXPECT_EQ(r.mx[i].aaaa_status, "") << i;
    EXPECT_THAT(r.mx[i].addresses, IsEmpty()) << i;
  }
  EXPECT_THAT(r.probes, SizeIs(1));
  EXPECT_EQ(r.status, ScanStatus::kSuccess);
}

TEST(DomainScanTest, OnlyInvalidTargetsIsDnsError) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "127.0.60.10"}}));
  EXPECT_EQ(h.lookup.pending(), 0u);
  EXPECT_THAT(h.submissions, IsEmpty());
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_EQ(h.records[0].status, ScanStatus::kDnsError);
  EXPECT_EQ(h.records[0].status_detail, "no valid mail server names");
  EXPECT_EQ(h.records[0].mx[0].invalid, "address-literal");
}

TEST(DomainScanTest, NoDataMxMakesTheDomainItsImplicitMx) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxFail(DnsStatus::kNoData));
  EXPECT_THAT(h.lookup.pending_queries(),
              ElementsAre(AQ("example.test"), AaaaQ("example.test")));
  Zone zone;
  zone.Host("example.test", {"192.0.2.5", "2001:db8::5"});
  h.lookup.Drain(zone);
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.5:25", "[2001:db8::5]:25"));
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  EXPECT_TRUE(r.implicit_mx);
  EXPECT_FALSE(r.null_mx);
  EXPECT_EQ(r.mx_dns_status, "NODATA");
  ASSERT_THAT(r.mx, SizeIs(1));
  EXPECT_EQ(r.mx[0].name, "example.test");
  EXPECT_EQ(r.mx[0].preference, 0);
  EXPECT_THAT(r.mx[0].addresses, ElementsAre("192.0.2.5", "2001:db8::5"));
  EXPECT_THAT(ProbeSlots(r),
              ElementsAre("example.test 192.0.2.5 25 starttls success",
                          "example.test 2001:db8::5 25 starttls success"));
  EXPECT_EQ(r.status, ScanStatus::kSuccess);
}

TEST(DomainScanTest, ImplicitMxWithoutAddressesIsDnsError) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxFail(DnsStatus::kNoData));
  h.lookup.Answer(AQ("example.test"), AddrFail(DnsStatus::kNoData));
  h.lookup.Answer(AaaaQ("example.test"), AddrFail(DnsStatus::kNoData));
  EXPECT_THAT(h.submissions, IsEmpty());
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_TRUE(h.records[0].implicit_mx);
  EXPECT_EQ(h.records[0].status, ScanStatus::kDnsError);
  EXPECT_EQ(h.records[0].status_detail, "no mx and no address");
  EXPECT_EQ(h.scan().domains_in_progress(), 0u);
}

TEST(DomainScanTest, MxLookupFailureIsDnsErrorWithoutHostLookups) {
  Harness h(NoPolicy());
  const std::vector<std::pair<DnsStatus, std::string>> cases = {
      {DnsStatus::kNxDomain, "NXDOMAIN"},
      {DnsStatus::kServFail, "SERVFAIL"},
      {DnsStatus::kTimeout, "TIMEOUT"},
      {DnsStatus::kRefused, "REFUSED"},
      {DnsStatus::kError, "ERROR"}};
  for (size_t i = 0; i < cases.size(); ++i) {
    h.Add(i + 1, absl::StrCat("d", i, ".test"));
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    h.lookup.Answer(MxQ(absl::StrCat("d", i, ".test")), MxFail(cases[i].first));
  }
  EXPECT_THAT(h.lookup.queries_of(QueryType::kA), IsEmpty());
  EXPECT_THAT(h.lookup.queries_of(QueryType::kAaaa), IsEmpty());
  EXPECT_EQ(h.lookup.pending(), 0u);
  EXPECT_THAT(h.submissions, IsEmpty());
  ASSERT_THAT(h.records, SizeIs(cases.size()));
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].second);
    const output::DomainRecord* r = h.Record(i + 1);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->mx_dns_status, cases[i].second);
    EXPECT_EQ(r->status, ScanStatus::kDnsError);
    EXPECT_EQ(r->status_detail, absl::StrCat("mx ", cases[i].second));
    EXPECT_THAT(r->mx, IsEmpty());
    EXPECT_FALSE(r->implicit_mx);
    EXPECT_FALSE(r->null_mx);
  }
  EXPECT_EQ(h.scan().domains_in_progress(), 0u);
}

TEST(DomainScanTest, MxNoErrorWithoutRecordsIsDnsError) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({}));
  EXPECT_EQ(h.lookup.pending(), 0u);
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_EQ(h.records[0].status, ScanStatus::kDnsError);
  EXPECT_EQ(h.records[0].status_detail, "no mail servers");
  EXPECT_FALSE(h.records[0].implicit_mx);
}

TEST(DomainScanTest, MxCanonicalRecorded) {
  Harness h(NoPolicy());
  h.Add(1, "alias.test");
  h.Add(2, "plain.test");
  h.lookup.Answer(MxQ("alias.test"), MxOk({{10, "mx.real.test"}}, "real.test"));
  h.lookup.Answer(MxQ("plain.test"), MxOk({{10, "mx.real.test"}}));
  h.lookup.Drain(Zone{});
  ASSERT_NE(h.Record(1), nullptr);
  ASSERT_NE(h.Record(2), nullptr);
  EXPECT_EQ(h.Record(1)->mx_canonical, "real.test");
  EXPECT_EQ(h.Record(2)->mx_canonical, "");
}

TEST(DomainScanTest, MaxMxKeepsTheLowestPreferences) {
  DomainScanOptions options = NoPolicy();
  options.max_mx = 10;
  Harness h(options);
  h.Add(1, "example.test");
  // 40 hosts, preferences 0, 10, ..., 390 in a scrambled answer order.
  std::vector<dns::MxRecord> records;
  for (int i = 0; i < 40; ++i) {
    const int rank = (i * 17) % 40;  // 17 is coprime with 40
    records.push_back({static_cast<uint16_t>(rank * 10),
                       absl::StrCat("mx", rank, ".example.test")});
  }
  h.lookup.Answer(MxQ("example.test"), MxOk(std::move(records)));
  std::vector<Query> expected;
  for (int rank = 0; rank < 10; ++rank) {
    const std::string name = absl::StrCat("mx", rank, ".example.test");
    expected.push_back(AQ(name));
    expected.push_back(AaaaQ(name));
  }
  EXPECT_THAT(h.lookup.pending_queries(), ElementsAreArray(expected));
  h.lookup.Drain(Zone{});
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  ASSERT_THAT(r.mx, SizeIs(10));
  for (int rank = 0; rank < 10; ++rank) {
    EXPECT_EQ(r.mx[rank].name, absl::StrCat("mx", rank, ".example.test"));
    EXPECT_EQ(r.mx[rank].preference, rank * 10);
  }
  EXPECT_EQ(r.mx_discarded, 30u);
  EXPECT_EQ(r.status_detail, "no address for any mail server");
}

TEST(DomainScanTest, RecordCarriesLineInputAndBothNameForms) {
  Harness h;
  h.scan().Add(7,
               "  B\xC3\xBC"
               "cher.Example. ",
               dns::DomainName{"xn--bcher-kva.example",
                               "b\xC3\xBC"
                               "cher.example"});
  EXPECT_EQ(h.lookup.queries()[0], MxQ("xn--bcher-kva.example"));
  EXPECT_EQ(h.lookup.queries()[2], TxtQ("_dmarc.xn--bcher-kva.example"));
  h.lookup.Drain(Zone{});
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  EXPECT_EQ(r.line, 7u);
  EXPECT_EQ(r.input,
            "  B\xC3\xBC"
            "cher.Example. ");
  EXPECT_EQ(r.domain, "xn--bcher-kva.example");
  EXPECT_EQ(r.domain_unicode,
            "b\xC3\xBC"
            "cher.example");
}

// ---------------------------------------------------------------------------
// Address lookups.

TEST(DomainScanTest, AddressLookupsForEveryValidHost) {
  Harness h;
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"),
                  MxOk({{20, "mx2.example.test"}, {10, "mx1.example.test"}}));
  EXPECT_THAT(h.lookup.queries_of(QueryType::kA),
              ElementsAre(AQ("mx1.example.test"), AQ("mx2.example.test")));
  EXPECT_THAT(
      h.lookup.queries_of(QueryType::kAaaa),
      ElementsAre(AaaaQ("mx1.example.test"), AaaaQ("mx2.example.test")));
  // 4 TXT + 4 address queries still pending.
  EXPECT_EQ(h.lookup.pending(), 8u);
}

TEST(DomainScanTest, Ipv4OnlyLooksUpNoAaaa) {
  DomainScanOptions options = NoPolicy();
  options.ipv6 = false;  // -4
  Harness h(options);
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"),
                  MxOk({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  EXPECT_THAT(h.lookup.pending_queries(),
              ElementsAre(AQ("mx1.example.test"), AQ("mx2.example.test")));
  h.lookup.Answer(AQ("mx1.example.test"), Ips({"192.0.2.1"}));
  h.lookup.Answer(AQ("mx2.example.test"), AddrFail(DnsStatus::kNoData));
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.1:25"));
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  EXPECT_EQ(r.mx[0].a_status, "NOERROR");
  EXPECT_EQ(r.mx[0].aaaa_status, "");
  EXPECT_EQ(r.mx[1].a_status, "NODATA");
  EXPECT_EQ(r.mx[1].aaaa_status, "");
}

TEST(DomainScanTest, Ipv6OnlyLooksUpNoA) {
  DomainScanOptions options = NoPolicy();
  options.ipv4 = false;  // -6
  Harness h(options);
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  EXPECT_THAT(h.lookup.pending_queries(),
              ElementsAre(AaaaQ("mx.example.test")));
  h.lookup.Answer(AaaaQ("mx.example.test"), Ips({"2001:db8::1"}));
  EXPECT_THAT(h.submitted(), ElementsAre("[2001:db8::1]:25"));
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_EQ(h.records[0].mx[0].a_status, "");
  EXPECT_EQ(h.records[0].mx[0].aaaa_status, "NOERROR");
  EXPECT_THAT(h.records[0].mx[0].addresses, ElementsAre("2001:db8::1"));
}

TEST(DomainScanTest, AddressLookupStatusesRecorded) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  const std::vector<std::pair<DnsStatus, std::string>> statuses = {
      {DnsStatus::kNoError, "NOERROR"},
      {DnsStatus::kNoData, "NODATA"},
      {DnsStatus::kNxDomain, "NXDOMAIN"},
      {DnsStatus::kServFail, "SERVFAIL"},
      {DnsStatus::kTimeout, "TIMEOUT"}};
  std::vector<dns::MxRecord> records;
  for (size_t i = 0; i < statuses.size(); ++i) {
    records.push_back(
        {static_cast<uint16_t>(i), absl::StrCat("h", i, ".test")});
  }
  h.lookup.Answer(MxQ("example.test"), MxOk(records));
  // Host i: A gets status i, AAAA gets status (i + 1) % 5.
  for (size_t i = 0; i < statuses.size(); ++i) {
    const std::string name = absl::StrCat("h", i, ".test");
    const DnsStatus a = statuses[i].first;
    const DnsStatus aaaa = statuses[(i + 1) % statuses.size()].first;
    h.lookup.Answer(AQ(name), a == DnsStatus::kNoError
                                  ? Ips({absl::StrCat("192.0.2.", i + 1)})
                                  : AddrFail(a));
    h.lookup.Answer(AaaaQ(name), aaaa == DnsStatus::kNoError
                                     ? Ips({absl::StrCat("2001:db8::", i + 1)})
                                     : AddrFail(aaaa));
  }
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.1:25", "[2001:db8::5]:25"));
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  ASSERT_THAT(r.mx, SizeIs(statuses.size()));
  for (size_t i = 0; i < statuses.size(); ++i) {
    SCOPED_TRACE(r.mx[i].name);
    EXPECT_EQ(r.mx[i].a_status, statuses[i].second);
    EXPECT_EQ(r.mx[i].aaaa_status, statuses[(i + 1) % statuses.size()].second);
  }
  EXPECT_THAT(r.mx[0].addresses, ElementsAre("192.0.2.1"));
  EXPECT_THAT(r.mx[1].addresses, IsEmpty());
  EXPECT_THAT(r.mx[4].addresses, ElementsAre("2001:db8::5"));
}

TEST(DomainScanTest, AddressesIpv4FirstThenIpv6EachInAnswerOrder) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  // AAAA answers first; the record still lists IPv4 first.
  h.lookup.Answer(AaaaQ("mx.example.test"),
                  Ips({"2001:db8::b", "2001:db8::a"}));
  h.lookup.Answer(AQ("mx.example.test"),
                  Ips({"192.0.2.9", "192.0.2.3", "192.0.2.200"}));
  EXPECT_THAT(h.submitted(),
              ElementsAre("192.0.2.9:25", "192.0.2.3:25", "192.0.2.200:25",
                          "[2001:db8::b]:25", "[2001:db8::a]:25"));
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_THAT(h.records[0].mx[0].addresses,
              ElementsAre("192.0.2.9", "192.0.2.3", "192.0.2.200",
                          "2001:db8::b", "2001:db8::a"));
  std::vector<std::string> probe_addresses;
  for (const output::ProbeResult& p : h.records[0].probes) {
    probe_addresses.push_back(p.address);
  }
  EXPECT_THAT(probe_addresses, ElementsAreArray(h.records[0].mx[0].addresses));
}

TEST(DomainScanTest, AliasHostGetsViaCnameAndCanonical) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "alias.example.test"},
                                             {20, "plain.example.test"},
                                             {30, "v6alias.example.test"}}));
  h.lookup.Answer(AQ("alias.example.test"),
                  Ips({"192.0.2.1"}, "real.example.test"));
  h.lookup.Answer(AaaaQ("alias.example.test"),
                  AddrFail(DnsStatus::kNoData, "real.example.test"));
  h.lookup.Answer(AQ("plain.example.test"), Ips({"192.0.2.2"}));
  h.lookup.Answer(AaaaQ("plain.example.test"), AddrFail(DnsStatus::kNoData));
  // Only the AAAA answer says it is an alias.
  h.lookup.Answer(AQ("v6alias.example.test"), AddrFail(DnsStatus::kNoData));
  h.lookup.Answer(AaaaQ("v6alias.example.test"),
                  Ips({"2001:db8::3"}, "real6.example.test"));
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  EXPECT_TRUE(r.mx[0].via_cname);
  EXPECT_EQ(r.mx[0].canonical, "real.example.test");
  EXPECT_FALSE(r.mx[1].via_cname);
  EXPECT_EQ(r.mx[1].canonical, "");
  EXPECT_TRUE(r.mx[2].via_cname);
  EXPECT_EQ(r.mx[2].canonical, "real6.example.test");
  // The probe's host stays the MX name, not the canonical name.
  EXPECT_EQ(r.probes[0].host, "alias.example.test");
}

// ---------------------------------------------------------------------------
// Probes.

TEST(DomainScanTest, OneProbePerHostAddressAndPortInThatOrder) {
  DomainScanOptions options = NoPolicy();
  options.ports = {25, 465, 587};
  options.implicit_tls_ports = {465};
  Harness h(options);
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"),
                  MxOk({{20, "mx2.example.test"}, {10, "mx1.example.test"}}));
  Zone zone;
  zone.Host("mx1.example.test", {"2001:db8::1", "192.0.2.1"});
  zone.Host("mx2.example.test", {"192.0.2.2"});
  h.lookup.Drain(zone);
  EXPECT_THAT(
      h.submitted(),
      ElementsAre("192.0.2.1:25", "192.0.2.1:465", "192.0.2.1:587",
                  "[2001:db8::1]:25", "[2001:db8::1]:465", "[2001:db8::1]:587",
                  "192.0.2.2:25", "192.0.2.2:465", "192.0.2.2:587"));
  EXPECT_EQ(h.scan().unique_probes(), 9u);
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_THAT(ProbeSlots(h.records[0]),
              ElementsAre("mx1.example.test 192.0.2.1 25 starttls success",
                          "mx1.example.test 192.0.2.1 465 implicit success",
                          "mx1.example.test 192.0.2.1 587 starttls success",
                          "mx1.example.test 2001:db8::1 25 starttls success",
                          "mx1.example.test 2001:db8::1 465 implicit success",
                          "mx1.example.test 2001:db8::1 587 starttls success",
                          "mx2.example.test 192.0.2.2 25 starttls success",
                          "mx2.example.test 192.0.2.2 465 implicit success",
                          "mx2.example.test 192.0.2.2 587 starttls success"));
}

TEST(DomainScanTest, ProbeSlotsPlannedWithOptionsTlsModes) {
  // The slot's fields are set when planned; a blocked slot is never
  // overwritten by a result, so it shows what was planned.
  DomainScanOptions options = NoPolicy();
  options.ports = {25, 465, 2525};
  options.implicit_tls_ports = {2525};
  options.plain_tls_mode = TlsMode::kNone;
  Harness h(options, /*allow_private=*/false);
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  h.lookup.Answer(AQ("mx.example.test"), Ips({"127.0.0.1"}));
  h.lookup.Answer(AaaaQ("mx.example.test"), AddrFail(DnsStatus::kNoData));
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_THAT(ProbeSlots(h.records[0]),
              ElementsAre("mx.example.test 127.0.0.1 25 none blocked",
                          "mx.example.test 127.0.0.1 465 none blocked",
                          "mx.example.test 127.0.0.1 2525 implicit blocked"));
}

TEST(DomainScanTest, ProbeResultIsCopiedWithTheMxHostName) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  h.lookup.Answer(AQ("mx.example.test"), Ips({"192.0.2.1"}));
  h.lookup.Answer(AaaaQ("mx.example.test"), AddrFail(DnsStatus::kNoData));
  ASSERT_THAT(h.submissions, SizeIs(1));
  EXPECT_EQ(h.submissions[0].family, AF_INET);
  output::ProbeResult result =
      h.ResultFor(0, ScanStatus::kGreetingRejected, "554");
  result.session.bytes_received = 1234;
  h.completed[0] = true;
  h.scan().OnProbeResult(h.submissions[0].id, result);
  ASSERT_THAT(h.records, SizeIs(1));
  const output::ProbeResult& p = h.records[0].probes[0];
  EXPECT_EQ(p.host, "mx.example.test");  // not the engine's
  EXPECT_EQ(p.address, "192.0.2.1");
  EXPECT_EQ(p.port, 25);
  EXPECT_EQ(p.tls_mode, TlsMode::kStartTls);
  EXPECT_EQ(p.started_at, result.started_at);
  EXPECT_EQ(p.session.status, ScanStatus::kGreetingRejected);
  EXPECT_EQ(p.session.status_detail, "554");
  EXPECT_EQ(p.session.greeting_raw, "220 192.0.2.1:25");
  EXPECT_EQ(p.session.bytes_received, 1234u);
  EXPECT_EQ(h.records[0].status, ScanStatus::kGreetingRejected);
  EXPECT_EQ(h.records[0].status_detail, "554");
}

TEST(DomainScanTest, ProbesWaitForEveryLookupIncludingPolicies) {
  Harness h;
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  h.lookup.Answer(AQ("mx.example.test"), Ips({"192.0.2.1"}));
  h.lookup.Answer(AaaaQ("mx.example.test"), Ips({"2001:db8::1"}));
  h.lookup.Answer(TxtQ("example.test"), TxtFail(DnsStatus::kNoData));
  h.lookup.Answer(TxtQ("_dmarc.example.test"), TxtFail(DnsStatus::kNoData));
  h.lookup.Answer(TxtQ("_smtp._tls.example.test"), TxtFail(DnsStatus::kNoData));
  EXPECT_THAT(h.submissions, IsEmpty());
  h.lookup.Answer(TxtQ("_mta-sts.example.test"), TxtFail(DnsStatus::kNoData));
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.1:25", "[2001:db8::1]:25"));
  EXPECT_THAT(h.records, IsEmpty());
}

TEST(DomainScanTest, RecordEmittedOnceWhenLastLookupAndProbeAreDone) {
  Harness h;
  h.Add(1, "example.test");
  EXPECT_EQ(h.scan().domains_in_progress(), 1u);
  h.lookup.Answer(MxQ("example.test"),
                  MxOk({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  h.lookup.Answer(AQ("mx1.example.test"), Ips({"192.0.2.1"}));
  h.lookup.Answer(AaaaQ("mx1.example.test"), AddrFail(DnsStatus::kNoData));
  h.lookup.Answer(AQ("mx2.example.test"), Ips({"192.0.2.2"}));
  h.lookup.Answer(TxtQ("example.test"), TxtFail(DnsStatus::kNoData));
  h.lookup.Answer(TxtQ("_dmarc.example.test"), TxtFail(DnsStatus::kNoData));
  h.lookup.Answer(TxtQ("_mta-sts.example.test"), TxtFail(DnsStatus::kNoData));
  EXPECT_THAT(h.submissions, IsEmpty());
  h.lookup.Answer(AaaaQ("mx2.example.test"), AddrFail(DnsStatus::kTimeout));
  EXPECT_THAT(h.submissions, IsEmpty());
  h.lookup.Answer(TxtQ("_smtp._tls.example.test"), TxtFail(DnsStatus::kNoData));
  EXPECT_EQ(h.lookup.pending(), 0u);
  ASSERT_THAT(h.submitted(), ElementsAre("192.0.2.1:25", "192.0.2.2:25"));
  EXPECT_THAT(h.records, IsEmpty());
  h.Complete(1, ScanStatus::kConnectionRefused, "ECONNREFUSED");
  EXPECT_THAT(h.records, IsEmpty());
  EXPECT_EQ(h.scan().domains_in_progress(), 1u);
  h.Complete(0);
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_EQ(h.scan().domains_in_progress(), 0u);
  EXPECT_EQ(h.records[0].status, ScanStatus::kSuccess);
  EXPECT_EQ(h.records[0].status_detail, "");

  // A second result for the same id, and a result for an unknown id, are
  // ignored: no second record, no crash.
  h.scan().OnProbeResult(h.submissions[0].id,
                         h.ResultFor(0, ScanStatus::kIoTimeout));
  h.scan().OnProbeResult(12345, h.ResultFor(0, ScanStatus::kIoTimeout));
  EXPECT_THAT(h.records, SizeIs(1));
  EXPECT_EQ(h.records[0].probes[0].session.status, ScanStatus::kSuccess);
  EXPECT_EQ(h.scan().domains_in_progress(), 0u);
}

// ---------------------------------------------------------------------------
// The dedupe table.

TEST(DomainScanTest, SharedAddressIsProbedOnceForDomainsWaitingTogether) {
  DomainScanOptions options = PlainNoPolicy();
  options.ports = {25, 587};
  Harness h(options);
  h.Add(1, "a.test");
  h.Add(2, "b.test");
  h.lookup.Answer(MxQ("a.test"), MxOk({{10, "mx.a.test"}}));
  h.lookup.Answer(MxQ("b.test"), MxOk({{10, "mx.b.test"}}));
  h.lookup.Answer(AQ("mx.a.test"), Ips({"192.0.2.10"}));
  h.lookup.Answer(AaaaQ("mx.a.test"), AddrFail(DnsStatus::kNoData));
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.10:25", "192.0.2.10:587"));
  h.lookup.Answer(AQ("mx.b.test"), Ips({"192.0.2.10"}));
  h.lookup.Answer(AaaaQ("mx.b.test"), Ips({"2001:db8::10"}));
  // Only b's new address is submitted.
  EXPECT_THAT(h.submitted(),
              ElementsAre("192.0.2.10:25", "192.0.2.10:587",
                          "[2001:db8::10]:25", "[2001:db8::10]:587"));
  EXPECT_EQ(h.scan().unique_probes(), 4u);

  h.Complete("192.0.2.10", 25, ScanStatus::kConnectionRefused, "ECONNREFUSED");
  EXPECT_THAT(h.records, IsEmpty());
  h.Complete("192.0.2.10", 587);
  // a.test is complete; b.test still waits for its IPv6 probes.
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_EQ(h.records[0].line, 1u);
  EXPECT_EQ(h.scan().domains_in_progress(), 1u);
  h.Complete("2001:db8::10", 25);
  h.Complete("2001:db8::10", 587);
  ASSERT_THAT(h.records, SizeIs(2));
  EXPECT_EQ(h.scan().domains_in_progress(), 0u);

  EXPECT_THAT(ProbeSlots(*h.Record(1)),
              ElementsAre("mx.a.test 192.0.2.10 25 none connection-refused",
                          "mx.a.test 192.0.2.10 587 none success"));
  EXPECT_THAT(ProbeSlots(*h.Record(2)),
              ElementsAre("mx.b.test 192.0.2.10 25 none connection-refused",
                          "mx.b.test 192.0.2.10 587 none success",
                          "mx.b.test 2001:db8::10 25 none success",
                          "mx.b.test 2001:db8::10 587 none success"));
  EXPECT_EQ(h.Record(2)->probes[0].session.status_detail, "ECONNREFUSED");
  EXPECT_EQ(h.Record(2)->probes[0].session.greeting_raw, "220 192.0.2.10:25");
  EXPECT_EQ(h.scan().unique_probes(), 4u);
}

TEST(DomainScanTest, ResultThatArrivedEarlierIsReusedWithoutWaiting) {
  Harness h(PlainNoPolicy());
  h.Add(1, "a.test");
  h.lookup.Answer(MxQ("a.test"), MxOk({{10, "mx.a.test"}}));
  h.lookup.Answer(AQ("mx.a.test"), Ips({"192.0.2.10"}));
  h.lookup.Answer(AaaaQ("mx.a.test"), AddrFail(DnsStatus::kNoData));
  h.Complete(0, ScanStatus::kGreetingTimeout, "greeting");
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_EQ(h.scan().unique_probes(), 1u);

  // Planned after the result arrived: emitted on its last DNS answer.
  h.Add(3, "c.test");
  h.lookup.Answer(MxQ("c.test"), MxOk({{10, "mx.c.test"}}));
  h.lookup.Answer(AQ("mx.c.test"), Ips({"192.0.2.10"}));
  EXPECT_THAT(h.records, SizeIs(1));
  h.lookup.Answer(AaaaQ("mx.c.test"), AddrFail(DnsStatus::kNoData));
  EXPECT_THAT(h.submissions, SizeIs(1));  // no new submission
  EXPECT_EQ(h.scan().unique_probes(), 1u);
  ASSERT_THAT(h.records, SizeIs(2));
  EXPECT_EQ(h.scan().domains_in_progress(), 0u);
  const output::DomainRecord* c = h.Record(3);
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(c->probes, SizeIs(1));
  EXPECT_EQ(c->probes[0].host, "mx.c.test");
  EXPECT_EQ(c->probes[0].address, "192.0.2.10");
  EXPECT_EQ(c->probes[0].session.status, ScanStatus::kGreetingTimeout);
  EXPECT_EQ(c->probes[0].session.status_detail, "greeting");
  EXPECT_EQ(c->probes[0].session.greeting_raw, "220 192.0.2.10:25");
  EXPECT_EQ(c->status, ScanStatus::kGreetingTimeout);
  EXPECT_EQ(c->status_detail, "greeting");
  // The first record keeps its own host name.
  EXPECT_EQ(h.Record(1)->probes[0].host, "mx.a.test");
}

TEST(DomainScanTest, EarlierResultPlusNewProbeWaitsForTheNewOne) {
  Harness h(PlainNoPolicy());
  h.Add(1, "a.test");
  h.lookup.Answer(MxQ("a.test"), MxOk({{10, "mx.a.test"}}));
  h.lookup.Answer(AQ("mx.a.test"), Ips({"192.0.2.10"}));
  h.lookup.Answer(AaaaQ("mx.a.test"), AddrFail(DnsStatus::kNoData));
  h.Complete(0);
  ASSERT_THAT(h.records, SizeIs(1));

  h.Add(2, "b.test");
  h.lookup.Answer(MxQ("b.test"), MxOk({{10, "mx.b.test"}}));
  h.lookup.Answer(AQ("mx.b.test"), Ips({"192.0.2.11", "192.0.2.10"}));
  h.lookup.Answer(AaaaQ("mx.b.test"), AddrFail(DnsStatus::kNoData));
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.10:25", "192.0.2.11:25"));
  EXPECT_THAT(h.records, SizeIs(1));
  h.Complete(1, ScanStatus::kConnectionTimeout, "connect");
  ASSERT_THAT(h.records, SizeIs(2));
  EXPECT_THAT(ProbeSlots(*h.Record(2)),
              ElementsAre("mx.b.test 192.0.2.11 25 none connection-timeout",
                          "mx.b.test 192.0.2.10 25 none success"));
  EXPECT_EQ(h.Record(2)->status, ScanStatus::kSuccess);
}

TEST(DomainScanTest, TwoMxNamesForOneAddressShareOneSubmissionWithoutTls) {
  DomainScanOptions options = NoPolicy();
  options.plain_tls_mode = TlsMode::kNone;
  Harness h(options);
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"),
                  MxOk({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  Zone zone;
  zone.Host("mx1.example.test", {"192.0.2.7"});
  zone.Host("mx2.example.test", {"192.0.2.7"});
  h.lookup.Drain(zone);
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.7:25"));
  EXPECT_EQ(h.scan().unique_probes(), 1u);
  EXPECT_THAT(h.records, IsEmpty());
  h.Complete(0, ScanStatus::kClosedEarly, "ehlo");
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_THAT(ProbeSlots(h.records[0]),
              ElementsAre("mx1.example.test 192.0.2.7 25 none closed-early",
                          "mx2.example.test 192.0.2.7 25 none closed-early"));
  EXPECT_EQ(h.records[0].status, ScanStatus::kClosedEarly);
  EXPECT_EQ(h.scan().domains_in_progress(), 0u);
}

TEST(DomainScanTest, SameMxHostInTwoDomainsIsLookedUpAndProbedOnce) {
  Harness h;
  h.Add(1, "a.test");
  h.Add(2, "b.test");
  Zone zone;
  zone.mx["a.test"] = MxOk({{10, "mx.shared.test"}});
  zone.mx["b.test"] = MxOk({{10, "mx.shared.test"}});
  zone.Host("mx.shared.test", {"192.0.2.20", "2001:db8::20"});
  h.lookup.Drain(zone);
  // The host is looked up once for both domains, and probed once.
  EXPECT_THAT(h.lookup.queries_of(QueryType::kA),
              ElementsAre(AQ("mx.shared.test")));
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.20:25", "[2001:db8::20]:25"));
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(2));
  for (uint64_t line : {1, 2}) {
    SCOPED_TRACE(line);
    const output::DomainRecord* r = h.Record(line);
    ASSERT_NE(r, nullptr);
    EXPECT_THAT(MxNames(*r), ElementsAre("mx.shared.test"));
    EXPECT_THAT(r->mx[0].addresses, ElementsAre("192.0.2.20", "2001:db8::20"));
    EXPECT_THAT(ProbeSlots(*r),
                ElementsAre("mx.shared.test 192.0.2.20 25 starttls success",
                            "mx.shared.test 2001:db8::20 25 starttls success"));
  }
  EXPECT_EQ(h.scan().unique_probes(), 2u);
}

TEST(DomainScanTest, HostAnsweredEarlierIsNotAskedAgain) {
  Harness h;
  Zone zone;
  zone.mx["a.test"] = MxOk({{10, "mx.shared.test"}});
  zone.mx["b.test"] = MxOk({{20, "mx.shared.test"}});
  zone.Host("mx.shared.test", {"192.0.2.20"});
  h.Add(1, "a.test");
  h.lookup.Drain(zone);
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  h.Add(2, "b.test");
  h.lookup.Drain(zone);
  EXPECT_THAT(h.lookup.queries_of(QueryType::kA),
              ElementsAre(AQ("mx.shared.test")));
  ASSERT_THAT(h.records, SizeIs(2));  // the probe result was shared too
  EXPECT_THAT(h.records[1].mx[0].addresses, ElementsAre("192.0.2.20"));
  EXPECT_EQ(h.records[1].mx[0].a_status, "NOERROR");
  EXPECT_EQ(h.scan().unique_probes(), 1u);
}

TEST(DomainScanTest, HostLookupThatTimedOutIsAskedAgainByALaterDomain) {
  Harness h(NoPolicy());
  Zone zone;
  zone.mx["a.test"] = MxOk({{10, "mx.shared.test"}});
  zone.mx["b.test"] = MxOk({{10, "mx.shared.test"}});
  h.Add(1, "a.test");
  h.lookup.Answer(MxQ("a.test"), zone.mx["a.test"]);
  h.lookup.Answer(AQ("mx.shared.test"), AddrFail(DnsStatus::kTimeout));
  h.lookup.Answer(AaaaQ("mx.shared.test"), AddrFail(DnsStatus::kTimeout));
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_EQ(h.records[0].mx[0].a_status, "TIMEOUT");
  // A later domain with the same host does not inherit the timeout.
  zone.Host("mx.shared.test", {"192.0.2.20"});
  h.Add(2, "b.test");
  h.lookup.Drain(zone);
  EXPECT_THAT(h.lookup.queries_of(QueryType::kA),
              ElementsAre(AQ("mx.shared.test"), AQ("mx.shared.test")));
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(2));
  EXPECT_EQ(h.records[1].mx[0].a_status, "NOERROR");
  EXPECT_EQ(h.records[1].status, ScanStatus::kSuccess);
}

// ---------------------------------------------------------------------------
// Blocked addresses.

TEST(DomainScanTest, LoopbackIsBlockedWithoutAllowPrivate) {
  Harness h(NoPolicy(), /*allow_private=*/false);
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  h.lookup.Answer(AQ("mx.example.test"), Ips({"127.0.0.1"}));
  h.lookup.Answer(AaaaQ("mx.example.test"), Ips({"::1"}));
  EXPECT_THAT(h.submissions, IsEmpty());
  EXPECT_EQ(h.scan().unique_probes(), 0u);
  // Nothing to wait for: emitted on the last DNS answer.
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  EXPECT_THAT(ProbeSlots(r),
              ElementsAre("mx.example.test 127.0.0.1 25 starttls blocked",
                          "mx.example.test ::1 25 starttls blocked"));
  for (const output::ProbeResult& p : r.probes) {
    EXPECT_EQ(p.session.status_detail,
              p.address == "::1" ? "reserved ::1/128 loopback (RFC 4291)"
                                 : "reserved 127.0.0.0/8 loopback (RFC 1122)")
        << p.address;
  }
  EXPECT_THAT(r.mx[0].addresses, ElementsAre("127.0.0.1", "::1"));
  EXPECT_EQ(r.status, ScanStatus::kBlocked);
  EXPECT_EQ(r.status_detail, "reserved 127.0.0.0/8 loopback (RFC 1122)");
  EXPECT_EQ(h.scan().domains_in_progress(), 0u);
}

TEST(DomainScanTest, LoopbackIsProbedWithAllowPrivate) {
  Harness h(NoPolicy(), /*allow_private=*/true);
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  h.lookup.Answer(AQ("mx.example.test"), Ips({"127.0.0.1"}));
  h.lookup.Answer(AaaaQ("mx.example.test"), Ips({"::1"}));
  EXPECT_THAT(h.submitted(), ElementsAre("127.0.0.1:25", "[::1]:25"));
  EXPECT_THAT(h.records, IsEmpty());
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_EQ(h.records[0].status, ScanStatus::kSuccess);
}

TEST(DomainScanTest, BlockedAndAllowedAddressesInOneDomain) {
  Harness h(NoPolicy(), /*allow_private=*/false);
  h.Add(1, "ok.test");
  h.Add(2, "refused.test");
  h.lookup.Answer(MxQ("ok.test"),
                  MxOk({{10, "lo.ok.test"}, {20, "real.ok.test"}}));
  h.lookup.Answer(MxQ("refused.test"),
                  MxOk({{10, "lo.refused.test"}, {20, "real.refused.test"}}));
  Zone zone;
  zone.Host("lo.ok.test", {"127.0.0.2"});
  zone.Host("real.ok.test", {"93.184.216.34"});
  zone.Host("lo.refused.test", {"10.1.2.3"});
  zone.Host("real.refused.test", {"93.184.216.35"});
  h.lookup.Drain(zone);
  EXPECT_THAT(h.submitted(),
              ElementsAre("93.184.216.34:25", "93.184.216.35:25"));
  h.Complete(0);
  h.Complete(1, ScanStatus::kConnectionRefused, "ECONNREFUSED");
  ASSERT_THAT(h.records, SizeIs(2));
  // A probe succeeded: success.
  EXPECT_EQ(h.Record(1)->status, ScanStatus::kSuccess);
  EXPECT_EQ(h.Record(1)->status_detail, "");
  EXPECT_THAT(ProbeSlots(*h.Record(1)),
              ElementsAre("lo.ok.test 127.0.0.2 25 starttls blocked",
                          "real.ok.test 93.184.216.34 25 starttls success"));
  // None succeeded: the first probe's status, here the blocked one.
  EXPECT_EQ(h.Record(2)->status, ScanStatus::kBlocked);
  EXPECT_EQ(h.Record(2)->status_detail,
            "reserved 10.0.0.0/8 private (RFC 1918)");
}

TEST(DomainScanTest, BlocklistedAddressIsBlockedEvenWithAllowPrivate) {
  Harness h(NoPolicy(), /*allow_private=*/true, "192.0.2.66/32\n");
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  h.lookup.Answer(AQ("mx.example.test"), Ips({"192.0.2.66", "192.0.2.67"}));
  h.lookup.Answer(AaaaQ("mx.example.test"), AddrFail(DnsStatus::kNoData));
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.67:25"));
  h.CompleteAll(ScanStatus::kUnreachable, "EHOSTUNREACH");
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  EXPECT_EQ(r.probes[0].session.status, ScanStatus::kBlocked);
  EXPECT_EQ(r.probes[0].session.status_detail,
            "blocklist test-blocklist:1 192.0.2.66/32");
  EXPECT_EQ(r.probes[1].session.status, ScanStatus::kUnreachable);
  EXPECT_EQ(r.status, ScanStatus::kBlocked);
  EXPECT_EQ(r.status_detail, "blocklist test-blocklist:1 192.0.2.66/32");
}

// ---------------------------------------------------------------------------
// Opt-out (--opt-out) and providers (--per-provider).

TEST(DomainScanTest, OptedOutDomainIsNotResolved) {
  OptOutList opt_out;
  AddressPolicy unused;
  ASSERT_TRUE(
      opt_out.AddText("# x\nexample.test\n", "opt-out.txt", &unused).ok());
  DomainScanOptions options;  // with the policy lookups
  options.opt_out = &opt_out;
  Harness h(options);
  h.Add(1, "example.test");
  // Emitted from inside Add, without a single query.
  EXPECT_THAT(h.lookup.queries(), IsEmpty());
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  EXPECT_EQ(r.line, 1u);
  EXPECT_EQ(r.domain, "example.test");
  EXPECT_EQ(r.status, ScanStatus::kBlocked);
  EXPECT_EQ(r.status_detail, "opt-out opt-out.txt:2 example.test");
  EXPECT_THAT(r.mx, IsEmpty());
  EXPECT_THAT(r.policies, IsEmpty());
  EXPECT_EQ(h.scan().domains_in_progress(), 0u);
  // Other domains, subdomains included, go on as usual.
  h.Add(2, "sub.example.test");
  EXPECT_THAT(h.lookup.queries(), Not(IsEmpty()));
  EXPECT_THAT(h.records, SizeIs(1));
}

TEST(DomainScanTest, OptedOutMxHostIsNotProbed) {
  OptOutList opt_out;
  AddressPolicy unused;
  ASSERT_TRUE(opt_out.AddText(".provider.test\n", "o.txt", &unused).ok());
  DomainScanOptions options = NoPolicy();
  options.ports = {25, 465};
  options.dane = true;  // TLSA lookups
  options.opt_out = &opt_out;
  Harness h(options);
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx1.provider.test"},
                                             {20, "backup.example.test"}}));
  // No TLSA lookup for the opted-out host: no probe would use it.
  EXPECT_THAT(h.lookup.queries_of(QueryType::kTlsa),
              ElementsAre(TlsaQ("_25._tcp.backup.example.test"),
                          TlsaQ("_465._tcp.backup.example.test")));
  Zone zone;
  zone.Host("mx1.provider.test", {"192.0.2.1", "2001:db8::1"});
  zone.Host("backup.example.test", {"192.0.2.2"});
  h.lookup.Drain(zone);
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.2:25", "192.0.2.2:465"));
  h.CompleteAll(ScanStatus::kConnectionRefused, "ECONNREFUSED");
  ASSERT_THAT(h.records, SizeIs(1));
  const output::DomainRecord& r = h.records[0];
  // The opted-out host's addresses are looked up and recorded.
  EXPECT_THAT(r.mx[0].addresses, ElementsAre("192.0.2.1", "2001:db8::1"));
  ASSERT_THAT(r.probes, SizeIs(6));
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r.probes[i].host, "mx1.provider.test");
    EXPECT_EQ(r.probes[i].session.status, ScanStatus::kBlocked);
    EXPECT_EQ(r.probes[i].session.status_detail,
              "opt-out o.txt:1 .provider.test");
  }
  EXPECT_EQ(r.status, ScanStatus::kBlocked);  // the first probe's status
  EXPECT_EQ(r.status_detail, "opt-out o.txt:1 .provider.test");
}

TEST(DomainScanTest, ProbeRequestsCarryTheProviderGroup) {
  absl::StatusOr<std::unique_ptr<ProviderGroups>> providers =
      ProviderGroups::Create();
  ASSERT_TRUE(providers.ok()) << providers.status();
  DomainScanOptions options = NoPolicy();
  options.providers = providers->get();
  Harness h(options);
  h.Add(1, "a.test");
  h.Add(2, "b.test");
  h.lookup.Answer(MxQ("a.test"),
                  MxOk({{10, "mx1.big-provider.co.uk"}, {20, "mx.a.test"}}));
  h.lookup.Answer(MxQ("b.test"), MxOk({{10, "MX2.Big-Provider.co.uk"}}));
  Zone zone;
  zone.Host("mx1.big-provider.co.uk", {"192.0.2.1", "192.0.2.2"});
  zone.Host("MX2.Big-Provider.co.uk", {"192.0.2.3"});
  zone.Host("mx.a.test", {"192.0.2.4"});
  h.lookup.Drain(zone);
  ASSERT_THAT(h.submitted(), ElementsAre("192.0.2.1:25", "192.0.2.2:25",
                                         "192.0.2.4:25", "192.0.2.3:25"));
  EXPECT_THAT(h.groups, ElementsAre(1u, 1u, 2u, 1u));
  EXPECT_EQ((*providers)->size(), 2u);
  h.CompleteAll();
  EXPECT_THAT(h.records, SizeIs(2));
}

TEST(DomainScanTest, WithoutProvidersTheGroupIsZero) {
  Harness h(NoPolicy());
  h.Add(1, "a.test");
  h.lookup.Answer(MxQ("a.test"), MxOk({{10, "mx.a.test"}}));
  Zone zone;
  zone.Host("mx.a.test", {"192.0.2.4"});
  h.lookup.Drain(zone);
  EXPECT_THAT(h.groups, ElementsAre(0u));
}

// ---------------------------------------------------------------------------
// Record status.

TEST(DomainScanTest, StatusIsSuccessWhenAnyProbeSucceeded) {
  DomainScanOptions options = NoPolicy();
  options.ports = {25, 587};
  Harness h(options);
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  h.lookup.Answer(AQ("mx.example.test"), Ips({"192.0.2.1", "192.0.2.2"}));
  h.lookup.Answer(AaaaQ("mx.example.test"), AddrFail(DnsStatus::kNoData));
  ASSERT_THAT(h.submissions, SizeIs(4));
  h.Complete(0, ScanStatus::kConnectionRefused, "ECONNREFUSED");
  h.Complete(1, ScanStatus::kConnectionTimeout, "connect");
  h.Complete(2, ScanStatus::kConnectionRefused, "ECONNREFUSED");
  h.Complete(3, ScanStatus::kSuccess);
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_EQ(h.records[0].status, ScanStatus::kSuccess);
  EXPECT_EQ(h.records[0].status_detail, "");
}

TEST(DomainScanTest, StatusIsTheFirstProbesWhenNoneSucceeded) {
  DomainScanOptions options = NoPolicy();
  options.ports = {25, 587};
  Harness h(options);
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  h.lookup.Answer(AQ("mx.example.test"), Ips({"192.0.2.1"}));
  h.lookup.Answer(AaaaQ("mx.example.test"), Ips({"2001:db8::1"}));
  ASSERT_THAT(h.submissions, SizeIs(4));
  // Completed out of order: the status is that of the first probe slot.
  h.Complete(3, ScanStatus::kConnectionTimeout, "connect");
  h.Complete(1, ScanStatus::kTlsHandshakeError, "handshake");
  h.Complete(2, ScanStatus::kUnreachable, "ENETUNREACH");
  h.Complete(0, ScanStatus::kConnectionRefused, "ECONNREFUSED");
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_EQ(h.records[0].status, ScanStatus::kConnectionRefused);
  EXPECT_EQ(h.records[0].status_detail, "ECONNREFUSED");
}

TEST(DomainScanTest, NoAddressForAnyMailServer) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"),
                  MxOk({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  h.lookup.Answer(AQ("mx1.example.test"), AddrFail(DnsStatus::kNxDomain));
  h.lookup.Answer(AaaaQ("mx1.example.test"), AddrFail(DnsStatus::kNxDomain));
  h.lookup.Answer(AQ("mx2.example.test"), AddrFail(DnsStatus::kServFail));
  h.lookup.Answer(AaaaQ("mx2.example.test"), AddrFail(DnsStatus::kTimeout));
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_EQ(h.records[0].status, ScanStatus::kDnsError);
  EXPECT_EQ(h.records[0].status_detail, "no address for any mail server");
  EXPECT_EQ(h.records[0].mx_dns_status, "NOERROR");
}

// ---------------------------------------------------------------------------
// Policy records.

TEST(DomainScanTest, PolicyTxtQueriesAndAnswers) {
  Harness h;
  h.Add(1, "example.test");
  EXPECT_THAT(h.lookup.queries_of(QueryType::kTxt),
              ElementsAre(TxtQ("example.test"), TxtQ("_dmarc.example.test"),
                          TxtQ("_mta-sts.example.test"),
                          TxtQ("_smtp._tls.example.test")));
  // Answered in another order than asked.
  h.lookup.Answer(TxtQ("_smtp._tls.example.test"),
                  TxtFail(DnsStatus::kServFail));
  h.lookup.Answer(TxtQ("_dmarc.example.test"), TxtFail(DnsStatus::kNxDomain));
  h.lookup.Answer(TxtQ("example.test"), Txt({"v=spf1 -all"}));
  h.lookup.Answer(TxtQ("_mta-sts.example.test"), TxtFail(DnsStatus::kNoData));
  h.lookup.Answer(MxQ("example.test"), MxOk({{0, ""}}));
  ASSERT_THAT(h.records, SizeIs(1));
  const std::vector<output::PolicyResult>& p = h.records[0].policies;
  ASSERT_THAT(p, SizeIs(4));
  EXPECT_EQ(p[0].kind, "spf");
  EXPECT_EQ(p[0].name, "example.test");
  EXPECT_EQ(p[0].dns_status, "NOERROR");
  EXPECT_THAT(p[0].records, ElementsAre("v=spf1 -all"));
  EXPECT_EQ(p[1].kind, "dmarc");
  EXPECT_EQ(p[1].name, "_dmarc.example.test");
  EXPECT_EQ(p[1].dns_status, "NXDOMAIN");
  EXPECT_THAT(p[1].records, IsEmpty());
  EXPECT_EQ(p[2].kind, "mta_sts");
  EXPECT_EQ(p[2].name, "_mta-sts.example.test");
  EXPECT_EQ(p[2].dns_status, "NODATA");
  EXPECT_THAT(p[2].records, IsEmpty());
  EXPECT_EQ(p[3].kind, "tls_rpt");
  EXPECT_EQ(p[3].name, "_smtp._tls.example.test");
  EXPECT_EQ(p[3].dns_status, "SERVFAIL");
  EXPECT_THAT(p[3].records, IsEmpty());
}

TEST(DomainScanTest, PolicyRecordsOfEachKindLandInTheirOwnSlot) {
  Harness h;
  h.Add(1, "example.test");
  h.lookup.Answer(TxtQ("example.test"), Txt({"v=spf1 mx -all"}));
  h.lookup.Answer(TxtQ("_dmarc.example.test"), Txt({"v=DMARC1; p=reject"}));
  h.lookup.Answer(TxtQ("_mta-sts.example.test"), Txt({"v=STSv1; id=20240101"}));
  h.lookup.Answer(TxtQ("_smtp._tls.example.test"),
                  Txt({"v=TLSRPTv1; rua=mailto:tls@example.test"}));
  h.lookup.Answer(MxQ("example.test"), MxFail(DnsStatus::kNxDomain));
  ASSERT_THAT(h.records, SizeIs(1));
  const std::vector<output::PolicyResult>& p = h.records[0].policies;
  ASSERT_THAT(p, SizeIs(4));
  EXPECT_THAT(p[0].records, ElementsAre("v=spf1 mx -all"));
  EXPECT_THAT(p[1].records, ElementsAre("v=DMARC1; p=reject"));
  EXPECT_THAT(p[2].records, ElementsAre("v=STSv1; id=20240101"));
  EXPECT_THAT(p[3].records,
              ElementsAre("v=TLSRPTv1; rua=mailto:tls@example.test"));
  for (const output::PolicyResult& r : p) EXPECT_EQ(r.dns_status, "NOERROR");
}

// Kept apart from the tests above: it depends on dns::ParsePolicy's
// parsing, not only on DomainScan's plumbing.
TEST(DomainScanTest, PolicyParsedValuesOfAWellFormedSpfRecord) {
  Harness h;
  h.Add(1, "example.test");
  h.lookup.Answer(TxtQ("example.test"), Txt({"v=spf1 -all"}));
  h.lookup.Answer(TxtQ("_dmarc.example.test"), TxtFail(DnsStatus::kNoData));
  h.lookup.Answer(TxtQ("_mta-sts.example.test"), TxtFail(DnsStatus::kNoData));
  h.lookup.Answer(TxtQ("_smtp._tls.example.test"), TxtFail(DnsStatus::kNoData));
  h.lookup.Answer(MxQ("example.test"), MxOk({{0, ""}}));
  ASSERT_THAT(h.records, SizeIs(1));
  const output::PolicyResult& spf = h.records[0].policies[0];
  EXPECT_TRUE(spf.valid);
  EXPECT_EQ(spf.value, "-all");
  EXPECT_EQ(spf.error, "");
}

TEST(DomainScanTest, PolicyOffAsksNoTxt) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  EXPECT_THAT(h.lookup.queries(), ElementsAre(MxQ("example.test")));
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  h.lookup.Drain(Zone{});
  EXPECT_THAT(h.lookup.queries_of(QueryType::kTxt), IsEmpty());
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_THAT(h.records[0].policies, IsEmpty());
}

// ---------------------------------------------------------------------------
// Answer order independence.

// Several domains sharing addresses, with every kind of MX answer, policies,
// blocked addresses and two ports.
struct Scenario {
  DomainScanOptions options;
  std::string blocklist = "192.0.2.99/32\n";
  std::vector<std::string> domains;  // line i + 1
  Zone zone;
  // Probe outcomes by "address:port"; absent: success.
  std::map<std::string, std::pair<ScanStatus, std::string>> outcomes;

  Scenario() {
    options.ports = {25, 465};
    options.max_mx = 3;
    // Plaintext on both ports: probes are shared by address and port alone
    // (with TLS the host name is part of the key; tested separately).
    options.plain_tls_mode = TlsMode::kNone;
    options.implicit_tls_ports = {};
    domains = {"alpha.test",   "beta.test", "gamma.test", "delta.test",
               "epsilon.test", "zeta.test", "eta.test",   "theta.test"};
    zone.mx["alpha.test"] = MxOk({{40, "mx4.alpha.test"},
                                  {20, "mx2.shared.test"},
                                  {10, "mx1.alpha.test"},
                                  {30, "mx3.alpha.test"}});
    zone.Host("mx1.alpha.test", {"192.0.2.1", "2001:db8::1"});
    zone.Host("mx2.shared.test", {"192.0.2.50"}, "real.shared.test");
    zone.a["mx3.alpha.test"] = AddrFail(DnsStatus::kServFail);
    zone.aaaa["mx3.alpha.test"] = Ips({"2001:db8::3"});
    zone.Host("mx4.alpha.test", {"192.0.2.4"});  // discarded (max_mx 3)
    zone.txt["alpha.test"] = Txt({"v=spf1 -all"});
    zone.txt["_dmarc.alpha.test"] = Txt({"v=DMARC1; p=reject"});

    zone.mx["beta.test"] =
        MxOk({{10, "mx2.shared.test"}, {10, "mx.beta.test"}});
    zone.Host("mx.beta.test", {"192.0.2.1", "192.0.2.99"});
    zone.txt["beta.test"] = TxtFail(DnsStatus::kServFail);

    zone.mx["gamma.test"] = MxFail(DnsStatus::kNoData);
    zone.a["gamma.test"] = Ips({"192.0.2.50"});
    zone.aaaa["gamma.test"] = AddrFail(DnsStatus::kTimeout);

    zone.mx["delta.test"] = MxOk({{0, ""}});

    // epsilon.test: MX NXDOMAIN (not in the zone).

    zone.mx["zeta.test"] = MxOk(
        {{10, "mx.zeta.test"}, {5, "127.0.60.10"}, {0, ""}}, "zeta-alias.test");
    zone.Host("mx.zeta.test", {"192.0.2.99", "2001:db8::1"});

    zone.mx["eta.test"] = MxOk({{10, "mx.eta.test"}});  // no addresses

    zone.mx["theta.test"] = MxOk({{10, "mx.theta.test"}});
    zone.Host("mx.theta.test", {"2001:db8::3", "192.0.2.50"});

    outcomes["192.0.2.50:25"] = {ScanStatus::kConnectionRefused,
                                 "ECONNREFUSED"};
    outcomes["192.0.2.50:465"] = {ScanStatus::kTlsTimeout, "handshake"};
    outcomes["[2001:db8::1]:25"] = {ScanStatus::kConnectionTimeout, "connect"};
    outcomes["[2001:db8::1]:465"] = {ScanStatus::kTlsHandshakeError,
                                     "handshake"};
    outcomes["[2001:db8::3]:465"] = {ScanStatus::kGreetingRejected, "554"};
  }
};

struct RunResult {
  std::vector<std::string> records;  // Describe()d, by line
  std::multiset<std::string> submitted;
  size_t unique_probes = 0;
  size_t domains_in_progress = 0;
};

// Runs `scenario`; with `rng`, each step picks at random among adding the
// next domain, answering any pending query and completing any outstanding
// probe. Without it: all adds, then DNS oldest first, then probes in order.
RunResult RunScenario(const Scenario& scenario, std::mt19937* rng) {
  Harness h(scenario.options, /*allow_private=*/true, scenario.blocklist);
  size_t added = 0;
  auto add_next = [&] {
    h.Add(added + 1, scenario.domains[added]);
    ++added;
  };
  auto complete = [&](size_t index) {
    const std::string key = h.submitted()[index];
    auto it = scenario.outcomes.find(key);
    if (it == scenario.outcomes.end()) {
      h.Complete(index);
    } else {
      h.Complete(index, it->second.first, it->second.second);
    }
  };
  if (rng == nullptr) {
    while (added < scenario.domains.size()) add_next();
    h.lookup.Drain(scenario.zone);
    for (size_t i : h.outstanding()) complete(i);
  } else {
    for (;;) {
      const size_t adds = added < scenario.domains.size() ? 1 : 0;
      const size_t dns = h.lookup.pending();
      const std::vector<size_t> probes = h.outstanding();
      const size_t total = adds + dns + probes.size();
      if (total == 0) break;
      size_t pick = std::uniform_int_distribution<size_t>(0, total - 1)(*rng);
      if (pick < adds) {
        add_next();
      } else if ((pick -= adds) < dns) {
        h.lookup.AnswerFromZone(pick, scenario.zone);
      } else {
        complete(probes[pick - dns]);
      }
    }
  }
  RunResult result;
  std::vector<const output::DomainRecord*> sorted;
  for (const output::DomainRecord& r : h.records) sorted.push_back(&r);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->line < b->line; });
  for (const output::DomainRecord* r : sorted) {
    result.records.push_back(Describe(*r));
  }
  for (const std::string& s : h.submitted()) result.submitted.insert(s);
  result.unique_probes = h.scan().unique_probes();
  result.domains_in_progress = h.scan().domains_in_progress();
  return result;
}

TEST(DomainScanTest, ScenarioReferenceRun) {
  // Checks the reference the order test compares against.
  const Scenario scenario;
  const RunResult ref = RunScenario(scenario, nullptr);
  ASSERT_THAT(ref.records, SizeIs(scenario.domains.size()));
  EXPECT_EQ(ref.domains_in_progress, 0u);
  // Every (address, port) at most once.
  for (const std::string& s : ref.submitted) {
    EXPECT_EQ(ref.submitted.count(s), 1u) << s;
  }
  EXPECT_THAT(
      ref.submitted,
      ElementsAre("192.0.2.1:25", "192.0.2.1:465", "192.0.2.50:25",
                  "192.0.2.50:465", "[2001:db8::1]:25", "[2001:db8::1]:465",
                  "[2001:db8::3]:25", "[2001:db8::3]:465"));
  EXPECT_EQ(ref.unique_probes, 8u);
  // alpha.test: three hosts kept, one discarded; the shared host's CNAME.
  EXPECT_THAT(ref.records[0], ::testing::HasSubstr("discarded=1"));
  EXPECT_THAT(ref.records[0],
              ::testing::HasSubstr("mx 20 mx2.shared.test a=NOERROR "
                                   "aaaa=NODATA via_cname=true "
                                   "canonical=real.shared.test"));
  EXPECT_THAT(ref.records[0], ::testing::HasSubstr("status=success"));
  // beta.test: one of its addresses blocklisted.
  EXPECT_THAT(ref.records[1],
              ::testing::HasSubstr("probe mx.beta.test 192.0.2.99 25 none"));
  EXPECT_THAT(ref.records[1], ::testing::HasSubstr("blocked blocklist"));
  EXPECT_THAT(ref.records[1], ::testing::HasSubstr("status=success"));
  EXPECT_THAT(ref.records[2], ::testing::HasSubstr("implicit_mx=true"));
  EXPECT_THAT(ref.records[2], ::testing::HasSubstr("status=connection-refused "
                                                   "detail=ECONNREFUSED"));
  EXPECT_THAT(ref.records[3], ::testing::HasSubstr("status=null-mx"));
  EXPECT_THAT(ref.records[4],
              ::testing::HasSubstr("status=dns-error detail=mx NXDOMAIN"));
  EXPECT_THAT(ref.records[5],
              ::testing::HasSubstr("mx_canonical=zeta-alias.test"));
  EXPECT_THAT(ref.records[5], ::testing::HasSubstr("status=blocked"));
  EXPECT_THAT(ref.records[6],
              ::testing::HasSubstr(
                  "status=dns-error detail=no address for any mail server"));
  EXPECT_THAT(ref.records[7], ::testing::HasSubstr("status=success"));
}

TEST(DomainScanTest, AnswerOrderDoesNotChangeRecords) {
  const Scenario scenario;
  const RunResult ref = RunScenario(scenario, nullptr);
  for (uint32_t seed = 1; seed <= 500; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::mt19937 rng(seed);
    const RunResult run = RunScenario(scenario, &rng);
    ASSERT_EQ(run.records, ref.records);
    ASSERT_EQ(run.submitted, ref.submitted);
    ASSERT_EQ(run.unique_probes, ref.unique_probes);
    ASSERT_EQ(run.domains_in_progress, 0u);
  }
}

// ---------------------------------------------------------------------------
// Regressions: bugs these tests found.

// A null target ("" in the answer, "." in the record) at two preferences is
// one host, like any other.
TEST(DomainScanTest, NullTargetAtTwoPreferencesAppearsOnce) {
  Harness h(NoPolicy());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"),
                  MxOk({{10, "mx.example.test"}, {0, ""}, {20, ""}}));
  h.lookup.Drain(Zone{});
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_THAT(MxNames(h.records[0]), ElementsAre(".", "mx.example.test"));
  EXPECT_THAT(MxPreferences(h.records[0]), ElementsAre(0, 10));
}

// A result that comes back from inside the submit call (a wrapper that fails
// a probe at once) must not finish the record while Plan is still filling
// it: that emitted a partial record and then used the freed domain.
TEST(DomainScanTest, ResultReportedFromInsideSubmit) {
  FakeLookup lookup;
  absl::StatusOr<AddressPolicy> policy = AddressPolicy::Create(true, {});
  ASSERT_TRUE(policy.ok());
  std::vector<output::DomainRecord> records;
  std::unique_ptr<DomainScan> scan;
  DomainScanOptions options = NoPolicy();
  options.ports = {25, 587};
  scan = std::make_unique<DomainScan>(
      options, &lookup, &*policy,
      [&](const ProbeRequest& request) {
        output::ProbeResult result;
        result.address = IpText(request.address);
        result.port = request.port;
        result.session.status = ScanStatus::kConnectionRefused;
        result.session.status_detail = "EMFILE";
        scan->OnProbeResult(request.id, std::move(result));
      },
      [&](output::DomainRecord r) { records.push_back(std::move(r)); });
  scan->Add(1, "example.test", dns::DomainName{"example.test", ""});
  lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  lookup.Answer(AQ("mx.example.test"), Ips({"192.0.2.1", "192.0.2.2"}));
  lookup.Answer(AaaaQ("mx.example.test"), AddrFail(DnsStatus::kNoData));
  ASSERT_THAT(records, SizeIs(1));
  EXPECT_THAT(records[0].probes, SizeIs(4));
  for (const output::ProbeResult& p : records[0].probes) {
    EXPECT_EQ(p.session.status, ScanStatus::kConnectionRefused) << p.address;
  }
  EXPECT_EQ(scan->domains_in_progress(), 0u);
}

// ---------------------------------------------------------------------------
// TLS: server names, DANE TLSA lookups, MTA-STS.

DomainScanOptions DaneOptions() {
  DomainScanOptions options = NoPolicy();
  options.ports = {25, 465};
  options.dane = true;
  return options;
}

dns::TlsaAnswer TlsaOk(bool authenticated) {
  dns::TlsaAnswer answer;
  answer.status = DnsStatus::kNoError;
  answer.authenticated = authenticated;
  answer.records.push_back({3, 1, 1, std::string(32, '\x5a')});
  return answer;
}

TEST(DomainScanTest, TwoMxNamesForOneAddressAreTwoProbesWithTls) {
  Harness h(NoPolicy());  // STARTTLS on 25: the name is sent as SNI
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"),
                  MxOk({{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
  Zone zone;
  zone.Host("mx1.example.test", {"192.0.2.7"});
  zone.Host("mx2.example.test", {"192.0.2.7"});
  h.lookup.Drain(zone);
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.7:25", "192.0.2.7:25"));
  EXPECT_THAT(h.server_names,
              ElementsAre("mx1.example.test", "mx2.example.test"));
  EXPECT_EQ(h.scan().unique_probes(), 2u);
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
}

TEST(DomainScanTest, TlsaIsLookedUpPerMxHostAndTlsPortAndHandedToTheProbe) {
  Harness h(DaneOptions());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  EXPECT_THAT(h.lookup.queries_of(QueryType::kTlsa),
              ElementsAre(TlsaQ("_25._tcp.mx.example.test"),
                          TlsaQ("_465._tcp.mx.example.test")));
  h.lookup.Answer(AQ("mx.example.test"), Ips({"192.0.2.9"}));
  h.lookup.Answer(AaaaQ("mx.example.test"), AddrFail(DnsStatus::kNoData));
  EXPECT_THAT(h.submissions, IsEmpty());  // probes wait for the TLSA answers
  h.lookup.Answer(TlsaQ("_25._tcp.mx.example.test"), TlsaOk(true));
  dns::TlsaAnswer none;
  none.status = DnsStatus::kNxDomain;
  h.lookup.Answer(TlsaQ("_465._tcp.mx.example.test"), none);
  ASSERT_THAT(h.submitted(), ElementsAre("192.0.2.9:25", "192.0.2.9:465"));
  ASSERT_NE(h.danes[0], nullptr);
  EXPECT_EQ(h.danes[0]->tlsa_name, "_25._tcp.mx.example.test");
  EXPECT_EQ(h.danes[0]->verdict, tls::DaneVerdict::kNoTls);  // until TLS
  EXPECT_TRUE(h.danes[0]->authenticated);
  ASSERT_THAT(h.danes[0]->records, SizeIs(1));
  ASSERT_NE(h.danes[1], nullptr);
  EXPECT_EQ(h.danes[1]->verdict, tls::DaneVerdict::kNoRecords);
  EXPECT_EQ(h.danes[1]->dns_status, "NXDOMAIN");
  h.CompleteAll();
  ASSERT_THAT(h.records, SizeIs(1));
  // A probe without a TLS handshake still shows what DANE asked for.
  ASSERT_NE(h.records[0].probes[0].dane, nullptr);
  EXPECT_EQ(h.records[0].probes[0].dane->tlsa_name, "_25._tcp.mx.example.test");
}

TEST(DomainScanTest, TlsaUnauthenticatedIsKeptButNotUsable) {
  Harness h(DaneOptions());
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  h.lookup.Answer(TlsaQ("_25._tcp.mx.example.test"), TlsaOk(false));
  h.lookup.Answer(TlsaQ("_465._tcp.mx.example.test"), TlsaOk(false));
  h.lookup.Answer(AQ("mx.example.test"), Ips({"192.0.2.9"}));
  h.lookup.Answer(AaaaQ("mx.example.test"), AddrFail(DnsStatus::kNoData));
  ASSERT_THAT(h.danes, SizeIs(2));
  EXPECT_EQ(h.danes[0]->verdict, tls::DaneVerdict::kNotAuthenticated);
}

TEST(DomainScanTest, TlsaOfASharedMxHostIsAskedOnce) {
  Harness h(DaneOptions());
  h.Add(1, "a.test");
  h.Add(2, "b.test");
  Zone zone;
  zone.mx["a.test"] = MxOk({{10, "mx.shared.test"}});
  zone.mx["b.test"] = MxOk({{10, "mx.shared.test"}});
  zone.Host("mx.shared.test", {"192.0.2.20"});
  h.lookup.Drain(zone);
  EXPECT_THAT(h.lookup.queries_of(QueryType::kTlsa),
              ElementsAre(TlsaQ("_25._tcp.mx.shared.test"),
                          TlsaQ("_465._tcp.mx.shared.test")));
  EXPECT_THAT(h.submitted(), ElementsAre("192.0.2.20:25", "192.0.2.20:465"));
  h.CompleteAll();
  EXPECT_THAT(h.records, SizeIs(2));
}

TEST(DomainScanTest, NoTlsaLookupForPortsWithoutTls) {
  DomainScanOptions options = DaneOptions();
  options.plain_tls_mode = TlsMode::kNone;  // --starttls never
  Harness h(options);
  h.Add(1, "example.test");
  h.lookup.Answer(MxQ("example.test"), MxOk({{10, "mx.example.test"}}));
  EXPECT_THAT(h.lookup.queries_of(QueryType::kTlsa),
              ElementsAre(TlsaQ("_465._tcp.mx.example.test")));
}

TEST(DomainScanTest, MtaStsPolicyIsFetchedWhenTheTxtRecordIsValid) {
  DomainScanOptions options;
  options.mta_sts = true;
  Harness h(options);
  std::vector<std::string> fetched;
  DomainScan::MtaStsDone pending;
  h.scan().SetMtaStsFetcher(
      [&](const std::string& domain, DomainScan::MtaStsDone done) {
        fetched.push_back(domain);
        pending = std::move(done);
      });
  h.Add(1, "example.test");
  Zone zone;
  zone.mx["example.test"] = MxOk({{10, "mx.example.test"}});
  zone.Host("mx.example.test", {"192.0.2.9"});
  dns::TxtAnswer sts;
  sts.status = DnsStatus::kNoError;
  sts.records = {"v=STSv1; id=20261121"};
  zone.txt["_mta-sts.example.test"] = sts;
  h.lookup.Drain(zone);
  ASSERT_THAT(fetched, ElementsAre("example.test"));
  h.CompleteAll();
  EXPECT_THAT(h.records, IsEmpty());  // the policy is still coming
  output::MtaStsResult result;
  result.fetch_status = "ok";
  result.valid = true;
  result.mode = "enforce";
  result.mx = {"mx.example.test"};
  pending(result);
  ASSERT_THAT(h.records, SizeIs(1));
  ASSERT_TRUE(h.records[0].mta_sts.has_value());
  EXPECT_EQ(h.records[0].mta_sts->id, "20261121");
  EXPECT_EQ(h.records[0].mta_sts->mode, "enforce");
}

TEST(DomainScanTest, NoMtaStsFetchWithoutAValidTxtRecord) {
  DomainScanOptions options;
  options.mta_sts = true;
  Harness h(options);
  int fetches = 0;
  h.scan().SetMtaStsFetcher(
      [&](const std::string&, DomainScan::MtaStsDone) { ++fetches; });
  h.Add(1, "example.test");
  Zone zone;
  zone.mx["example.test"] = MxOk({{10, "mx.example.test"}});
  zone.Host("mx.example.test", {"192.0.2.9"});
  dns::TxtAnswer bad;
  bad.status = DnsStatus::kNoError;
  bad.records = {"v=STSv1; no id"};
  zone.txt["_mta-sts.example.test"] = bad;
  h.lookup.Drain(zone);
  h.CompleteAll();
  EXPECT_EQ(fetches, 0);
  ASSERT_THAT(h.records, SizeIs(1));
  EXPECT_FALSE(h.records[0].mta_sts.has_value());
}

}  // namespace
}  // namespace smtpscan::scan
