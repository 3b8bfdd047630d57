#include "scan/address_policy.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "scan/target.h"
#include "scan/target_reader.h"

namespace smtpscan::scan {
namespace {

using U128 = AddressPolicy::U128;
using Cidr = AddressPolicy::Cidr;
using ListKind = AddressPolicy::ListKind;

// Built-in reserved ranges: the entries of the IANA special-purpose address
// registries that are not globally reachable, plus multicast and the
// reserved future-use blocks, which are no mail servers either.
//
//   IPv4: https://www.iana.org/assignments/iana-ipv4-special-registry/
//   IPv6: https://www.iana.org/assignments/iana-ipv6-special-registry/
//   (RFC 6890; multicast: RFC 5771 and RFC 4291 §2.7)
//
// zmap's default blocklist (conf/blocklist.conf: the IPv4 registry as of
// 2013 plus 224.0.0.0/4) is contained in it entry for entry; its
// "192.18.0.0/15 RFC2544" is a typo for 198.18.0.0/15, which is here.
// Globally reachable special-purpose blocks (AS112 192.31.196.0/24 and
// 192.175.48.0/24, AMT 192.52.193.0/24, 2620:4f:8000::/48) are not
// blocked: they are real, if unusual, hosts.
//
// The first match wins, so a more specific range comes before the range
// containing it. ::ffff:0:0/96 and 64:ff9b::/96 are absent on purpose: they
// are checked by their embedded IPv4 address (see Check()).
struct BuiltinRange {
  const char* cidr;
  const char* name;  // ReservedRangeName()
  const char* rfc;   // the defining document, for the status detail
};

constexpr BuiltinRange kBuiltinRanges[] = {
    // IPv4.
    {"0.0.0.0/8", "this-network", "RFC 791"},
    {"10.0.0.0/8", "private", "RFC 1918"},
    {"100.64.0.0/10", "shared-address-space", "RFC 6598"},  // CGN
    {"127.0.0.0/8", "loopback", "RFC 1122"},
    {"169.254.0.0/16", "link-local", "RFC 3927"},
    {"172.16.0.0/12", "private", "RFC 1918"},
    {"192.0.0.0/24", "ietf-protocol-assignments", "RFC 6890"},
    {"192.0.2.0/24", "documentation", "RFC 5737"},
    {"192.88.99.0/24", "6to4-relay-anycast", "RFC 7526"},
    {"192.168.0.0/16", "private", "RFC 1918"},
    {"198.18.0.0/15", "benchmarking", "RFC 2544"},
    {"198.51.100.0/24", "documentation", "RFC 5737"},
    {"203.0.113.0/24", "documentation", "RFC 5737"},
    {"224.0.0.0/4", "multicast", "RFC 5771"},
    {"255.255.255.255/32", "limited-broadcast", "RFC 919"},
    {"240.0.0.0/4", "reserved", "RFC 1112"},
    // IPv6.
    {"::/128", "unspecified", "RFC 4291"},
    {"::1/128", "loopback", "RFC 4291"},
    {"64:ff9b:1::/48", "local-use-nat64", "RFC 8215"},
    {"100::/64", "discard-only", "RFC 6666"},
    {"2001::/32", "teredo", "RFC 4380"},
    {"2001::/23", "ietf-protocol-assignments", "RFC 2928"},
    {"2001:db8::/32", "documentation", "RFC 3849"},
    {"2002::/16", "6to4", "RFC 3056"},
    {"3fff::/20", "documentation", "RFC 9637"},
    {"5f00::/16", "srv6-sids", "RFC 9602"},
    {"fc00::/7", "unique-local", "RFC 4193"},
    {"fe80::/10", "link-local", "RFC 4291"},
    {"fec0::/10", "site-local", "RFC 3879"},
    {"ff00::/8", "multicast", "RFC 4291"},
};

constexpr size_t kMaxListLineBytes = 4096;

absl::string_view KindName(ListKind kind) {
  switch (kind) {
    case ListKind::kBlocklist:
      return "blocklist";
    case ListKind::kOptOut:
      return "opt-out";
    case ListKind::kAllowlist:
      return "allowlist";
  }
  return "list";
}

uint32_t V4Key(const uint8_t* b) {
  return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 |
         uint32_t{b[3]};
}

U128 V6Key(const uint8_t* b) {
  U128 key;
  for (int i = 0; i < 8; ++i) key.hi = key.hi << 8 | b[i];
  for (int i = 8; i < 16; ++i) key.lo = key.lo << 8 | b[i];
  return key;
}

std::string V4Text(uint32_t key) {
  uint8_t b[4] = {static_cast<uint8_t>(key >> 24),
                  static_cast<uint8_t>(key >> 16),
                  static_cast<uint8_t>(key >> 8), static_cast<uint8_t>(key)};
  return FormatIpAddress(AF_INET, b);
}

std::string V6Text(const U128& key) {
  uint8_t b[16];
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<uint8_t>(key.hi >> (56 - 8 * i));
    b[8 + i] = static_cast<uint8_t>(key.lo >> (56 - 8 * i));
  }
  return FormatIpAddress(AF_INET6, b);
}

// The mask of the top `bits` of a 64-bit word, bits in 0..64.
uint64_t TopBits64(int bits) {
  return bits <= 0    ? 0
         : bits >= 64 ? ~uint64_t{0}
                      : ~uint64_t{0} << (64 - bits);
}

// Appends `more` to `ranges`, sorts them by first address, broadest first
// among equal starts, then by rule (load order), and drops every range
// inside an earlier one. CIDRs either nest or are disjoint, so what is left
// is disjoint, and each range is the broadest entry covering its addresses
// (the first loaded of equal ones): the rule a match names.
template <typename Key>
void Merge(std::vector<AddressPolicy::Range<Key>> more,
           std::vector<AddressPolicy::Range<Key>>* ranges) {
  if (more.empty()) return;
  ranges->insert(ranges->end(), more.begin(), more.end());
  std::sort(ranges->begin(), ranges->end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    if (a.last != b.last) return a.last > b.last;
    return a.rule < b.rule;
  });
  size_t out = 0;
  for (size_t i = 1; i < ranges->size(); ++i) {
    if ((*ranges)[i].first > (*ranges)[out].last) {
      (*ranges)[++out] = (*ranges)[i];
    }
  }
  ranges->resize(out + 1);
}

template <typename Key>
const AddressPolicy::Range<Key>* Find(
    const std::vector<AddressPolicy::Range<Key>>& ranges, Key key) {
  auto it =
      std::upper_bound(ranges.begin(), ranges.end(), key,
                       [](const Key& k, const AddressPolicy::Range<Key>& r) {
                         return k < r.first;
                       });
  if (it == ranges.begin()) return nullptr;
  --it;
  return key <= it->last ? &*it : nullptr;
}

struct ParsedBuiltin {
  Cidr cidr;
  const BuiltinRange* range;
};

// kBuiltinRanges parsed once. Leaked on purpose: no destructor at exit.
const std::vector<ParsedBuiltin>& Builtins() {
  static const auto* const builtins = [] {
    auto* parsed = new std::vector<ParsedBuiltin>();
    for (const BuiltinRange& range : kBuiltinRanges) {
      // The table is constant and tested; a bad entry would be skipped.
      absl::StatusOr<Cidr> cidr = AddressPolicy::ParseCidr(range.cidr);
      if (cidr.ok()) parsed->push_back({*cidr, &range});
    }
    return parsed;
  }();
  return *builtins;
}

const BuiltinRange* FindBuiltin(int family, const uint8_t* bytes) {
  if (family == AF_INET) {
    const uint32_t key = V4Key(bytes);
    for (const ParsedBuiltin& b : Builtins()) {
      if (b.cidr.family == AF_INET && b.cidr.v4.first <= key &&
          key <= b.cidr.v4.last) {
        return b.range;
      }
    }
  } else if (family == AF_INET6) {
    const U128 key = V6Key(bytes);
    for (const ParsedBuiltin& b : Builtins()) {
      if (b.cidr.family == AF_INET6 && b.cidr.v6.first <= key &&
          key <= b.cidr.v6.last) {
        return b.range;
      }
    }
  }
  return nullptr;
}

// True for ::ffff:0:0/96 (IPv4-mapped) and 64:ff9b::/96 (NAT64 well-known
// prefix): the last four bytes are an IPv4 address the connection reaches.
bool EmbedsIpv4(const uint8_t* bytes) {
  const U128 key = V6Key(bytes);
  return (key.hi == 0 && (key.lo >> 32) == 0xffff) ||
         (key.hi == uint64_t{0x0064ff9b} << 32 && (key.lo >> 32) == 0);
}

}  // namespace

absl::StatusOr<Cidr> AddressPolicy::ParseCidr(absl::string_view text) {
  const size_t slash = text.find('/');
  const absl::string_view address_text = text.substr(0, slash);
  const absl::optional<IpAddress> ip = ParseIpAddress(address_text);
  if (!ip.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not an IP address: '", absl::CHexEscape(address_text), "'"));
  }
  const int max_length = ip->family == AF_INET ? 32 : 128;
  int length = max_length;
  if (slash != absl::string_view::npos) {
    const absl::string_view length_text = text.substr(slash + 1);
    bool ok = !length_text.empty() && length_text.size() <= 3;
    length = 0;
    for (char c : length_text) {
      ok = ok && absl::ascii_isdigit(static_cast<unsigned char>(c));
      if (ok) length = length * 10 + (c - '0');
    }
    if (!ok || length > max_length) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad prefix length '", absl::CHexEscape(length_text), "' (0..",
          max_length, " for IPv", ip->family == AF_INET ? 4 : 6, ")"));
    }
  }
  Cidr cidr;
  cidr.family = ip->family;
  cidr.prefix_length = length;
  if (ip->family == AF_INET) {
    const uint32_t mask = static_cast<uint32_t>(TopBits64(length) >> 32);
    const uint32_t key = V4Key(ip->bytes.data());
    cidr.v4 = {key & mask, (key & mask) | ~mask};
  } else {
    const uint64_t hi_mask = TopBits64(length);
    const uint64_t lo_mask = TopBits64(length - 64);
    const U128 key = V6Key(ip->bytes.data());
    const U128 first{key.hi & hi_mask, key.lo & lo_mask};
    cidr.v6 = {first, {first.hi | ~hi_mask, first.lo | ~lo_mask}};
  }
  return cidr;
}

absl::StatusOr<absl::string_view> ListLineEntry(absl::string_view line) {
  const absl::string_view text = absl::StripAsciiWhitespace(line);
  if (text.empty() || text.front() == '#') return absl::string_view();
  const auto space = std::find_if(text.begin(), text.end(), [](char c) {
    return absl::ascii_isspace(static_cast<unsigned char>(c));
  });
  const absl::string_view entry = text.substr(0, space - text.begin());
  const absl::string_view rest =
      absl::StripLeadingAsciiWhitespace(text.substr(entry.size()));
  if (!rest.empty() && rest.front() != '#') {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected text after '", absl::CHexEscape(entry),
                     "' (a comment starts with '#')"));
  }
  return entry;
}

absl::Status ForEachListLine(
    const std::string& path,
    absl::FunctionRef<absl::Status(absl::string_view line, uint64_t number)>
        line_fn) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, path);
  TargetReader reader(fd, kMaxListLineBytes);
  absl::Status status;
  for (;;) {
    absl::StatusOr<absl::optional<InputLine>> line = reader.Next();
    if (!line.ok()) {
      status = absl::Status(line.status().code(),
                            absl::StrCat(path, ": ", line.status().message()));
      break;
    }
    if (!line->has_value()) break;
    const uint64_t number = (*line)->number;
    if ((*line)->too_long) {
      status = absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": line longer than ",
                       kMaxListLineBytes, " bytes"));
      break;
    }
    status = line_fn((*line)->text, number);
    if (!status.ok()) {
      status = absl::Status(status.code(), absl::StrCat(path, ":", number, ": ",
                                                        status.message()));
      break;
    }
  }
  close(fd);
  return status;
}

namespace {

// One CIDR list line: nullopt for a blank or comment line.
absl::StatusOr<absl::optional<Cidr>> ParseCidrLine(absl::string_view line) {
  absl::StatusOr<absl::string_view> entry = ListLineEntry(line);
  if (!entry.ok()) return entry.status();
  if (entry->empty()) return absl::optional<Cidr>();
  absl::StatusOr<Cidr> cidr = AddressPolicy::ParseCidr(*entry);
  if (!cidr.ok()) return cidr.status();
  return absl::optional<Cidr>(*cidr);
}

}  // namespace

absl::StatusOr<AddressPolicy> AddressPolicy::Create(
    bool allow_private, const std::vector<std::string>& blocklist_files,
    const std::vector<std::string>& allowlist_files) {
  AddressPolicy policy(allow_private);
  for (const std::string& path : blocklist_files) {
    if (absl::Status s = policy.AddListFile(ListKind::kBlocklist, path);
        !s.ok()) {
      return s;
    }
  }
  for (const std::string& path : allowlist_files) {
    if (absl::Status s = policy.AddListFile(ListKind::kAllowlist, path);
        !s.ok()) {
      return s;
    }
  }
  return policy;
}

absl::Status AddressPolicy::AddListFile(ListKind kind,
                                        const std::string& path) {
  std::vector<std::pair<uint64_t, Cidr>> entries;
  absl::Status status = ForEachListLine(
      path, [&](absl::string_view line, uint64_t number) -> absl::Status {
        absl::StatusOr<absl::optional<Cidr>> cidr = ParseCidrLine(line);
        if (!cidr.ok()) return cidr.status();
        if (cidr->has_value()) entries.emplace_back(number, **cidr);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  AddEntries(kind, path, entries);
  return absl::OkStatus();
}

absl::Status AddressPolicy::AddListText(ListKind kind, absl::string_view text,
                                        absl::string_view name) {
  std::vector<std::pair<uint64_t, Cidr>> entries;
  uint64_t number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    absl::StatusOr<absl::optional<Cidr>> cidr = ParseCidrLine(line);
    if (!cidr.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", number, ": ", cidr.status().message()));
    }
    if (cidr->has_value()) entries.emplace_back(number, **cidr);
  }
  AddEntries(kind, name, entries);
  return absl::OkStatus();
}

void AddressPolicy::AddEntries(
    ListKind kind, absl::string_view name,
    const std::vector<std::pair<uint64_t, Cidr>>& entries) {
  const uint32_t source = static_cast<uint32_t>(sources_.size());
  sources_.emplace_back(name);
  if (kind == ListKind::kAllowlist) allowlist_sources_.push_back(source);
  std::vector<Range<uint32_t>> v4;
  std::vector<Range<U128>> v6;
  for (const auto& [line, cidr] : entries) {
    const uint32_t rule = static_cast<uint32_t>(rules_.size());
    rules_.push_back({source, static_cast<uint32_t>(line),
                      static_cast<uint8_t>(cidr.prefix_length), kind});
    if (cidr.family == AF_INET) {
      v4.push_back({cidr.v4.first, cidr.v4.last, rule});
    } else {
      v6.push_back({cidr.v6.first, cidr.v6.last, rule});
    }
  }
  const bool allow = kind == ListKind::kAllowlist;
  Merge(std::move(v4), allow ? &allowed_v4_ : &excluded_v4_);
  Merge(std::move(v6), allow ? &allowed_v6_ : &excluded_v6_);
}

std::string AddressPolicy::Describe(const Range<uint32_t>& range) const {
  const Rule& rule = rules_[range.rule];
  return absl::StrCat(KindName(rule.kind), " ", sources_[rule.source], ":",
                      rule.line, " ", V4Text(range.first), "/",
                      rule.prefix_length);
}

std::string AddressPolicy::Describe(const Range<U128>& range) const {
  const Rule& rule = rules_[range.rule];
  return absl::StrCat(KindName(rule.kind), " ", sources_[rule.source], ":",
                      rule.line, " ", V6Text(range.first), "/",
                      rule.prefix_length);
}

std::string AddressPolicy::NotAllowlisted() const {
  std::vector<absl::string_view> names;
  for (uint32_t source : allowlist_sources_) names.push_back(sources_[source]);
  return absl::StrCat("allowlist ", absl::StrJoin(names, ", "), ": not listed");
}

bool AddressPolicy::Allowlisted(int family, const uint8_t* bytes) const {
  return family == AF_INET ? Find(allowed_v4_, V4Key(bytes)) != nullptr
                           : Find(allowed_v6_, V6Key(bytes)) != nullptr;
}

absl::optional<std::string> AddressPolicy::CheckOne(int family,
                                                    const uint8_t* bytes,
                                                    bool allowed) const {
  if (!allow_private_) {
    if (const BuiltinRange* range = FindBuiltin(family, bytes)) {
      return absl::StrCat("reserved ", range->cidr, " ", range->name, " (",
                          range->rfc, ")");
    }
  }
  if (family == AF_INET) {
    if (const auto* r = Find(excluded_v4_, V4Key(bytes))) return Describe(*r);
  } else {
    if (const auto* r = Find(excluded_v6_, V6Key(bytes))) return Describe(*r);
  }
  if (has_allowlist() && !allowed && !Allowlisted(family, bytes)) {
    return NotAllowlisted();
  }
  return absl::nullopt;
}

absl::optional<std::string> AddressPolicy::Check(int family,
                                                 const uint8_t* bytes) const {
  if (family == AF_INET6 && EmbedsIpv4(bytes)) {
    if (const auto* r = Find(excluded_v6_, V6Key(bytes))) return Describe(*r);
    const bool allowed = has_allowlist() && Allowlisted(AF_INET6, bytes);
    return CheckOne(AF_INET, bytes + 12, allowed);
  }
  if (family == AF_INET || family == AF_INET6) {
    return CheckOne(family, bytes, /*allowed=*/false);
  }
  return "unsupported-address-family";
}

absl::optional<absl::string_view> AddressPolicy::ReservedRangeName(
    int family, const uint8_t* bytes) {
  if (family == AF_INET6 && EmbedsIpv4(bytes)) {
    return ReservedRangeName(AF_INET, bytes + 12);
  }
  if (const BuiltinRange* range = FindBuiltin(family, bytes)) {
    return absl::string_view(range->name);
  }
  return absl::nullopt;
}

}  // namespace smtpscan::scan
