// Fuzz target: ParsePolicy on arbitrary TXT record sets.
//
// The first byte picks the policy kind (bits 0-1) and the byte that
// separates records in the rest of the input (bit 2: '\n', else NUL), so
// records can hold any byte. Checks the result's promises: the records kept
// are the input's matching ones in order, validity agrees with the record
// count and the error, an error is one short printable line, and each
// kind's value has its documented form.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "dns/policy.h"

using smtpscan::dns::ParsePolicy;
using smtpscan::dns::PolicyKind;
using smtpscan::dns::PolicyRecord;

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

namespace {

// The version prefix every kept record must start with (necessary, not
// sufficient: the parser also looks at what follows it).
bool HasVersionPrefix(PolicyKind kind, absl::string_view record) {
  switch (kind) {
    case PolicyKind::kSpf:
      return absl::StartsWithIgnoreCase(record, "v=spf1");
    case PolicyKind::kDmarc:
      return absl::StartsWithIgnoreCase(record, "v") &&
             absl::StrContains(record, "DMARC1");
    case PolicyKind::kMtaSts:
      return absl::StartsWith(record, "v=STSv1");
    case PolicyKind::kTlsRpt:
      return absl::StartsWith(record, "v=TLSRPTv1");
  }
  return false;
}

void CheckValue(PolicyKind kind, const PolicyRecord& r) {
  const std::string& v = r.value;
  switch (kind) {
    case PolicyKind::kSpf:
      FUZZ_CHECK(v.empty() || v == "-all" || v == "~all" || v == "?all" ||
                 v == "+all");
      break;
    case PolicyKind::kDmarc:
      FUZZ_CHECK(v == "none" || v == "quarantine" || v == "reject");
      break;
    case PolicyKind::kMtaSts:
      FUZZ_CHECK(!v.empty() && v.size() <= 32);
      for (char c : v) FUZZ_CHECK(absl::ascii_isalnum(c));
      FUZZ_CHECK(absl::StrContains(r.records.front(), v));
      break;
    case PolicyKind::kTlsRpt:
      FUZZ_CHECK(!v.empty() && absl::StrContains(r.records.front(), v));
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const PolicyKind kind = static_cast<PolicyKind>(data[0] & 3);
  const char separator = (data[0] & 4) != 0 ? '\n' : '\0';
  const absl::string_view rest(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  const std::vector<std::string> txt = absl::StrSplit(rest, separator);

  const PolicyRecord r = ParsePolicy(kind, txt);

  // The kept records are a subsequence of the input.
  size_t next = 0;
  for (const std::string& record : r.records) {
    while (next < txt.size() && txt[next] != record) ++next;
    FUZZ_CHECK(next < txt.size());
    ++next;
    FUZZ_CHECK(HasVersionPrefix(kind, record));
  }

  for (char c : r.error) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
  FUZZ_CHECK(r.error.size() <= 250);
  if (r.records.empty()) {
    FUZZ_CHECK(!r.valid && r.error.empty() && r.value.empty());
  } else if (r.records.size() > 1) {
    FUZZ_CHECK(!r.valid && absl::StartsWith(r.error, "multiple "));
  } else if (r.valid) {
    FUZZ_CHECK(r.error.empty());
    CheckValue(kind, r);
  } else {
    FUZZ_CHECK(!r.error.empty() && r.value.empty());
  }
  // SPF: any single record is valid.
  if (kind == PolicyKind::kSpf) FUZZ_CHECK(r.valid == (r.records.size() == 1));

  // Records of no kind do not change the outcome.
  std::vector<std::string> padded = txt;
  padded.insert(padded.begin(), "unrelated=1");
  padded.push_back("v=spf2.0/pra ~all");
  const PolicyRecord again = ParsePolicy(kind, padded);
  FUZZ_CHECK(again.records == r.records && again.valid == r.valid &&
             again.error == r.error && again.value == r.value);
  return 0;
}
