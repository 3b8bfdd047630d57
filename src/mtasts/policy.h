// MTA-STS (RFC 8461): the policy file's grammar and MX matching.
//
// Sans-I/O: tls/ or mtasts/fetcher.h gets the bytes, this parses them. A
// policy host is as untrusted as an SMTP server, so the parser takes any
// bytes and answers with a policy or a one-line reason.
#ifndef SMTPSCAN_MTASTS_POLICY_H_
#define SMTPSCAN_MTASTS_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smtpscan::mtasts {

// RFC 8461 §3.2.
struct Policy {
  std::string version;          // "STSv1"
  std::string mode;             // "enforce", "testing" or "none"
  std::vector<std::string> mx;  // patterns as written, lower case:
                                // "mail.example.com", "*.example.net"
  int64_t max_age = -1;         // seconds, 0 .. 31557600

  friend bool operator==(const Policy&, const Policy&) = default;
};

// Parses a policy body (the whole HTTP response body). Fails with a
// one-line reason: a missing or repeated version/mode/max_age, an unknown
// mode, no mx with mode other than "none", a max_age out of range, a line
// without ':'. Unknown keys are ignored (§3.2: "other fields ... MUST be
// ignored"). Lines end in CRLF or LF.
absl::StatusOr<Policy> ParsePolicy(absl::string_view body);

// RFC 8461 §4.1: does MX host `host` (lower case, no trailing dot) match
// `pattern`? A leading "*." matches exactly one leftmost label.
bool MxPatternMatches(absl::string_view pattern, absl::string_view host);

// True when any of the policy's mx patterns matches `host`.
bool PolicyMatchesHost(const Policy& policy, absl::string_view host);

}  // namespace smtpscan::mtasts

#endif  // SMTPSCAN_MTASTS_POLICY_H_
