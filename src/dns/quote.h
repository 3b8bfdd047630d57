// Untrusted text inside a one-line message (an invalid-input reason, an
// error): the helper every parser of input and server data shares.
#ifndef SMTPSCAN_DNS_QUOTE_H_
#define SMTPSCAN_DNS_QUOTE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace smtpscan::dns {

// `text` single-quoted, printable ASCII as is, everything else C-escaped
// (\n, \x01, ...), cut with "..." after 60 characters of escaped text.
std::string Quote(absl::string_view text);

}  // namespace smtpscan::dns

#endif  // SMTPSCAN_DNS_QUOTE_H_
