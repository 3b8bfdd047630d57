// Which addresses smtpscan may connect to.
//
// Rules, checked for every address before a probe is planned, in this
// order (the first that applies says why the address is blocked):
//
//   1. Built-in reserved ranges: addresses that are not globally reachable
//      unicast (private, loopback, link-local, documentation, multicast, ...)
//      unless allow_private is set. The table follows the IANA IPv4 and IPv6
//      Special-Purpose Address Registries (RFC 6890) and covers zmap's
//      default blocklist (conf/blocklist.conf); see address_policy.cc.
//   2. Exclusion lists (always enforced, allow_private or not): --blocklist
//      files and the CIDR lines of --opt-out files (opt_out.h).
//   3. Allowlists: once any is loaded, an address in none of them is
//      blocked. An allowlist does not lift rules 1 and 2.
//
// A blocked address gets a status_detail that names the rule:
//
//   reserved 10.0.0.0/8 private (RFC 1918)
//   blocklist bl.txt:3 192.0.2.0/24
//   opt-out opt-out.txt:14 198.51.100.0/24
//   allowlist allow.txt: not listed
//
// An exclusion entry is printed as the range it covers (host bits masked,
// a bare address as /32 or /128). When entries nest, the broadest one that
// contains the address is named, and of equal ones the first loaded.
//
// IPv4-mapped IPv6 addresses (::ffff:0:0/96, RFC 4291 §2.5.5.2) and the
// NAT64 well-known prefix (64:ff9b::/96, RFC 6052) reach an IPv4 address, so
// the IPv4 rules are applied to the embedded address too: the exclusion
// lists are checked against the IPv6 form first, and an allowlist entry for
// either form admits the address.
//
// CIDR list format (--blocklist, --allowlist), one entry per line:
//
//   198.51.100.0/24          a CIDR
//   2001:db8::/32            IPv6 too
//   192.0.2.7                a bare address (/32 or /128)
//   10.1.2.3/8               host bits set: accepted, masked to 10.0.0.0/8
//   # comment                comments, blank lines, CRLF line ends
//   203.0.113.9  # why       a trailing comment after whitespace
//
// A line that is none of these is an error "NAME:LINE: reason", and the
// tool stops (exit 2). Lookups are a binary search over disjoint, sorted
// ranges per family: 100,000 entries cost ~17 comparisons.
#ifndef SMTPSCAN_SCAN_ADDRESS_POLICY_H_
#define SMTPSCAN_SCAN_ADDRESS_POLICY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
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
    Key last;           // inclusive
    uint32_t rule = 0;  // index of the entry it came from (rules_)
  };
  // One parsed list entry: family, prefix length and the range it covers.
  struct Cidr {
    int family = 0;  // AF_INET or AF_INET6
    int prefix_length = 0;
    Range<uint32_t> v4{};
    Range<U128> v6{};
  };
  // What kind of file an entry came from; names the rule in details.
  enum class ListKind : uint8_t { kBlocklist, kOptOut, kAllowlist };

  // Built-in rules only, no lists.
  explicit AddressPolicy(bool allow_private = false)
      : allow_private_(allow_private) {}

  // Built-in rules plus every file in `blocklist_files` and
  // `allowlist_files`, loaded in order. Fails with the first error of
  // AddListFile.
  static absl::StatusOr<AddressPolicy> Create(
      bool allow_private, const std::vector<std::string>& blocklist_files,
      const std::vector<std::string>& allowlist_files = {});

  // Adds the entries of a CIDR list file of `kind` (kBlocklist or
  // kAllowlist). Errors: "PATH: <strerror>" when it cannot be opened or
  // read; "PATH:LINE: reason" (InvalidArgument) for a bad line, including
  // one over 4096 bytes. On error nothing of the file is added.
  absl::Status AddListFile(ListKind kind, const std::string& path);
  absl::Status AddBlocklistFile(const std::string& path) {
    return AddListFile(ListKind::kBlocklist, path);
  }

  // The same for list text held in memory; `name` stands for the path in
  // error messages and details. Lines end at LF, with an optional CR.
  absl::Status AddListText(ListKind kind, absl::string_view text,
                           absl::string_view name);
  absl::Status AddBlocklistText(absl::string_view text,
                                absl::string_view name) {
    return AddListText(ListKind::kBlocklist, text, name);
  }

  // Adds parsed entries (line number, CIDR) of file `name` at once; how
  // opt_out.cc hands over the CIDR lines of an --opt-out file (kOptOut).
  void AddEntries(ListKind kind, absl::string_view name,
                  const std::vector<std::pair<uint64_t, Cidr>>& entries);

  // nullopt when the address may be scanned, otherwise the status_detail
  // naming the rule (see the file comment). `bytes` points at 4 (AF_INET)
  // or 16 (AF_INET6) bytes in network order. Any other family is
  // "unsupported-address-family".
  absl::optional<std::string> Check(int family, const uint8_t* bytes) const;

  // The built-in range `bytes` falls in ("loopback", ...), regardless of
  // allow_private; nullopt when none. IPv4-mapped and NAT64 addresses are
  // looked up by their embedded IPv4 address.
  static absl::optional<absl::string_view> ReservedRangeName(
      int family, const uint8_t* bytes);

  // Parses "ADDRESS" or "ADDRESS/LENGTH" (host bits are masked off); the
  // error message is the reason, for a "NAME:LINE: reason" message.
  static absl::StatusOr<Cidr> ParseCidr(absl::string_view text);

  bool allow_private() const { return allow_private_; }
  bool has_allowlist() const { return !allowlist_sources_.empty(); }
  // Disjoint ranges the exclusion lists came to after merging overlaps.
  size_t blocklist_ranges_v4() const { return excluded_v4_.size(); }
  size_t blocklist_ranges_v6() const { return excluded_v6_.size(); }

 private:
  // Where an entry of a list came from: enough to print it back.
  struct Rule {
    uint32_t source = 0;  // index in sources_
    uint32_t line = 0;
    uint8_t prefix_length = 0;
    ListKind kind = ListKind::kBlocklist;
  };
  // Check() for one family, without the IPv4-in-IPv6 step; `allowed` says
  // an allowlist has already admitted the address (in its other form).
  absl::optional<std::string> CheckOne(int family, const uint8_t* bytes,
                                       bool allowed) const;
  bool Allowlisted(int family, const uint8_t* bytes) const;
  std::string Describe(const Range<uint32_t>& range) const;
  std::string Describe(const Range<U128>& range) const;
  std::string NotAllowlisted() const;

  bool allow_private_;
  std::vector<std::string> sources_;  // file names, as given
  std::vector<Rule> rules_;
  // Sorted by first; disjoint, so `last` increases too.
  std::vector<Range<uint32_t>> excluded_v4_;
  std::vector<Range<U128>> excluded_v6_;
  std::vector<Range<uint32_t>> allowed_v4_;
  std::vector<Range<U128>> allowed_v6_;
  std::vector<uint32_t> allowlist_sources_;  // indexes in sources_
};

// Reads a list file line by line (blank and '#' comment lines skipped) and
// calls `line` with each; an error it returns (its message the reason)
// becomes "PATH:LINE: reason" and stops the reading. Errors of the file
// itself: "PATH: <strerror>"; "PATH:LINE: line longer than 4096 bytes".
absl::Status ForEachListLine(
    const std::string& path,
    absl::FunctionRef<absl::Status(absl::string_view line, uint64_t number)>
        line);

// The entry of a list line: the line without surrounding whitespace and a
// trailing "# comment" (after whitespace); empty for a blank or comment
// line. InvalidArgument when more than one word precedes the comment.
absl::StatusOr<absl::string_view> ListLineEntry(absl::string_view line);

}  // namespace smtpscan::scan

#endif  // SMTPSCAN_SCAN_ADDRESS_POLICY_H_
