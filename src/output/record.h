// The output model: what smtpscan writes for each input line.
//
// Every input line yields exactly one record: an AddressRecord (the line was
// an address), a DomainRecord (the line was an email domain) or an
// InvalidInputRecord. Field names in README.md are the writers' names for the
// members here; keep the two in step.
#ifndef SMTPSCAN_OUTPUT_RECORD_H_
#define SMTPSCAN_OUTPUT_RECORD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "fingerprint/fingerprint.h"
#include "scan/scan_status.h"
#include "smtp/session.h"
#include "tls/facts.h"

namespace smtpscan::output {

// How TLS was to be used on the probe.
enum class TlsMode : uint8_t {
  kNone,      // plaintext only (--starttls never)
  kStartTls,  // STARTTLS when offered (ports 25 and 587)
  kImplicit,  // TLS from the first byte (port 465, RFC 8314)
};

absl::string_view TlsModeName(TlsMode mode);  // "none", "starttls", "implicit"

// One conversation with one (address, port).
struct ProbeResult {
  std::string
      address;  // IP literal without brackets: "192.0.2.1", "2001:db8::1"
  uint16_t port = 0;
  // The name this address was reached through (an MX host, or the name given
  // on the input line); empty when there is none.
  std::string host;
  TlsMode tls_mode = TlsMode::kStartTls;
  absl::Time started_at = absl::InfinitePast();  // wall clock at connect
  smtp::SessionResult session;                   // holds the status
  // Present when a TLS handshake was attempted. Shared and immutable: a
  // domain-mode probe's result is copied into every domain that uses it.
  std::shared_ptr<const tls::TlsFacts> tls;
  // The DANE TLSA lookup of (host, port) when it was made (domain mode);
  // when a handshake was attempted, tls->dane has it with the verdict.
  std::shared_ptr<const tls::DaneResult> dane;
  // Which software answered (fingerprint/); null when not identified
  // (no greeting) or identification is off.
  std::shared_ptr<const fingerprint::Identification> fingerprint;
};

// A line that was an address ("192.0.2.1:25,mx.example.com"). A line with a
// port is one probe; a line without one is one probe per port scanned
// (-p 25,465,587), in that order.
struct AddressRecord {
  uint64_t line = 0;    // 1-based line number in the input
  std::string input;    // the line as read (without its line end)
  std::string address;  // IP literal without brackets, as in ProbeResult
  std::string host;     // the name given on the line; empty when none
  // Outcome of the whole line; SummarizeProbes computes it from `probes`.
  ScanStatus status = ScanStatus::kSuccess;
  std::string status_detail;
  std::vector<ProbeResult> probes;
};

// "192.0.2.25:25" or "[2001:db8::25]:25", with "mx.example.com@" in front
// when the probe uses TLS and has a host name (a probe per name then): how
// split-layout records refer to a probe.
std::string ProbeKey(const ProbeResult& probe);

// A record's outcome as its probes imply it.
struct ProbeSummary {
  ScanStatus status = ScanStatus::kSuccess;
  std::string status_detail;  // empty for kSuccess
};

// kSuccess (with no detail) if any probe succeeded; otherwise the first
// probe's status and detail. With no probes it returns kSuccess: what a
// record without probes means (blocked, unresolvable) is the caller's
// business.
ProbeSummary SummarizeProbes(absl::Span<const ProbeResult> probes);

// One mail server of a domain and what DNS said about it.
struct MxHost {
  std::string name;  // lower case, no trailing dot; "." for a null MX target
  uint16_t preference = 0;
  // Of its A and AAAA lookups: "NOERROR", "NODATA", "NXDOMAIN", "SERVFAIL",
  // "REFUSED", "TIMEOUT", "ERROR"; empty when not looked up (-4/-6, or the
  // host is invalid).
  std::string a_status;
  std::string aaaa_status;
  std::vector<std::string> addresses;  // IPv4 first, each in answer order
  bool via_cname = false;  // the name was an alias (RFC 5321 §5.1 frowns on it)
  std::string canonical;   // what the alias led to, when via_cname
  // Whether the domain's MTA-STS policy lists the host (RFC 8461 §4.1);
  // unset without a policy.
  absl::optional<bool> mta_sts_match;
  // Why the host was not looked up: "address-literal" (an MX target
  // written as an IP address, RFC 5321 §5.1), "null-mx-among-others" (a
  // "." target next to other MX records, RFC 7505 §3). Empty when valid.
  std::string invalid;
};

// A mail policy TXT record of a domain (dns/policy.h).
struct PolicyResult {
  std::string kind;        // "spf", "dmarc", "mta_sts", "tls_rpt"
  std::string name;        // the name queried, e.g. "_dmarc.example.com"
  std::string dns_status;  // of the TXT lookup
  std::vector<std::string> records;  // those with the kind's version tag
  bool valid = false;
  std::string error;
  std::string value;  // SPF's final all, DMARC p=, MTA-STS id, TLS-RPT rua
};

// The domain's MTA-STS policy (RFC 8461), fetched when its _mta-sts TXT
// record is valid.
struct MtaStsResult {
  std::string id;  // of the TXT record
  std::string url;
  // mtasts::FetchResult's status: "ok", "dns-error", "connect-error",
  // "tls-error", "timeout", "http-error", "redirect", "bad-content-type",
  // "too-large", "error".
  std::string fetch_status;
  int http_status = 0;
  std::string fetch_error;
  absl::Duration took = absl::ZeroDuration();
  bool valid = false;        // fetched and parsed
  std::string policy_error;  // why the body is not a policy
  std::string version;
  std::string mode;             // "enforce", "testing", "none"
  std::vector<std::string> mx;  // patterns
  int64_t max_age = -1;
};

// A line that was an email domain.
struct DomainRecord {
  uint64_t line = 0;
  std::string input;
  std::string domain;          // A-label form, lower case, no trailing dot
  std::string domain_unicode;  // U-label form, when it differs from `domain`
  ScanStatus status = ScanStatus::kSuccess;
  std::string status_detail;
  std::string mx_dns_status;  // of the MX lookup: "NOERROR", "NXDOMAIN", ...
  // The name the MX records belong to when the domain is an alias (CNAME).
  std::string mx_canonical;
  bool null_mx = false;       // "MX 0 ." (RFC 7505): accepts no mail
  bool implicit_mx = false;   // no MX records: the domain's own addresses
  std::vector<MxHost> mx;     // in preference order (stable for equal ones)
  uint32_t mx_discarded = 0;  // MX records beyond --max-mx, not used
  std::vector<PolicyResult> policies;    // empty with --no-policy
  absl::optional<MtaStsResult> mta_sts;  // set when a fetch was made
  // One per (MX host, address, port), in MX preference order, then address
  // order, then port order.
  std::vector<ProbeResult> probes;
};

// A line that could not be parsed.
struct InvalidInputRecord {
  uint64_t line = 0;
  std::string input;
  std::string reason;  // one line, for a human
};

}  // namespace smtpscan::output

#endif  // SMTPSCAN_OUTPUT_RECORD_H_
