#include "dns/quote.h"

namespace smtpscan::dns {

// `text` single-quoted, with C escapes for anything but printable ASCII,
// and cut after kMaxQuotedChars characters of that, so a reason stays one
// short printable line whatever the input holds (absl::CHexEscape alone
// can make four characters of each byte, and its cut would need to fall
// between escapes).
std::string Quote(absl::string_view text) {
  constexpr size_t kMaxQuotedChars = 60;
  constexpr absl::string_view kHex = "0123456789abcdef";
  std::string out = "'";
  for (char c : text) {
    const unsigned char byte = static_cast<unsigned char>(c);
    char piece[4];
    size_t size = 2;
    piece[0] = '\\';
    switch (c) {
      case '\n':
        piece[1] = 'n';
        break;
      case '\r':
        piece[1] = 'r';
        break;
      case '\t':
        piece[1] = 't';
        break;
      case '\\':
      case '\'':
        piece[1] = c;
        break;
      default:
        if (byte >= 0x20 && byte < 0x7f) {
          piece[0] = c;
          size = 1;
        } else {
          piece[1] = 'x';
          piece[2] = kHex[byte >> 4];
          piece[3] = kHex[byte & 0xf];
          size = 4;
        }
    }
    if (out.size() - 1 + size > kMaxQuotedChars) {
      out += "...";
      break;
    }
    out.append(piece, size);
  }
  out += '\'';
  return out;
}

}  // namespace smtpscan::dns
