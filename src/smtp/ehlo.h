// The EHLO reply (RFC 5321 §4.1.1.1): the server's name and its extensions.
//
// The extension list keeps the server's order and spelling: both differ
// between products and later identify the software.
#ifndef SMTPSCAN_SMTP_EHLO_H_
#define SMTPSCAN_SMTP_EHLO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "smtp/reply.h"

namespace smtpscan::smtp {

// One "250-KEYWORD params" line.
struct Extension {
  std::string keyword;              // as sent, e.g. "SIZE", "8BITMIME"
  std::vector<std::string> params;  // the parameters, split on spaces
  // "AUTH=LOGIN PLAIN": the pre-RFC 4954 form some servers still send for
  // old Outlook clients. keyword is "AUTH", params ["LOGIN", "PLAIN"].
  bool legacy_equals = false;

  friend bool operator==(const Extension&, const Extension&) = default;
};

struct EhloReply {
  Reply reply;
  // First line: "mail.example.com Hello client [192.0.2.1]".
  std::string domain;  // "mail.example.com"
  std::string greet;   // "Hello client [192.0.2.1]"
  // Lines 2..n in order. Empty unless the reply is positive (2xx).
  std::vector<Extension> extensions;

  // The first extension whose keyword equals `keyword` ignoring ASCII case
  // (EHLO keywords are case-insensitive), or nullptr.
  const Extension* Find(absl::string_view keyword) const;
  bool Has(absl::string_view keyword) const { return Find(keyword) != nullptr; }

  // SIZE's declared maximum message size (RFC 1870). nullopt when SIZE is
  // absent or has no valid number; 0 means "no fixed maximum".
  absl::optional<uint64_t> SizeLimit() const;

  // SASL mechanisms from every AUTH line (either form), upper-cased, in
  // order of first appearance, without duplicates.
  std::vector<std::string> AuthMechanisms() const;

  // Keywords upper-cased, in the server's order (duplicates kept).
  std::vector<std::string> Keywords() const;

  friend bool operator==(const EhloReply&, const EhloReply&) = default;
};

// Splits an EHLO (or HELO) reply into name, greeting text and extensions.
EhloReply ParseEhloReply(Reply reply);

}  // namespace smtpscan::smtp

#endif  // SMTPSCAN_SMTP_EHLO_H_
