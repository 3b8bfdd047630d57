#include "mtasts/policy.h"

#include <cstddef>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

// Where RFC 8461 §3.2 is loose or strict, what this parser chose:
//
// - Its ABNF (RFC 7405 notation) spells every key and the values "STSv1",
//   "enforce", "testing" and "none" as %s"...": case-sensitive. So is this
//   parser: "Mode: enforce" is an unknown key, and the policy then lacks a
//   mode (the error says so and names the key that differs only in case).
// - sts-policy-field-delim is ":" *WSP and a field is followed by *WSP, so
//   blanks after the colon and at the end of a line are part of the grammar.
//   Blanks before the key or the colon are not; they are accepted anyway
//   (most implementations trim), as are blank lines: neither changes what
//   the policy says.
// - Fields come in any order: the ABNF has no "version first" rule (unlike
//   the TXT record of §3.1).
// - version, mode and max_age: "required once" in the ABNF's comments. A
//   repeat is an error. (An early draft let the first one win; the RFC's
//   prose says nothing of repeats.)
// - max_age is 1*10DIGIT and at most 31557600; leading zeros are digits.
// - mx is ["*."] Domain (RFC 5321: letters, digits and inner hyphens per
//   label), here also at most 63 octets per label and 253 in all; stored in
//   lower case. A bad mx value is an error, not a skipped line: the grammar
//   leaves no room for it.
// - Unknown keys are ignored whatever their form (§3.2: "unknown fields
//   SHALL be ignored"), as long as the line has a key and a ':'.
// - Control characters other than HT (and the CR of a CRLF) make the policy
//   invalid wherever they are: sts-policy-vchar has none.
namespace smtpscan::mtasts {
namespace {

constexpr int64_t kMaxAgeLimit = 31557600;  // §3.2: a year of 365.25 days
constexpr size_t kMaxQuoted = 40;           // characters of a value in an error

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

absl::string_view TrimWsp(absl::string_view s) {
  while (!s.empty() && IsWsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWsp(s.back())) s.remove_suffix(1);
  return s;
}

// `value` for an error message: escaped, printable, at most about
// kMaxQuoted characters however many bytes need escaping.
std::string Quote(absl::string_view value) {
  std::string out = "'";
  size_t i = 0;
  for (; i < value.size() && out.size() <= kMaxQuoted; ++i) {
    out += absl::CHexEscape(value.substr(i, 1));
  }
  out += i < value.size() ? "...'" : "'";
  return out;
}

absl::Status LineError(size_t line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

// RFC 5321 Domain: sub-domain *("." sub-domain), sub-domain = Let-dig
// [Ldh-str]; plus DNS's length limits.
bool IsDomain(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  char prev = '.';
  for (char c : name) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else if (absl::ascii_isalnum(c) || (c == '-' && label > 0)) {
      if (++label > 63) return false;
    } else {
      return false;
    }
    prev = c;
  }
  return label > 0 && prev != '-';
}

bool IsMxPattern(absl::string_view value) {
  if (absl::StartsWith(value, "*.")) value.remove_prefix(2);
  return IsDomain(value);
}

// 1*10DIGIT within 0..kMaxAgeLimit.
std::optional<int64_t> ParseMaxAge(absl::string_view value) {
  if (value.empty() || value.size() > 10) return std::nullopt;
  int64_t n = 0;
  for (char c : value) {
    if (!absl::ascii_isdigit(c)) return std::nullopt;
    n = n * 10 + (c - '0');  // at most 9,999,999,999: no overflow
  }
  if (n > kMaxAgeLimit) return std::nullopt;
  return n;
}

// What the body said about one required field.
struct Seen {
  size_t line = 0;         // where it was first set; 0: never
  std::string wrong_case;  // a key equal to it but for case, if any
};

absl::string_view StripOneDot(absl::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return s;
}

}  // namespace

absl::StatusOr<Policy> ParsePolicy(absl::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == absl::string_view::npos) {
    return absl::InvalidArgumentError("empty policy");
  }
  Policy policy;
  Seen version, mode, max_age, mx;
  size_t number = 0;
  while (!body.empty()) {
    ++number;
    const size_t lf = body.find('\n');
    absl::string_view line = body.substr(0, lf);
    body.remove_prefix(lf == absl::string_view::npos ? body.size() : lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    for (char c : line) {
      const unsigned char u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) {
        return LineError(number, absl::StrCat("control character ",
                                              Quote(absl::string_view(&c, 1))));
      }
    }
    if (TrimWsp(line).empty()) continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return LineError(number, absl::StrCat("no ':' in ", Quote(line)));
    }
    const absl::string_view key = TrimWsp(line.substr(0, colon));
    const absl::string_view value = TrimWsp(line.substr(colon + 1));
    if (key.empty()) {
      return LineError(number,
                       absl::StrCat("no key before ':' in ", Quote(line)));
    }
    Seen* field = nullptr;
    if (key == "version") {
      field = &version;
      if (value != "STSv1") {
        return LineError(number,
                         absl::StrCat("unsupported version ", Quote(value)));
      }
      policy.version = std::string(value);
    } else if (key == "mode") {
      field = &mode;
      if (value != "enforce" && value != "testing" && value != "none") {
        return LineError(number, absl::StrCat("unknown mode ", Quote(value)));
      }
      policy.mode = std::string(value);
    } else if (key == "max_age") {
      field = &max_age;
      const std::optional<int64_t> seconds = ParseMaxAge(value);
      if (!seconds.has_value()) {
        return LineError(number,
                         absl::StrCat("max_age ", Quote(value),
                                      " is not a number of 0 to 31557600"));
      }
      policy.max_age = *seconds;
    } else if (key == "mx") {
      if (!IsMxPattern(value)) {
        return LineError(number,
                         absl::StrCat("mx ", Quote(value),
                                      " is not a host name or *.domain"));
      }
      policy.mx.push_back(absl::AsciiStrToLower(value));
      if (mx.line == 0) mx.line = number;
      continue;
    } else {
      // Unknown: ignored, but remembered when it is a known key in the
      // wrong case, to explain the "missing" error that follows.
      for (auto [name, seen] :
           {std::pair{"version", &version}, std::pair{"mode", &mode},
            std::pair{"max_age", &max_age}, std::pair{"mx", &mx}}) {
        if (seen->wrong_case.empty() && absl::EqualsIgnoreCase(key, name)) {
          seen->wrong_case = std::string(key);
        }
      }
      continue;
    }
    if (field->line != 0) {
      return LineError(
          number,
          absl::StrCat("repeated ", key, " (first on line ", field->line, ")"));
    }
    field->line = number;
  }
  auto missing = [](absl::string_view name, const Seen& seen) {
    std::string why = absl::StrCat("no ", name, " field");
    if (!seen.wrong_case.empty()) {
      absl::StrAppend(&why, " (found ", Quote(seen.wrong_case),
                      ": keys are case-sensitive)");
    }
    return absl::InvalidArgumentError(why);
  };
  if (version.line == 0) return missing("version", version);
  if (mode.line == 0) return missing("mode", mode);
  if (max_age.line == 0) return missing("max_age", max_age);
  if (mx.line == 0 && policy.mode != "none") return missing("mx", mx);
  return policy;
}

bool MxPatternMatches(absl::string_view pattern, absl::string_view host) {
  pattern = StripOneDot(pattern);
  host = StripOneDot(host);
  if (host.empty() || pattern.empty()) return false;
  if (!absl::StartsWith(pattern, "*.")) {
    return absl::EqualsIgnoreCase(pattern, host);
  }
  // §4.1: "*.example.com" stands for exactly one label left of
  // "example.com": it matches "mx.example.com", not "example.com" and not
  // "a.b.example.com".
  const absl::string_view suffix = pattern.substr(1);  // ".example.com"
  if (suffix.size() < 2 || host.size() <= suffix.size()) return false;
  const absl::string_view label = host.substr(0, host.size() - suffix.size());
  return label.find('.') == absl::string_view::npos &&
         absl::EqualsIgnoreCase(host.substr(label.size()), suffix);
}

bool PolicyMatchesHost(const Policy& policy, absl::string_view host) {
  for (const std::string& pattern : policy.mx) {
    if (MxPatternMatches(pattern, host)) return true;
  }
  return false;
}

}  // namespace smtpscan::mtasts
