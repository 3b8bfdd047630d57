// Fuzz target: ParseDomainName, IsAddressLiteral and CanonicalName on
// arbitrary bytes.
//
// Beyond "no crash, no sanitizer report", it checks what a parsed name
// promises: a lower-case LDH host name of two or more labels that parses
// again to itself, with a U-label form that parses back to it; for ASCII
// input, just the input lower-cased without its trailing dot. A refusal
// must give a short reason of printable ASCII.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "dns/name.h"

using smtpscan::dns::CanonicalName;
using smtpscan::dns::DomainName;
using smtpscan::dns::IsAddressLiteral;
using smtpscan::dns::ParseDomainName;

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

namespace {

bool IsAscii(absl::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

void CheckName(const DomainName& name) {
  FUZZ_CHECK(!name.ascii.empty() && name.ascii.size() <= 253);
  const std::vector<absl::string_view> labels = absl::StrSplit(name.ascii, '.');
  FUZZ_CHECK(labels.size() >= 2);
  for (absl::string_view label : labels) {
    FUZZ_CHECK(!label.empty() && label.size() <= 63);
    FUZZ_CHECK(label.front() != '-' && label.back() != '-');
    for (char c : label) {
      FUZZ_CHECK(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-');
    }
  }
  FUZZ_CHECK(name.unicode != name.ascii);
  FUZZ_CHECK(!IsAddressLiteral(name.ascii));
  FUZZ_CHECK(CanonicalName(name.ascii) == name.ascii);

  const absl::StatusOr<DomainName> again = ParseDomainName(name.ascii);
  FUZZ_CHECK(again.ok() && again->ascii == name.ascii &&
             again->unicode == name.unicode);
  if (!name.unicode.empty()) {
    const absl::StatusOr<DomainName> from_unicode =
        ParseDomainName(name.unicode);
    FUZZ_CHECK(from_unicode.ok() && from_unicode->ascii == name.ascii &&
               from_unicode->unicode == name.unicode);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  const absl::StatusOr<DomainName> name = ParseDomainName(input);
  if (name.ok()) {
    CheckName(*name);
    // ASCII input is only lower-cased and checked (A-labels included).
    if (IsAscii(input)) FUZZ_CHECK(name->ascii == CanonicalName(input));
  } else {
    const absl::string_view reason = name.status().message();
    FUZZ_CHECK(!reason.empty() && reason.size() <= 250);
    for (char c : reason) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
  }

  const bool literal = IsAddressLiteral(input);
  if (literal) FUZZ_CHECK(!name.ok());

  const std::string canonical = CanonicalName(input);
  FUZZ_CHECK(canonical.size() == size || canonical.size() + 1 == size);
  return 0;
}
