// Asynchronous DNS lookups with c-ares, driven by the caller's event loop.
//
// The resolver never blocks and owns no thread: it asks a Poller (the
// engine's ring) to watch its sockets, and the caller calls Tick() every
// ~100 ms so that c-ares can time queries out (c-ares does not report a
// timeout through its socket callback, c-ares#681). Answers are delivered
// through callbacks, never from inside c-ares and never from inside the
// Query* call that asked: a callback may start new queries.
#ifndef SMTPSCAN_DNS_RESOLVER_H_
#define SMTPSCAN_DNS_RESOLVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace smtpscan::dns {

// What a lookup found, per name and type. Names are the output's strings.
enum class DnsStatus : uint8_t {
  kNoError,   // "NOERROR": records of the type asked for
  kNoData,    // "NODATA": the name exists, no records of that type
  kNxDomain,  // "NXDOMAIN"
  kServFail,  // "SERVFAIL"
  kRefused,   // "REFUSED"
  kTimeout,   // "TIMEOUT": no answer from any server, after every try
  kError,     // "ERROR": anything else (malformed answer, no server, ...)
};
absl::string_view DnsStatusName(DnsStatus status);

struct MxRecord {
  uint16_t preference = 0;
  std::string host;  // as in the answer, lower case, no trailing dot;
                     // empty for the root (a null MX's ".")
};

struct MxAnswer {
  DnsStatus status = DnsStatus::kError;
  std::vector<MxRecord> records;  // in answer order
  // The name the records belong to when the name asked for is an alias
  // (CNAME), lower case, no trailing dot; empty otherwise.
  std::string canonical;
};

struct Address {
  int family = 0;  // AF_INET or AF_INET6
  uint8_t bytes[16] = {};
};

struct AddressAnswer {
  DnsStatus status = DnsStatus::kError;
  std::vector<Address> addresses;  // in answer order
  std::string canonical;           // as in MxAnswer
};

struct TxtAnswer {
  DnsStatus status = DnsStatus::kError;
  std::vector<std::string> records;  // each record's strings joined
};

// One TLSA record (RFC 6698 §2.1), as DANE for SMTP uses it (RFC 7672).
struct TlsaRecord {
  uint8_t usage = 0;     // 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
  uint8_t selector = 0;  // 0 full certificate, 1 SubjectPublicKeyInfo
  uint8_t mtype = 0;     // 0 exact, 1 SHA-256, 2 SHA-512
  std::string data;      // the association data, binary

  friend bool operator==(const TlsaRecord&, const TlsaRecord&) = default;
};

struct TlsaAnswer {
  DnsStatus status = DnsStatus::kError;
  // The resolver set the AD bit: it validated the answer with DNSSEC.
  // Only then may DANE use the records (RFC 7672 §2.2).
  bool authenticated = false;
  std::vector<TlsaRecord> records;  // in answer order; malformed ones skipped
  std::string canonical;            // as in MxAnswer
};

// Watches the resolver's sockets. The engine implements it on its ring.
class Poller {
 public:
  virtual ~Poller() = default;
  // Calls `ready` with poll(2) events whenever `fd` is ready for `events`
  // (POLLIN and/or POLLOUT), until Unwatch(handle).
  virtual uint64_t Watch(int fd, uint32_t events,
                         absl::AnyInvocable<void(uint32_t)> ready) = 0;
  virtual void Unwatch(uint64_t handle) = 0;
};

struct ResolverOptions {
  // "IP" or "IP:PORT" or "[IPv6]:PORT"; empty: the system's resolv.conf.
  std::vector<std::string> servers;
  // Per try; c-ares doubles it on each round through the servers. With 2
  // tries one server that never answers costs 1.5 + 3 = 4.5 s per name.
  absl::Duration timeout = absl::Milliseconds(1500);
  int tries = 2;
  size_t max_inflight = 100;  // queries sent and not yet answered
  double rate = 0;            // queries per second; 0 = no limit
};

// A lookup interface, so that the domain planner can be tested with a fake.
class Lookup {
 public:
  virtual ~Lookup() = default;
  virtual void QueryMx(absl::string_view name,
                       absl::AnyInvocable<void(MxAnswer)> done) = 0;
  // family: AF_INET (A) or AF_INET6 (AAAA).
  virtual void QueryAddresses(absl::string_view name, int family,
                              absl::AnyInvocable<void(AddressAnswer)> done) = 0;
  virtual void QueryTxt(absl::string_view name,
                        absl::AnyInvocable<void(TxtAnswer)> done) = 0;
  // TLSA of `name` ("_25._tcp.mx.example.com"), asked with the AD bit set
  // (RFC 6840 §5.7) so that a validating resolver reports validation.
  virtual void QueryTlsa(absl::string_view name,
                         absl::AnyInvocable<void(TlsaAnswer)> done) = 0;
};

// Parses a --resolver value: "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT"
// (port 53 when none is given). Returns c-ares's server form ("IP:PORT",
// "[IPv6]:PORT"), or InvalidArgument with a one-line reason naming
// --resolver.
absl::StatusOr<std::string> ParseServer(absl::string_view text);

class Resolver final : public Lookup {
 public:
  // Fails with a one-line reason (a bad --resolver, no usable resolv.conf).
  static absl::StatusOr<std::unique_ptr<Resolver>> Create(
      const ResolverOptions& options, Poller* poller);
  ~Resolver() override;

  void QueryMx(absl::string_view name,
               absl::AnyInvocable<void(MxAnswer)> done) override;
  void QueryAddresses(absl::string_view name, int family,
                      absl::AnyInvocable<void(AddressAnswer)> done) override;
  void QueryTxt(absl::string_view name,
                absl::AnyInvocable<void(TxtAnswer)> done) override;
  void QueryTlsa(absl::string_view name,
                 absl::AnyInvocable<void(TlsaAnswer)> done) override;

  // Lets c-ares expire queries and sends queued ones the rate now allows.
  void Tick();

  // Queries asked for and not yet answered (queued or sent).
  size_t pending() const;
  // Queries sent, not answered: at most options.max_inflight.
  size_t inflight() const;
  // The servers in use, "IP:PORT" each (for the run's metadata).
  std::vector<std::string> servers() const;

  struct Stats {
    uint64_t queries = 0;   // sent
    uint64_t answered = 0;  // any status
    uint64_t timeouts = 0;
  };
  const Stats& stats() const;

  class Impl;

 private:
  explicit Resolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace smtpscan::dns

#endif  // SMTPSCAN_DNS_RESOLVER_H_
