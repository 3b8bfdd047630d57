// --opt-out files: the people who asked not to be scanned.
//
// One entry per line; '#' comments, blank lines and CRLF line ends as in
// the CIDR lists (address_policy.h). Three kinds of entry:
//
//   example.com          an email domain: a domain input line that names it
//                        exactly is not resolved at all; its record is
//                        `blocked`. Subdomains are not covered.
//   .mail.example.net    an MX host name suffix (a leading dot): a mail
//                        server whose name is mail.example.net or ends in
//                        .mail.example.net is not connected to; its probes
//                        are `blocked`. The same goes for the ",name" of an
//                        address target. A suffix may be a single label
//                        (".example").
//   198.51.100.0/24      a CIDR or bare address, IPv4 or IPv6: addresses
//                        inside are `blocked` like a --blocklist entry.
//
// Names may be written in any case, with one trailing dot, and as U-labels
// (converted like domain input lines, dns::ParseDomainName). "*.example.net"
// is refused with a hint to write ".example.net". A bad line is an error
// "FILE:LINE: reason" and the tool stops (exit 2).
//
// A blocked record's status_detail names the entry: "opt-out FILE:LINE
// example.com", "opt-out FILE:LINE .mail.example.net", "opt-out FILE:LINE
// 198.51.100.0/24". When several suffixes match a name, the shortest (the
// broadest) is named, and of duplicate lines the first.
//
// Lookups are hash-set probes: one for a domain, one per label of a host
// name for the suffixes, whatever the size of the lists.
#ifndef SMTPSCAN_SCAN_OPT_OUT_H_
#define SMTPSCAN_SCAN_OPT_OUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "scan/address_policy.h"

namespace smtpscan::scan {

class OptOutList {
 public:
  OptOutList() = default;

  // Loads an --opt-out file: its domains and suffixes into this list, its
  // CIDRs into `addresses` (as ListKind::kOptOut entries). Errors: "PATH:
  // <strerror>", "PATH:LINE: reason" (InvalidArgument). On error nothing of
  // the file is added anywhere. REQUIRES: addresses != nullptr.
  absl::Status AddFile(const std::string& path, AddressPolicy* addresses);

  // The same for text held in memory; `name` stands for the path in
  // errors and details.
  absl::Status AddText(absl::string_view text, absl::string_view name,
                       AddressPolicy* addresses);

  // Whether an email domain is opted out, and by which line: nullopt, or
  // "opt-out FILE:LINE example.com". `domain` in A-label form, lower case,
  // no trailing dot (dns::DomainName::ascii).
  absl::optional<std::string> CheckDomain(absl::string_view domain) const;

  // Whether a mail server's host name falls under an opted-out suffix:
  // nullopt, or "opt-out FILE:LINE .example.net". Any case, one trailing
  // dot allowed.
  absl::optional<std::string> CheckHost(absl::string_view host) const;

  bool has_domains() const { return !domains_.empty(); }
  bool has_suffixes() const { return !suffixes_.empty(); }
  size_t domains() const { return domains_.size(); }
  size_t suffixes() const { return suffixes_.size(); }

 private:
  struct Rule {
    uint32_t source = 0;  // index in sources_
    uint32_t line = 0;
  };
  // One parsed line, before the file is known to be good.
  struct Parsed {
    enum class Kind : uint8_t { kNone, kDomain, kSuffix, kCidr } kind;
    std::string name;  // kDomain, kSuffix (without the leading dot)
    AddressPolicy::Cidr cidr;
  };
  static absl::StatusOr<Parsed> ParseLine(absl::string_view line);
  // Adds a file's parsed lines (line number, entry) under source `name`.
  void Commit(absl::string_view name,
              std::vector<std::pair<uint64_t, Parsed>> lines,
              AddressPolicy* addresses);
  std::string Describe(const Rule& rule, absl::string_view prefix,
                       absl::string_view name) const;

  std::vector<std::string> sources_;
  absl::flat_hash_map<std::string, Rule> domains_;
  absl::flat_hash_map<std::string, Rule> suffixes_;  // without leading dot
};

}  // namespace smtpscan::scan

#endif  // SMTPSCAN_SCAN_OPT_OUT_H_
