// Turning untrusted server bytes into text that is safe to write.
#ifndef SMTPSCAN_OUTPUT_TEXT_H_
#define SMTPSCAN_OUTPUT_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

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

}  // namespace smtpscan::output

#endif  // SMTPSCAN_OUTPUT_TEXT_H_
