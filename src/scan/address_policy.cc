#include "scan/address_policy.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "scan/target.h"
#include "scan/target_reader.h"

namespace smtpscan::scan {
namespace {

using U128 = AddressPolicy::U128;

// Built-in reserved ranges: the entries of the IANA special-purpose address
// registries that are not globally reachable, plus multicast and the
// reserved future-use blocks, which are no mail servers either.
//
//   IPv4: https://www.iana.org/assignments/iana-ipv4-special-registry/
//   IPv6: https://www.iana.org/assignments/iana-ipv6-special-registry/
//   (RFC 6890; multicast: RFC 5771 and RFC 4291 §2.7)
//
// The first match wins, so a more specific range comes before the range
// containing it. ::ffff:0:0/96 and 64:ff9b::/96 are absent on purpose: they
// are checked by their embedded IPv4 address (see Check()).
struct BuiltinRange {
  const char* cidr;
  const char* name;  // ReservedRangeName(); Check() says "reserved:" + name
};

constexpr BuiltinRange kBuiltinRanges[] = {
    // IPv4.
    {
        "0.0.0.0/8",
        "this-network",
    },  // RFC 791
    {
        "10.0.0.0/8",
        "private",
    },  // RFC 1918
    {
        "100.64.0.0/10",
        "shared-address-space",
    },  // RFC 6598, CGN
    {
        "127.0.0.0/8",
        "loopback",
    },  // RFC 1122
    {
        "169.254.0.0/16",
        "link-local",
    },  // RFC 3927
    {
        "172.16.0.0/12",
        "private",
    },  // RFC 1918
    {
        "192.0.0.0/24",
        "ietf-protocol-assignments",
    },  // RFC 6890
    {
        "192.0.2.0/24",
        "documentation",
    },  // RFC 5737
    {
        "192.88.99.0/24",
        "6to4-relay-anycast",
    },  // RFC 7526
    {
        "192.168.0.0/16",
        "private",
    },  // RFC 1918
    {
        "198.18.0.0/15",
        "benchmarking",
    },  // RFC 2544
    {
        "198.51.100.0/24",
        "documentation",
    },
    {
        "203.0.113.0/24",
        "documentation",
    },
    {
        "224.0.0.0/4",
        "multicast",
    },  // RFC 5771
    {
        "255.255.255.255/32",
        "limited-broadcast",
    },  // RFC 919
    {
        "240.0.0.0/4",
        "reserved",
    },  // RFC 1112
    // IPv6.
    {
        "::/128",
        "unspecified",
    },  // RFC 4291
    {
        "::1/128",
        "loopback",
    },  // RFC 4291
    {
        "64:ff9b:1::/48",
        "local-use-nat64",
    },  // RFC 8215
    {
        "100::/64",
        "discard-only",
    },  // RFC 6666
    {
        "2001::/32",
        "teredo",
    },  // RFC 4380
    {
        "2001::/23",
        "ietf-protocol-assignments",
    },  // RFC 2928
    {
        "2001:db8::/32",
        "documentation",
    },  // RFC 3849
    {
        "2002::/16",
        "6to4",
    },  // RFC 3056
    {
        "3fff::/20",
        "documentation",
    },  // RFC 9637
    {
        "5f00::/16",
        "srv6-sids",
    },  // RFC 9602
    {
        "fc00::/7",
        "unique-local",
    },  // RFC 4193
    {
        "fe80::/10",
        "link-local",
    },  // RFC 4291
    {
        "fec0::/10",
        "site-local",
    },  // RFC 3879
    {
        "ff00::/8",
        "multicast",
    },  // RFC 4291
};

constexpr char kBlocklistReason[] = "blocklist";
constexpr size_t kMaxBlocklistLineBytes = 4096;

// One parsed CIDR: family and the inclusive range it covers.
struct Cidr {
  int family = AF_UNSPEC;
  AddressPolicy::Range<uint32_t> v4{};
  AddressPolicy::Range<U128> v6{};
};

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

// The mask of the top `bits` of a 64-bit word, bits in 0..64.
uint64_t TopBits64(int bits) {
  return bits <= 0    ? 0
         : bits >= 64 ? ~uint64_t{0}
                      : ~uint64_t{0} << (64 - bits);
}

// Parses "ADDRESS" or "ADDRESS/LENGTH"; host bits are masked off. Returns
// the reason on failure.
absl::StatusOr<Cidr> ParseCidr(absl::string_view text) {
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

// Parses one blocklist line: nullopt for a blank or comment line.
absl::StatusOr<absl::optional<Cidr>> ParseBlocklistLine(
    absl::string_view line) {
  const absl::string_view text = absl::StripAsciiWhitespace(line);
  if (text.empty() || text.front() == '#') return absl::optional<Cidr>();
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
  absl::StatusOr<Cidr> cidr = ParseCidr(entry);
  if (!cidr.ok()) return cidr.status();
  return absl::optional<Cidr>(*cidr);
}

// Collects parsed lines, then merges them into a policy's range lists.
class BlocklistBuilder {
 public:
  explicit BlocklistBuilder(absl::string_view name) : name_(name) {}

  absl::Status AddLine(absl::string_view line, uint64_t number) {
    absl::StatusOr<absl::optional<Cidr>> cidr = ParseBlocklistLine(line);
    if (!cidr.ok()) return LineError(number, cidr.status().message());
    if (!cidr->has_value()) return absl::OkStatus();
    if ((*cidr)->family == AF_INET) {
      v4_.push_back((*cidr)->v4);
    } else {
      v6_.push_back((*cidr)->v6);
    }
    return absl::OkStatus();
  }

  absl::Status LineError(uint64_t number, absl::string_view reason) const {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ":", number, ": ", reason));
  }

  void MergeInto(std::vector<AddressPolicy::Range<uint32_t>>* v4,
                 std::vector<AddressPolicy::Range<U128>>* v6) {
    Merge(std::move(v4_), v4);
    Merge(std::move(v6_), v6);
  }

 private:
  // Appends `more` to `ranges`, sorts by first address and joins
  // overlapping ranges, leaving them disjoint.
  template <typename Key>
  static void Merge(std::vector<AddressPolicy::Range<Key>> more,
                    std::vector<AddressPolicy::Range<Key>>* ranges) {
    if (more.empty()) return;
    ranges->insert(ranges->end(), more.begin(), more.end());
    std::sort(ranges->begin(), ranges->end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    size_t out = 0;
    for (size_t i = 1; i < ranges->size(); ++i) {
      auto& current = (*ranges)[out];
      const auto& next = (*ranges)[i];
      if (next.first <= current.last) {
        current.last = std::max(current.last, next.last);
      } else {
        (*ranges)[++out] = next;
      }
    }
    ranges->resize(out + 1);
  }

  std::string name_;
  std::vector<AddressPolicy::Range<uint32_t>> v4_;
  std::vector<AddressPolicy::Range<U128>> v6_;
};

template <typename Key>
bool Contains(const std::vector<AddressPolicy::Range<Key>>& ranges, Key key) {
  auto it =
      std::upper_bound(ranges.begin(), ranges.end(), key,
                       [](const Key& k, const AddressPolicy::Range<Key>& r) {
                         return k < r.first;
                       });
  if (it == ranges.begin()) return false;
  --it;
  return key <= it->last;
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
      absl::StatusOr<Cidr> cidr = ParseCidr(range.cidr);
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

absl::StatusOr<AddressPolicy> AddressPolicy::Create(
    bool allow_private, const std::vector<std::string>& blocklist_files) {
  AddressPolicy policy(allow_private);
  for (const std::string& path : blocklist_files) {
    if (absl::Status status = policy.AddBlocklistFile(path); !status.ok()) {
      return status;
    }
  }
  return policy;
}

absl::Status AddressPolicy::AddBlocklistFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, path);
  BlocklistBuilder builder(path);
  TargetReader reader(fd, kMaxBlocklistLineBytes);
  absl::Status status;
  for (;;) {
    absl::StatusOr<absl::optional<InputLine>> line = reader.Next();
    if (!line.ok()) {
      status = absl::Status(line.status().code(),
                            absl::StrCat(path, ": ", line.status().message()));
      break;
    }
    if (!line->has_value()) break;
    if ((*line)->too_long) {
      status = builder.LineError(
          (*line)->number,
          absl::StrCat("line longer than ", kMaxBlocklistLineBytes, " bytes"));
      break;
    }
    status = builder.AddLine((*line)->text, (*line)->number);
    if (!status.ok()) break;
  }
  close(fd);
  if (!status.ok()) return status;
  builder.MergeInto(&blocklist_v4_, &blocklist_v6_);
  return absl::OkStatus();
}

absl::Status AddressPolicy::AddBlocklistText(absl::string_view text,
                                             absl::string_view name) {
  BlocklistBuilder builder(name);
  uint64_t number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    if (absl::Status status = builder.AddLine(line, number); !status.ok()) {
      return status;
    }
  }
  builder.MergeInto(&blocklist_v4_, &blocklist_v6_);
  return absl::OkStatus();
}

absl::optional<std::string> AddressPolicy::Check(int family,
                                                 const uint8_t* bytes) const {
  if (family == AF_INET6) {
    if (EmbedsIpv4(bytes)) {
      if (Contains(blocklist_v6_, V6Key(bytes))) return kBlocklistReason;
      return Check(AF_INET, bytes + 12);
    }
    if (!allow_private_) {
      if (const BuiltinRange* range = FindBuiltin(AF_INET6, bytes)) {
        return absl::StrCat("reserved:", range->name);
      }
    }
    if (Contains(blocklist_v6_, V6Key(bytes))) return kBlocklistReason;
    return absl::nullopt;
  }
  if (family == AF_INET) {
    if (!allow_private_) {
      if (const BuiltinRange* range = FindBuiltin(AF_INET, bytes)) {
        return absl::StrCat("reserved:", range->name);
      }
    }
    if (Contains(blocklist_v4_, V4Key(bytes))) return kBlocklistReason;
    return absl::nullopt;
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
