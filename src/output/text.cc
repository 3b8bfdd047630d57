#include "output/text.h"

#include <iterator>

#include "utf8.h"  // utfcpp

namespace smtpscan::output {

std::string ToValidUtf8(absl::string_view bytes) {
  constexpr uint32_t kReplacement = 0xFFFD;
  std::string out;
  out.reserve(bytes.size());
  if (utf8::is_valid(bytes.begin(), bytes.end())) {
    out.assign(bytes.data(), bytes.size());
  } else {
    utf8::replace_invalid(bytes.begin(), bytes.end(), std::back_inserter(out),
                          kReplacement);
  }
  if (out.find('\0') == std::string::npos) return out;
  std::string clean;
  clean.reserve(out.size() + 8);
  for (char c : out) {
    if (c == '\0') {
      utf8::append(kReplacement, std::back_inserter(clean));
    } else {
      clean.push_back(c);
    }
  }
  return clean;
}

}  // namespace smtpscan::output
