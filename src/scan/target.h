// Address-mode targets: one input line naming a mail server's IP address.
//
// An input line is, after trimming ASCII whitespace at both ends, one of
//
//   192.0.2.1             an IPv4 address
//   192.0.2.1:587         an IPv4 address and a port
//   [192.0.2.1]:587       the same, as an RFC 5321 address literal
//   2001:db8::1           an IPv6 address (bare IPv6 never carries a port:
//                         "2001:db8::1:25" is the address 2001:db8::1:25)
//   [2001:db8::1]         an IPv6 address
//   [2001:db8::1]:25      an IPv6 address and a port
//
// each optionally followed by ",name": the host name the address stands for,
// recorded as the probe's `host`. A line without a port gets every default
// port the caller passes; a line with a port gets exactly that port.
//
// Parsing is strict and never throws: whitespace inside the line, IPv6 zone
// ids ("fe80::1%eth0"), non-canonical IPv4 ("1.2.3", "01.2.3.4"), NUL bytes
// and bad names are rejected with a one-line reason for a human, which the
// caller records as the line's invalid-input detail.
#ifndef SMTPSCAN_SCAN_TARGET_H_
#define SMTPSCAN_SCAN_TARGET_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"

namespace smtpscan::scan {

// An IP address in network byte order.
struct IpAddress {
  int family = AF_UNSPEC;           // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // the first 4 are used for AF_INET
};

// One parsed address line.
struct Target {
  uint64_t line = 0;    // 1-based input line number
  std::string input;    // the line as given (untrimmed, without its line end)
  std::string address;  // canonical text (inet_ntop), no brackets
  int family = AF_UNSPEC;           // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // network order; 4 used for AF_INET
  // Never empty, in the order given. Inline: one line per open connection
  // is pending at most, and a line has one port or -p's few.
  absl::InlinedVector<uint16_t, 4> ports;
  std::string name;  // lower case, no trailing dot; empty when none was given
};

// Parses one address line (see the file comment). `default_ports` are the
// ports of a line that names none; they are copied as given (ParsePortList
// has already removed duplicates). On failure returns InvalidArgument whose
// message is the reason, one line, with any bytes from the input C-escaped.
// An empty `default_ports` makes every line without a port invalid.
absl::StatusOr<Target> ParseTargetLine(
    absl::string_view line, uint64_t line_number,
    absl::Span<const uint16_t> default_ports);

// Parses a port: 1 to 5 decimal digits (no sign, no spaces), 1..65535.
// InvalidArgument with the reason otherwise.
absl::StatusOr<uint16_t> ParsePort(absl::string_view text);

// Parses a comma-separated port list such as the "-p 25,465,587" flag value.
// Duplicates are dropped, the first occurrence keeping its place. Empty
// items ("25,,587", "25,"), an empty list, 0, values over 65535 and anything
// but digits are rejected with InvalidArgument.
absl::StatusOr<std::vector<uint16_t>> ParsePortList(absl::string_view text);

// Parses an IP address literal with inet_pton(3): dotted-quad IPv4 with no
// leading zeros, or IPv6 text (which may end in a dotted quad). No brackets,
// ports, zone ids or whitespace. nullopt when `text` is none of these.
absl::optional<IpAddress> ParseIpAddress(absl::string_view text);

// Canonical text of an address (inet_ntop): "192.0.2.1", "2001:db8::1".
std::string FormatIpAddress(int family, const uint8_t* bytes);

// Checks and normalises a DNS host name: labels of 1..63 ASCII letters,
// digits, hyphens and underscores, not starting or ending with a hyphen,
// at most 253 bytes in all; one trailing dot is allowed and removed. Returns
// the name lower-cased, or InvalidArgument with the reason. Internationalised
// names must be given in A-label form ("xn--...").
absl::StatusOr<std::string> NormalizeHostName(absl::string_view name);

// A socket address ready for connect(2).
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;  // sizeof(sockaddr_in) or sizeof(sockaddr_in6)

  const sockaddr* get() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
};

// The sockaddr_in / sockaddr_in6 for `target`'s address and `port`.
// REQUIRES: target came from ParseTargetLine (family is AF_INET or AF_INET6).
SocketAddress MakeSocketAddress(const Target& target, uint16_t port);

// The same for an address given as family and bytes (4 or 16 of them).
// REQUIRES: family is AF_INET or AF_INET6.
SocketAddress MakeSocketAddress(int family, const uint8_t* bytes,
                                uint16_t port);

}  // namespace smtpscan::scan

#endif  // SMTPSCAN_SCAN_TARGET_H_
