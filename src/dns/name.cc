// Placeholder until the libidn2 implementation lands (same change set).
#include "dns/name.h"

#include "absl/strings/ascii.h"

namespace smtpscan::dns {

absl::StatusOr<DomainName> ParseDomainName(absl::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty()) return absl::InvalidArgumentError("empty domain");
  return DomainName{absl::AsciiStrToLower(text), ""};
}

bool IsAddressLiteral(absl::string_view name) {
  return !name.empty() &&
         name.find_first_not_of("0123456789.:abcdefABCDEF") ==
             absl::string_view::npos &&
         (name.find(':') != absl::string_view::npos ||
          name.find_first_not_of("0123456789.") == absl::string_view::npos);
}

std::string CanonicalName(absl::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return absl::AsciiStrToLower(name);
}

}  // namespace smtpscan::dns
