#include "dns/name.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "dns/quote.h"

namespace smtpscan::dns {
namespace {

constexpr size_t kMaxNameBytes = 253;  // RFC 1035 §2.3.4, without the root
constexpr size_t kMaxLabelBytes = 63;  // RFC 1035 §2.3.4
// Input is cut off here before libidn2 sees it, so that a megabyte line
// costs nothing and punycode's quadratic worst case stays small. A valid
// name's U-label form can be several times longer than its A-label form
// (four-byte UTF-8 code points, full-width letters that map to ASCII), so
// the cap is generous; nothing longer can map to 253 octets in practice.
constexpr size_t kMaxInputBytes = 1024;
// Longer text is no address: INET6_ADDRSTRLEN is the longest IPv6 text form
// ("ffff:...:255.255.255.255") with its NUL.
constexpr size_t kMaxAddressLiteralBytes = INET6_ADDRSTRLEN - 1;

// UTS #46 non-transitional processing: "ß" stays "ß" (xn--zca), as IDNA2008
// and today's browsers and registries have it, instead of becoming "ss".
constexpr int kIdnaFlags = IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL;

// Frees a string that libidn2 allocated.
struct Idn2Deleter {
  void operator()(char* p) const { idn2_free(p); }
};
using Idn2String = std::unique_ptr<char, Idn2Deleter>;

bool IsAscii(absl::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

bool IsLdh(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-';
}

// "xn--" in any case: the ACE prefix of an A-label (RFC 5890 §2.3.2.1).
bool HasAcePrefix(absl::string_view label) {
  return absl::StartsWithIgnoreCase(label, "xn--");
}

// A short reason for a libidn2 error code. Our own words rather than
// idn2_strerror(), whose text goes through gettext and so depends on the
// locale.
absl::string_view Idn2Reason(int rc) {
  switch (rc) {
    case IDN2_ENCODING_ERROR:
      return "invalid UTF-8";
    case IDN2_PUNYCODE_BAD_INPUT:
    case IDN2_PUNYCODE_OVERFLOW:
      return "invalid punycode";
    // libidn2 encodes into a 63-octet buffer, so a U-label too long for
    // the DNS fails as "big output" rather than as IDN2_TOO_BIG_LABEL.
    case IDN2_PUNYCODE_BIG_OUTPUT:
    case IDN2_TOO_BIG_LABEL:
      return "label longer than 63 octets";
    case IDN2_TOO_BIG_DOMAIN:
      return "name longer than 253 octets";
    case IDN2_NFC:
    case IDN2_NOT_NFC:
      return "not in Unicode NFC form";
    case IDN2_2HYPHEN:
      return "'--' in the third and fourth positions";
    case IDN2_HYPHEN_STARTEND:
      return "starts or ends with '-'";
    case IDN2_LEADING_COMBINING:
      return "starts with a combining mark";
    case IDN2_DISALLOWED:
    case IDN2_INVALID_TRANSITIONAL:
    case IDN2_INVALID_NONTRANSITIONAL:
    case IDN2_DOT_IN_LABEL:
      return "character not allowed in IDNA2008";
    case IDN2_CONTEXTJ:
    case IDN2_CONTEXTJ_NO_RULE:
    case IDN2_CONTEXTO:
    case IDN2_CONTEXTO_NO_RULE:
      return "joiner or context-dependent character out of place";
    case IDN2_UNASSIGNED:
      return "unassigned code point";
    case IDN2_BIDI:
      return "mixes text directions (RFC 5893)";
    case IDN2_INVALID_ALABEL:
    case IDN2_UALABEL_MISMATCH:
    case IDN2_ALABEL_ROUNDTRIP_FAILED:
      return "invalid A-label";
    case IDN2_MALLOC:
      return "out of memory";
  }
  return "rejected by libidn2";
}

absl::Status IdnaError(absl::string_view label, int rc) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid label ", Quote(label), ": ", Idn2Reason(rc)));
}

// One input label that needs IDNA (non-ASCII, or an A-label) in A-label
// form. The result may hold dots: UTS #46 maps U+3002 IDEOGRAPHIC FULL STOP
// and its kin to '.'. Non-ASCII labels are converted one by one, not as a
// whole name, so that an all-ASCII label never meets libidn2's IDNA checks
// (see ParseDomainName).
// REQUIRES: `label` holds no NUL and is at most kMaxInputBytes long.
absl::StatusOr<std::string> LabelToAscii(absl::string_view label) {
  // An A-label's length is its length in the DNS; libidn2 would call a long
  // one "invalid punycode".
  if (HasAcePrefix(label) && label.size() > kMaxLabelBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "label longer than ", kMaxLabelBytes, " octets: ", Quote(label)));
  }
  const std::string input(label);  // idn2_to_ascii_8z wants a C string
  char* raw = nullptr;
  const int rc = idn2_to_ascii_8z(input.c_str(), &raw, kIdnaFlags);
  const Idn2String output(raw);
  if (rc != IDN2_OK) return IdnaError(label, rc);
  // UTS #46 ignores some characters (U+00AD SOFT HYPHEN, variation
  // selectors), so a label of only those becomes nothing, which libidn2
  // returns without complaint.
  if (*output == '\0') {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid label ", Quote(label), ": maps to nothing"));
  }
  // UTS #46 mapping lower-cases; an A-label's ASCII letters, which punycode
  // carries as they are, are lower-cased here too, as DNS ignores their case.
  return absl::AsciiStrToLower(output.get());
}

// The U-label for a lower-case A-label, which must survive the round trip
// of RFC 5891 §5.4: decoded, then encoded again, it gives the same A-label.
// idn2_to_unicode_8z8z only decodes punycode (it turns "xn--ls8h" into an
// emoji without complaint), so the encoding back is the real check. Nor is
// idn2_to_ascii_8z's own A-label check enough: it passes
// "xn--bcher-kvaxn--xn--bcher-kva", whose U-label holds U+00A0 NO-BREAK
// SPACE, which UTS #46 maps to an ASCII space.
absl::StatusOr<std::string> ALabelToUnicode(const std::string& a_label) {
  char* raw_unicode = nullptr;
  int rc = idn2_to_unicode_8z8z(a_label.c_str(), &raw_unicode, 0);
  const Idn2String unicode(raw_unicode);
  if (rc != IDN2_OK) return IdnaError(a_label, rc);
  char* raw_back = nullptr;
  rc = idn2_to_ascii_8z(unicode.get(), &raw_back, kIdnaFlags);
  const Idn2String back(raw_back);
  if (rc != IDN2_OK) return IdnaError(a_label, rc);
  if (a_label != back.get()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid label ", Quote(a_label),
                     ": A-label does not round-trip (RFC 5891 5.4)"));
  }
  return std::string(unicode.get());
}

// Host name rules on one label of the A-label form.
absl::Status CheckLabel(absl::string_view label) {
  if (label.empty()) return absl::InvalidArgumentError("empty label");
  if (label.size() > kMaxLabelBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "label longer than ", kMaxLabelBytes, " octets: ", Quote(label)));
  }
  for (char c : label) {
    if (!IsLdh(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid character ", Quote(absl::string_view(&c, 1)),
                       " in label ", Quote(label)));
    }
  }
  if (label.front() == '-' || label.back() == '-') {
    return absl::InvalidArgumentError(
        absl::StrCat("label ", Quote(label), " starts or ends with '-'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DomainName> ParseDomainName(absl::string_view text) {
  if (text.size() > kMaxInputBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("domain name longer than ", kMaxInputBytes, " bytes"));
  }
  // Checked first: libidn2 takes C strings, so a NUL would silently cut
  // the name short.
  if (absl::StrContains(text, '\0')) {
    return absl::InvalidArgumentError("NUL byte in domain name");
  }
  absl::string_view name = text;
  const bool had_dot = absl::ConsumeSuffix(&name, ".");
  if (name.empty()) {
    return absl::InvalidArgumentError(
        had_dot ? "root name '.' is not a domain name" : "empty domain name");
  }
  if (name.front() == '.') {
    return absl::InvalidArgumentError(
        absl::StrCat("domain name starts with '.': ", Quote(text)));
  }
  if (IsAddressLiteral(text)) {
    return absl::InvalidArgumentError(
        absl::StrCat("IP address ", Quote(text), ", not a domain name"));
  }
  if (name.front() == '[') {
    return absl::InvalidArgumentError(
        absl::StrCat("address literal ", Quote(text), ", not a domain name"));
  }

  // An all-ASCII label other than an A-label is only lower-cased: UTS #46
  // maps ASCII to itself except for case, and libidn2 would refuse
  // reserved labels such as "r3---sn-4g5e" ('-' in positions 3 and 4,
  // RFC 5891 §4.2.3.1), which are fine host names that exist in the DNS.
  std::string ascii;
  ascii.reserve(name.size());
  bool first = true;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty label in ", Quote(text)));
    }
    if (!first) ascii.push_back('.');
    first = false;
    if (IsAscii(label) && !HasAcePrefix(label)) {
      absl::StrAppend(&ascii, absl::AsciiStrToLower(label));
    } else {
      absl::StatusOr<std::string> converted = LabelToAscii(label);
      if (!converted.ok()) return converted.status();
      absl::StrAppend(&ascii, *converted);
    }
  }
  // "example.com\u3002" (ideographic full stop) maps to "example.com.":
  // its final dot is the root's, like an ASCII one.
  if (!had_dot && absl::EndsWith(ascii, ".")) ascii.pop_back();

  std::vector<std::string> labels = absl::StrSplit(ascii, '.');
  bool has_a_label = false;
  std::vector<std::string> unicode_labels;
  unicode_labels.reserve(labels.size());
  for (const std::string& label : labels) {
    if (absl::Status status = CheckLabel(label); !status.ok()) {
      return status;
    }
    if (HasAcePrefix(label)) {
      absl::StatusOr<std::string> unicode = ALabelToUnicode(label);
      if (!unicode.ok()) return unicode.status();
      unicode_labels.push_back(*std::move(unicode));
      has_a_label = true;
    } else {
      unicode_labels.push_back(label);
    }
  }
  if (ascii.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "domain name longer than ", kMaxNameBytes, " octets: ", Quote(ascii)));
  }
  if (labels.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("single label ", Quote(ascii), ", not a domain name"));
  }
  // No top-level domain is all digits (RFC 3696 §2), and such a name is
  // usually a mistyped or mapped address: "1.2.3", "10.0.0.256", or
  // full-width "１９２.０.２.１", which UTS #46 maps to 192.0.2.1.
  const std::string& top = labels.back();
  if (std::all_of(top.begin(), top.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    return absl::InvalidArgumentError(
        absl::StrCat("all-numeric top-level label in ", Quote(ascii),
                     ", not a domain name"));
  }

  DomainName result;
  if (has_a_label) result.unicode = absl::StrJoin(unicode_labels, ".");
  result.ascii = std::move(ascii);
  if (result.unicode == result.ascii) result.unicode.clear();
  return result;
}

bool IsAddressLiteral(absl::string_view name) {
  absl::ConsumeSuffix(&name, ".");
  if (name.empty() || name.size() > kMaxAddressLiteralBytes) return false;
  // inet_pton reads a C string: a NUL inside would hide what follows it.
  if (absl::StrContains(name, '\0')) return false;
  const std::string text(name);
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

std::string CanonicalName(absl::string_view name) {
  absl::ConsumeSuffix(&name, ".");
  return absl::AsciiStrToLower(name);
}

}  // namespace smtpscan::dns
