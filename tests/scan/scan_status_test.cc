#include "scan/scan_status.h"

#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "gtest/gtest.h"

namespace smtpscan {
namespace {

// The released names. They are part of the output format: values may be
// added, but none of these may ever change.
constexpr std::pair<ScanStatus, absl::string_view> kReleased[] = {
    {ScanStatus::kSuccess, "success"},
    {ScanStatus::kConnectionRefused, "connection-refused"},
    {ScanStatus::kConnectionTimeout, "connection-timeout"},
    {ScanStatus::kConnectionReset, "connection-reset"},
    {ScanStatus::kUnreachable, "unreachable"},
    {ScanStatus::kGreetingTimeout, "greeting-timeout"},
    {ScanStatus::kIoTimeout, "io-timeout"},
    {ScanStatus::kGreetingRejected, "greeting-rejected"},
    {ScanStatus::kEhloRejected, "ehlo-rejected"},
    {ScanStatus::kProtocolError, "protocol-error"},
    {ScanStatus::kClosedEarly, "closed-early"},
    {ScanStatus::kStartTlsRefused, "starttls-refused"},
    {ScanStatus::kTlsHandshakeError, "tls-handshake-error"},
    {ScanStatus::kTlsTimeout, "tls-timeout"},
    {ScanStatus::kBlocked, "blocked"},
    {ScanStatus::kDnsError, "dns-error"},
    {ScanStatus::kNullMx, "null-mx"},
    {ScanStatus::kInvalidInput, "invalid-input"},
};

std::vector<ScanStatus> AllStatuses() {
  std::vector<ScanStatus> all;
  for (int i = 0; i < kScanStatusCount; ++i) {
    all.push_back(static_cast<ScanStatus>(i));
  }
  return all;
}

TEST(ScanStatusTest, ReleasedNamesArePinned) {
  EXPECT_GE(kScanStatusCount, static_cast<int>(std::size(kReleased)));
  for (const auto& [status, name] : kReleased) {
    SCOPED_TRACE(name);
    EXPECT_EQ(ScanStatusName(status), name);
    EXPECT_EQ(ParseScanStatus(name), status);
  }
}

TEST(ScanStatusTest, EveryValueRoundTrips) {
  for (ScanStatus status : AllStatuses()) {
    SCOPED_TRACE(static_cast<int>(status));
    const absl::string_view name = ScanStatusName(status);
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(ParseScanStatus(name), status);
  }
}

TEST(ScanStatusTest, NamesAreUnique) {
  std::set<std::string> names;
  for (ScanStatus status : AllStatuses()) {
    EXPECT_TRUE(names.insert(std::string(ScanStatusName(status))).second)
        << ScanStatusName(status);
  }
}

TEST(ScanStatusTest, NamesAreLowercaseHyphenated) {
  for (ScanStatus status : AllStatuses()) {
    const absl::string_view name = ScanStatusName(status);
    SCOPED_TRACE(name);
    ASSERT_FALSE(name.empty());
    for (char c : name) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '-') << "byte " << int{c};
    }
    EXPECT_NE(name.front(), '-');
    EXPECT_NE(name.back(), '-');
    EXPECT_EQ(name.find("--"), absl::string_view::npos);
  }
}

TEST(ScanStatusTest, UnknownNames) {
  const absl::string_view kUnknown[] = {
      "",
      "Success",
      "SUCCESS",
      " success",
      "success ",
      "success\n",
      "connection_refused",
      "connection refused",
      "ConnectionRefused",
      "connection",
      "connection-",
      "invalid-input-x",
      "timeout",
      "ok",
      absl::string_view("success\0", 8),
  };
  for (absl::string_view name : kUnknown) {
    SCOPED_TRACE(name);
    EXPECT_EQ(ParseScanStatus(name), absl::nullopt);
  }
}

}  // namespace
}  // namespace smtpscan
