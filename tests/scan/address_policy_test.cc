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
      {"0.0.0.0", 8, "reserved 0.0.0.0/8 this-network (RFC 791)"},
      {"10.0.0.0", 8, "reserved 10.0.0.0/8 private (RFC 1918)"},
      {"100.64.0.0", 10,
       "reserved 100.64.0.0/10 shared-address-space (RFC 6598)"},
      {"127.0.0.0", 8, "reserved 127.0.0.0/8 loopback (RFC 1122)"},
      {"169.254.0.0", 16, "reserved 169.254.0.0/16 link-local (RFC 3927)"},
      {"172.16.0.0", 12, "reserved 172.16.0.0/12 private (RFC 1918)"},
      {"192.0.0.0", 24,
       "reserved 192.0.0.0/24 ietf-protocol-assignments (RFC 6890)"},
      {"192.0.2.0", 24, "reserved 192.0.2.0/24 documentation (RFC 5737)"},
      {"192.88.99.0", 24,
       "reserved 192.88.99.0/24 6to4-relay-anycast (RFC 7526)"},
      {"192.168.0.0", 16, "reserved 192.168.0.0/16 private (RFC 1918)"},
      {"198.18.0.0", 15, "reserved 198.18.0.0/15 benchmarking (RFC 2544)"},
      {"198.51.100.0", 24, "reserved 198.51.100.0/24 documentation (RFC 5737)"},
      {"203.0.113.0", 24, "reserved 203.0.113.0/24 documentation (RFC 5737)"},
      {"224.0.0.0", 4, "reserved 224.0.0.0/4 multicast (RFC 5771)"},
      {"255.255.255.255", 32,
       "reserved 255.255.255.255/32 limited-broadcast (RFC 919)"},
      {"240.0.0.0", 4, "reserved 240.0.0.0/4 reserved (RFC 1112)"},
      {"::", 128, "reserved ::/128 unspecified (RFC 4291)"},
      {"::1", 128, "reserved ::1/128 loopback (RFC 4291)"},
      {"64:ff9b:1::", 48, "reserved 64:ff9b:1::/48 local-use-nat64 (RFC 8215)"},
      {"100::", 64, "reserved 100::/64 discard-only (RFC 6666)"},
      {"2001::", 32, "reserved 2001::/32 teredo (RFC 4380)"},
      {"2001::", 23, "reserved 2001::/23 ietf-protocol-assignments (RFC 2928)"},
      {"2001:db8::", 32, "reserved 2001:db8::/32 documentation (RFC 3849)"},
      {"2002::", 16, "reserved 2002::/16 6to4 (RFC 3056)"},
      {"3fff::", 20, "reserved 3fff::/20 documentation (RFC 9637)"},
      {"5f00::", 16, "reserved 5f00::/16 srv6-sids (RFC 9602)"},
      {"fc00::", 7, "reserved fc00::/7 unique-local (RFC 4193)"},
      {"fe80::", 10, "reserved fe80::/10 link-local (RFC 4291)"},
      {"fec0::", 10, "reserved fec0::/10 site-local (RFC 3879)"},
      {"ff00::", 8, "reserved ff00::/8 multicast (RFC 4291)"},
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
    const absl::optional<std::string> reason = Check(policy, c.address);
    EXPECT_EQ(reason, ExpectedReason(Parse(c.address))) << c.address;
    EXPECT_THAT(reason.value_or(""), StartsWith("reserved "));
    EXPECT_THAT(reason.value_or(""),
                HasSubstr(absl::StrCat(" ", c.reason.substr(9), " (RFC ")))
        << c.address;
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
    const absl::optional<std::string> reason = Check(policy, c.address);
    EXPECT_EQ(reason, ExpectedReason(Parse(c.address))) << c.address;
    EXPECT_EQ(reason.has_value(), c.reason.has_value()) << c.address;
    if (c.reason.has_value()) {
      // The IPv4 range is named: "reserved 127.0.0.0/8 loopback (RFC 1122)".
      EXPECT_THAT(*reason,
                  HasSubstr(absl::StrCat(" ", c.reason->substr(9), " (RFC ")));
    }
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
  EXPECT_EQ(Check(policy, "8.8.8.8"), "blocklist list:1 8.8.8.0/24");
  EXPECT_EQ(Check(policy, "::ffff:8.8.8.8"), "blocklist list:1 8.8.8.0/24");
  EXPECT_EQ(Check(policy, "64:ff9b::8.8.8.8"), "blocklist list:1 8.8.8.0/24");
  EXPECT_EQ(Check(policy, "::ffff:9.9.9.9"),
            "blocklist list:2 ::ffff:9.9.9.9/128");
  EXPECT_EQ(Check(policy, "9.9.9.9"), absl::nullopt);  // only the v6 form
  EXPECT_EQ(Check(policy, "::ffff:8.8.9.8"), absl::nullopt);
}

TEST(AddressPolicyTest, AllowPrivateStillEnforcesTheBlocklist) {
  AddressPolicy policy(/*allow_private=*/true);
  EXPECT_TRUE(policy.allow_private());
  ASSERT_TRUE(
      policy.AddBlocklistText("10.0.0.0/8\n2001:db8::/32\n", "list").ok());
  EXPECT_EQ(Check(policy, "10.1.2.3"), "blocklist list:1 10.0.0.0/8");
  EXPECT_EQ(Check(policy, "2001:db8::1"), "blocklist list:2 2001:db8::/32");
  EXPECT_EQ(Check(policy, "127.0.0.1"), absl::nullopt);
  EXPECT_EQ(Check(policy, "192.168.0.1"), absl::nullopt);
  EXPECT_EQ(Check(policy, "fe80::1"), absl::nullopt);
  // Without allow_private the reserved reason comes first.
  AddressPolicy strict;
  ASSERT_TRUE(strict.AddBlocklistText("10.0.0.0/8\n", "list").ok());
  EXPECT_EQ(Check(strict, "10.1.2.3"),
            "reserved 10.0.0.0/8 private (RFC 1918)");
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
    absl::optional<std::string> rule;  // the detail after "blocklist list:"
  } kCases[] = {
      {"8.8.0.0", "3 8.8.0.0/16"},
      {"8.8.255.255", "3 8.8.0.0/16"},
      {"8.8.4.4", "3 8.8.0.0/16"},
      {"8.7.255.255", absl::nullopt},
      {"8.9.0.0", absl::nullopt},
      {"1.1.1.1", "4 1.1.1.1/32"},
      {"1.1.1.0", absl::nullopt},
      {"1.1.1.2", absl::nullopt},
      {"9.9.9.255", "5 9.9.9.0/24"},
      {"9.9.10.0", absl::nullopt},
      {"2a00:1450::", "6 2a00:1450::/32"},
      {"4.4.4.4", "10 4.4.4.4/32"},
      {"2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff", "6 2a00:1450::/32"},
      {"2a00:1451::", absl::nullopt},
      {"2a00:144f:ffff:ffff:ffff:ffff:ffff:ffff", absl::nullopt},
      {"2606:4700::1111", "7 2606:4700::1111/128"},
      {"2606:4700::1112", absl::nullopt},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(Check(policy, c.address),
              c.rule.has_value() ? absl::optional<std::string>(
                                       absl::StrCat("blocklist list:", *c.rule))
                                 : absl::nullopt)
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
  // The broadest entry is named, whatever the line order.
  EXPECT_EQ(Check(policy, "0.0.0.0"), "blocklist list:1 0.0.0.0/0");
  EXPECT_EQ(Check(policy, "1.2.3.4"), "blocklist list:1 0.0.0.0/0");
  EXPECT_EQ(Check(policy, "255.255.255.255"), "blocklist list:1 0.0.0.0/0");
  EXPECT_EQ(Check(policy, "2001:db8::1"), "blocklist list:5 2001:db8::/32");
  EXPECT_EQ(Check(policy, "2001:db8:ffff::"), "blocklist list:5 2001:db8::/32");
  EXPECT_EQ(Check(policy, "2001:db9:ffff::"), "blocklist list:7 2001:db9::/32");
  EXPECT_EQ(Check(policy, "2001:dba::"), absl::nullopt);
  AddressPolicy all_v6(/*allow_private=*/true);
  ASSERT_TRUE(all_v6.AddBlocklistText("::/0", "list").ok());
  EXPECT_EQ(Check(all_v6, "::"), "blocklist list:1 ::/0");
  EXPECT_EQ(Check(all_v6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            "blocklist list:1 ::/0");
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
  EXPECT_EQ(Check(*policy, "8.8.8.8"), "blocklist " + a + ":2 8.8.8.0/24");
  EXPECT_EQ(Check(*policy, "1.1.1.1"), "blocklist " + b + ":2 1.1.1.1/32");
  EXPECT_EQ(Check(*policy, "2606:4700::1"),
            "blocklist " + b + ":1 2606:4700::/32");
  EXPECT_EQ(Check(*policy, "9.9.9.9"), absl::nullopt);
  EXPECT_EQ(Check(*policy, "127.0.0.1"),
            "reserved 127.0.0.0/8 loopback (RFC 1122)");

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

TEST(AddressPolicyTest, AllowlistAdmitsOnlyListedAddresses) {
  AddressPolicy policy(/*allow_private=*/false);
  EXPECT_FALSE(policy.has_allowlist());
  ASSERT_TRUE(policy
                  .AddListText(AddressPolicy::ListKind::kAllowlist,
                               "8.8.8.0/24\n2606:4700::/32\n10.0.0.0/8\n",
                               "allow.txt")
                  .ok());
  EXPECT_TRUE(policy.has_allowlist());
  EXPECT_EQ(Check(policy, "8.8.8.8"), absl::nullopt);
  EXPECT_EQ(Check(policy, "2606:4700::1111"), absl::nullopt);
  EXPECT_EQ(Check(policy, "8.8.9.8"), "allowlist allow.txt: not listed");
  EXPECT_EQ(Check(policy, "2a00:1450::1"), "allowlist allow.txt: not listed");
  // An allowlist does not lift the reserved ranges.
  EXPECT_EQ(Check(policy, "10.1.2.3"),
            "reserved 10.0.0.0/8 private (RFC 1918)");
  // IPv4-mapped and NAT64 forms: either form listed admits the address.
  EXPECT_EQ(Check(policy, "::ffff:8.8.8.8"), absl::nullopt);
  EXPECT_EQ(Check(policy, "64:ff9b::8.8.8.8"), absl::nullopt);
  EXPECT_EQ(Check(policy, "::ffff:9.9.9.9"), "allowlist allow.txt: not listed");
  ASSERT_TRUE(policy
                  .AddListText(AddressPolicy::ListKind::kAllowlist,
                               "::ffff:9.9.9.9\n", "more.txt")
                  .ok());
  EXPECT_EQ(Check(policy, "::ffff:9.9.9.9"), absl::nullopt);
  EXPECT_EQ(Check(policy, "9.9.9.9"),
            "allowlist allow.txt, more.txt: not listed");
  // Exclusions win over the allowlist.
  ASSERT_TRUE(policy.AddBlocklistText("8.8.8.8\n", "bl.txt").ok());
  EXPECT_EQ(Check(policy, "8.8.8.8"), "blocklist bl.txt:1 8.8.8.8/32");
  EXPECT_EQ(Check(policy, "8.8.8.9"), absl::nullopt);
}

TEST(AddressPolicyTest, EmptyAllowlistAdmitsNothing) {
  AddressPolicy policy(/*allow_private=*/true);
  ASSERT_TRUE(policy
                  .AddListText(AddressPolicy::ListKind::kAllowlist,
                               "# nothing yet\n", "empty.txt")
                  .ok());
  EXPECT_EQ(Check(policy, "8.8.8.8"), "allowlist empty.txt: not listed");
  EXPECT_EQ(Check(policy, "::1"), "allowlist empty.txt: not listed");
}

TEST(AddressPolicyTest, OptOutEntriesAreNamedAsSuch) {
  AddressPolicy policy;
  absl::StatusOr<AddressPolicy::Cidr> a =
      AddressPolicy::ParseCidr("198.51.100.77/24");
  absl::StatusOr<AddressPolicy::Cidr> b =
      AddressPolicy::ParseCidr("2a01:4f8::1/32");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->prefix_length, 24);
  policy.AddEntries(AddressPolicy::ListKind::kOptOut, "opt-out.txt",
                    {{14, *a}, {15, *b}});
  ASSERT_TRUE(policy.AddBlocklistText("8.8.8.8\n", "bl.txt").ok());
  AddressPolicy allow(/*allow_private=*/true);
  allow.AddEntries(AddressPolicy::ListKind::kOptOut, "opt-out.txt",
                   {{14, *a}, {15, *b}});
  EXPECT_EQ(Check(allow, "198.51.100.1"),
            "opt-out opt-out.txt:14 198.51.100.0/24");
  EXPECT_EQ(Check(policy, "2a01:4f8:1::25"),
            "opt-out opt-out.txt:15 2a01:4f8::/32");
  EXPECT_EQ(Check(policy, "8.8.8.8"), "blocklist bl.txt:1 8.8.8.8/32");
  // Without allow_private, the documentation range is named first.
  EXPECT_EQ(Check(policy, "198.51.100.1"),
            "reserved 198.51.100.0/24 documentation (RFC 5737)");
}

TEST(AddressPolicyTest, CreateWithAllowlistFiles) {
  std::string pattern = testing::TempDir() + "allowlist_test.XXXXXX";
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const std::string allow = pattern + "/allow.txt";
  const std::string bad = pattern + "/bad.txt";
  {
    FILE* f = std::fopen(allow.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fputs("# scan only these\n8.8.8.0/24  # resolvers\n", f);
    std::fclose(f);
    f = std::fopen(bad.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fputs("8.8.8.0/24\nexample.com\n", f);
    std::fclose(f);
  }
  absl::StatusOr<AddressPolicy> policy =
      AddressPolicy::Create(false, {}, {allow});
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(Check(*policy, "8.8.8.8"), absl::nullopt);
  EXPECT_EQ(Check(*policy, "1.1.1.1"), "allowlist " + allow + ": not listed");
  policy = AddressPolicy::Create(false, {}, {bad});
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(std::string(policy.status().message()),
              StartsWith(bad + ":2: not an IP address"));
  unlink(allow.c_str());
  unlink(bad.c_str());
  rmdir(pattern.c_str());
}

// Nested and duplicate entries: the broadest is named, of equal ones the
// first loaded, across files too.
TEST(AddressPolicyTest, NamesTheBroadestFirstLoadedEntry) {
  AddressPolicy policy(/*allow_private=*/true);
  ASSERT_TRUE(policy
                  .AddBlocklistText("8.8.8.0/24\n8.8.0.0/16\n8.8.8.8\n"
                                    "1.1.1.1\n1.1.1.1/32\n",
                                    "a.txt")
                  .ok());
  ASSERT_TRUE(
      policy.AddBlocklistText("8.0.0.0/8\n1.1.1.1\n9.9.9.9\n", "b.txt").ok());
  EXPECT_EQ(Check(policy, "8.8.8.8"), "blocklist b.txt:1 8.0.0.0/8");
  EXPECT_EQ(Check(policy, "1.1.1.1"), "blocklist a.txt:4 1.1.1.1/32");
  EXPECT_EQ(Check(policy, "9.9.9.9"), "blocklist b.txt:3 9.9.9.9/32");
  EXPECT_EQ(policy.blocklist_ranges_v4(), 3u);
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
    const absl::optional<std::string> reason =
        policy.Check(probe.family, probe.bytes.data());
    ASSERT_EQ(reason.has_value(), covered) << probe.text();
    if (covered) {
      ASSERT_THAT(*reason, StartsWith("blocklist generated:")) << probe.text();
    }
  }
  EXPECT_GT(blocked, 2 * 50000 / 97);  // the edges at least
}

}  // namespace
}  // namespace smtpscan::scan
