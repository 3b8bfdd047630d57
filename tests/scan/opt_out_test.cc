#include "scan/opt_out.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scan/address_policy.h"

namespace smtpscan::scan {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::optional<std::string> CheckAddress(const AddressPolicy& policy,
                                         const std::string& text) {
  std::array<uint8_t, 16> bytes{};
  const int family = text.find(':') == std::string::npos ? AF_INET : AF_INET6;
  EXPECT_EQ(inet_pton(family, text.c_str(), bytes.data()), 1) << text;
  return policy.Check(family, bytes.data());
}

TEST(OptOutTest, ThreeKindsOfEntry) {
  OptOutList list;
  AddressPolicy addresses(/*allow_private=*/true);
  const std::string text =
      "# people who asked not to be scanned\r\n"
      "example.com\r\n"
      "\n"
      ".mail.example.net   # their MX hosts\n"
      "198.51.100.0/24\n"
      "2001:db8:5::/48\n"
      "192.0.2.9\n"
      "Bücher.example.\n"
      ".EXAMPLE\n";
  ASSERT_TRUE(list.AddText(text, "opt-out.txt", &addresses).ok());
  EXPECT_EQ(list.domains(), 2u);
  EXPECT_EQ(list.suffixes(), 2u);

  // Domains: exact names only.
  EXPECT_EQ(list.CheckDomain("example.com"),
            "opt-out opt-out.txt:2 example.com");
  EXPECT_EQ(list.CheckDomain("sub.example.com"), absl::nullopt);
  EXPECT_EQ(list.CheckDomain("example.co"), absl::nullopt);
  EXPECT_EQ(list.CheckDomain("xn--bcher-kva.example"),
            "opt-out opt-out.txt:8 xn--bcher-kva.example");

  // Suffixes: the name itself and every name under it, any case, one
  // trailing dot.
  EXPECT_EQ(list.CheckHost("mail.example.net"),
            "opt-out opt-out.txt:4 .mail.example.net");
  EXPECT_EQ(list.CheckHost("mx1.mail.example.net"),
            "opt-out opt-out.txt:4 .mail.example.net");
  EXPECT_EQ(list.CheckHost("A.B.MAIL.Example.NET."),
            "opt-out opt-out.txt:4 .mail.example.net");
  EXPECT_EQ(list.CheckHost("xmail.example.net"), absl::nullopt);
  EXPECT_EQ(list.CheckHost("example.net"), absl::nullopt);
  EXPECT_EQ(list.CheckHost("mail.example.net.evil.test"), absl::nullopt);
  // A one-label suffix.
  EXPECT_EQ(list.CheckHost("mx.anything.example"),
            "opt-out opt-out.txt:9 .example");
  EXPECT_EQ(list.CheckHost("example"), "opt-out opt-out.txt:9 .example");
  EXPECT_EQ(list.CheckHost(""), absl::nullopt);
  // A domain entry is not a suffix, nor the reverse.
  EXPECT_EQ(list.CheckHost("example.com"), absl::nullopt);
  EXPECT_EQ(list.CheckDomain("mail.example.net"), absl::nullopt);

  // CIDRs go to the address policy.
  EXPECT_EQ(CheckAddress(addresses, "198.51.100.25"),
            "opt-out opt-out.txt:5 198.51.100.0/24");
  EXPECT_EQ(CheckAddress(addresses, "2001:db8:5::25"),
            "opt-out opt-out.txt:6 2001:db8:5::/48");
  EXPECT_EQ(CheckAddress(addresses, "192.0.2.9"),
            "opt-out opt-out.txt:7 192.0.2.9/32");
  EXPECT_EQ(CheckAddress(addresses, "192.0.2.10"), absl::nullopt);
}

TEST(OptOutTest, BroadestSuffixAndFirstLineAreNamed) {
  OptOutList list;
  AddressPolicy addresses;
  ASSERT_TRUE(list.AddText(".mx.provider.test\n.provider.test\n"
                           "dup.test\ndup.test\n",
                           "a.txt", &addresses)
                  .ok());
  ASSERT_TRUE(list.AddText(".provider.test\n", "b.txt", &addresses).ok());
  EXPECT_EQ(list.CheckHost("in.mx.provider.test"),
            "opt-out a.txt:2 .provider.test");
  EXPECT_EQ(list.CheckDomain("dup.test"), "opt-out a.txt:3 dup.test");
}

TEST(OptOutTest, BadLinesNameFileAndLine) {
  const struct {
    std::string line;
    std::string reason;
  } kCases[] = {
      {"*.example.net",
       "'*.example.net': write an MX host name suffix with a leading dot, as "
       "'.example.net'"},
      {"*example.net", "as '.example.net'"},
      {".", "a suffix is a dot and a name"},
      {"..example.net", "a suffix is a dot and a name"},
      {".exa mple.net", "unexpected text after '.exa'"},
      {".-bad-.net", "bad suffix '.-bad-.net'"},
      {"under_score.example", "bad domain 'under_score.example'"},
      {"user@example.com", "bad domain"},
      {"localhost", "bad domain 'localhost'"},
      {"1.2.3", "not an IP address"},
      {"10.0.0.0/33", "bad prefix length"},
      {"2001:db8::/129", "bad prefix length"},
      {"[2001:db8::1]", "not an IP address"},
      {"example.com extra", "unexpected text after 'example.com'"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.line);
    OptOutList list;
    AddressPolicy addresses(/*allow_private=*/true);
    const absl::Status status = list.AddText(
        "ok.example\n# comment\n.ok.example\n" + c.line + "\n198.51.100.1\n",
        "opt.txt", &addresses);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), StartsWith("opt.txt:4: "));
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.reason));
    // Nothing of a bad file is added.
    EXPECT_EQ(list.CheckDomain("ok.example"), absl::nullopt);
    EXPECT_EQ(list.CheckHost("a.ok.example"), absl::nullopt);
    EXPECT_EQ(CheckAddress(addresses, "198.51.100.1"), absl::nullopt);
  }
}

TEST(OptOutTest, Files) {
  std::string dir = testing::TempDir() + "opt_out_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string good = dir + "/opt-out.txt";
  const std::string bad = dir + "/bad.txt";
  FILE* f = std::fopen(good.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("example.org\n.example.net\n203.0.113.0/24\n", f);
  std::fclose(f);
  f = std::fopen(bad.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("example.org\n\n*.example.net\n", f);
  std::fclose(f);

  OptOutList list;
  AddressPolicy addresses(/*allow_private=*/true);
  ASSERT_TRUE(list.AddFile(good, &addresses).ok());
  EXPECT_EQ(list.CheckDomain("example.org"),
            "opt-out " + good + ":1 example.org");
  EXPECT_EQ(list.CheckHost("mx.example.net"),
            "opt-out " + good + ":2 .example.net");
  EXPECT_EQ(CheckAddress(addresses, "203.0.113.5"),
            "opt-out " + good + ":3 203.0.113.0/24");

  absl::Status status = list.AddFile(bad, &addresses);
  EXPECT_THAT(std::string(status.message()), StartsWith(bad + ":3: "));
  status = list.AddFile(dir + "/missing.txt", &addresses);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr(std::strerror(ENOENT)));
  unlink(good.c_str());
  unlink(bad.c_str());
  rmdir(dir.c_str());
}

// 100,000 domains and 100,000 suffixes: every listed name is found, and
// names that are not listed are not, against a plain set walk.
TEST(OptOutTest, LargeLists) {
  std::mt19937_64 rng(7);
  auto label = [&] {
    std::string s;
    const int n = 3 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i)
      s.push_back('a' + static_cast<char>(rng() % 26));
    return s;
  };
  std::string text;
  std::vector<std::string> domains;
  std::vector<std::string> suffixes;
  for (int i = 0; i < 100000; ++i) {
    domains.push_back(absl::StrCat(label(), ".", label(), ".test"));
    suffixes.push_back(absl::StrCat(label(), ".", label(), ".example"));
    absl::StrAppend(&text, domains.back(), "\n.", suffixes.back(), "\n");
  }
  const std::set<std::string> listed_suffixes(suffixes.begin(), suffixes.end());
  OptOutList list;
  AddressPolicy addresses;
  ASSERT_TRUE(list.AddText(text, "big.txt", &addresses).ok());
  for (size_t i = 0; i < domains.size(); i += 101) {
    ASSERT_TRUE(list.CheckDomain(domains[i]).has_value()) << domains[i];
    ASSERT_TRUE(list.CheckHost("mx." + suffixes[i]).has_value());
    ASSERT_TRUE(list.CheckHost(suffixes[i]).has_value());
    // One label shorter is not listed (unless by chance: then skip).
    const std::string parent = suffixes[i].substr(suffixes[i].find('.') + 1);
    if (!listed_suffixes.contains(parent)) {
      ASSERT_EQ(list.CheckHost(parent), absl::nullopt) << parent;
    }
  }
  EXPECT_EQ(list.CheckDomain("not-listed.test"), absl::nullopt);
}

}  // namespace
}  // namespace smtpscan::scan
