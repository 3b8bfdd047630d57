#include "scan/provider.h"

#include <libpsl.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace smtpscan::scan {

absl::StatusOr<std::unique_ptr<ProviderGroups>> ProviderGroups::Create(
    const std::string& psl_file) {
  // psl_latest() with a missing file gives the built-in list (when libpsl
  // has one); asking only when the file is readable keeps the fallback
  // explicit.
  psl_ctx_t* latest = access(psl_file.c_str(), R_OK) == 0
                          ? psl_latest(psl_file.c_str())
                          : nullptr;
  const psl_ctx_t* psl = latest != nullptr ? latest : psl_builtin();
  if (psl == nullptr) {
    return absl::UnavailableError(
        "no Public Suffix List for --per-provider: " + psl_file +
        " is missing and libpsl has no built-in list (install the "
        "publicsuffix package, or pass --per-provider 0)");
  }
  return std::unique_ptr<ProviderGroups>(new ProviderGroups(latest, psl));
}

ProviderGroups::~ProviderGroups() {
  if (owned_ != nullptr) psl_free(owned_);
}

std::string ProviderGroups::RegistrableDomain(absl::string_view host) const {
  if (absl::EndsWith(host, ".")) host.remove_suffix(1);
  std::string name = absl::AsciiStrToLower(host);
  // libpsl wants a NUL-terminated name (in UTF-8; DNS names are A-labels,
  // plain ASCII) and returns a pointer into it.
  const char* registrable = psl_registrable_domain(psl_, name.c_str());
  if (registrable == nullptr) return name;
  return name.substr(static_cast<size_t>(registrable - name.c_str()));
}

uint32_t ProviderGroups::GroupOf(absl::string_view host) {
  std::string domain = RegistrableDomain(host);
  const uint32_t next = static_cast<uint32_t>(ids_.size()) + 1;
  return ids_.try_emplace(std::move(domain), next).first->second;
}

}  // namespace smtpscan::scan
