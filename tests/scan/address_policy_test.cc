#include "scan/address_policy.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smtpscan::scan {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using Bytes = std::array<uint8_t, 16>;

struct Address {
  int family = AF_UNSPEC;
  Bytes bytes{};
  int bits() const { return family == AF_INET ? 32 : 128; }
  std::string text() const {
    char buffer[INET6_ADDRSTRLEN];
    return inet_ntop(family, bytes.data(), buffer, sizeof(buffer));
  }
};

Address Parse(const std::string& text) {
  Address address;
  address.family = text.find(':') == std::string::npos ? AF_INET : AF_INET6;
  EXPECT_EQ(inet_pton(address.family, text.c_str(), address.bytes.data()), 1)
      << text;
  return address;
}

// Sets (or clears) every bit of `address` from bit `prefix` on.
Address HostBits(Address address, int prefix, bool set) {
  for (int bit = prefix; bit < address.bits(); ++bit) {
    const uint8_t mask = 0x80 >> (bit % 8);
    if (set) {
      address.bytes[bit / 8] |= mask;
    } else {
      address.bytes[bit / 8] &= ~mask;
    }
  }
  return address;
}

// address + delta (delta is +1 or -1); false when it wraps around.
bool Step(Address* address, int delta) {
  for (int i = address->bits() / 8 - 1; i >= 0; --i) {
    uint8_t& byte = address->bytes[i];
    if (delta > 0) {
      if (++byte != 0) return true;
    } else {
      if (byte-- != 0) return true;
    }
  }
  return false;
}

bool InPrefix(const Address& address, const Address& network, int prefix) {
  if (address.family != network.family) return false;
  for (int bit = 0; bit < prefix; ++bit) {
    const uint8_t mask = 0x80 >> (bit % 8);
    if ((address.bytes[bit / 8] & mask) != (network.bytes[bit / 8] & mask)) {
      return false;
    }
  }
  return true;
}

struct Reserved {
  std::string network;
  int prefix;
  std::string reason;
};

// The expected table, written out independently of address_policy.cc:
// IANA IPv4/IPv6 special-purpose registries. More specific first.
const std::vector<Reserved>& ReservedTable() {
  static const auto* const table = new std::vector<Reserved>{
      {"0.0.0.0", 8, "reserved:this-network"},
      {"10.0.0.0", 8, "reserved:private"},
      {"100.64.0.0", 10, "reserved:shared-address-space"},
      {"127.0.0.0", 8, "reserved:loopback"},
      {"169.254.0.0", 16, "reserved:link-local"},
      {"172.16.0.0", 12, "reserved:private"},
      {"192.0.0.0", 24, "reserved:ietf-protocol-assignments"},
      {"192.0.2.0", 24, "reserved:documentation"},
      {"192.88.99.0", 24, "reserved:6to4-relay-anycast"},
      {"192.168.0.0", 16, "reserved:private"},
      {"198.18.0.0", 15, "reserved:benchmarking"},
      {"198.51.100.0", 24, "reserved:documentation"},
      {"203.0.113.0", 24, "reserved:documentation"},
      {"224.0.0.0", 4, "reserved:multicast"},
      {"255.255.255.255", 32, "reserved:limited-broadcast"},
      {"240.0.0.0", 4, "reserved:reserved"},
      {"::", 128, "reserved:unspecified"},
      {"::1", 128, "reserved:loopback"},
      {"64:ff9b:1::", 48, "reserved:local-use-nat64"},
      {"100::", 64, "reserved:discard-only"},
      {"2001::", 32, "reserved:teredo"},
      {"2001::", 23, "reserved:ietf-protocol-assignments"},
      {"2001:db8::", 32, "reserved:documentation"},
      {"2002::", 16, "reserved:6to4"},
      {"3fff::", 20, "reserved:documentation"},
      {"5f00::", 16, "reserved:srv6-sids"},
      {"fc00::", 7, "reserved:unique-local"},
      {"fe80::", 10, "reserved:link-local"},
      {"fec0::", 10, "reserved:site-local"},
      {"ff00::", 8, "reserved:multicast"},
  };
  return *table;
}

// What Check() must say without blocklists, by the table above. IPv4-mapped
// and NAT64 addresses are judged by their embedded IPv4 address.
absl::optional<std::string> ExpectedReason(const Address& address) {
  if (address.family == AF_INET6 &&
      (InPrefix(address, Parse("::ffff:0:0"), 96) ||
       InPrefix(address, Parse("64:ff9b::"), 96))) {
    Address v4;
    v4.family = AF_INET;
    std::memcpy(v4.bytes.data(), address.bytes.data() + 12, 4);
    return ExpectedReason(v4);
  }
  for (const Reserved& r : ReservedTable()) {
    if (InPrefix(address, Parse(r.network), r.prefix)) return r.reason;
  }
  return absl::nullopt;
}

absl::optional<std::string> Check(const AddressPolicy& policy,
                                  const std::string& text) {
  const Address address = Parse(text);
  return policy.Check(address.family, address.bytes.data());
}

TEST(AddressPolicyTest, ReservedRangesEdgesAndNeighbours) {
  const AddressPolicy policy;
  const AddressPolicy allow_private(/*allow_private=*/true);
  for (const Reserved& r : ReservedTable()) {
    SCOPED_TRACE(absl::StrCat(r.network, "/", r.prefix));
    const Address network = Parse(r.network);
    ASSERT_EQ(HostBits(network, r.prefix, false).bytes, network.bytes);
    const Address first = network;
    const Address last = HostBits(network, r.prefix, true);
    for (const Address& inside : {first, last}) {
      SCOPED_TRACE(inside.text());
      const absl::optional<std::string> reason =
          policy.Check(inside.family, inside.bytes.data());
      ASSERT_TRUE(reason.has_value());
      EXPECT_EQ(reason, ExpectedReason(inside));
      EXPECT_EQ(allow_private.Check(inside.family, inside.bytes.data()),
                absl::nullopt);
    }
    Address before = first;
    if (Step(&before, -1)) {
      SCOPED_TRACE(before.text());
      EXPECT_EQ(policy.Check(before.family, before.bytes.data()),
                ExpectedReason(before));
    }
    Address after = last;
    if (Step(&after, +1)) {
      SCOPED_TRACE(after.text());
      EXPECT_EQ(policy.Check(after.family, after.bytes.data()),
                ExpectedReason(after));
    }
  }
}

TEST(AddressPolicyTest, NeighboursOutsideAreAllowed) {
  const AddressPolicy policy;
  const std::string kAllowed[] = {
      "1.0.0.0",
      "9.255.255.255",
      "11.0.0.0",
      "100.63.255.255",
      "100.128.0.0",
      "126.255.255.255",
      "128.0.0.0",
      "169.253.255.255",
      "169.255.0.0",
      "172.15.255.255",
      "172.32.0.0",
      "191.255.255.255",
      "192.0.1.0",
      "192.0.3.0",
      "192.88.98.255",
      "192.88.100.0",
      "192.167.255.255",
      "192.169.0.0",
      "198.17.255.255",
      "198.20.0.0",
      "198.51.99.255",
      "198.51.101.0",
      "203.0.112.255",
      "203.0.114.0",
      "223.255.255.255",
      "8.8.8.8",
      "::2",
      "64:ff9b:0:ffff:ffff:ffff:ffff:ffff",
      "64:ff9b:2::",
      "ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "100:0:0:1::",
      "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "2001:200::",
      "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
      "2001:db9::",
      "2001:4860:4860::8888",
      "2003::",
      "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "3fff:1000::",
      "5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "5f01::",
      "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "fe00::",
      "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "2a00:1450:4001:80b::200e",
  };
  for (const std::string& text : kAllowed) {
    EXPECT_EQ(Check(policy, text), absl::nullopt) << text;
  }
}

TEST(AddressPolicyTest, ReasonsOfWellKnownAddresses) {
  const AddressPolicy policy;
  const struct {
    std::string address;
    std::string reason;
  } kCases[] = {
      {"127.0.0.1", "reserved:loopback"},
      {"::1", "reserved:loopback"},
      {"10.1.2.3", "reserved:private"},
      {"192.168.1.1", "reserved:private"},
      {"172.31.255.255", "reserved:private"},
      {"100.100.100.100", "reserved:shared-address-space"},
      {"169.254.169.254", "reserved:link-local"},
      {"fe80::1", "reserved:link-local"},
      {"192.0.2.25", "reserved:documentation"},
      {"2001:db8::25", "reserved:documentation"},
      {"198.19.0.1", "reserved:benchmarking"},
      {"224.0.0.251", "reserved:multicast"},
      {"ff02::1", "reserved:multicast"},
      {"255.255.255.255", "reserved:limited-broadcast"},
      {"255.255.255.254", "reserved:reserved"},
      {"240.0.0.1", "reserved:reserved"},
      {"0.1.2.3", "reserved:this-network"},
      {"::", "reserved:unspecified"},
      {"2001:0:4136:e378::1", "reserved:teredo"},
      {"2001:1::1", "reserved:ietf-protocol-assignments"},
      {"2001:1ff:ffff::", "reserved:ietf-protocol-assignments"},
      {"2002:c000:204::1", "reserved:6to4"},
      {"fd12:3456::1", "reserved:unique-local"},
      {"fc00::1", "reserved:unique-local"},
      {"fec0::1", "reserved:site-local"},
      {"100::1", "reserved:discard-only"},
      {"64:ff9b:1::1", "reserved:local-use-nat64"},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(Check(policy, c.address), c.reason) << c.address;
  }
  EXPECT_EQ(policy.Check(AF_UNIX, Parse("8.8.8.8").bytes.data()),
            "unsupported-address-family");
}

TEST(AddressPolicyTest, Ipv4MappedAndNat64UseTheIpv4Rules) {
  const AddressPolicy policy;
  const struct {
    std::string address;
    absl::optional<std::string> reason;
  } kCases[] = {
      {"::ffff:127.0.0.1", "reserved:loopback"},
      {"::ffff:10.0.0.1", "reserved:private"},
      {"::ffff:192.0.2.1", "reserved:documentation"},
      {"::ffff:0.0.0.0", "reserved:this-network"},
      {"::ffff:255.255.255.255", "reserved:limited-broadcast"},
      {"::ffff:8.8.8.8", absl::nullopt},
      {"64:ff9b::127.0.0.1", "reserved:loopback"},
      {"64:ff9b::192.168.0.1", "reserved:private"},
      {"64:ff9b::8.8.8.8", absl::nullopt},
      // Not the /96 prefixes: judged as IPv6.
      {"64:ff9b::1:8.8.8.8", absl::nullopt},
      {"::fffe:127.0.0.1", absl::nullopt},
      {"::1:ffff:127.0.0.1", absl::nullopt},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(Check(policy, c.address), c.reason) << c.address;
    const Address address = Parse(c.address);
    EXPECT_EQ(ExpectedReason(address), c.reason) << c.address;
  }
  const Address mapped = Parse("::ffff:127.0.0.1");
  EXPECT_EQ(AddressPolicy::ReservedRangeName(AF_INET6, mapped.bytes.data()),
            "loopback");
  const Address public_v6 = Parse("2a00:1450::1");
  EXPECT_EQ(AddressPolicy::ReservedRangeName(AF_INET6, public_v6.bytes.data()),
            absl::nullopt);

  AddressPolicy allow(/*allow_private=*/true);
  EXPECT_EQ(Check(allow, "::ffff:127.0.0.1"), absl::nullopt);
  EXPECT_EQ(Check(allow, "64:ff9b::10.0.0.1"), absl::nullopt);
}

TEST(AddressPolicyTest, BlocklistAppliesToEmbeddedIpv4) {
  AddressPolicy policy;
  ASSERT_TRUE(
      policy.AddBlocklistText("8.8.8.0/24\n::ffff:9.9.9.9\n", "list").ok());
  EXPECT_EQ(Check(policy, "8.8.8.8"), "blocklist");
  EXPECT_EQ(Check(policy, "::ffff:8.8.8.8"), "blocklist");
  EXPECT_EQ(Check(policy, "64:ff9b::8.8.8.8"), "blocklist");
  EXPECT_EQ(Check(policy, "::ffff:9.9.9.9"), "blocklist");
  EXPECT_EQ(Check(policy, "9.9.9.9"), absl::nullopt);  // only the v6 form
  EXPECT_EQ(Check(policy, "::ffff:8.8.9.8"), absl::nullopt);
}

TEST(AddressPolicyTest, AllowPrivateStillEnforcesTheBlocklist) {
  AddressPolicy policy(/*allow_private=*/true);
  EXPECT_TRUE(policy.allow_private());
  ASSERT_TRUE(
      policy.AddBlocklistText("10.0.0.0/8\n2001:db8::/32\n", "list").ok());
  EXPECT_EQ(Check(policy, "10.1.2.3"), "blocklist");
  EXPECT_EQ(Check(policy, "2001:db8::1"), "blocklist");
  EXPECT_EQ(Check(policy, "127.0.0.1"), absl::nullopt);
  EXPECT_EQ(Check(policy, "192.168.0.1"), absl::nullopt);
  EXPECT_EQ(Check(policy, "fe80::1"), absl::nullopt);
  // Without allow_private the reserved reason comes first.
  AddressPolicy strict;
  ASSERT_TRUE(strict.AddBlocklistText("10.0.0.0/8\n", "list").ok());
  EXPECT_EQ(Check(strict, "10.1.2.3"), "reserved:private");
}

TEST(AddressPolicyTest, BlocklistSyntax) {
  AddressPolicy policy;
  const std::string text =
      "# the blocklist\r\n"
      "\n"
      "8.8.4.4/16\r\n"  // host bits: masked to 8.8.0.0/16
      "  1.1.1.1  # a bare address\n"
      "\t9.9.9.0/24\t#tabbed comment\n"
      "2a00:1450:4001:80b::200e/32\n"  // masked to 2a00:1450::/32
      "2606:4700::1111\n"
      "   \n"
      "#\n"
      "4.4.4.4/32";  // no final LF
  ASSERT_TRUE(policy.AddBlocklistText(text, "list").ok());
  const struct {
    std::string address;
    bool blocked;
  } kCases[] = {
      {"8.8.0.0", true},
      {"8.8.255.255", true},
      {"8.8.4.4", true},
      {"8.7.255.255", false},
      {"8.9.0.0", false},
      {"1.1.1.1", true},
      {"1.1.1.0", false},
      {"1.1.1.2", false},
      {"9.9.9.255", true},
      {"9.9.10.0", false},
      {"2a00:1450::", true},
      {"4.4.4.4", true},
      {"2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff", true},
      {"2a00:1451::", false},
      {"2a00:144f:ffff:ffff:ffff:ffff:ffff:ffff", false},
      {"2606:4700::1111", true},
      {"2606:4700::1112", false},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(
        Check(policy, c.address),
        c.blocked ? absl::optional<std::string>("blocklist") : absl::nullopt)
        << c.address;
  }
  EXPECT_EQ(policy.blocklist_ranges_v4(), 4u);
  EXPECT_EQ(policy.blocklist_ranges_v6(), 2u);
}

TEST(AddressPolicyTest, WholeFamilyAndOverlappingEntries) {
  AddressPolicy policy(/*allow_private=*/true);
  ASSERT_TRUE(policy
                  .AddBlocklistText("0.0.0.0/0\n1.2.3.4\n10.0.0.0/8\n"
                                    "2001:db8::/48\n2001:db8::/32\n"
                                    "2001:db8:1::/48\n2001:db9::/32\n",
                                    "list")
                  .ok());
  EXPECT_EQ(policy.blocklist_ranges_v4(), 1u);
  EXPECT_EQ(policy.blocklist_ranges_v6(), 2u);  // adjacent, not overlapping
  EXPECT_EQ(Check(policy, "0.0.0.0"), "blocklist");
  EXPECT_EQ(Check(policy, "255.255.255.255"), "blocklist");
  EXPECT_EQ(Check(policy, "2001:db8:ffff::"), "blocklist");
  EXPECT_EQ(Check(policy, "2001:db9:ffff::"), "blocklist");
  EXPECT_EQ(Check(policy, "2001:dba::"), absl::nullopt);
  AddressPolicy all_v6(/*allow_private=*/true);
  ASSERT_TRUE(all_v6.AddBlocklistText("::/0", "list").ok());
  EXPECT_EQ(Check(all_v6, "::"), "blocklist");
  EXPECT_EQ(Check(all_v6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            "blocklist");
  EXPECT_EQ(Check(all_v6, "8.8.8.8"), absl::nullopt);
}

TEST(AddressPolicyTest, BlocklistErrorsNameFileAndLine) {
  const struct {
    std::string bad_line;
    std::string reason;
  } kCases[] = {
      {"1.2.3", "not an IP address"},
      {"example.com", "not an IP address"},
      {"010.0.0.0/8", "not an IP address"},
      {"[2001:db8::1]", "not an IP address"},
      {"fe80::1%eth0", "not an IP address"},
      {"/8", "not an IP address"},
      {std::string("1.2.3.4\0", 8), "not an IP address"},
      {"10.0.0.0/33", "bad prefix length '33' (0..32 for IPv4)"},
      {"2001:db8::/129", "bad prefix length '129' (0..128 for IPv6)"},
      {"10.0.0.0/", "bad prefix length"},
      {"10.0.0.0/-1", "bad prefix length"},
      {"10.0.0.0/+8", "bad prefix length"},
      {"10.0.0.0/8/9", "bad prefix length"},
      {"10.0.0.0/0x8", "bad prefix length"},
      {"10.0.0.0/0008", "bad prefix length"},
      {"10.0.0.0/8#comment", "bad prefix length"},
      {"10.0.0.0/8 extra", "unexpected text after '10.0.0.0/8'"},
      {"10.0.0.0 - 10.0.0.255", "unexpected text"},
      {"10.0.0.0 /8", "unexpected text"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(absl::CHexEscape(c.bad_line));
    AddressPolicy policy;
    const std::string text =
        "1.1.1.1\n# comment\n\n" + c.bad_line + "\n2.2.2.2\n";
    const absl::Status status = policy.AddBlocklistText(text, "block.txt");
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), StartsWith("block.txt:4: "));
    EXPECT_THAT(status.message(), HasSubstr(c.reason));
    // Nothing of a bad text is added.
    EXPECT_EQ(Check(policy, "1.1.1.1"), absl::nullopt);
    EXPECT_EQ(policy.blocklist_ranges_v4(), 0u);
  }
}

// A fresh directory under the test's temporary directory.
std::string MakeTempDir() {
  std::string pattern = testing::TempDir() + "address_policy_test.XXXXXX";
  const char* dir = mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr) << std::strerror(errno);
  return pattern;
}

void WriteFile(const std::string& path, const std::string& text) {
  FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  ASSERT_EQ(std::fwrite(text.data(), 1, text.size(), file), text.size());
  ASSERT_EQ(std::fclose(file), 0);
}

TEST(AddressPolicyTest, CreateFromFiles) {
  const std::string dir = MakeTempDir();
  const std::string a = dir + "/a.txt";
  const std::string b = dir + "/b.txt";
  WriteFile(a, "# list a\r\n8.8.8.0/24\r\n");
  WriteFile(b, "2606:4700::/32  # list b\n1.1.1.1");
  absl::StatusOr<AddressPolicy> policy = AddressPolicy::Create(false, {a, b});
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(Check(*policy, "8.8.8.8"), "blocklist");
  EXPECT_EQ(Check(*policy, "1.1.1.1"), "blocklist");
  EXPECT_EQ(Check(*policy, "2606:4700::1"), "blocklist");
  EXPECT_EQ(Check(*policy, "9.9.9.9"), absl::nullopt);
  EXPECT_EQ(Check(*policy, "127.0.0.1"), "reserved:loopback");

  // Errors: a bad line, an over-long line, a missing file, a directory.
  const std::string bad = dir + "/bad.txt";
  WriteFile(bad, "8.8.8.8\n\n# x\n999.1.1.1\n");
  policy = AddressPolicy::Create(false, {a, bad});
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(std::string(policy.status().message()),
              StartsWith(bad + ":4: not an IP address"));

  const std::string long_line = dir + "/long.txt";
  WriteFile(long_line, "8.8.8.8\n" + std::string(5000, '1') + "\n");
  policy = AddressPolicy::Create(false, {long_line});
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().message(),
            long_line + ":2: line longer than 4096 bytes");

  const std::string missing = dir + "/missing.txt";
  policy = AddressPolicy::Create(false, {missing});
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(policy.status().message()),
              StartsWith(missing + ": "));
  EXPECT_THAT(policy.status().message(), HasSubstr(std::strerror(ENOENT)));

  policy = AddressPolicy::Create(false, {dir});
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(std::string(policy.status().message()), StartsWith(dir + ": "));
  EXPECT_THAT(policy.status().message(), HasSubstr(std::strerror(EISDIR)));

  for (const std::string& path : {a, b, bad, long_line}) unlink(path.c_str());
  rmdir(dir.c_str());
}

struct Entry {
  Address first;
  Address last;
};

bool Covered(const std::vector<Entry>& entries, const Address& address) {
  const size_t n = address.family == AF_INET ? 4 : 16;
  for (const Entry& e : entries) {
    if (std::memcmp(e.first.bytes.data(), address.bytes.data(), n) <= 0 &&
        std::memcmp(address.bytes.data(), e.last.bytes.data(), n) <= 0) {
      return true;
    }
  }
  return false;
}

// 50,000 random entries, checked against a brute-force scan at each entry's
// edges and their neighbours, and at random addresses.
TEST(AddressPolicyTest, LargeGeneratedBlocklist) {
  std::mt19937_64 rng(42);
  std::string text;
  std::vector<Entry> entries;
  std::vector<Entry> by_family[2];  // AF_INET, AF_INET6
  for (int i = 0; i < 50000; ++i) {
    Address address;
    int prefix;
    if (i % 2 == 0) {
      address.family = AF_INET;
      prefix = 16 + static_cast<int>(rng() % 17);
    } else {
      address.family = AF_INET6;
      prefix = 24 + static_cast<int>(rng() % 105);
    }
    for (int b = 0; b < address.bits() / 8; ++b) {
      address.bytes[b] = static_cast<uint8_t>(rng());
    }
    if (address.family == AF_INET6) address.bytes[0] = 0x20 | (rng() % 16);
    absl::StrAppend(&text, address.text(), "/", prefix, "\n");
    entries.push_back(
        {HostBits(address, prefix, false), HostBits(address, prefix, true)});
    by_family[address.family == AF_INET6].push_back(entries.back());
  }
  AddressPolicy policy(/*allow_private=*/true);
  ASSERT_TRUE(policy.AddBlocklistText(text, "generated").ok());

  std::vector<Address> probes;
  for (size_t i = 0; i < entries.size(); i += 97) {
    Address before = entries[i].first;
    Address after = entries[i].last;
    probes.push_back(entries[i].first);
    probes.push_back(entries[i].last);
    if (Step(&before, -1)) probes.push_back(before);
    if (Step(&after, +1)) probes.push_back(after);
  }
  for (int i = 0; i < 1000; ++i) {
    Address address;
    address.family = i % 2 == 0 ? AF_INET : AF_INET6;
    for (int b = 0; b < address.bits() / 8; ++b) {
      address.bytes[b] = static_cast<uint8_t>(rng());
    }
    if (address.family == AF_INET6) address.bytes[0] = 0x20 | (rng() % 16);
    probes.push_back(address);
  }
  int blocked = 0;
  for (const Address& probe : probes) {
    const bool covered = Covered(by_family[probe.family == AF_INET6], probe);
    blocked += covered;
    ASSERT_EQ(
        policy.Check(probe.family, probe.bytes.data()),
        covered ? absl::optional<std::string>("blocklist") : absl::nullopt)
        << probe.text();
  }
  EXPECT_GT(blocked, 2 * 50000 / 97);  // the edges at least
}

}  // namespace
}  // namespace smtpscan::scan
