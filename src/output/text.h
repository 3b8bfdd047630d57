// Turning untrusted server bytes into text that is safe to write.
#ifndef SMTPSCAN_OUTPUT_TEXT_H_
#define SMTPSCAN_OUTPUT_TEXT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace smtpscan::output {

// `bytes` itself when it is valid UTF-8; otherwise a view of `*scratch`,
// filled with a copy in which each invalid sequence is U+FFFD (utfcpp's
// replace_invalid). NUL and other control characters are kept: a JSON
// writer escapes them. The view lives as long as `bytes` and `*scratch`.
absl::string_view ValidUtf8(absl::string_view bytes, std::string* scratch);

// `bytes` as valid UTF-8 (see ValidUtf8), with each NUL also replaced by
// U+FFFD, since many tools read NUL as the end of a string. Other control
// characters are kept.
std::string ToValidUtf8(absl::string_view bytes);

// RFC 3339 UTC timestamps with microseconds, "2026-11-21T13:57:00.069155Z":
// exactly what absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, UTC) writes, but
// the date and time of day are formatted once per second, since records
// finish thousands to the second.
class TimestampFormatter {
 public:
  // The view is valid until the next call.
  absl::string_view Format(absl::Time t);

 private:
  int64_t second_ = INT64_MIN;  // Unix second that `text_` holds
  std::string text_;
  size_t prefix_ = 0;  // length of "YYYY-MM-DDTHH:MM:SS" in `text_`
};

}  // namespace smtpscan::output

#endif  // SMTPSCAN_OUTPUT_TEXT_H_
