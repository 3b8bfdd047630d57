// Mail providers: MX host names grouped by their registrable domain.
//
// --per-provider caps the connections open at once to one provider. A
// provider is the registrable domain of an MX host name by the Public
// Suffix List, ICANN and private sections both (libpsl's
// psl_registrable_domain): aspmx.l.google.com and alt1.aspmx.l.google.com
// are "google.com"; example-com.mail.protection.outlook.com is
// "outlook.com"; mx.example.co.uk is "example.co.uk". A name with no
// registrable part (a public suffix itself, or a single label) is its own
// group.
//
// The list is Debian's publicsuffix package, in its compiled DAFSA form
// (/usr/share/publicsuffix/public_suffix_list.dafsa) loaded with
// psl_latest(), which takes that file or libpsl's built-in copy, whichever
// is newer; psl_builtin() alone when the file is missing.
//
// Groups are numbered from 1 (0 means "no group" to the engine) in the
// order they are first seen; the table grows by one string per provider.
// Not thread-safe: one instance per planner.
#ifndef SMTPSCAN_SCAN_PROVIDER_H_
#define SMTPSCAN_SCAN_PROVIDER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct psl_ctx_st;

namespace smtpscan::scan {

inline constexpr char kPublicSuffixDafsa[] =
    "/usr/share/publicsuffix/public_suffix_list.dafsa";

class ProviderGroups {
 public:
  // Loads the list from `psl_file` (psl_latest), falling back to libpsl's
  // built-in list. Fails only when neither is available.
  static absl::StatusOr<std::unique_ptr<ProviderGroups>> Create(
      const std::string& psl_file = kPublicSuffixDafsa);
  ~ProviderGroups();

  ProviderGroups(const ProviderGroups&) = delete;
  ProviderGroups& operator=(const ProviderGroups&) = delete;

  // The registrable domain of a host name ("google.com" for
  // "ASPMX.L.Google.com."): lower case, no trailing dot; the name itself
  // when it has no registrable part.
  std::string RegistrableDomain(absl::string_view host) const;

  // The group of a host name's provider, 1 or more; the same number for
  // every name with the same registrable domain.
  uint32_t GroupOf(absl::string_view host);

  // Providers seen so far.
  size_t size() const { return ids_.size(); }

 private:
  ProviderGroups(psl_ctx_st* owned, const psl_ctx_st* psl)
      : owned_(owned), psl_(psl) {}

  psl_ctx_st* owned_;      // psl_latest's context; null for the built-in
  const psl_ctx_st* psl_;  // the one used
  absl::flat_hash_map<std::string, uint32_t> ids_;
};

}  // namespace smtpscan::scan

#endif  // SMTPSCAN_SCAN_PROVIDER_H_
