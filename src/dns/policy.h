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
  // Every TXT record at the name that starts with the kind's version tag
  // ("v=spf1", "v=DMARC1", "v=STSv1", "v=TLSRPTv1"; matched as each RFC
  // says), raw. Other TXT records are ignored.
  std::vector<std::string> records;
  // True when exactly one record matched and it parsed; more than one is an
  // error for every kind (SPF: permerror, RFC 7208 §4.5).
  bool valid = false;
  std::string error;  // why not valid, when records is not empty
  // The few fields that matter, from the one valid record:
  // SPF: the qualifier of the final "all" mechanism: "-all", "~all",
  //      "?all", "+all" (a bare "all" is "+all"); empty when there is none
  //      (a "redirect=" then usually decides).
  // DMARC: the "p=" policy ("none", "quarantine", "reject"), lower case.
  // MTA-STS: the "id=" value.
  // TLS-RPT: the "rua=" value.
  std::string value;
};

// Parses the TXT records found at PolicyQueryName(kind, domain).
PolicyRecord ParsePolicy(PolicyKind kind, absl::Span<const std::string> txt);

}  // namespace smtpscan::dns

#endif  // SMTPSCAN_DNS_POLICY_H_
