#include "smtp/reply.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace smtpscan::smtp {
namespace {

// Reads 1..3 digits at text[*pos]; advances *pos. False if there are none.
bool ReadNumber(absl::string_view text, size_t* pos, uint16_t* value) {
  size_t start = *pos;
  uint16_t v = 0;
  while (*pos < text.size() && *pos - start < 3 &&
         absl::ascii_isdigit(static_cast<unsigned char>(text[*pos]))) {
    v = static_cast<uint16_t>(v * 10 + (text[*pos] - '0'));
    ++*pos;
  }
  *value = v;
  return *pos > start;
}

}  // namespace

std::string EnhancedStatusCode::ToString() const {
  return absl::StrCat(klass, ".", subject, ".", detail);
}

bool ParseEnhancedStatusCode(absl::string_view text, EnhancedStatusCode* code,
                             size_t* length) {
  if (text.size() < 5) return false;
  const char k = text[0];
  if ((k != '2' && k != '4' && k != '5') || text[1] != '.') return false;
  size_t pos = 2;
  EnhancedStatusCode c;
  c.klass = static_cast<uint16_t>(k - '0');
  if (!ReadNumber(text, &pos, &c.subject)) return false;
  if (pos >= text.size() || text[pos] != '.') return false;
  ++pos;
  if (!ReadNumber(text, &pos, &c.detail)) return false;
  if (pos < text.size() && text[pos] != ' ') return false;
  *code = c;
  *length = pos;
  return true;
}

absl::string_view Reply::TextWithoutEnhanced(size_t i) const {
  absl::string_view text = lines[i];
  EnhancedStatusCode c;
  size_t len = 0;
  if (enhanced.has_value() && ParseEnhancedStatusCode(text, &c, &len) &&
      c.klass == enhanced->klass) {
    text.remove_prefix(len);
    if (!text.empty()) text.remove_prefix(1);  // the space
  }
  return text;
}

absl::string_view Reply::AnnouncedName() const {
  if (lines.empty()) return {};
  absl::string_view text =
      absl::StripLeadingAsciiWhitespace(TextWithoutEnhanced(0));
  return text.substr(0, text.find_first_of(" \t"));
}

}  // namespace smtpscan::smtp
