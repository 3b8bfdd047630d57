// ScanStatus: the one outcome enum of smtpscan.
//
// Every record (a domain, an address target, or one probe inside a domain
// record) carries exactly one ScanStatus. Outcomes are data, not errors: a
// refused connection or a 554 greeting is a result to record, not a failure of
// the tool.
//
// The string of each value is part of the output format. Values may be added;
// none may be removed or renamed once released. README.md documents each one.
#ifndef SMTPSCAN_SCAN_SCAN_STATUS_H_
#define SMTPSCAN_SCAN_SCAN_STATUS_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace smtpscan {

enum class ScanStatus : uint8_t {
  kSuccess,            // the conversation completed (greeting, EHLO/HELO, QUIT)
  kConnectionRefused,  // TCP RST in answer to SYN
  kConnectionTimeout,  // no answer to SYN before the connect deadline
  kConnectionReset,    // RST after the connection was established
  kUnreachable,        // ICMP unreachable, no route, network down
  kGreetingTimeout,   // connected, but no complete greeting before its deadline
  kIoTimeout,         // a reply after the greeting did not complete in time
  kGreetingRejected,  // greeting with a non-2xx code (421, 554, ...)
  kEhloRejected,      // both EHLO and HELO refused, or 421 to EHLO
  kProtocolError,  // bytes that are not SMTP (see the record's protocol_error)
  kClosedEarly,    // the server closed before the conversation completed
  kStartTlsRefused,    // 4xx/5xx reply to STARTTLS
  kTlsHandshakeError,  // the TLS handshake failed
  kTlsTimeout,         // the TLS handshake did not complete in time
  kBlocked,            // address not allowed (reserved range, blocklist)
  kDnsError,           // the name could not be resolved to any address
  kNullMx,             // the domain's MX is "0 ." (RFC 7505): no mail
  kInvalidInput,       // the input line could not be parsed
};

// Number of ScanStatus values; keep in step with the enum.
inline constexpr int kScanStatusCount =
    static_cast<int>(ScanStatus::kInvalidInput) + 1;

// The stable lowercase-hyphenated name, e.g. "connection-refused".
absl::string_view ScanStatusName(ScanStatus status);

// Inverse of ScanStatusName; nullopt for an unknown name.
absl::optional<ScanStatus> ParseScanStatus(absl::string_view name);

}  // namespace smtpscan

#endif  // SMTPSCAN_SCAN_SCAN_STATUS_H_
