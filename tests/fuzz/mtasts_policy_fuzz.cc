// Fuzz target: mtasts::ParsePolicy on arbitrary bodies, and the MX matcher.
//
// The whole input is a policy body. Checks the parse's promises: a policy
// has version STSv1, a known mode, max_age in range and mx patterns of the
// documented form (lower case, at least one unless mode is none); an error
// is one short printable line; LF and CRLF line ends give the same outcome.
// The input split at its first LF is also a (pattern, host) pair for
// MxPatternMatches, checked against a reference written differently
// (label by label) and for case-insensitivity.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "mtasts/policy.h"

using smtpscan::mtasts::MxPatternMatches;
using smtpscan::mtasts::ParsePolicy;
using smtpscan::mtasts::Policy;
using smtpscan::mtasts::PolicyMatchesHost;

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

namespace {

// Every LF not already after a CR becomes CRLF.
std::string ToCrlf(absl::string_view body) {
  std::string out;
  out.reserve(body.size() * 2);
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) out += '\r';
    out += body[i];
  }
  return out;
}

// §4.1 again, another way: the host's first label is dropped and the rest
// compared to what follows "*.".
bool ReferenceMatch(std::string pattern, std::string host) {
  if (!pattern.empty() && pattern.back() == '.') pattern.pop_back();
  if (!host.empty() && host.back() == '.') host.pop_back();
  absl::AsciiStrToLower(&pattern);
  absl::AsciiStrToLower(&host);
  if (pattern.empty() || host.empty()) return false;
  if (pattern.size() < 2 || pattern[0] != '*' || pattern[1] != '.') {
    return pattern == host;
  }
  const std::string rest = pattern.substr(2);
  const size_t dot = host.find('.');
  if (rest.empty() || dot == 0 || dot == std::string::npos) return false;
  return host.substr(dot + 1) == rest;
}

void CheckPolicy(const Policy& p) {
  FUZZ_CHECK(p.version == "STSv1");
  FUZZ_CHECK(p.mode == "enforce" || p.mode == "testing" || p.mode == "none");
  FUZZ_CHECK(p.max_age >= 0 && p.max_age <= 31557600);
  FUZZ_CHECK(!p.mx.empty() || p.mode == "none");
  for (const std::string& mx : p.mx) {
    FUZZ_CHECK(!mx.empty() && mx.size() <= 255);
    FUZZ_CHECK(mx.back() != '.' && mx.front() != '.');
    for (size_t i = 0; i < mx.size(); ++i) {
      const char c = mx[i];
      FUZZ_CHECK(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' ||
                 c == '.' || (c == '*' && i == 0));
    }
    if (absl::StartsWith(mx, "*.")) {
      const std::string base = mx.substr(2);
      FUZZ_CHECK(MxPatternMatches(mx, "x." + base));
      FUZZ_CHECK(MxPatternMatches(mx, absl::AsciiStrToUpper("x." + base)));
      FUZZ_CHECK(!MxPatternMatches(mx, base));
      FUZZ_CHECK(!MxPatternMatches(mx, "a.b." + base));
      FUZZ_CHECK(PolicyMatchesHost(p, "x." + base));
    } else {
      FUZZ_CHECK(MxPatternMatches(mx, mx));
      FUZZ_CHECK(MxPatternMatches(mx, absl::AsciiStrToUpper(mx)));
      FUZZ_CHECK(PolicyMatchesHost(p, mx));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);

  const absl::StatusOr<Policy> p = ParsePolicy(body);
  if (p.ok()) {
    CheckPolicy(*p);
  } else {
    const absl::string_view error = p.status().message();
    FUZZ_CHECK(!error.empty() && error.size() <= 200);
    for (char c : error) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
  }

  const absl::StatusOr<Policy> crlf = ParsePolicy(ToCrlf(body));
  FUZZ_CHECK(crlf.ok() == p.ok());
  if (p.ok()) {
    FUZZ_CHECK(*crlf == *p);
  } else {
    FUZZ_CHECK(crlf.status() == p.status());
  }

  const size_t lf = body.find('\n');
  const absl::string_view pattern = body.substr(0, lf);
  const absl::string_view host =
      lf == absl::string_view::npos ? absl::string_view() : body.substr(lf + 1);
  const bool match = MxPatternMatches(pattern, host);
  FUZZ_CHECK(match == ReferenceMatch(std::string(pattern), std::string(host)));
  FUZZ_CHECK(match == MxPatternMatches(absl::AsciiStrToUpper(pattern),
                                       absl::AsciiStrToLower(host)));
  return 0;
}
