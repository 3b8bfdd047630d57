#include "scan/target.h"

#include <arpa/inet.h>

#include <cstring>
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

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

const std::vector<uint16_t> kDefaults = {25, 465, 587};

struct ValidCase {
  std::string line;
  std::string address;
  int family;
  std::vector<uint16_t> ports;
  std::string name;
};

TEST(ParseTargetLineTest, ValidLines) {
  const std::string label63(63, 'a');
  const std::string name253 = absl::StrCat(label63, ".", label63, ".", label63,
                                           ".", std::string(61, 'd'));
  ASSERT_EQ(name253.size(), 253u);
  const ValidCase kCases[] = {
      {"192.0.2.1", "192.0.2.1", AF_INET, kDefaults, ""},
      {" \t192.0.2.1 \r", "192.0.2.1", AF_INET, kDefaults, ""},
      {"192.0.2.1:587", "192.0.2.1", AF_INET, {587}, ""},
      {"192.0.2.1:1", "192.0.2.1", AF_INET, {1}, ""},
      {"192.0.2.1:65535", "192.0.2.1", AF_INET, {65535}, ""},
      {"192.0.2.1:00025", "192.0.2.1", AF_INET, {25}, ""},
      {"0.0.0.0", "0.0.0.0", AF_INET, kDefaults, ""},
      {"255.255.255.255:25", "255.255.255.255", AF_INET, {25}, ""},
      {"[192.0.2.1]", "192.0.2.1", AF_INET, kDefaults, ""},
      {"[192.0.2.1]:587", "192.0.2.1", AF_INET, {587}, ""},
      {"2001:db8::1", "2001:db8::1", AF_INET6, kDefaults, ""},
      {"2001:DB8:0:0:0:0:0:1", "2001:db8::1", AF_INET6, kDefaults, ""},
      {"2001:db8::1:25", "2001:db8::1:25", AF_INET6, kDefaults, ""},
      {"::1", "::1", AF_INET6, kDefaults, ""},
      {"::", "::", AF_INET6, kDefaults, ""},
      {"::ffff:192.0.2.1", "::ffff:192.0.2.1", AF_INET6, kDefaults, ""},
      {"[2001:db8::1]", "2001:db8::1", AF_INET6, kDefaults, ""},
      {"[2001:db8::1]:25", "2001:db8::1", AF_INET6, {25}, ""},
      {"[::ffff:192.0.2.1]:465", "::ffff:192.0.2.1", AF_INET6, {465}, ""},
      {"192.0.2.1,mx.example.com", "192.0.2.1", AF_INET, kDefaults,
       "mx.example.com"},
      {"192.0.2.1,MX.Example.COM.", "192.0.2.1", AF_INET, kDefaults,
       "mx.example.com"},
      {"192.0.2.1:25,mx.example.com",
       "192.0.2.1",
       AF_INET,
       {25},
       "mx.example.com"},
      {"2001:db8::1,mx.example.com", "2001:db8::1", AF_INET6, kDefaults,
       "mx.example.com"},
      {"[2001:db8::1]:25,mx.example.com",
       "2001:db8::1",
       AF_INET6,
       {25},
       "mx.example.com"},
      {"192.0.2.1,localhost", "192.0.2.1", AF_INET, kDefaults, "localhost"},
      {"192.0.2.1,_smtp._tcp.example", "192.0.2.1", AF_INET, kDefaults,
       "_smtp._tcp.example"},
      {"192.0.2.1,xn--bcher-kva.example", "192.0.2.1", AF_INET, kDefaults,
       "xn--bcher-kva.example"},
      {"192.0.2.1,a-b.9x.example", "192.0.2.1", AF_INET, kDefaults,
       "a-b.9x.example"},
      {"192.0.2.1,192.0.2.1", "192.0.2.1", AF_INET, kDefaults, "192.0.2.1"},
      {"192.0.2.1," + name253, "192.0.2.1", AF_INET, kDefaults, name253},
      {"192.0.2.1," + name253 + ".", "192.0.2.1", AF_INET, kDefaults, name253},
  };
  uint64_t number = 0;
  for (const ValidCase& c : kCases) {
    SCOPED_TRACE(c.line);
    ++number;
    absl::StatusOr<Target> target = ParseTargetLine(c.line, number, kDefaults);
    ASSERT_TRUE(target.ok()) << target.status();
    EXPECT_EQ(target->line, number);
    EXPECT_EQ(target->input, c.line);
    EXPECT_EQ(target->address, c.address);
    EXPECT_EQ(target->family, c.family);
    EXPECT_THAT(target->ports, ElementsAreArray(c.ports));
    EXPECT_EQ(target->name, c.name);
    // The bytes are the address.
    uint8_t expected[16] = {};
    ASSERT_EQ(inet_pton(c.family, c.address.c_str(), expected), 1);
    EXPECT_EQ(std::memcmp(target->bytes.data(), expected,
                          c.family == AF_INET ? 4 : 16),
              0);
  }
}

struct InvalidCase {
  std::string line;
  std::string reason;  // a substring of the reason
};

TEST(ParseTargetLineTest, InvalidLines) {
  const std::string label63(63, 'a');
  const std::string name254 = absl::StrCat(label63, ".", label63, ".", label63,
                                           ".", std::string(62, 'd'));
  const InvalidCase kCases[] = {
      {"", "empty line"},
      {"   \t ", "empty line"},
      {"1.2.3.4:", "empty port"},
      {"1.2.3.4:0", "not in 1..65535"},
      {"1.2.3.4:00", "not in 1..65535"},
      {"1.2.3.4:65536", "not in 1..65535"},
      {"1.2.3.4:100000", "not in 1..65535"},
      {"1.2.3.4:99999999999999999999", "not in 1..65535"},
      {"1.2.3.4:+25", "not a decimal number"},
      {"1.2.3.4:-25", "not a decimal number"},
      {"1.2.3.4:0x19", "not a decimal number"},
      {"1.2.3.4:2a", "not a decimal number"},
      {"1.2.3.4:25:26", "port '25:26'"},
      {"[::1", "missing ']'"},
      {"[::1:25", "missing ']'"},
      {"::1]:25", "']' without '['"},
      {"1.2.3.4]", "']' without '['"},
      {"[2001:db8::1]25", "unexpected text after ']'"},
      {"[2001:db8::1]]", "unexpected text after ']'"},
      {"[2001:db8::1]:", "empty port"},
      {"[2001:db8::1]:0", "not in 1..65535"},
      {"[]", "not an IP address"},
      {"[]:25", "not an IP address"},
      {"[1.2.3.4:25]", "not an IP address"},
      {"[[::1]]", "unexpected text after ']'"},
      {"1.2.3", "not an IP address"},
      {"1.2.3.4.5", "not an IP address"},
      {"01.2.3.4", "not an IP address"},
      {"1.2.3.04", "not an IP address"},
      {"256.1.1.1", "not an IP address"},
      {"1.2.3.-4", "not an IP address"},
      {"0x7f.0.0.1", "not an IP address"},
      {"1.2.3.4/24", "not an IP address"},
      {"example.com", "not an IP address"},
      {"example.com:25", "not an IP address"},
      {"2001:db8::1::2", "not an IP address"},
      {"2001:db8:::1", "not an IP address"},
      {"12345::1", "not an IP address"},
      {"::ffff:01.2.3.4", "not an IP address"},
      {"fe80::1%eth0", "zone ids"},
      {"[fe80::1%eth0]:25", "zone ids"},
      {"1.2.3.4 :25", "whitespace inside"},
      {"1.2.3.4: 25", "whitespace inside"},
      {"1.2.3.4 ,mx.example", "whitespace inside"},
      {"1.2.3.4, mx.example", "whitespace inside"},
      {"1.2.3.4\t25", "whitespace inside"},
      {"1.2.3.4\r,mx", "whitespace inside"},
      {std::string("1.2.3.4\0", 8), "NUL byte"},
      {std::string("\0"
                   "1.2.3.4",
                   8),
       "NUL byte"},
      {std::string("1.2.3.4,mx\0.example", 19), "NUL byte"},
      {"\x01"
       "1.2.3.4",
       "not an IP address"},
      {"1.2.3.4,", "empty host name"},
      {"1.2.3.4:25,", "empty host name"},
      {"1.2.3.4,.", "empty host name"},
      {",mx.example.com", "missing address"},
      {",", "missing address"},
      {"1.2.3.4,-mx.example", "starts or ends with '-'"},
      {"1.2.3.4,mx-.example", "starts or ends with '-'"},
      {"1.2.3.4,mx.example-", "starts or ends with '-'"},
      {"1.2.3.4,mx..example", "empty label"},
      {"1.2.3.4,.mx.example", "empty label"},
      {"1.2.3.4,mx.example..", "empty label"},
      {"1.2.3.4,..", "empty label"},
      {"1.2.3.4,mx!.example", "invalid character '!'"},
      {"1.2.3.4,mx.example/x", "invalid character '/'"},
      {"1.2.3.4,mx,example", "invalid character ','"},
      {"1.2.3.4,mx:25", "invalid character ':'"},
      {"1.2.3.4,[mx]", "invalid character '['"},
      {"1.2.3.4,b\xc3\xbc"
       "cher.example",
       "non-ASCII"},
      {"1.2.3.4,mx.\x7f", "invalid character '\\x7f'"},
      {"1.2.3.4," + std::string(64, 'a') + ".example", "longer than 63"},
      {"1.2.3.4," + name254, "longer than 253"},
      {"1.2.3.4," + std::string(100000, 'a'), "longer than 253"},
      // The address is checked before the name.
      {"1.2.3,mx!", "not an IP address"},
  };
  for (const InvalidCase& c : kCases) {
    SCOPED_TRACE(absl::CHexEscape(c.line.substr(0, 80)));
    absl::StatusOr<Target> target = ParseTargetLine(c.line, 7, kDefaults);
    ASSERT_FALSE(target.ok());
    EXPECT_EQ(target.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(target.status().message(), HasSubstr(c.reason));
    // The reason is one short printable line whatever the input holds.
    EXPECT_LE(target.status().message().size(), 200u);
    for (char ch : target.status().message()) {
      EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << int{ch};
    }
  }
}

TEST(ParseTargetLineTest, PortGivenOverridesDefaults) {
  const std::vector<uint16_t> defaults = {25};
  absl::StatusOr<Target> target =
      ParseTargetLine("192.0.2.1:2525", 1, defaults);
  ASSERT_TRUE(target.ok());
  EXPECT_THAT(target->ports, ElementsAre(2525));
  target = ParseTargetLine("192.0.2.1", 1, defaults);
  ASSERT_TRUE(target.ok());
  EXPECT_THAT(target->ports, ElementsAre(25));
}

TEST(ParseTargetLineTest, NoDefaultPorts) {
  absl::StatusOr<Target> target = ParseTargetLine("192.0.2.1", 1, {});
  ASSERT_FALSE(target.ok());
  EXPECT_THAT(target.status().message(), HasSubstr("no port given"));
  target = ParseTargetLine("192.0.2.1:25", 1, {});
  ASSERT_TRUE(target.ok());
  EXPECT_THAT(target->ports, ElementsAre(25));
}

TEST(ParsePortListTest, Valid) {
  const struct {
    std::string text;
    std::vector<uint16_t> ports;
  } kCases[] = {
      {"25", {25}},
      {"25,465,587", {25, 465, 587}},
      {"587,25,587,25,465", {587, 25, 465}},
      {"1,65535", {1, 65535}},
      {"025", {25}},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<std::vector<uint16_t>> ports = ParsePortList(c.text);
    ASSERT_TRUE(ports.ok()) << ports.status();
    EXPECT_THAT(*ports, ElementsAreArray(c.ports));
  }
}

TEST(ParsePortListTest, Invalid) {
  const std::string kCases[] = {
      "",
      ",",
      "25,",
      ",25",
      "25,,587",
      "0",
      "65536",
      "25;587",
      " 25",
      "25 ",
      "25, 587",
      "-1",
      "+25",
      "abc",
      "25,abc",
      "25,0",
      "1e3",
      "25.0",
      std::string("25\0", 3),
  };
  for (const std::string& text : kCases) {
    SCOPED_TRACE(absl::CHexEscape(text));
    absl::StatusOr<std::vector<uint16_t>> ports = ParsePortList(text);
    ASSERT_FALSE(ports.ok());
    EXPECT_EQ(ports.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ParseIpAddressTest, Cases) {
  EXPECT_EQ(ParseIpAddress("192.0.2.1")->family, AF_INET);
  EXPECT_EQ(ParseIpAddress("2001:db8::1")->family, AF_INET6);
  const std::string kBad[] = {"",
                              "1.2.3",
                              "[::1]",
                              "::1%lo",
                              " 1.2.3.4",
                              "1.2.3.4 ",
                              "1.2.3.4:25",
                              std::string(100, '1'),
                              std::string("::1\0", 4)};
  for (const std::string& text : kBad) {
    SCOPED_TRACE(absl::CHexEscape(text));
    EXPECT_FALSE(ParseIpAddress(text).has_value());
  }
}

TEST(FormatIpAddressTest, Canonical) {
  const absl::optional<IpAddress> ip = ParseIpAddress("2001:0DB8:0::0:1");
  ASSERT_TRUE(ip.has_value());
  EXPECT_EQ(FormatIpAddress(ip->family, ip->bytes.data()), "2001:db8::1");
}

TEST(MakeSocketAddressTest, Ipv4) {
  absl::StatusOr<Target> target = ParseTargetLine("192.0.2.1:587", 1, {});
  ASSERT_TRUE(target.ok());
  const SocketAddress address = MakeSocketAddress(*target, 587);
  ASSERT_EQ(address.length, sizeof(sockaddr_in));
  const auto* sin = reinterpret_cast<const sockaddr_in*>(&address.storage);
  EXPECT_EQ(sin->sin_family, AF_INET);
  EXPECT_EQ(ntohs(sin->sin_port), 587);
  char text[INET_ADDRSTRLEN];
  ASSERT_NE(inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text)), nullptr);
  EXPECT_STREQ(text, "192.0.2.1");
  EXPECT_EQ(address.get()->sa_family, AF_INET);
}

TEST(MakeSocketAddressTest, Ipv6) {
  absl::StatusOr<Target> target =
      ParseTargetLine("[2001:db8::25]", 1, kDefaults);
  ASSERT_TRUE(target.ok());
  const SocketAddress address = MakeSocketAddress(*target, 465);
  ASSERT_EQ(address.length, sizeof(sockaddr_in6));
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
  EXPECT_EQ(sin6->sin6_family, AF_INET6);
  EXPECT_EQ(ntohs(sin6->sin6_port), 465);
  EXPECT_EQ(sin6->sin6_flowinfo, 0u);
  EXPECT_EQ(sin6->sin6_scope_id, 0u);
  char text[INET6_ADDRSTRLEN];
  ASSERT_NE(inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text)), nullptr);
  EXPECT_STREQ(text, "2001:db8::25");
}

}  // namespace
}  // namespace smtpscan::scan
