#include "scan/provider.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smtpscan::scan {
namespace {

std::unique_ptr<ProviderGroups> Make(const std::string& file) {
  absl::StatusOr<std::unique_ptr<ProviderGroups>> groups =
      ProviderGroups::Create(file);
  EXPECT_TRUE(groups.ok()) << groups.status();
  return groups.ok() ? *std::move(groups) : nullptr;
}

// Rules in every Public Suffix List since long before Debian 12's.
void ExpectCommonRules(const ProviderGroups& groups) {
  const struct {
    std::string host;
    std::string registrable;
  } kCases[] = {
      {"aspmx.l.google.com", "google.com"},
      {"ALT1.ASPMX.L.Google.COM.", "google.com"},
      {"example-com.mail.protection.outlook.com", "outlook.com"},
      {"mx.example.co.uk", "example.co.uk"},
      {"mail.example.com.au", "example.com.au"},
      {"mx1.mail.ovh.net", "ovh.net"},
      {"example.com", "example.com"},
      // No registrable part: the name is its own group.
      {"co.uk", "co.uk"},
      {"com", "com"},
      {"localhost", "localhost"},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(groups.RegistrableDomain(c.host), c.registrable) << c.host;
  }
}

TEST(ProviderGroupsTest, RegistrableDomainsFromDebiansList) {
  std::unique_ptr<ProviderGroups> groups = Make(kPublicSuffixDafsa);
  ASSERT_NE(groups, nullptr);
  ExpectCommonRules(*groups);
}

TEST(ProviderGroupsTest, FallsBackToTheBuiltInList) {
  std::unique_ptr<ProviderGroups> groups =
      Make("/nonexistent/public_suffix_list.dafsa");
  ASSERT_NE(groups, nullptr);
  ExpectCommonRules(*groups);
}

TEST(ProviderGroupsTest, GroupsAreStableSmallNumbers) {
  std::unique_ptr<ProviderGroups> groups = Make(kPublicSuffixDafsa);
  ASSERT_NE(groups, nullptr);
  EXPECT_EQ(groups->size(), 0u);
  const uint32_t google = groups->GroupOf("aspmx.l.google.com");
  const uint32_t outlook = groups->GroupOf("a-b.mail.protection.outlook.com");
  EXPECT_EQ(google, 1u);
  EXPECT_EQ(outlook, 2u);
  EXPECT_EQ(groups->GroupOf("alt4.aspmx.l.google.com."), google);
  EXPECT_EQ(groups->GroupOf("ASPMX2.GOOGLEMAIL.COM"), 3u);  // another domain
  EXPECT_EQ(groups->GroupOf("c-d.mail.protection.outlook.com"), outlook);
  EXPECT_EQ(groups->size(), 3u);
}

}  // namespace
}  // namespace smtpscan::scan
