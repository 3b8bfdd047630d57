// Mail policy TXT records found next to a domain: SPF (RFC 7208), DMARC
// (RFC 7489), MTA-STS (RFC 8461 §3.1) and TLS-RPT (RFC 8460 §3). Pure
// parsing: the caller looks the TXT records up and passes their text, each
// record's strings already joined.
#ifndef SMTPSCAN_DNS_POLICY_H_
#define SMTPSCAN_DNS_POLICY_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace smtpscan::dns {

enum class PolicyKind { kSpf, kDmarc, kMtaSts, kTlsRpt };

// "spf", "dmarc", "mta_sts", "tls_rpt": the output's key for each kind.
absl::string_view PolicyKindName(PolicyKind kind);

// The name to query TXT at for `domain` (A-label, no trailing dot):
// the domain itself for SPF, "_dmarc.<domain>", "_mta-sts.<domain>",
// "_smtp._tls.<domain>".
std::string PolicyQueryName(PolicyKind kind, absl::string_view domain);

// What the TXT records at one name say about one kind of policy.
struct PolicyRecord {
  // Every TXT record at the name that starts with the kind's version tag,
  // raw, in the order given. Other TXT records are ignored. Matched as each
  // RFC says:
  // SPF: "v=spf1" alone or followed by a space, any case (RFC 7208 §4.5),
  //      so "v=spf10" is not SPF.
  // DMARC: "v", optional whitespace, "=", optional whitespace, "DMARC1"
  //      (case-sensitive), then optional whitespace and ';' or the end
  //      (RFC 7489 §6.4); the bare version is taken so that it is reported
  //      as lacking p=.
  // MTA-STS, TLS-RPT: "v=STSv1" / "v=TLSRPTv1" (case-sensitive), then
  //      optional whitespace and ';' or the end (RFC 8461 §3.1, RFC 8460 §3).
  std::vector<std::string> records;
  // True when exactly one record matched and it parsed; more than one is an
  // error for every kind (SPF: permerror, RFC 7208 §4.5).
  bool valid = false;
  // Why not valid, in one line, when records is not empty ("multiple SPF
  // records (2)", "missing p= tag"); empty when valid or no record matched.
  std::string error;
  // The few fields that matter, from the one valid record:
  // SPF: the qualifier of the first "all" mechanism, the only one
  //      evaluation can reach (RFC 7208 §5.1): "-all", "~all", "?all",
  //      "+all" (a bare "all" is "+all"), lower case; empty when there is
  //      none (a "redirect=" then usually decides). Any single SPF record
  //      is valid.
  // DMARC: the "p=" policy ("none", "quarantine", "reject"), lower case;
  //      required.
  // MTA-STS: the "id=" value, 1 to 32 letters and digits; required.
  // TLS-RPT: the "rua=" value as written (one or more comma-separated
  //      "mailto:" or "https:" URIs); required.
  std::string value;
};

// Parses the TXT records found at PolicyQueryName(kind, domain).
PolicyRecord ParsePolicy(PolicyKind kind, absl::Span<const std::string> txt);

}  // namespace smtpscan::dns

#endif  // SMTPSCAN_DNS_POLICY_H_
