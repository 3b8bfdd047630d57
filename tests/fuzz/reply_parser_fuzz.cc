// Fuzz target: the reply parser on arbitrary bytes.
//
// Beyond "no crash, no sanitizer report", it checks the parser's central
// promise differentially: the bytes parsed whole, one byte at a time, and
// split at a point chosen by the input all give the same replies and error.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "smtp/reply_parser.h"

namespace {

using smtpscan::smtp::Reply;
using smtpscan::smtp::ReplyParser;
using smtpscan::smtp::ReplyParserLimits;

struct Outcome {
  std::vector<Reply> replies;
  bool error = false;
  smtpscan::smtp::ReplyParseError parse_error;
};

// Feeds `chunks` in order, taking every reply.
Outcome Run(const std::vector<absl::string_view>& chunks,
            const ReplyParserLimits& limits) {
  ReplyParser parser(limits);
  Outcome out;
  for (absl::string_view chunk : chunks) {
    while (!chunk.empty()) {
      const ReplyParser::Step step = parser.Parse(chunk);
      chunk.remove_prefix(step.consumed);
      if (step.result == ReplyParser::Result::kReply) {
        out.replies.push_back(parser.TakeReply());
      } else if (step.result == ReplyParser::Result::kError) {
        out.error = true;
        out.parse_error = parser.error();
      }
    }
  }
  return out;
}

bool Same(const Outcome& a, const Outcome& b) {
  if (a.replies != b.replies || a.error != b.error) return false;
  if (!a.error) return true;
  return a.parse_error.kind == b.parse_error.kind &&
         a.parse_error.offset == b.parse_error.offset &&
         a.parse_error.excerpt == b.parse_error.excerpt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // Two bytes of configuration: small limits make every limit reachable.
  ReplyParserLimits limits;
  limits.max_line_bytes = 8 + data[0] % 120;
  limits.max_reply_bytes = 8 + data[1] * 4;
  limits.max_lines = 1 + data[1] % 16;
  const absl::string_view input(reinterpret_cast<const char*>(data + 2),
                                size - 2);

  const Outcome whole = Run({input}, limits);
  std::vector<absl::string_view> bytes;
  for (size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  const Outcome single = Run(bytes, limits);
  const size_t cut = input.empty() ? 0 : data[0] % (input.size() + 1);
  const Outcome split = Run({input.substr(0, cut), input.substr(cut)}, limits);
  if (!Same(whole, single) || !Same(whole, split)) __builtin_trap();
  return 0;
}
