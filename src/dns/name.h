// Email domain names as they appear on input lines and in MX records.
#ifndef SMTPSCAN_DNS_NAME_H_
#define SMTPSCAN_DNS_NAME_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smtpscan::dns {

struct DomainName {
  // A-label form, lower case, no trailing dot: "xn--bcher-kva.example".
  std::string ascii;
  // U-label form ("bücher.example") when the name has an internationalised
  // label; empty when it is the same as `ascii`.
  std::string unicode;
};

// Parses an email domain written by a person: at most one trailing dot,
// any case, U-labels (UTF-8) or A-labels. Labels with non-ASCII characters
// are converted with libidn2 (IDNA2008 with UTS #46 non-transitional
// mapping, so "straße" is "xn--strae-oqa"); A-labels ("xn--...") must
// decode and encode back to themselves (RFC 5891 §5.4); other ASCII labels
// are only lower-cased. The result must be a host name: two or more labels
// of letters, digits and inner hyphens (no '_'), 1..63 octets each, at most
// 253 octets in all, the last not all digits. IP addresses ("192.0.2.1",
// "[192.0.2.1]") are refused, as is input longer than 1024 bytes. An error
// says why in one line of printable ASCII, for an `invalid-input` record;
// never a crash, whatever the bytes.
absl::StatusOr<DomainName> ParseDomainName(absl::string_view text);

// True when `name` (an MX target, trailing dot allowed) is an IPv4 or IPv6
// address literal rather than a name (RFC 5321 §5.1 wants a name; such a
// target is recorded and not connected to): what inet_pton(3) accepts,
// so dotted quads ("127.0.60.10.") and IPv6 text ("2001:db8::1"), without
// brackets or zone.
bool IsAddressLiteral(absl::string_view name);

// Lower case, without one trailing dot: the form used to compare names in
// DNS answers. Does not validate.
std::string CanonicalName(absl::string_view name);

}  // namespace smtpscan::dns

#endif  // SMTPSCAN_DNS_NAME_H_
