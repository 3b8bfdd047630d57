// Test helper: feeds a byte stream to a ReplyParser in a chosen chunking and
// records what came out, so that tests can check the result does not depend
// on how the stream was split.
#ifndef SMTPSCAN_TESTS_SMTP_SPLIT_FEED_H_
#define SMTPSCAN_TESTS_SMTP_SPLIT_FEED_H_

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "smtp/reply.h"
#include "smtp/reply_parser.h"

namespace smtpscan::smtp {

// gtest printers, so that a mismatch shows the bytes.
inline void PrintTo(const EnhancedStatusCode& code, std::ostream* os) {
  *os << code.ToString();
}

inline void PrintTo(const Reply& reply, std::ostream* os) {
  *os << "{code=" << reply.code << " lines=[";
  for (size_t i = 0; i < reply.lines.size(); ++i) {
    *os << (i ? ", " : "") << '"' << absl::CHexEscape(reply.lines[i]) << '"';
  }
  *os << "] enhanced="
      << (reply.enhanced ? reply.enhanced->ToString() : std::string("none"))
      << " wire_bytes=" << reply.wire_bytes << "}";
}

inline void PrintTo(const ReplyParseError& error, std::ostream* os) {
  *os << "{kind=" << ReplyErrorName(error.kind) << " offset=" << error.offset
      << " excerpt=\"" << absl::CHexEscape(error.excerpt) << "\"}";
}

namespace test {

// Everything observable after a byte stream was fed.
struct FeedOutcome {
  std::vector<Reply> replies;             // in order of completion
  absl::optional<ReplyParseError> error;  // error() after the last chunk
  bool partial = false;                   // HasPartialReply() at the end
  uint64_t offset = 0;                    // offset() at the end
  // Breaches of the Parse() contract seen while feeding; empty when none.
  std::vector<std::string> violations;
};

// Feeds `chunks` in order to a new ReplyParser with `limits`. Loops Parse()
// as a caller would: on kReply takes the reply and feeds the rest of the
// chunk; on kNeedMore and kError moves to the next chunk. Empty chunks are
// fed too (Parse must accept them).
inline FeedOutcome FeedChunks(absl::Span<const absl::string_view> chunks,
                              const ReplyParserLimits& limits = {}) {
  FeedOutcome out;
  ReplyParser parser(limits);
  uint64_t fed = 0;
  bool failed = false;
  ReplyParseError first_error;
  auto violation = [&](absl::string_view what) {
    out.violations.push_back(absl::StrCat(what, " at stream offset ", fed));
  };
  for (absl::string_view chunk : chunks) {
    do {
      const ReplyParser::Step step = parser.Parse(chunk);
      if (step.consumed > chunk.size()) {
        violation("consumed more than the input");
        return out;
      }
      switch (step.result) {
        case ReplyParser::Result::kReply:
          if (failed) violation("kReply after kError");
          if (step.consumed == 0 || chunk[step.consumed - 1] != '\n') {
            violation("kReply not right after a line feed");
          }
          out.replies.push_back(parser.TakeReply());
          if (parser.HasPartialReply()) {
            violation("HasPartialReply() right after TakeReply()");
          }
          break;
        case ReplyParser::Result::kNeedMore:
          if (failed) violation("kNeedMore after kError");
          if (step.consumed != chunk.size()) {
            violation("kNeedMore without consuming all input");
          }
          break;
        case ReplyParser::Result::kError:
          if (step.consumed != chunk.size()) {
            violation("kError without consuming all input");
          }
          if (!failed) {
            failed = true;
            first_error = parser.error();
          } else if (parser.error().kind != first_error.kind ||
                     parser.error().offset != first_error.offset) {
            violation("error kind or offset changed after kError");
          }
          break;
      }
      fed += step.consumed;
      chunk.remove_prefix(step.consumed);
      if (parser.offset() != fed) violation("offset() != bytes consumed");
    } while (!chunk.empty());
  }
  if (failed) out.error = parser.error();
  // HasPartialReply() is meaningful only while the stream is still SMTP.
  out.partial = !failed && parser.HasPartialReply();
  out.offset = parser.offset();
  return out;
}

inline FeedOutcome FeedWhole(absl::string_view input,
                             const ReplyParserLimits& limits = {}) {
  const absl::string_view chunks[] = {input};
  return FeedChunks(chunks, limits);
}

inline FeedOutcome FeedBytewise(absl::string_view input,
                                const ReplyParserLimits& limits = {}) {
  std::vector<absl::string_view> chunks;
  for (size_t i = 0; i < input.size(); ++i)
    chunks.push_back(input.substr(i, 1));
  return FeedChunks(chunks, limits);
}

// Two chunks: input[0, at) and input[at, n). `at` may be 0 or n.
inline FeedOutcome FeedSplitAt(absl::string_view input, size_t at,
                               const ReplyParserLimits& limits = {}) {
  const absl::string_view chunks[] = {input.substr(0, at), input.substr(at)};
  return FeedChunks(chunks, limits);
}

}  // namespace test
}  // namespace smtpscan::smtp

#endif  // SMTPSCAN_TESTS_SMTP_SPLIT_FEED_H_
