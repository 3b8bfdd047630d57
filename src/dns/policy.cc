// Placeholder until the parser lands (same change set).
#include "dns/policy.h"

#include "absl/strings/str_cat.h"

namespace smtpscan::dns {

absl::string_view PolicyKindName(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kSpf: return "spf";
    case PolicyKind::kDmarc: return "dmarc";
    case PolicyKind::kMtaSts: return "mta_sts";
    case PolicyKind::kTlsRpt: return "tls_rpt";
  }
  return "unknown";
}

std::string PolicyQueryName(PolicyKind kind, absl::string_view domain) {
  switch (kind) {
    case PolicyKind::kSpf: return std::string(domain);
    case PolicyKind::kDmarc: return absl::StrCat("_dmarc.", domain);
    case PolicyKind::kMtaSts: return absl::StrCat("_mta-sts.", domain);
    case PolicyKind::kTlsRpt: return absl::StrCat("_smtp._tls.", domain);
  }
  return std::string(domain);
}

PolicyRecord ParsePolicy(PolicyKind, absl::Span<const std::string> txt) {
  PolicyRecord r;
  r.records.assign(txt.begin(), txt.end());
  return r;
}

}  // namespace smtpscan::dns
