#include "scan/domain_scan.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dns/policy.h"
#include "scan/target.h"

namespace smtpscan::scan {
namespace {

constexpr dns::PolicyKind kPolicyKinds[] = {
    dns::PolicyKind::kSpf, dns::PolicyKind::kDmarc, dns::PolicyKind::kMtaSts,
    dns::PolicyKind::kTlsRpt};

std::string StatusText(dns::DnsStatus status) {
  return std::string(dns::DnsStatusName(status));
}

}  // namespace

DomainScan::DomainScan(DomainScanOptions options, dns::Lookup* lookup,
                       const AddressPolicy* policy, SubmitProbe submit,
                       EmitRecord emit)
    : options_(std::move(options)),
      lookup_(lookup),
      policy_(policy),
      submit_(std::move(submit)),
      emit_(std::move(emit)) {}

void DomainScan::Add(uint64_t line, std::string input, dns::DomainName name) {
  auto domain = std::make_unique<Domain>();
  output::DomainRecord& r = domain->record;
  r.line = line;
  r.input = std::move(input);
  r.domain = std::move(name.ascii);
  r.domain_unicode = std::move(name.unicode);
  if (options_.opt_out != nullptr) {
    if (absl::optional<std::string> why =
            options_.opt_out->CheckDomain(r.domain)) {
      // Not resolved at all: no query names the domain.
      r.status = ScanStatus::kBlocked;
      r.status_detail = *std::move(why);
      emit_(std::move(r));
      return;
    }
  }
  domain->lookups =
      1 + (options_.policy ? static_cast<int>(std::size(kPolicyKinds)) : 0);
  const std::string queried = r.domain;
  if (options_.policy) {
    for (dns::PolicyKind kind : kPolicyKinds) {
      output::PolicyResult p;
      p.kind = std::string(dns::PolicyKindName(kind));
      p.name = dns::PolicyQueryName(kind, queried);
      r.policies.push_back(std::move(p));
    }
  }
  domains_[line] = std::move(domain);
  // Lookup callbacks never run inside the Query call (dns::Lookup's
  // contract), so the domain is complete before any answer arrives.
  lookup_->QueryMx(queried, [this, line](dns::MxAnswer answer) {
    OnMx(line, std::move(answer));
  });
  if (options_.policy) {
    for (size_t k = 0; k < std::size(kPolicyKinds); ++k) {
      lookup_->QueryTxt(domains_[line]->record.policies[k].name,
                        [this, line, k](dns::TxtAnswer answer) {
                          OnTxt(line, k, std::move(answer));
                        });
    }
  }
}

void DomainScan::OnMx(uint64_t id, dns::MxAnswer answer) {
  Domain& d = *domains_.at(id);
  output::DomainRecord& r = d.record;
  r.mx_dns_status = StatusText(answer.status);
  r.mx_canonical = std::move(answer.canonical);
  if (answer.status == dns::DnsStatus::kNoError) {
    // RFC 5321 §5.1: lowest preference first; the answer's order means
    // nothing, but equal preferences keep it (a stable sort).
    std::stable_sort(answer.records.begin(), answer.records.end(),
                     [](const dns::MxRecord& a, const dns::MxRecord& b) {
                       return a.preference < b.preference;
                     });
    const bool null_mx =
        answer.records.size() == 1 && answer.records[0].host.empty();
    if (null_mx) {
      r.null_mx = true;  // RFC 7505: no mail; look nothing else up
    } else {
      for (dns::MxRecord& mx : answer.records) {
        // The root: a null MX target. (push_back, not = ".": GCC 12 warns
        // falsely about that assignment, its bug 105329.)
        if (mx.host.empty()) mx.host.push_back('.');
        const bool seen = std::any_of(
            r.mx.begin(), r.mx.end(),
            [&](const output::MxHost& h) { return h.name == mx.host; });
        if (seen) continue;  // the same host at two preferences: once
        if (r.mx.size() == options_.max_mx) {
          ++r.mx_discarded;
          continue;
        }
        output::MxHost host;
        host.preference = mx.preference;
        if (mx.host == ".") {
          host.name = ".";
          host.invalid = "null-mx-among-others";  // RFC 7505 §3
        } else {
          host.name = std::move(mx.host);
          if (dns::IsAddressLiteral(host.name))
            host.invalid = "address-literal";
        }
        r.mx.push_back(std::move(host));
      }
    }
  } else if (answer.status == dns::DnsStatus::kNoData) {
    // RFC 5321 §5.1: no MX records, so the domain itself is the implicit
    // MX, with preference 0.
    r.implicit_mx = true;
    output::MxHost host;
    host.name = r.domain;
    r.mx.push_back(std::move(host));
  }
  d.v4.resize(r.mx.size());
  d.v6.resize(r.mx.size());
  const bool suffixes =
      options_.opt_out != nullptr && options_.opt_out->has_suffixes();
  if (suffixes) d.opted_out.resize(r.mx.size());
  for (size_t i = 0; i < r.mx.size(); ++i) {
    if (!r.mx[i].invalid.empty()) continue;
    if (suffixes) {
      if (auto why = options_.opt_out->CheckHost(r.mx[i].name)) {
        d.opted_out[i] = *std::move(why);
      }
    }
    LookUpHost(id, i);
    // No probe of an opted-out host will use its TLSA records.
    if (options_.dane && (!suffixes || d.opted_out[i].empty())) {
      LookUpTlsa(id, r.mx[i].name);
    }
  }
  LookupDone(id);
}

output::TlsMode DomainScan::TlsModeOf(uint16_t port) const {
  const bool implicit = std::find(options_.implicit_tls_ports.begin(),
                                  options_.implicit_tls_ports.end(),
                                  port) != options_.implicit_tls_ports.end();
  return implicit ? output::TlsMode::kImplicit : options_.plain_tls_mode;
}

std::string DomainScan::TlsaName(uint16_t port, const std::string& host) {
  return absl::StrCat("_", port, "._tcp.", host);
}

// RFC 7672 §2.2.2 looks TLSA up at the MX host name (and, when its address
// records come through a secure CNAME, at the alias's target first; not
// done here: the name the MX record gives is the one asked).
void DomainScan::LookUpTlsa(uint64_t id, const std::string& host) {
  Domain& d = *domains_.at(id);
  for (uint16_t port : options_.ports) {
    if (TlsModeOf(port) == output::TlsMode::kNone) continue;
    std::string name = TlsaName(port, host);
    auto [it, added] = tlsa_.try_emplace(name);
    if (it->second.result != nullptr) continue;  // answered already
    ++d.lookups;
    it->second.waiters.push_back(id);
    if (!added) continue;  // asked already
    lookup_->QueryTlsa(name, [this, name](dns::TlsaAnswer answer) {
      TlsaLookup& t = tlsa_[name];
      auto result = std::make_shared<tls::DaneResult>();
      result->tlsa_name = name;
      result->dns_status = StatusText(answer.status);
      result->authenticated = answer.authenticated;
      result->records = std::move(answer.records);
      result->verdict = tls::InitialDaneVerdict(*result);
      t.result = std::move(result);
      std::vector<uint64_t> waiters;
      waiters.swap(t.waiters);
      for (uint64_t domain : waiters) LookupDone(domain);
    });
  }
}

void DomainScan::LookUpHost(uint64_t id, size_t index) {
  Domain& d = *domains_.at(id);
  const std::string name = d.record.mx[index].name;
  for (int family : {AF_INET, AF_INET6}) {
    if (family == AF_INET ? !options_.ipv4 : !options_.ipv6) continue;
    ++d.lookups;
    std::string key = absl::StrCat(family == AF_INET ? "4" : "6", name);
    auto [it, added] = hosts_.try_emplace(key);
    HostLookup& host = it->second;
    const dns::DnsStatus cached = host.answer.status;
    if (host.done && (cached == dns::DnsStatus::kTimeout ||
                      cached == dns::DnsStatus::kServFail ||
                      cached == dns::DnsStatus::kError)) {
      // A failure that may pass is shared only by the domains that waited
      // for it: a later domain asks again (a burst of lost queries must not
      // cost every later domain of a provider for the rest of the run).
      host.done = false;
      added = true;
    }
    if (host.done) {
      // Answered for an earlier domain. The caller (OnMx) still holds the
      // MX lookup's count, so this cannot complete the domain under it.
      OnAddresses(id, index, family, host.answer);
      continue;
    }
    host.waiters.emplace_back(id, index);
    if (!added) continue;  // asked already; the answer comes to every waiter
    lookup_->QueryAddresses(
        name, family,
        [this, key = std::move(key), family](dns::AddressAnswer answer) {
          HostLookup& h = hosts_[key];
          h.done = true;
          h.answer = std::move(answer);
          std::vector<std::pair<uint64_t, size_t>> waiters;
          waiters.swap(h.waiters);
          // OnAddresses may finish domains; `h` stays valid (no insertion
          // into hosts_ happens below: a domain being finished asks nothing).
          for (const auto& [domain, mx] : waiters) {
            OnAddresses(domain, mx, family, h.answer);
          }
        });
  }
}

void DomainScan::OnAddresses(uint64_t id, size_t index, int family,
                             dns::AddressAnswer answer) {
  Domain& d = *domains_.at(id);
  output::MxHost& host = d.record.mx[index];
  (family == AF_INET ? host.a_status : host.aaaa_status) =
      StatusText(answer.status);
  if (!answer.canonical.empty()) {
    host.via_cname = true;
    host.canonical = std::move(answer.canonical);
  }
  (family == AF_INET ? d.v4 : d.v6)[index] = std::move(answer.addresses);
  LookupDone(id);
}

void DomainScan::OnTxt(uint64_t id, size_t kind, dns::TxtAnswer answer) {
  Domain& d = *domains_.at(id);
  output::PolicyResult& p = d.record.policies[kind];
  p.dns_status = StatusText(answer.status);
  const dns::PolicyRecord parsed =
      dns::ParsePolicy(kPolicyKinds[kind], answer.records);
  p.records = parsed.records;
  p.valid = parsed.valid;
  p.error = parsed.error;
  p.value = parsed.value;
  if (kPolicyKinds[kind] == dns::PolicyKind::kMtaSts && parsed.valid &&
      options_.mta_sts && fetch_mta_sts_) {
    ++d.fetches;
    output::MtaStsResult& m = d.record.mta_sts.emplace();
    m.id = parsed.value;
    fetch_mta_sts_(d.record.domain, [this, id](output::MtaStsResult result) {
      Domain& domain = *domains_.at(id);
      result.id = std::move(domain.record.mta_sts->id);
      domain.record.mta_sts = std::move(result);
      --domain.fetches;
      MaybeFinish(id);
    });
  }
  LookupDone(id);
}

void DomainScan::LookupDone(uint64_t id) {
  Domain& d = *domains_.at(id);
  if (--d.lookups > 0) return;
  Plan(id, d);
}

void DomainScan::Plan(uint64_t id, Domain& d) {
  output::DomainRecord& r = d.record;
  d.planned = true;
  // Held while planning: even if a result came back from inside submit_,
  // the record cannot be finished (and `d` freed) under this loop.
  ++d.probes;
  for (size_t i = 0; i < r.mx.size(); ++i) {
    output::MxHost& host = r.mx[i];
    std::vector<dns::Address> addresses = std::move(d.v4[i]);
    addresses.insert(addresses.end(), d.v6[i].begin(), d.v6[i].end());
    const std::string* opted_out = d.opted_out.empty() || d.opted_out[i].empty()
                                       ? nullptr
                                       : &d.opted_out[i];
    uint32_t group = 0;  // the host's provider, looked up at its first probe
    for (const dns::Address& a : addresses) {
      const std::string text = FormatIpAddress(a.family, a.bytes);
      host.addresses.push_back(text);
      // The host's opt-out comes first: it names what the request was.
      const absl::optional<std::string> blocked =
          opted_out != nullptr ? absl::optional<std::string>(*opted_out)
                               : policy_->Check(a.family, a.bytes);
      for (uint16_t port : options_.ports) {
        const uint32_t index = static_cast<uint32_t>(r.probes.size());
        output::ProbeResult& slot = r.probes.emplace_back();
        slot.address = text;
        slot.port = port;
        slot.host = host.name;
        slot.tls_mode = TlsModeOf(port);
        if (blocked.has_value()) {
          slot.session.status = ScanStatus::kBlocked;
          slot.session.status_detail = *blocked;
          continue;
        }
        ++probe_slots_;
        const bool tls = slot.tls_mode != output::TlsMode::kNone;
        ProbeKey key(19, '\0');
        key[0] = static_cast<char>(a.family);
        std::memcpy(&key[1], a.bytes, 16);
        key[17] = static_cast<char>(port >> 8);
        key[18] = static_cast<char>(port);
        if (tls) key.append(host.name);
        auto [it, added] = probe_ids_.try_emplace(key, probes_.size());
        Probe* probe;
        if (added) {
          probe = &probes_.emplace_back();
          if (tls && options_.dane) {
            auto t = tlsa_.find(TlsaName(port, host.name));
            if (t != tlsa_.end()) probe->dane = t->second.result;
          }
        } else {
          probe = &probes_[it->second];
          if (probe->result != nullptr) {  // done earlier: share it now
            std::string name = std::move(slot.host);
            slot = *probe->result;
            slot.host = std::move(name);
            continue;
          }
        }
        probe->waiters.push_back({id, index});
        ++d.probes;
        if (added) {
          ProbeRequest request;
          request.id = it->second;
          request.address = a;
          request.port = port;
          if (tls) request.server_name = host.name;
          request.dane = probe->dane;
          if (options_.providers != nullptr) {
            if (group == 0) group = options_.providers->GroupOf(host.name);
            request.group = group;
          }
          submit_(request);
        }
      }
    }
    d.v4[i] = {};
    d.v6[i] = {};
  }
  if (--d.probes == 0) MaybeFinish(id);
}

void DomainScan::OnProbeResult(uint64_t id, output::ProbeResult result) {
  if (id >= probes_.size() || probes_[id].result != nullptr) return;
  Probe& probe = probes_[id];
  if (result.dane == nullptr) result.dane = probe.dane;
  probe.result = std::make_unique<output::ProbeResult>(std::move(result));
  std::vector<Probe::Waiter> waiters;
  waiters.swap(probe.waiters);
  for (const Probe::Waiter& w : waiters) {
    auto it = domains_.find(w.domain);
    if (it == domains_.end()) continue;
    Domain& d = *it->second;
    output::ProbeResult& slot = d.record.probes[w.index];
    std::string name = std::move(slot.host);
    slot = *probe.result;
    slot.host = std::move(name);
    if (--d.probes == 0) MaybeFinish(w.domain);
  }
}

void DomainScan::MaybeFinish(uint64_t id) {
  const Domain& d = *domains_.at(id);
  if (d.planned && d.probes == 0 && d.fetches == 0) Finish(id);
}

void DomainScan::Finish(uint64_t id) {
  auto it = domains_.find(id);
  output::DomainRecord r = std::move(it->second->record);
  domains_.erase(it);
  const bool mx_ok =
      r.mx_dns_status == "NOERROR" || r.mx_dns_status == "NODATA";
  if (r.null_mx) {
    r.status = ScanStatus::kNullMx;
  } else if (!mx_ok) {
    r.status = ScanStatus::kDnsError;
    r.status_detail = absl::StrCat("mx ", r.mx_dns_status);
  } else if (r.probes.empty()) {
    r.status = ScanStatus::kDnsError;
    bool any_valid = false;
    for (const output::MxHost& h : r.mx) any_valid |= h.invalid.empty();
    r.status_detail = r.mx.empty()    ? "no mail servers"
                      : !any_valid    ? "no valid mail server names"
                      : r.implicit_mx ? "no mx and no address"
                                      : "no address for any mail server";
  } else if (std::all_of(r.probes.begin(), r.probes.end(),
                         [](const output::ProbeResult& p) {
                           return p.session.status == ScanStatus::kBlocked;
                         })) {
    r.status = ScanStatus::kBlocked;
    r.status_detail = r.probes[0].session.status_detail;
  } else {
    output::ProbeSummary summary = output::SummarizeProbes(r.probes);
    r.status = summary.status;
    r.status_detail = std::move(summary.status_detail);
  }
  emit_(std::move(r));
}

}  // namespace smtpscan::scan
