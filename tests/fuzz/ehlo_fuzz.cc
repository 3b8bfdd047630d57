// Fuzz target: the EHLO reply model on arbitrary bytes.
//
// The bytes go through the reply parser first (as the session does), and
// every reply it yields is interpreted as an EHLO reply. Beyond "no crash,
// no sanitizer report": extensions only for positive replies, no empty
// keyword, and the derived views agree with the extension list.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "smtp/ehlo.h"
#include "smtp/reply_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smtpscan::smtp;
  absl::string_view in(reinterpret_cast<const char*>(data), size);
  ReplyParser parser{ReplyParserLimits{}};
  while (!in.empty()) {
    const ReplyParser::Step step = parser.Parse(in);
    in.remove_prefix(step.consumed);
    if (step.result == ReplyParser::Result::kError) break;
    if (step.result != ReplyParser::Result::kReply) continue;
    const Reply reply = parser.TakeReply();
    const EhloReply ehlo = ParseEhloReply(reply);
    if (ehlo.reply != reply) std::abort();
    if (reply.code / 100 != 2 && !ehlo.extensions.empty()) std::abort();
    if (ehlo.extensions.size() + 1 > reply.lines.size() + 1) std::abort();
    const auto keywords = ehlo.Keywords();
    if (keywords.size() != ehlo.extensions.size()) std::abort();
    for (size_t i = 0; i < keywords.size(); ++i) {
      if (ehlo.extensions[i].keyword.empty()) std::abort();
      if (keywords[i] != absl::AsciiStrToUpper(ehlo.extensions[i].keyword)) {
        std::abort();
      }
      if (ehlo.Find(keywords[i]) == nullptr) std::abort();
    }
    for (const std::string& m : ehlo.AuthMechanisms()) {
      if (m != absl::AsciiStrToUpper(m)) std::abort();
    }
    if (ehlo.SizeLimit().has_value() && !ehlo.Has("SIZE")) std::abort();
  }
  return 0;
}
