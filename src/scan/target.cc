#include "scan/target.h"

#include <arpa/inet.h>

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dns/quote.h"

namespace smtpscan::scan {
namespace {

using ::smtpscan::dns::Quote;

constexpr size_t kMaxHostNameBytes = 253;  // RFC 1035 §2.3.4, without root
constexpr size_t kMaxLabelBytes = 63;

bool IsHostNameByte(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '_';
}

// Splits the address part of a line into the IP text and the port text
// (absent when the line has no port). Returns the reason on failure.
absl::Status SplitAddressAndPort(absl::string_view text,
                                 absl::string_view* ip_text,
                                 absl::optional<absl::string_view>* port_text) {
  *port_text = absl::nullopt;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("missing ']' after '['");
    }
    *ip_text = text.substr(1, close - 1);
    const absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("unexpected text after ']': ", Quote(rest)));
      }
      *port_text = rest.substr(1);
    }
    return absl::OkStatus();
  }
  if (text.find(']') != absl::string_view::npos) {
    return absl::InvalidArgumentError("']' without '['");
  }
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos) {
    *ip_text = text;
    return absl::OkStatus();
  }
  // One colon: IPv4 and port. More: a bare IPv6 address, which never has a
  // port, unless the text before the first colon is IPv4 ("1.2.3.4:25:26"
  // then reports a bad port rather than a bad address).
  const absl::string_view before = text.substr(0, colon);
  const bool one_colon = text.find(':', colon + 1) == absl::string_view::npos;
  absl::optional<IpAddress> v4;
  if (!one_colon) v4 = ParseIpAddress(before);
  if (one_colon || (v4.has_value() && v4->family == AF_INET)) {
    *ip_text = before;
    *port_text = text.substr(colon + 1);
  } else {
    *ip_text = text;
  }
  return absl::OkStatus();
}

}  // namespace

absl::optional<IpAddress> ParseIpAddress(absl::string_view text) {
  // inet_pton needs a NUL-terminated string; anything longer than the
  // longest IPv6 text ("ffff:...:255.255.255.255", 45 bytes) is not one.
  char buffer[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buffer) ||
      text.find('\0') != absl::string_view::npos) {
    return absl::nullopt;
  }
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  IpAddress address;
  address.family =
      text.find(':') == absl::string_view::npos ? AF_INET : AF_INET6;
  if (inet_pton(address.family, buffer, address.bytes.data()) != 1) {
    return absl::nullopt;
  }
  return address;
}

std::string FormatIpAddress(int family, const uint8_t* bytes) {
  char buffer[INET6_ADDRSTRLEN];
  if (inet_ntop(family, bytes, buffer, sizeof(buffer)) == nullptr) return "";
  return buffer;
}

absl::StatusOr<uint16_t> ParsePort(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty port");
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat("port ", Quote(text), " is not a decimal number"));
    }
  }
  uint32_t value = 0;
  if (text.size() <= 5) {
    for (char c : text) value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (text.size() > 5 || value == 0 || value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", Quote(text), " is not in 1..65535"));
  }
  return static_cast<uint16_t>(value);
}

absl::StatusOr<std::vector<uint16_t>> ParsePortList(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty port list");
  std::vector<uint16_t> ports;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    absl::StatusOr<uint16_t> port = ParsePort(item);
    if (!port.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad port list ", Quote(text), ": ", port.status().message()));
    }
    bool seen = false;
    for (uint16_t p : ports) seen = seen || p == *port;
    if (!seen) ports.push_back(*port);
  }
  return ports;
}

absl::StatusOr<std::string> NormalizeHostName(absl::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty()) return absl::InvalidArgumentError("empty host name");
  if (name.size() > kMaxHostNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("host name longer than ", kMaxHostNameBytes, " bytes"));
  }
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty label in host name ", Quote(name)));
    }
    if (label.size() > kMaxLabelBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("label longer than ", kMaxLabelBytes,
                       " bytes in host name ", Quote(name)));
    }
    for (char c : label) {
      if (static_cast<unsigned char>(c) >= 0x80) {
        return absl::InvalidArgumentError(
            absl::StrCat("non-ASCII host name ", Quote(name),
                         " (give the A-label form, xn--...)"));
      }
      if (!IsHostNameByte(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid character ", Quote(absl::string_view(&c, 1)),
                         " in host name ", Quote(name)));
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          "label starts or ends with '-' in host name ", Quote(name)));
    }
  }
  return absl::AsciiStrToLower(name);
}

absl::StatusOr<Target> ParseTargetLine(
    absl::string_view line, uint64_t line_number,
    absl::Span<const uint16_t> default_ports) {
  const absl::string_view text = absl::StripAsciiWhitespace(line);
  if (text.empty()) return absl::InvalidArgumentError("empty line");
  for (char c : text) {
    if (c == '\0') return absl::InvalidArgumentError("NUL byte in the line");
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat("whitespace inside the line: ", Quote(text)));
    }
  }

  Target target;
  target.line = line_number;
  target.input = std::string(line);

  // The address comes first and is checked first; the name follows the
  // first comma.
  const size_t comma = text.find(',');
  const absl::string_view address_text = text.substr(0, comma);
  if (address_text.empty()) {
    return absl::InvalidArgumentError("missing address before ','");
  }

  absl::string_view ip_text;
  absl::optional<absl::string_view> port_text;
  if (absl::Status split =
          SplitAddressAndPort(address_text, &ip_text, &port_text);
      !split.ok()) {
    return split;
  }
  if (ip_text.find('%') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("IPv6 zone ids are not supported: ", Quote(ip_text)));
  }
  const absl::optional<IpAddress> ip = ParseIpAddress(ip_text);
  if (!ip.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IP address: ", Quote(ip_text)));
  }
  target.family = ip->family;
  target.bytes = ip->bytes;
  // inet_pton accepts IPv4 only in its canonical dotted-decimal form (no
  // leading zeros, no shorthand), so the text is already what inet_ntop
  // would write; IPv6 has many spellings and is normalised.
  target.address = ip->family == AF_INET
                       ? std::string(ip_text)
                       : FormatIpAddress(ip->family, ip->bytes.data());

  if (port_text.has_value()) {
    absl::StatusOr<uint16_t> port = ParsePort(*port_text);
    if (!port.ok()) return port.status();
    target.ports.push_back(*port);
  } else {
    if (default_ports.empty()) {
      return absl::InvalidArgumentError("no port given and no default ports");
    }
    target.ports.assign(default_ports.begin(), default_ports.end());
  }

  if (comma != absl::string_view::npos) {
    const absl::string_view name_text = text.substr(comma + 1);
    if (name_text.empty()) {
      return absl::InvalidArgumentError("empty host name after ','");
    }
    absl::StatusOr<std::string> name = NormalizeHostName(name_text);
    if (!name.ok()) return name.status();
    target.name = *std::move(name);
  }
  return target;
}

SocketAddress MakeSocketAddress(int family, const uint8_t* bytes,
                                uint16_t port) {
  SocketAddress result;
  if (family == AF_INET) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    std::memcpy(&sin.sin_addr, bytes, 4);
    std::memcpy(&result.storage, &sin, sizeof(sin));
    result.length = sizeof(sin);
  } else if (family == AF_INET6) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    std::memcpy(&sin6.sin6_addr, bytes, 16);
    std::memcpy(&result.storage, &sin6, sizeof(sin6));
    result.length = sizeof(sin6);
  }
  return result;
}

SocketAddress MakeSocketAddress(const Target& target, uint16_t port) {
  return MakeSocketAddress(target.family, target.bytes.data(), port);
}

}  // namespace smtpscan::scan
