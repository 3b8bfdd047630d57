// SMTP replies (RFC 5321 §4.2) and enhanced status codes (RFC 3463).
#ifndef SMTPSCAN_SMTP_REPLY_H_
#define SMTPSCAN_SMTP_REPLY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace smtpscan::smtp {

// RFC 3463 "class.subject.detail", e.g. 5.7.1. Class is 2, 4 or 5; subject
// and detail have one to three digits.
struct EnhancedStatusCode {
  uint16_t klass = 0;
  uint16_t subject = 0;
  uint16_t detail = 0;

  std::string ToString() const;
  friend bool operator==(const EnhancedStatusCode&,
                         const EnhancedStatusCode&) = default;
};

// Parses an enhanced status code at the start of `text`, which must be
// followed by a space or the end of `text`. On success stores the code and
// the number of bytes it spans (without the space) and returns true.
bool ParseEnhancedStatusCode(absl::string_view text, EnhancedStatusCode* code,
                             size_t* length);

// One complete SMTP reply: a three-digit code and one or more text lines.
struct Reply {
  int code = 0;  // 0..999, as sent
  // The text of each line after "NNN-" / "NNN " (or empty for a bare "NNN"),
  // with the line ending removed. Raw bytes as sent: not necessarily UTF-8.
  std::vector<std::string> lines;
  // The enhanced status code of the first line, when it has one whose class
  // equals the reply code's first digit (RFC 3463 §2, RFC 2034 §4).
  absl::optional<EnhancedStatusCode> enhanced;
  // Bytes the reply took on the wire, line endings included.
  size_t wire_bytes = 0;

  int Class() const { return code / 100; }
  bool IsPositive() const { return Class() == 2; }

  // Line `i` without a leading enhanced status code and the space after it.
  // REQUIRES: i < lines.size().
  absl::string_view TextWithoutEnhanced(size_t i) const;

  // The first word of the first line after any enhanced status code: in a
  // greeting or an EHLO reply, the name the server announces for itself
  // ("554 5.7.1 mx.example.net blocked" -> "mx.example.net"). Empty when
  // there is none.
  absl::string_view AnnouncedName() const;

  friend bool operator==(const Reply&, const Reply&) = default;
};

}  // namespace smtpscan::smtp

#endif  // SMTPSCAN_SMTP_REPLY_H_
