#include "dns/policy.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dns/quote.h"

namespace smtpscan::dns {
namespace {

constexpr size_t kMaxStsIdBytes = 32;  // RFC 8461 §3.1, sts-id

// How errors name the kind.
absl::string_view KindTitle(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kSpf:
      return "SPF";
    case PolicyKind::kDmarc:
      return "DMARC";
    case PolicyKind::kMtaSts:
      return "MTA-STS";
    case PolicyKind::kTlsRpt:
      return "TLS-RPT";
  }
  return "policy";
}

// WSP of RFC 5234: the only whitespace the tag-list grammars allow.
bool IsWsp(char c) { return c == ' ' || c == '\t'; }

absl::string_view StripLeadingWsp(absl::string_view text) {
  while (!text.empty() && IsWsp(text.front())) text.remove_prefix(1);
  return text;
}

absl::string_view StripWsp(absl::string_view text) {
  text = StripLeadingWsp(text);
  while (!text.empty() && IsWsp(text.back())) text.remove_suffix(1);
  return text;
}

// True when `rest`, what follows a version tag, starts the next field:
// a field delimiter (*WSP ";") or the end of the record.
bool EndsVersionTag(absl::string_view rest) {
  rest = StripLeadingWsp(rest);
  return rest.empty() || rest.front() == ';';
}

// RFC 7208 §4.5: "v=spf1" ends at a space or at the end of the record, so
// "v=spf10" is not SPF. The ABNF literal is case-insensitive (RFC 5234).
bool IsSpfRecord(absl::string_view txt) {
  constexpr absl::string_view kVersion = "v=spf1";
  if (!absl::StartsWithIgnoreCase(txt, kVersion)) return false;
  return txt.size() == kVersion.size() || txt[kVersion.size()] == ' ';
}

// RFC 7489 §6.4: dmarc-version = "v" *WSP "=" *WSP %x44 %x4d %x41 %x52 %x43
// %x31, then dmarc-sep (*WSP ";"). "v" is case-insensitive, but "DMARC1" is
// written in hex and so is case-sensitive. A record that is only the version
// tag is taken too, to be reported as missing its p= tag.
bool IsDmarcRecord(absl::string_view txt) {
  if (txt.empty() || absl::ascii_tolower(txt.front()) != 'v') return false;
  txt = StripLeadingWsp(txt.substr(1));
  if (!absl::ConsumePrefix(&txt, "=")) return false;
  txt = StripLeadingWsp(txt);
  if (!absl::ConsumePrefix(&txt, "DMARC1")) return false;
  return EndsVersionTag(txt);
}

// RFC 8461 §3.1 (%s"v=STSv1") and RFC 8460 §3 (%s"v=TLSRPTv1"): the
// case-sensitive version must be the first field.
bool HasVersionField(absl::string_view txt, absl::string_view version) {
  return absl::ConsumePrefix(&txt, version) && EndsVersionTag(txt);
}

bool Matches(PolicyKind kind, absl::string_view txt) {
  switch (kind) {
    case PolicyKind::kSpf:
      return IsSpfRecord(txt);
    case PolicyKind::kDmarc:
      return IsDmarcRecord(txt);
    case PolicyKind::kMtaSts:
      return HasVersionField(txt, "v=STSv1");
    case PolicyKind::kTlsRpt:
      return HasVersionField(txt, "v=TLSRPTv1");
  }
  return false;
}

struct Field {
  absl::string_view name;
  absl::string_view value;
};

// The "name=value" fields of a tag-value list (DMARC, MTA-STS, TLS-RPT):
// split at ';', whitespace around names and values dropped, empty fields
// (a trailing ';') skipped. A field without '=' has an empty value, never
// a null view: absl::StrSplit yields no piece at all for a null view, which
// would make an "rua" without '=' a list of no URIs, all of them valid.
std::vector<Field> SplitFields(absl::string_view record) {
  std::vector<Field> fields;
  for (absl::string_view part : absl::StrSplit(record, ';')) {
    part = StripWsp(part);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      fields.push_back({part, part.substr(part.size())});
    } else {
      fields.push_back(
          {StripWsp(part.substr(0, eq)), StripWsp(part.substr(eq + 1))});
    }
  }
  return fields;
}

// The value of the one field called `name` (compared as `ignore_case`
// says). Sets `*error` when the field is missing or repeated.
absl::string_view FindField(const std::vector<Field>& fields,
                            absl::string_view name, bool ignore_case,
                            std::string* error) {
  const Field* found = nullptr;
  for (const Field& field : fields) {
    const bool same = ignore_case ? absl::EqualsIgnoreCase(field.name, name)
                                  : field.name == name;
    if (!same) continue;
    if (found != nullptr) {
      *error = absl::StrCat("more than one ", name, "= tag");
      return absl::string_view();
    }
    found = &field;
  }
  if (found == nullptr) {
    *error = absl::StrCat("missing ", name, "= tag");
    return absl::string_view();
  }
  return found->value;
}

// RFC 7208 §4.6.2: mechanisms are tried left to right and "all" always
// matches, so the first "all" decides (§5.1: later ones are never
// reached). A record without one leaves the value empty and is still valid.
void ParseSpf(absl::string_view record, PolicyRecord* out) {
  for (absl::string_view term :
       absl::StrSplit(record, ' ', absl::SkipEmpty())) {
    char qualifier = '+';
    if (term.front() == '+' || term.front() == '-' || term.front() == '?' ||
        term.front() == '~') {
      qualifier = term.front();
      term.remove_prefix(1);
    }
    if (absl::EqualsIgnoreCase(term, "all")) {
      out->value = absl::StrCat(absl::string_view(&qualifier, 1), "all");
      break;
    }
  }
  out->valid = true;
}

// RFC 7489 §6.3: p= is required; its three values are ABNF literals, so
// case-insensitive.
void ParseDmarc(absl::string_view record, PolicyRecord* out) {
  const absl::string_view p =
      FindField(SplitFields(record), "p", /*ignore_case=*/true, &out->error);
  if (!out->error.empty()) return;
  std::string policy = absl::AsciiStrToLower(p);
  if (policy != "none" && policy != "quarantine" && policy != "reject") {
    out->error = absl::StrCat("invalid p= value ", Quote(p));
    return;
  }
  out->value = std::move(policy);
  out->valid = true;
}

// RFC 8461 §3.1: sts-id = %s"id=" 1*32(ALPHA / DIGIT).
void ParseMtaSts(absl::string_view record, PolicyRecord* out) {
  const absl::string_view id =
      FindField(SplitFields(record), "id", /*ignore_case=*/false, &out->error);
  if (!out->error.empty()) return;
  bool alnum = true;
  for (char c : id) {
    alnum = alnum && absl::ascii_isalnum(static_cast<unsigned char>(c));
  }
  if (id.empty() || id.size() > kMaxStsIdBytes || !alnum) {
    out->error = absl::StrCat("invalid id= value ", Quote(id),
                              " (1 to 32 letters and digits)");
    return;
  }
  out->value = std::string(id);
  out->valid = true;
}

// RFC 8460 §3: tlsrpt-rua = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri),
// each a "mailto:" or "https:" URI (the only two schemes it defines).
void ParseTlsRpt(absl::string_view record, PolicyRecord* out) {
  const absl::string_view rua =
      FindField(SplitFields(record), "rua", /*ignore_case=*/false, &out->error);
  if (!out->error.empty()) return;
  for (absl::string_view uri : absl::StrSplit(rua, ',')) {
    uri = StripWsp(uri);
    if (!absl::StartsWithIgnoreCase(uri, "mailto:") &&
        !absl::StartsWithIgnoreCase(uri, "https:")) {
      out->error = absl::StrCat("rua= URI ", Quote(uri),
                                " is neither mailto: nor https:");
      return;
    }
  }
  out->value = std::string(rua);
  out->valid = true;
}

}  // namespace

absl::string_view PolicyKindName(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kSpf:
      return "spf";
    case PolicyKind::kDmarc:
      return "dmarc";
    case PolicyKind::kMtaSts:
      return "mta_sts";
    case PolicyKind::kTlsRpt:
      return "tls_rpt";
  }
  return "unknown";
}

std::string PolicyQueryName(PolicyKind kind, absl::string_view domain) {
  switch (kind) {
    case PolicyKind::kSpf:
      return std::string(domain);
    case PolicyKind::kDmarc:
      return absl::StrCat("_dmarc.", domain);
    case PolicyKind::kMtaSts:
      return absl::StrCat("_mta-sts.", domain);
    case PolicyKind::kTlsRpt:
      return absl::StrCat("_smtp._tls.", domain);
  }
  return std::string(domain);
}

PolicyRecord ParsePolicy(PolicyKind kind, absl::Span<const std::string> txt) {
  PolicyRecord out;
  for (const std::string& record : txt) {
    if (Matches(kind, record)) out.records.push_back(record);
  }
  if (out.records.empty()) return out;
  // Every kind's RFC makes more than one record an error rather than
  // picking one: SPF permerror (RFC 7208 §4.5), DMARC "no policy" (RFC 7489
  // §6.6.3), MTA-STS and TLS-RPT "no policy" (RFC 8461 §3.1, RFC 8460 §3).
  if (out.records.size() > 1) {
    out.error = absl::StrCat("multiple ", KindTitle(kind), " records (",
                             out.records.size(), ")");
    return out;
  }
  const absl::string_view record = out.records.front();
  switch (kind) {
    case PolicyKind::kSpf:
      ParseSpf(record, &out);
      break;
    case PolicyKind::kDmarc:
      ParseDmarc(record, &out);
      break;
    case PolicyKind::kMtaSts:
      ParseMtaSts(record, &out);
      break;
    case PolicyKind::kTlsRpt:
      ParseTlsRpt(record, &out);
      break;
  }
  return out;
}

}  // namespace smtpscan::dns
