// Turning untrusted server bytes into text that is safe to write.
#ifndef SMTPSCAN_OUTPUT_TEXT_H_
#define SMTPSCAN_OUTPUT_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace smtpscan::output {

// `bytes` as valid UTF-8: each invalid sequence becomes U+FFFD (utfcpp's
// replace_invalid), and so does each NUL, which many tools read as the end
// of a string. Other characters, control characters included, are kept.
std::string ToValidUtf8(absl::string_view bytes);

}  // namespace smtpscan::output

#endif  // SMTPSCAN_OUTPUT_TEXT_H_
