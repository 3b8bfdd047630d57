#include "output/text.h"

#include <cstdint>
#include <cstring>
#include <iterator>

#include "utf8.h"  // utfcpp

namespace smtpscan::output {

namespace {
constexpr uint32_t kReplacement = 0xFFFD;

// Length of the leading run of ASCII bytes, eight at a time: almost every
// server reply is ASCII, and utfcpp checks byte by byte.
size_t AsciiPrefix(absl::string_view bytes) {
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, sizeof(word));
    if ((word & 0x8080808080808080ull) != 0) break;
  }
  while (i < bytes.size() && static_cast<unsigned char>(bytes[i]) < 0x80) ++i;
  return i;
}

}  // namespace

absl::string_view ValidUtf8(absl::string_view bytes, std::string* scratch) {
  const absl::string_view rest = bytes.substr(AsciiPrefix(bytes));
  if (rest.empty() || utf8::is_valid(rest.begin(), rest.end())) return bytes;
  scratch->clear();
  scratch->reserve(bytes.size() + 8);
  utf8::replace_invalid(bytes.begin(), bytes.end(),
                        std::back_inserter(*scratch), kReplacement);
  return *scratch;
}

absl::string_view TimestampFormatter::Format(absl::Time t) {
  const int64_t micros = absl::ToUnixMicros(t);  // rounds down
  int64_t second = micros / 1000000;
  int64_t fraction = micros % 1000000;
  if (fraction < 0) {
    fraction += 1000000;
    --second;
  }
  if (second != second_) {
    text_ = absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(second),
                             absl::UTCTimeZone());
    prefix_ = text_.size();
    second_ = second;
  }
  text_.resize(prefix_ + 8);  // ".uuuuuuZ"
  char* p = text_.data() + prefix_;
  p[0] = '.';
  for (int i = 6; i >= 1; --i) {
    p[i] = static_cast<char>('0' + fraction % 10);
    fraction /= 10;
  }
  p[7] = 'Z';
  return text_;
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
