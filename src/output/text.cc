#include "output/text.h"

#include <iterator>

#include "utf8.h"  // utfcpp

namespace smtpscan::output {

namespace {
constexpr uint32_t kReplacement = 0xFFFD;
}  // namespace

absl::string_view ValidUtf8(absl::string_view bytes, std::string* scratch) {
  if (utf8::is_valid(bytes.begin(), bytes.end())) return bytes;
  scratch->clear();
  scratch->reserve(bytes.size() + 8);
  utf8::replace_invalid(bytes.begin(), bytes.end(),
                        std::back_inserter(*scratch), kReplacement);
  return *scratch;
}

std::string ToValidUtf8(absl::string_view bytes) {
  std::string scratch;
  const absl::string_view valid = ValidUtf8(bytes, &scratch);
  std::string out(valid.data(), valid.size());
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
