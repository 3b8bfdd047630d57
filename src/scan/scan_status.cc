#include "scan/scan_status.h"

#include <array>

namespace smtpscan {
namespace {

// Indexed by the enum's value. A static_assert below keeps it complete.
constexpr std::array<absl::string_view, kScanStatusCount> kNames = {
    "success",
    "connection-refused",
    "connection-timeout",
    "connection-reset",
    "unreachable",
    "greeting-timeout",
    "io-timeout",
    "greeting-rejected",
    "ehlo-rejected",
    "protocol-error",
    "closed-early",
    "starttls-refused",
    "tls-handshake-error",
    "tls-timeout",
    "blocked",
    "dns-error",
    "null-mx",
    "invalid-input",
};
static_assert(kNames.back() == "invalid-input",
              "kNames must list every ScanStatus in enum order");

}  // namespace

absl::string_view ScanStatusName(ScanStatus status) {
  return kNames[static_cast<size_t>(status)];
}

absl::optional<ScanStatus> ParseScanStatus(absl::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<ScanStatus>(i);
  }
  return absl::nullopt;
}

}  // namespace smtpscan
