// Domain mode: from an email domain to its mail servers' probe results.
//
// For each domain: MX lookup (RFC 5321 §5.1, RFC 7505), A and AAAA of every
// MX host, the mail policy TXT records, then one probe per (address, port).
// Probes are shared: each (address, port) is probed once per run however
// many domains point at it, and its result is copied into every domain
// record that needs it (the "dedupe table"). A domain's record is emitted
// when its last lookup and its last probe are done.
//
// Sans-I/O like the session: DNS goes through dns::Lookup (c-ares on the
// engine's ring in the program, a fake in tests) and probes go out and come
// back through callbacks.
#ifndef SMTPSCAN_SCAN_DOMAIN_SCAN_H_
#define SMTPSCAN_SCAN_DOMAIN_SCAN_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "dns/name.h"
#include "dns/resolver.h"
#include "output/record.h"
#include "scan/address_policy.h"
#include "scan/opt_out.h"
#include "scan/provider.h"
#include "tls/facts.h"

namespace smtpscan::scan {

struct DomainScanOptions {
  std::vector<uint16_t> ports = {25};
  std::vector<uint16_t> implicit_tls_ports = {465};
  output::TlsMode plain_tls_mode = output::TlsMode::kStartTls;
  size_t max_mx = 10;  // MX records used per domain, in preference order
  bool ipv4 = true;    // look up A records (-6 turns it off)
  bool ipv6 = true;    // look up AAAA records (-4 turns it off)
  bool policy = true;  // look up SPF, DMARC, MTA-STS and TLS-RPT records
  // DANE (RFC 7672): look up TLSA of _<port>._tcp.<mx host> for every port
  // that uses TLS, and hand the answer to the probe.
  bool dane = false;
  // MTA-STS (RFC 8461): fetch the policy of a domain whose _mta-sts TXT
  // record is valid (needs `policy` and a fetcher, SetMtaStsFetcher).
  bool mta_sts = false;
  // --opt-out names (opt_out.h): a listed domain is not looked up at all,
  // its record is `blocked`; the probes of an MX host under a listed suffix
  // are `blocked` (its addresses are still looked up and recorded, its TLSA
  // records are not). Null: none. Must outlive the scan.
  const OptOutList* opt_out = nullptr;
  // --per-provider: each probe request carries the group of its MX host's
  // provider (provider.h). Null: every request has group 0. Must outlive
  // the scan.
  ProviderGroups* providers = nullptr;
};

// A probe the planner wants run.
struct ProbeRequest {
  uint64_t id = 0;
  dns::Address address;
  uint16_t port = 0;
  // The MX host name, for SNI and the certificate's name check; empty when
  // the probe does not use TLS.
  std::string server_name;
  // The TLSA lookup of (host, port); null without DANE.
  std::shared_ptr<const tls::DaneResult> dane;
  // The provider of the MX host that first asked for the probe
  // (ProviderGroups::GroupOf), for the engine's per-group limit; 0 without
  // DomainScanOptions::providers.
  uint32_t group = 0;
};

class DomainScan {
 public:
  // Starts a probe; its result must come back through OnProbeResult with
  // the same id, exactly once.
  using SubmitProbe = absl::AnyInvocable<void(const ProbeRequest&)>;
  using EmitRecord = absl::AnyInvocable<void(output::DomainRecord)>;
  // Fetches and parses the MTA-STS policy of a domain; `done` exactly once,
  // never from inside the call.
  using MtaStsDone = absl::AnyInvocable<void(output::MtaStsResult)>;
  using FetchMtaSts =
      absl::AnyInvocable<void(const std::string& domain, MtaStsDone done)>;

  // `lookup` and `policy` must outlive the scan.
  DomainScan(DomainScanOptions options, dns::Lookup* lookup,
             const AddressPolicy* policy, SubmitProbe submit, EmitRecord emit);

  // Needed when options.mta_sts is set.
  void SetMtaStsFetcher(FetchMtaSts fetch) {
    fetch_mta_sts_ = std::move(fetch);
  }

  // Starts work on one input line that is an email domain. A domain on the
  // opt-out list gets its `blocked` record at once, from inside the call.
  void Add(uint64_t line, std::string input, dns::DomainName name);

  // The result of probe `id`: address, port, tls_mode, started_at and the
  // session; `host` is set per domain here.
  void OnProbeResult(uint64_t id, output::ProbeResult result);

  size_t domains_in_progress() const { return domains_.size(); }
  // Probes started (one per distinct address and port) and probe slots
  // filled in domain records: the difference is what sharing saved.
  size_t unique_probes() const { return probes_.size(); }
  uint64_t probe_slots() const { return probe_slots_; }

 private:
  // What a domain waits for.
  struct Domain {
    output::DomainRecord record;
    int lookups = 0;    // DNS answers still to come
    size_t probes = 0;  // probe results still to come
    int fetches = 0;    // MTA-STS policy fetches still to come (they do
                        // not hold up planning, only the record)
    bool planned = false;
    // Per MX host (parallel to record.mx): answers, kept until planning.
    std::vector<std::vector<dns::Address>> v4, v6;
    // Per MX host, when the opt-out list has suffixes: the status_detail of
    // the suffix that covers the host, empty when none does.
    std::vector<std::string> opted_out;
  };
  // One (address, port): probed once, its result shared.
  struct Probe {
    std::unique_ptr<output::ProbeResult> result;  // once done
    struct Waiter {
      uint64_t domain;
      uint32_t index;  // in the domain record's probes
    };
    std::vector<Waiter> waiters;  // domains waiting for the result
    std::shared_ptr<const tls::DaneResult> dane;  // with options.dane
  };
  // Family, 16 address bytes, port, then the server name when TLS is used
  // (it changes the conversation: SNI, name check, DANE).
  using ProbeKey = std::string;
  // One A or AAAA lookup of an MX host, shared by every domain that names
  // the host (a provider's MX serves many domains): asked once per run.
  struct HostLookup {
    bool done = false;
    dns::AddressAnswer answer;
    std::vector<std::pair<uint64_t, size_t>> waiters;  // (domain, MX index)
  };

  void OnMx(uint64_t id, dns::MxAnswer answer);
  void LookUpHost(uint64_t id, size_t index);
  void OnAddresses(uint64_t id, size_t index, int family,
                   dns::AddressAnswer answer);
  void OnTxt(uint64_t id, size_t kind, dns::TxtAnswer answer);
  void LookUpTlsa(uint64_t id, const std::string& host);
  // kImplicit for an implicit-TLS port, else options.plain_tls_mode.
  output::TlsMode TlsModeOf(uint16_t port) const;
  static std::string TlsaName(uint16_t port, const std::string& host);
  void LookupDone(uint64_t id);
  void Plan(uint64_t id, Domain& domain);
  // Finishes the domain once planned with no probe or fetch outstanding.
  void MaybeFinish(uint64_t id);
  void Finish(uint64_t id);

  DomainScanOptions options_;
  dns::Lookup* lookup_;
  const AddressPolicy* policy_;
  SubmitProbe submit_;
  EmitRecord emit_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Domain>> domains_;  // by line
  std::vector<Probe> probes_;                          // by probe id
  absl::flat_hash_map<ProbeKey, uint64_t> probe_ids_;  // dedupe table
  uint64_t probe_slots_ = 0;
  // By family ('4' or '6') and host name.
  absl::flat_hash_map<std::string, HostLookup> hosts_;
  // TLSA lookups by query name, shared like hosts_.
  struct TlsaLookup {
    std::shared_ptr<tls::DaneResult> result;  // set once answered
    std::vector<uint64_t> waiters;            // domains
  };
  absl::flat_hash_map<std::string, TlsaLookup> tlsa_;
  FetchMtaSts fetch_mta_sts_;
};

}  // namespace smtpscan::scan

#endif  // SMTPSCAN_SCAN_DOMAIN_SCAN_H_
