#include "smtp/ehlo.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace smtpscan::smtp {
namespace {

Extension ParseExtension(absl::string_view line) {
  Extension ext;
  std::vector<absl::string_view> words =
      absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (words.empty()) return ext;
  absl::string_view keyword = words[0];
  const size_t eq = keyword.find('=');
  if (eq != absl::string_view::npos && eq > 0) {
    ext.legacy_equals = true;
    if (eq + 1 < keyword.size()) {
      ext.params.emplace_back(keyword.substr(eq + 1));
    }
    keyword = keyword.substr(0, eq);
  }
  ext.keyword = std::string(keyword);
  for (size_t i = 1; i < words.size(); ++i) ext.params.emplace_back(words[i]);
  return ext;
}

}  // namespace

EhloReply ParseEhloReply(Reply reply) {
  EhloReply ehlo;
  // The first line of a positive reply, and of a 421 (RFC 5321 §3.8:
  // "421 <domain> Service not available"), names the server; other
  // refusals start with an error message ("501 Syntactically invalid EHLO
  // argument"), whose first word is no name.
  if ((reply.IsPositive() || reply.code == 421) && !reply.lines.empty()) {
    absl::string_view first =
        absl::StripLeadingAsciiWhitespace(reply.TextWithoutEnhanced(0));
    const size_t sp = first.find_first_of(" \t");
    ehlo.domain = std::string(first.substr(0, sp));
    if (sp != absl::string_view::npos) {
      ehlo.greet = std::string(absl::StripAsciiWhitespace(first.substr(sp)));
    }
  }
  if (reply.IsPositive()) {
    ehlo.extensions.reserve(reply.lines.size());
    for (size_t i = 1; i < reply.lines.size(); ++i) {
      Extension ext = ParseExtension(reply.lines[i]);
      if (!ext.keyword.empty()) ehlo.extensions.push_back(std::move(ext));
    }
  }
  ehlo.reply = std::move(reply);
  return ehlo;
}

const Extension* EhloReply::Find(absl::string_view keyword) const {
  for (const Extension& ext : extensions) {
    if (absl::EqualsIgnoreCase(ext.keyword, keyword)) return &ext;
  }
  return nullptr;
}

absl::optional<uint64_t> EhloReply::SizeLimit() const {
  const Extension* size = Find("SIZE");
  uint64_t n = 0;
  if (size == nullptr || size->params.empty() ||
      !absl::SimpleAtoi(size->params[0], &n)) {
    return absl::nullopt;
  }
  return n;
}

std::vector<std::string> EhloReply::AuthMechanisms() const {
  std::vector<std::string> out;
  absl::flat_hash_set<std::string> seen;
  for (const Extension& ext : extensions) {
    if (!absl::EqualsIgnoreCase(ext.keyword, "AUTH")) continue;
    for (const std::string& p : ext.params) {
      std::string mech = absl::AsciiStrToUpper(p);
      if (seen.insert(mech).second) out.push_back(std::move(mech));
    }
  }
  return out;
}

std::vector<std::string> EhloReply::Keywords() const {
  std::vector<std::string> out;
  out.reserve(extensions.size());
  for (const Extension& ext : extensions) {
    out.push_back(absl::AsciiStrToUpper(ext.keyword));
  }
  return out;
}

}  // namespace smtpscan::smtp
