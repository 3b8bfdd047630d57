#include "scan/opt_out.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "dns/name.h"

namespace smtpscan::scan {
namespace {

// Whether an entry is meant as an address or CIDR (so its error should be
// the CIDR parser's) rather than as a name.
bool LooksLikeCidr(absl::string_view entry) {
  return entry.find_first_of(":/") != absl::string_view::npos ||
         (entry.find_first_not_of("0123456789.") == absl::string_view::npos &&
          entry.find_first_of("0123456789") != absl::string_view::npos);
}

}  // namespace

absl::StatusOr<OptOutList::Parsed> OptOutList::ParseLine(
    absl::string_view line) {
  absl::StatusOr<absl::string_view> entry = ListLineEntry(line);
  if (!entry.ok()) return entry.status();
  Parsed parsed;
  parsed.kind = Parsed::Kind::kNone;
  if (entry->empty()) return parsed;
  const absl::string_view text = *entry;
  if (absl::StartsWith(text, "*")) {
    const absl::string_view rest =
        absl::StripPrefix(absl::StripPrefix(text, "*"), ".");
    return absl::InvalidArgumentError(absl::StrCat(
        "'", absl::CHexEscape(text),
        "': write an MX host name suffix with a leading dot, as '.",
        absl::CHexEscape(rest), "'"));
  }
  if (LooksLikeCidr(text)) {
    absl::StatusOr<AddressPolicy::Cidr> cidr = AddressPolicy::ParseCidr(text);
    if (!cidr.ok()) return cidr.status();
    parsed.kind = Parsed::Kind::kCidr;
    parsed.cidr = *cidr;
    return parsed;
  }
  if (absl::StartsWith(text, ".")) {
    const absl::string_view body = text.substr(1);
    if (body.empty() || body.front() == '.') {
      return absl::InvalidArgumentError(
          absl::StrCat("'", absl::CHexEscape(text),
                       "': a suffix is a dot and a name, as '.example.net'"));
    }
    // A label in front makes a one-label suffix (".example") a valid name
    // for the parser, which wants two.
    absl::StatusOr<dns::DomainName> name =
        dns::ParseDomainName(absl::StrCat("x.", body));
    if (!name.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad suffix '", absl::CHexEscape(text),
                       "': ", name.status().message()));
    }
    parsed.kind = Parsed::Kind::kSuffix;
    parsed.name = name->ascii.substr(2);
    return parsed;
  }
  absl::StatusOr<dns::DomainName> name = dns::ParseDomainName(text);
  if (!name.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad domain '", absl::CHexEscape(text), "': ", name.status().message(),
        " (entries are domains, .suffixes and CIDRs)"));
  }
  parsed.kind = Parsed::Kind::kDomain;
  parsed.name = std::move(name->ascii);
  return parsed;
}

absl::Status OptOutList::AddFile(const std::string& path,
                                 AddressPolicy* addresses) {
  std::vector<std::pair<uint64_t, Parsed>> lines;
  absl::Status status = ForEachListLine(
      path, [&](absl::string_view line, uint64_t number) -> absl::Status {
        absl::StatusOr<Parsed> parsed = ParseLine(line);
        if (!parsed.ok()) return parsed.status();
        if (parsed->kind != Parsed::Kind::kNone) {
          lines.emplace_back(number, *std::move(parsed));
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  Commit(path, std::move(lines), addresses);
  return absl::OkStatus();
}

absl::Status OptOutList::AddText(absl::string_view text, absl::string_view name,
                                 AddressPolicy* addresses) {
  std::vector<std::pair<uint64_t, Parsed>> lines;
  uint64_t number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    absl::StatusOr<Parsed> parsed = ParseLine(line);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", number, ": ", parsed.status().message()));
    }
    if (parsed->kind != Parsed::Kind::kNone) {
      lines.emplace_back(number, *std::move(parsed));
    }
  }
  Commit(name, std::move(lines), addresses);
  return absl::OkStatus();
}

void OptOutList::Commit(absl::string_view name,
                        std::vector<std::pair<uint64_t, Parsed>> lines,
                        AddressPolicy* addresses) {
  const uint32_t source = static_cast<uint32_t>(sources_.size());
  sources_.emplace_back(name);
  std::vector<std::pair<uint64_t, AddressPolicy::Cidr>> cidrs;
  for (auto& [number, parsed] : lines) {
    const Rule rule{source, static_cast<uint32_t>(number)};
    switch (parsed.kind) {
      case Parsed::Kind::kDomain:
        domains_.try_emplace(std::move(parsed.name), rule);  // first wins
        break;
      case Parsed::Kind::kSuffix:
        suffixes_.try_emplace(std::move(parsed.name), rule);
        break;
      case Parsed::Kind::kCidr:
        cidrs.emplace_back(number, parsed.cidr);
        break;
      case Parsed::Kind::kNone:
        break;
    }
  }
  // Always, even without CIDRs: the policy numbers its sources itself.
  addresses->AddEntries(AddressPolicy::ListKind::kOptOut, name, cidrs);
}

std::string OptOutList::Describe(const Rule& rule, absl::string_view prefix,
                                 absl::string_view name) const {
  return absl::StrCat("opt-out ", sources_[rule.source], ":", rule.line, " ",
                      prefix, name);
}

absl::optional<std::string> OptOutList::CheckDomain(
    absl::string_view domain) const {
  if (domains_.empty()) return absl::nullopt;
  auto it = domains_.find(domain);
  if (it == domains_.end()) return absl::nullopt;
  return Describe(it->second, "", it->first);
}

absl::optional<std::string> OptOutList::CheckHost(
    absl::string_view host) const {
  if (suffixes_.empty()) return absl::nullopt;
  if (absl::EndsWith(host, ".")) host.remove_suffix(1);
  std::string lower;
  if (std::any_of(host.begin(), host.end(), absl::ascii_isupper)) {
    lower = absl::AsciiStrToLower(host);
    host = lower;
  }
  // Broadest first: "net", "example.net", "mail.example.net", ...
  size_t start = host.size();
  while (start > 0) {
    const size_t dot = host.rfind('.', start - 1);
    start = dot == absl::string_view::npos ? 0 : dot + 1;
    auto it = suffixes_.find(host.substr(start));
    if (it != suffixes_.end()) return Describe(it->second, ".", it->first);
    if (start == 0) break;
    start = dot;  // the next candidate ends before this dot
  }
  return absl::nullopt;
}

}  // namespace smtpscan::scan
