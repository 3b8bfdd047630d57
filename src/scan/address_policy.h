// Which addresses smtpscan may connect to.
//
// Two rules, checked for every address before a probe is planned:
//
//   1. Built-in reserved ranges: addresses that are not globally reachable
//      unicast (private, loopback, link-local, documentation, multicast, ...)
//      are blocked with reason "reserved:NAME", unless allow_private is set.
//      The table follows the IANA IPv4 and IPv6 Special-Purpose Address
//      Registries (RFC 6890); see address_policy.cc.
//   2. Blocklists (always enforced, allow_private or not): files of CIDRs or
//      bare addresses; a match is blocked with reason "blocklist".
//
// IPv4-mapped IPv6 addresses (::ffff:0:0/96, RFC 4291 §2.5.5.2) and the
// NAT64 well-known prefix (64:ff9b::/96, RFC 6052) reach an IPv4 address, so
// the IPv4 rules are applied to the embedded address (after the blocklist
// has been checked against the IPv6 form itself).
//
// Blocklist format, one entry per line:
//
//   198.51.100.0/24          a CIDR
//   2001:db8::/32            IPv6 too
//   192.0.2.7                a bare address (/32 or /128)
//   10.1.2.3/8               host bits set: accepted, masked to 10.0.0.0/8
//   # comment                comments, blank lines, CRLF line ends
//   203.0.113.9  # why       a trailing comment after whitespace
//
// A line that is none of these is an error "NAME:LINE: reason", and the
// tool stops (exit 2). Lookups are a binary search over merged, sorted
// ranges per family, so tens of thousands of entries cost ~16 comparisons.
#ifndef SMTPSCAN_SCAN_ADDRESS_POLICY_H_
#define SMTPSCAN_SCAN_ADDRESS_POLICY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace smtpscan::scan {

class AddressPolicy {
 public:
  // An IPv6 address as a 128-bit number, for ordering ranges.
  struct U128 {
    uint64_t hi = 0;
    uint64_t lo = 0;
    friend auto operator<=>(const U128&, const U128&) = default;
  };
  template <typename Key>
  struct Range {
    Key first;
    Key last;  // inclusive
  };

  // Built-in rules only, no blocklist.
  explicit AddressPolicy(bool allow_private = false)
      : allow_private_(allow_private) {}

  // Built-in rules plus every file in `blocklist_files`, loaded in order.
  // Fails with the first error of AddBlocklistFile.
  static absl::StatusOr<AddressPolicy> Create(
      bool allow_private, const std::vector<std::string>& blocklist_files);

  // Adds the entries of a blocklist file. Errors: "PATH: <strerror>" when it
  // cannot be opened or read; "PATH:LINE: reason" (InvalidArgument) for a
  // bad line, including one over 4096 bytes. On error nothing of the file is
  // added.
  absl::Status AddBlocklistFile(const std::string& path);

  // The same for blocklist text held in memory; `name` stands for the path
  // in error messages. Lines end at LF, with an optional CR before it.
  absl::Status AddBlocklistText(absl::string_view text, absl::string_view name);

  // nullopt when the address may be scanned, otherwise why not:
  // "reserved:loopback", "reserved:private", ... (see address_policy.cc) or
  // "blocklist". `bytes` points at 4 (AF_INET) or 16 (AF_INET6) bytes in
  // network order. Any other family is "unsupported-address-family".
  absl::optional<std::string> Check(int family, const uint8_t* bytes) const;

  // The built-in range `bytes` falls in ("loopback", ...), regardless of
  // allow_private; nullopt when none. IPv4-mapped and NAT64 addresses are
  // looked up by their embedded IPv4 address.
  static absl::optional<absl::string_view> ReservedRangeName(
      int family, const uint8_t* bytes);

  bool allow_private() const { return allow_private_; }
  // Disjoint ranges the blocklists came to after merging overlaps.
  size_t blocklist_ranges_v4() const { return blocklist_v4_.size(); }
  size_t blocklist_ranges_v6() const { return blocklist_v6_.size(); }

 private:
  bool allow_private_;
  // Sorted by first; disjoint, so `last` increases too.
  std::vector<Range<uint32_t>> blocklist_v4_;
  std::vector<Range<U128>> blocklist_v6_;
};

}  // namespace smtpscan::scan

#endif  // SMTPSCAN_SCAN_ADDRESS_POLICY_H_
