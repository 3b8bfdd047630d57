#include "smtp/reply_parser.h"

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "smtp/reply.h"
#include "smtp/split_feed.h"

namespace smtpscan::smtp {
namespace {

using namespace std::string_literals;  // "\x00..."s keeps NUL bytes
using test::FeedBytewise;
using test::FeedOutcome;
using test::FeedSplitAt;
using test::FeedWhole;

EnhancedStatusCode Esc(uint16_t klass, uint16_t subject, uint16_t detail) {
  return EnhancedStatusCode{klass, subject, detail};
}

Reply R(int code, std::vector<std::string> lines, size_t wire_bytes,
        absl::optional<EnhancedStatusCode> enhanced = absl::nullopt) {
  Reply r;
  r.code = code;
  r.lines = std::move(lines);
  r.enhanced = enhanced;
  r.wire_bytes = wire_bytes;
  return r;
}

ReplyParseError Err(ReplyError kind, uint64_t offset, std::string excerpt) {
  ReplyParseError e;
  e.kind = kind;
  e.offset = offset;
  e.excerpt = std::move(excerpt);
  return e;
}

// A reply as a server writes it ("NNN-text" lines, then "NNN text") and the
// Reply it must parse into.
struct Wired {
  std::string wire;
  Reply reply;
};

Wired Wire(int code, std::vector<std::string> texts,
           absl::optional<EnhancedStatusCode> enhanced = absl::nullopt,
           absl::string_view eol = "\r\n") {
  Wired w;
  for (size_t i = 0; i < texts.size(); ++i) {
    const char sep = i + 1 < texts.size() ? '-' : ' ';
    absl::StrAppend(&w.wire, code, absl::string_view(&sep, 1), texts[i], eol);
  }
  w.reply = R(code, std::move(texts), w.wire.size(), enhanced);
  return w;
}

struct ParserCase {
  std::string name;
  std::string input;
  std::vector<Reply> replies = {};
  absl::optional<ReplyParseError> error = absl::nullopt;
  bool partial = false;  // HasPartialReply() once all input is fed
  ReplyParserLimits limits = {};
};

void PrintTo(const ParserCase& c, std::ostream* os) { *os << c.name; }

ParserCase Transcript(std::string name, std::vector<Wired> replies) {
  ParserCase c;
  c.name = std::move(name);
  for (Wired& w : replies) {
    c.input += w.wire;
    c.replies.push_back(std::move(w.reply));
  }
  return c;
}

ReplyParserLimits Limits(size_t max_line_bytes, size_t max_reply_bytes,
                         size_t max_lines) {
  ReplyParserLimits l;
  l.max_line_bytes = max_line_bytes;
  l.max_reply_bytes = max_reply_bytes;
  l.max_lines = max_lines;
  return l;
}

const ReplyParserLimits kLine16 = Limits(16, 64 << 10, 512);
const ReplyParserLimits kReply20 = Limits(4096, 20, 512);
const ReplyParserLimits kLines3 = Limits(4096, 64 << 10, 3);

// A text of `n` bytes.
std::string Text(size_t n, char c = 'x') { return std::string(n, c); }

// One string that differs whenever two outcomes differ, for readable diffs.
std::string Describe(const FeedOutcome& o) {
  std::string s;
  for (const Reply& r : o.replies) {
    absl::StrAppend(&s, "reply ", ::testing::PrintToString(r), "\n");
  }
  if (o.error) {
    absl::StrAppend(&s, "error ", ::testing::PrintToString(*o.error), "\n");
  }
  absl::StrAppend(&s, "partial=", o.partial, " offset=", o.offset, "\n");
  for (const std::string& v : o.violations) {
    absl::StrAppend(&s, "VIOLATION: ", v, "\n");
  }
  return s;
}

FeedOutcome Expected(const ParserCase& c) {
  FeedOutcome o;
  o.replies = c.replies;
  o.error = c.error;
  o.partial = c.partial;
  o.offset = c.input.size();  // the harness always feeds everything
  return o;
}

std::vector<ParserCase> Cases() {
  std::vector<ParserCase> cases = {
      // --- Well-formed replies.
      {.name = "SingleLine",
       .input = "220 hi\r\n",
       .replies = {R(220, {"hi"}, 8)}},
      {.name = "BareLf", .input = "220 hi\n", .replies = {R(220, {"hi"}, 7)}},
      {.name = "BareLfMultiLine",
       .input = "250-a\n250-b\n250 c\n",
       .replies = {R(250, {"a", "b", "c"}, 18)}},
      {.name = "MixedLineEnds",
       .input = "250-a\n250-b\r\n250 c\n",
       .replies = {R(250, {"a", "b", "c"}, 19)}},
      {.name = "CodeOnly", .input = "250\r\n", .replies = {R(250, {""}, 5)}},
      {.name = "CodeOnlyLf", .input = "250\n", .replies = {R(250, {""}, 4)}},
      {.name = "CodeAndSpace",
       .input = "250 \r\n",
       .replies = {R(250, {""}, 6)}},
      {.name = "CodeOnlyLastLine",
       .input = "250-a\r\n250\r\n",
       .replies = {R(250, {"a", ""}, 12)}},
      {.name = "MultiLineGreeting",
       .input = "220-a\r\n220-b\r\n220 c\r\n",
       .replies = {R(220, {"a", "b", "c"}, 21)}},
      {.name = "EmptyContinuationText",
       .input = "250-\r\n250 x\r\n",
       .replies = {R(250, {"", "x"}, 13)}},
      {.name = "BackToBack",
       .input = "220 hi\r\n250 ok\r\n221 bye\r\n",
       .replies = {R(220, {"hi"}, 8), R(250, {"ok"}, 8), R(221, {"bye"}, 9)}},
      {.name = "BackToBackMultiLine",
       .input = "250-a\r\n250 b\r\n354-c\n354 d\n",
       .replies = {R(250, {"a", "b"}, 14), R(354, {"c", "d"}, 12)}},
      {.name = "BareCrInText",
       .input = "250 a\rb\r\n",
       .replies = {R(250, {"a\rb"}, 9)}},
      {.name = "CrBeforeCrLf",
       .input = "250 a\r\r\n",
       .replies = {R(250, {"a\r"}, 8)}},
      {.name = "TabAndSpacesKept",
       .input = "250  a\tb \r\n",
       .replies = {R(250, {" a\tb "}, 11)}},
      {.name = "RawBytesKept",
       .input = "250 caf\xc3\xa9 \xff\r\n",
       .replies = {R(250, {"caf\xc3\xa9 \xff"}, 13)}},
      {.name = "CodeZero", .input = "000 x\r\n", .replies = {R(0, {"x"}, 7)}},
      {.name = "Code999", .input = "999 x\r\n", .replies = {R(999, {"x"}, 7)}},
      {.name = "Empty", .input = ""},

      // --- Enhanced status codes (RFC 3463, RFC 2034).
      {.name = "Enhanced",
       .input = "250 2.1.0 Ok\r\n",
       .replies = {R(250, {"2.1.0 Ok"}, 14, Esc(2, 1, 0))}},
      {.name = "EnhancedPermanent",
       .input = "550 5.7.1 Relaying denied\r\n",
       .replies = {R(550, {"5.7.1 Relaying denied"}, 27, Esc(5, 7, 1))}},
      {.name = "EnhancedTransient",
       .input = "451 4.3.0 Try again later\r\n",
       .replies = {R(451, {"4.3.0 Try again later"}, 27, Esc(4, 3, 0))}},
      {.name = "EnhancedMultiLine",
       .input = "550-5.7.1 a\r\n550 5.7.1 b\r\n",
       .replies = {R(550, {"5.7.1 a", "5.7.1 b"}, 26, Esc(5, 7, 1))}},
      {.name = "EnhancedOnlyOnLaterLine",
       .input = "250-a\r\n250 2.0.0 b\r\n",
       .replies = {R(250, {"a", "2.0.0 b"}, 20)}},
      {.name = "EnhancedClassMismatch",
       .input = "250 5.1.1 x\r\n",
       .replies = {R(250, {"5.1.1 x"}, 13)}},
      {.name = "EnhancedAtEndOfLine",
       .input = "250 2.0.0\r\n",
       .replies = {R(250, {"2.0.0"}, 11, Esc(2, 0, 0))}},
      {.name = "EnhancedThreeDigitParts",
       .input = "550 5.123.456 x\r\n",
       .replies = {R(550, {"5.123.456 x"}, 17, Esc(5, 123, 456))}},
      {.name = "EnhancedTruncated",
       .input = "250 2.0\r\n",
       .replies = {R(250, {"2.0"}, 9)}},
      {.name = "EnhancedNoSpaceAfter",
       .input = "250 2.0.0Ok\r\n",
       .replies = {R(250, {"2.0.0Ok"}, 13)}},
      {.name = "EnhancedFourDigitDetail",
       .input = "550 5.7.1000 x\r\n",
       .replies = {R(550, {"5.7.1000 x"}, 16)}},
      {.name = "EnhancedAfterLeadingSpace",
       .input = "250  2.0.0 x\r\n",
       .replies = {R(250, {" 2.0.0 x"}, 14)}},

      // --- Input that ends inside a reply.
      {.name = "PartialCode", .input = "25", .partial = true},
      {.name = "PartialLine", .input = "220 hi", .partial = true},
      {.name = "PartialCr", .input = "220 hi\r", .partial = true},
      {.name = "PartialMultiLine", .input = "220-a\r\n220 b", .partial = true},
      {.name = "PartialAfterReply",
       .input = "220 hi\r\n250",
       .replies = {R(220, {"hi"}, 8)},
       .partial = true},
      {.name = "PartialAfterContinuationLine",
       .input = "250-a\r\n",
       .partial = true},

      // --- Lines that are not SMTP.
      {.name = "NotDigits",
       .input = "hello\r\n",
       .error = Err(ReplyError::kBadLine, 0, "hello")},
      {.name = "TwoDigits",
       .input = "25\r\n",
       .error = Err(ReplyError::kBadLine, 0, "25")},
      {.name = "TwoDigitsLf",
       .input = "25\n",
       .error = Err(ReplyError::kBadLine, 0, "25")},
      {.name = "FourDigits",
       .input = "2500 x\r\n",
       .error = Err(ReplyError::kBadLine, 0, "2500 x")},
      {.name = "LetterInCode",
       .input = "2a0 x\r\n",
       .error = Err(ReplyError::kBadLine, 0, "2a0 x")},
      {.name = "BadSeparator",
       .input = "250_x\r\n",
       .error = Err(ReplyError::kBadLine, 0, "250_x")},
      {.name = "LeadingSpace",
       .input = " 250 x\r\n",
       .error = Err(ReplyError::kBadLine, 0, " 250 x")},
      {.name = "CodeThenBareCr",
       .input = "250\rX\r\n",
       .error = Err(ReplyError::kBadLine, 0, "250\rX")},
      {.name = "EmptyLine",
       .input = "\r\n",
       .error = Err(ReplyError::kBadLine, 0, "")},
      {.name = "EmptyLineLf",
       .input = "\n",
       .error = Err(ReplyError::kBadLine, 0, "")},
      {.name = "EmptyLineInsideReply",
       .input = "250-a\r\n\r\n250 b\r\n",
       .error = Err(ReplyError::kBadLine, 7, "")},
      {.name = "BadLineAfterReply",
       .input = "220 hi\r\nhello\r\n",
       .replies = {R(220, {"hi"}, 8)},
       .error = Err(ReplyError::kBadLine, 8, "hello")},
      {.name = "ErrorAbsorbsTheRest",
       .input = "hello\r\n250 ok\r\n",
       .error = Err(ReplyError::kBadLine, 0, "hello")},
      {.name = "BadLineWithoutLineEnd",
       .input = "hello there",
       .error = Err(ReplyError::kBadLine, 0, "hello there")},
      {.name = "CodeMismatch",
       .input = "250-a\r\n251 b\r\n",
       .error = Err(ReplyError::kCodeMismatch, 7, "251 b")},
      {.name = "CodeMismatchCodeOnly",
       .input = "250-a\r\n251\r\n",
       .error = Err(ReplyError::kCodeMismatch, 7, "251")},
      {.name = "CodeMismatchAfterReply",
       .input = "220 hi\r\n250-a\r\n220 b\r\n",
       .replies = {R(220, {"hi"}, 8)},
       .error = Err(ReplyError::kCodeMismatch, 15, "220 b")},

      // --- Other protocols.
      {.name = "Http",
       .input = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
       .error = Err(ReplyError::kHttp, 0, "HTTP/1.1 400 Bad Request")},
      {.name = "Ssh",
       .input = "SSH-2.0-OpenSSH_9.2\r\n",
       .error = Err(ReplyError::kSsh, 0, "SSH-2.0-OpenSSH_9.2")},
      {.name = "SshAfterGreeting",
       .input = "220 hi\r\nSSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2\n",
       .replies = {R(220, {"hi"}, 8)},
       .error =
           Err(ReplyError::kSsh, 8, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2")},
      {.name = "TlsHandshake",
       .input = "\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03"s + Text(32, 'Z'),
       .error = Err(
           ReplyError::kTls, 0,
           "\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03"s + Text(32, 'Z'))},
      {.name = "TlsRecordWithLfByte",
       .input = "\x16\x03\x03\x00\x0a\x02\x00\x00\x06\x03\x03"s,
       .error = Err(ReplyError::kTls, 0, "\x16\x03\x03\x00"s)},
      {.name = "TlsAlert",
       .input = "\x15\x03\x03\x00\x02\x02\x46"s,
       .error = Err(ReplyError::kTls, 0, "\x15\x03\x03\x00\x02\x02\x46"s)},
      {.name = "TlsChangeCipherSpec",
       .input = "\x14\x03\x03\x00\x01\x01"s,
       .error = Err(ReplyError::kTls, 0, "\x14\x03\x03\x00\x01\x01"s)},
      {.name = "TlsApplicationData",
       .input = "\x17\x03\x03\x00\x04\xde\xad\xbe\xef"s,
       .error =
           Err(ReplyError::kTls, 0, "\x17\x03\x03\x00\x04\xde\xad\xbe\xef"s)},
      {.name = "Imap",
       .input = "* OK IMAP4rev1 ready\r\n",
       .error = Err(ReplyError::kImap, 0, "* OK IMAP4rev1 ready")},
      {.name = "ImapPreauth",
       .input = "* PREAUTH ready\r\n",
       .error = Err(ReplyError::kImap, 0, "* PREAUTH ready")},
      {.name = "ImapBye",
       .input = "* BYE go away\r\n",
       .error = Err(ReplyError::kImap, 0, "* BYE go away")},
      {.name = "ImapAfterReply",
       .input = "250 ok\r\n* OK x\r\n250 ok\r\n",
       .replies = {R(250, {"ok"}, 8)},
       .error = Err(ReplyError::kImap, 8, "* OK x")},
      {.name = "Pop3Ok",
       .input = "+OK POP3 ready\r\n",
       .error = Err(ReplyError::kPop3, 0, "+OK POP3 ready")},
      {.name = "Pop3Err",
       .input = "-ERR x",
       .error = Err(ReplyError::kPop3, 0, "-ERR x")},
      {.name = "BinaryControlBytes",
       .input = "\x00\x01\x02\x03"s,
       .error = Err(ReplyError::kBinary, 0, "\x00\x01\x02\x03"s)},
      {.name = "BinaryNonAscii",
       .input = "\xff\xfe\xfd\xfc\r\n",
       .error = Err(ReplyError::kBinary, 0, "\xff\xfe\xfd\xfc")},
      {.name = "BinaryNulInCode",
       .input = "25\x00 x\r\n"s,
       .error = Err(ReplyError::kBinary, 0, "25\x00 x"s)},
      {.name = "BinaryShortLine",
       .input = "\x01\r\n",
       .error = Err(ReplyError::kBinary, 0, "\x01")},

      // --- Excerpt length.
      {.name = "ExcerptCapped",
       .input = "hello" + Text(295) + "\r\n",
       .error =
           Err(ReplyError::kBadLine, 0, ("hello" + Text(295)).substr(0, 256))},
      {.name = "ExcerptOneUnderCapWithCrLf",
       .input = "hello" + Text(250) + "\r\n",
       .error = Err(ReplyError::kBadLine, 0, "hello" + Text(250))},
      {.name = "ExcerptExactlyCapWithCrLf",
       .input = "hello" + Text(251) + "\r\n",
       .error = Err(ReplyError::kBadLine, 0, "hello" + Text(251))},
      {.name = "ExcerptCappedOnCodeMismatch",
       .input = "250-a\r\n251 " + Text(300) + "\r\n",
       .error = Err(ReplyError::kCodeMismatch, 7, "251 " + Text(252))},

      // --- max_line_bytes = 16.
      {.name = "LineAtLimitCrLf",
       .input = "250 " + Text(12) + "\r\n",
       .replies = {R(250, {Text(12)}, 18)},
       .limits = kLine16},
      {.name = "LineAtLimitLf",
       .input = "250 " + Text(12) + "\n",
       .replies = {R(250, {Text(12)}, 17)},
       .limits = kLine16},
      {.name = "EveryLineAtLimit",
       .input = "250-" + Text(12) + "\r\n250-" + Text(12) + "\n250 " +
                Text(12) + "\r\n",
       .replies = {R(250, {Text(12), Text(12), Text(12)}, 53)},
       .limits = kLine16},
      {.name = "LineOverLimitCrLf",
       .input = "250 " + Text(13) + "\r\n",
       .error = Err(ReplyError::kLineTooLong, 0, "250 " + Text(13)),
       .limits = kLine16},
      {.name = "LineOverLimitLf",
       .input = "250 " + Text(13) + "\n",
       .error = Err(ReplyError::kLineTooLong, 0, "250 " + Text(13)),
       .limits = kLine16},
      {.name = "LineAtLimitThenBareCr",
       .input = "250 " + Text(12) + "\rX\r\n",
       .error = Err(ReplyError::kLineTooLong, 0, "250 " + Text(12) + "\rX"),
       .limits = kLine16},
      {.name = "LineAtLimitThenCrCrLf",
       .input = "250 " + Text(12) + "\r\r\n",
       .error = Err(ReplyError::kLineTooLong, 0, "250 " + Text(12) + "\r"),
       .limits = kLine16},
      {.name = "LineOverLimitWithoutLineEnd",
       .input = "250 " + Text(40),
       .error = Err(ReplyError::kLineTooLong, 0, "250 " + Text(40)),
       .limits = kLine16},
      {.name = "SecondLineOverLimit",
       .input = "250-a\r\n250 " + Text(13) + "\r\n",
       .error = Err(ReplyError::kLineTooLong, 7, "250 " + Text(13)),
       .limits = kLine16},
      {.name = "LineOverLimitAfterReply",
       .input = "220 hi\r\n250 " + Text(40) + "\r\n",
       .replies = {R(220, {"hi"}, 8)},
       .error = Err(ReplyError::kLineTooLong, 8, "250 " + Text(40)),
       .limits = kLine16},
      {.name = "DefaultLineLimitExact",
       .input = "250 " + Text(4092) + "\r\n",
       .replies = {R(250, {Text(4092)}, 4098)}},
      {.name = "DefaultLineLimitOver",
       .input = "250 " + Text(4093) + "\r\n",
       .error = Err(ReplyError::kLineTooLong, 0, "250 " + Text(252))},

      // --- max_reply_bytes = 20.
      {.name = "ReplyAtLimit",
       .input = "250-abcdef\r\n250 gh\r\n",
       .replies = {R(250, {"abcdef", "gh"}, 20)},
       .limits = kReply20},
      {.name = "ReplyAtLimitLf",
       .input = "250-abcdefg\n250 hij\n",
       .replies = {R(250, {"abcdefg", "hij"}, 20)},
       .limits = kReply20},
      {.name = "ReplyLimitIsPerReply",
       .input = "250 abcdefghijklmn\r\n250 abcdefghijklmn\r\n",
       .replies = {R(250, {"abcdefghijklmn"}, 20),
                   R(250, {"abcdefghijklmn"}, 20)},
       .limits = kReply20},
      {.name = "ReplyOverLimitAtLineEnd",
       .input = "250-abcdef\r\n250 ghi\r\n",
       .error = Err(ReplyError::kReplyTooLarge, 12, "250 ghi"),
       .limits = kReply20},
      {.name = "ReplyOverLimitAtLineEndLf",
       .input = "250-abcdefg\n250 hijk\n",
       .error = Err(ReplyError::kReplyTooLarge, 12, "250 hijk"),
       .limits = kReply20},
      {.name = "ReplyOverLimitAtCr",
       .input = "250-abcdef\r\n250 ghij\r\n",
       .error = Err(ReplyError::kReplyTooLarge, 12, "250 ghij"),
       .limits = kReply20},
      {.name = "ReplyOverLimitMidLine",
       .input = "250-abcdef\r\n250 ghijklmnop\r\n",
       .error = Err(ReplyError::kReplyTooLarge, 12, "250 ghijklmnop"),
       .limits = kReply20},
      {.name = "ReplyOverLimitWithoutLineEnd",
       .input = "250-abcdef\r\n250 ghijklmnopqrstuvwxyz",
       .error = Err(ReplyError::kReplyTooLarge, 12, "250 ghijklmnopqrstuvwxyz"),
       .limits = kReply20},
      {.name = "SingleLineOverReplyLimit",
       .input = "250 abcdefghijklmno\r\n",
       .error = Err(ReplyError::kReplyTooLarge, 0, "250 abcdefghijklmno"),
       .limits = kReply20},

      // --- max_lines = 3.
      {.name = "ExactlyMaxLines",
       .input = "250-a\r\n250-b\r\n250 c\r\n",
       .replies = {R(250, {"a", "b", "c"}, 21)},
       .limits = kLines3},
      {.name = "MaxLinesIsPerReply",
       .input = "250-a\r\n250-b\r\n250 c\r\n250-d\r\n250-e\r\n250 f\r\n",
       .replies = {R(250, {"a", "b", "c"}, 21), R(250, {"d", "e", "f"}, 21)},
       .limits = kLines3},
      {.name = "OneOverMaxLines",
       .input = "250-a\r\n250-b\r\n250-c\r\n250 d\r\n",
       .error = Err(ReplyError::kTooManyLines, 21, "250 d"),
       .limits = kLines3},
  };

  // Default max_lines (512): exactly at the limit, and one over.
  {
    std::vector<std::string> texts(512, "x");
    Wired at = Wire(250, texts);
    cases.push_back({.name = "DefaultMaxLinesExact",
                     .input = at.wire,
                     .replies = {at.reply}});
    texts.push_back("y");
    Wired over = Wire(250, texts);
    cases.push_back(
        {.name = "DefaultMaxLinesOver",
         .input = over.wire,
         .error = Err(ReplyError::kTooManyLines, 512 * 7, "250 y")});
  }

  // --- Transcripts of real products.
  cases.push_back(Transcript(
      "Postfix", {Wire(220, {"mail.example.com ESMTP Postfix (Debian/GNU)"}),
                  Wire(250, {"mail.example.com", "PIPELINING", "SIZE 10240000",
                             "VRFY", "ETRN", "STARTTLS", "AUTH PLAIN LOGIN",
                             "AUTH=PLAIN LOGIN", "ENHANCEDSTATUSCODES",
                             "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"}),
                  Wire(250, {"2.1.0 Ok"}, Esc(2, 1, 0)),
                  Wire(250, {"2.1.5 Ok"}, Esc(2, 1, 5)),
                  Wire(354, {"End data with <CR><LF>.<CR><LF>"}),
                  Wire(250, {"2.0.0 Ok: queued as 4ABCD1234"}, Esc(2, 0, 0)),
                  Wire(221, {"2.0.0 Bye"}, Esc(2, 0, 0))}));
  cases.push_back(Transcript(
      "PostfixRejects",
      {Wire(220, {"mail.example.com ESMTP Postfix"}),
       Wire(554,
            {"5.7.1 <client.example[192.0.2.1]>: Client host rejected: "
             "Access denied"},
            Esc(5, 7, 1)),
       Wire(421,
            {"4.7.0 mail.example.com Error: too many connections from "
             "192.0.2.1"},
            Esc(4, 7, 0))}));
  cases.push_back(Transcript(
      "Exim",
      {Wire(220, {"mail.example.com ESMTP Exim 4.96 Mon, 01 Jan 2024 "
                  "12:00:00 +0000"}),
       Wire(250, {"mail.example.com Hello client.example [192.0.2.1]",
                  "SIZE 52428800", "8BITMIME", "PIPELINING", "PIPE_CONNECT",
                  "CHUNKING", "STARTTLS", "PRDR", "HELP"}),
       Wire(221, {"mail.example.com closing connection"})}));
  cases.push_back(Transcript(
      "Sendmail",
      {Wire(220, {"mail.example.com ESMTP Sendmail 8.17.1.9/8.17.1.9; Mon, 1 "
                  "Jan 2024 12:00:00 GMT"}),
       Wire(250, {"mail.example.com Hello client [192.0.2.1], pleased to meet "
                  "you",
                  "ENHANCEDSTATUSCODES", "EXPN", "VERB", "8BITMIME", "SIZE",
                  "DSN", "ETRN", "DELIVERBY", "HELP"}),
       Wire(221, {"2.0.0 mail.example.com closing connection"},
            Esc(2, 0, 0))}));
  cases.push_back(Transcript(
      "Exchange",
      {Wire(220, {"mail.contoso.com Microsoft ESMTP MAIL Service ready at "
                  "Mon, 1 Jan 2024 12:00:00 +0000"}),
       Wire(250, {"mail.contoso.com Hello [192.0.2.1]", "SIZE 37748736",
                  "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS",
                  "X-ANONYMOUSTLS", "AUTH NTLM", "X-EXPS GSSAPI NTLM",
                  "8BITMIME", "BINARYMIME", "CHUNKING", "XRDST"}),
       Wire(220, {"2.0.0 SMTP server ready"}, Esc(2, 0, 0)),
       Wire(221, {"2.0.0 Service closing transmission channel"},
            Esc(2, 0, 0))}));
  cases.push_back(Transcript(
      "Gmail",
      {Wire(220,
            {"mx.google.com ESMTP a1b2c3d4e5f6-12345si1234567abc.123 - gsmtp"}),
       Wire(250, {"mx.google.com at your service, [192.0.2.1]",
                  "SIZE 157286400", "8BITMIME", "STARTTLS",
                  "ENHANCEDSTATUSCODES", "PIPELINING", "CHUNKING", "SMTPUTF8"}),
       Wire(221,
            {"2.0.0 closing connection "
             "a1b2c3d4e5f6-12345si1234567abc.123 - gsmtp"},
            Esc(2, 0, 0))}));
  cases.push_back(Transcript(
      "MultiLineBannerLf",
      {Wire(220, {"mail.example.com ESMTP", "No UCE", "Welcome"}, absl::nullopt,
            "\n"),
       Wire(250, {"mail.example.com", "SIZE", "HELP"}, absl::nullopt, "\n")}));
  return cases;
}

class ReplyParserSplitTest : public ::testing::TestWithParam<ParserCase> {};

TEST_P(ReplyParserSplitTest, FedWhole) {
  const ParserCase& c = GetParam();
  EXPECT_EQ(Describe(FeedWhole(c.input, c.limits)), Describe(Expected(c)));
}

TEST_P(ReplyParserSplitTest, FedOneByteAtATime) {
  const ParserCase& c = GetParam();
  EXPECT_EQ(Describe(FeedBytewise(c.input, c.limits)), Describe(Expected(c)));
}

TEST_P(ReplyParserSplitTest, FedInTwoPartsAtEverySplitPoint) {
  const ParserCase& c = GetParam();
  const std::string want = Describe(Expected(c));
  for (size_t at = 0; at <= c.input.size(); ++at) {
    // Stop at the first split that differs: the rest would only repeat it.
    ASSERT_EQ(Describe(FeedSplitAt(c.input, at, c.limits)), want)
        << "split at " << at << " of " << c.input.size();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ReplyParserSplitTest, ::testing::ValuesIn(Cases()),
    [](const ::testing::TestParamInfo<ParserCase>& param_info) {
      return param_info.param.name;
    });

TEST(ReplyParserTest, ParseStopsRightAfterAReply) {
  ReplyParser parser;
  absl::string_view input = "220 hi\r\n250-a\r\n250 b\r\nHTTP/1.1";
  ReplyParser::Step step = parser.Parse(input);
  EXPECT_EQ(step.result, ReplyParser::Result::kReply);
  EXPECT_EQ(step.consumed, 8u);
  EXPECT_EQ(parser.offset(), 8u);
  EXPECT_EQ(parser.TakeReply(), R(220, {"hi"}, 8));
  input.remove_prefix(step.consumed);

  step = parser.Parse(input);
  EXPECT_EQ(step.result, ReplyParser::Result::kReply);
  EXPECT_EQ(step.consumed, 14u);
  EXPECT_EQ(parser.TakeReply(), R(250, {"a", "b"}, 14));
  input.remove_prefix(step.consumed);

  step = parser.Parse(input);
  EXPECT_EQ(step.result, ReplyParser::Result::kError);
  EXPECT_EQ(step.consumed, input.size());
  EXPECT_EQ(parser.error().kind, ReplyError::kHttp);
  EXPECT_EQ(parser.error().offset, 22u);
}

TEST(ReplyParserTest, CompletedReplyWaitsForTakeReply) {
  ReplyParser parser;
  ASSERT_EQ(parser.Parse("220 a\r\n").result, ReplyParser::Result::kReply);
  const ReplyParser::Step again = parser.Parse("221 b\r\n");
  EXPECT_EQ(again.result, ReplyParser::Result::kReply);
  EXPECT_EQ(again.consumed, 0u);
  EXPECT_EQ(parser.TakeReply(), R(220, {"a"}, 7));
  const ReplyParser::Step next = parser.Parse("221 b\r\n");
  EXPECT_EQ(next.result, ReplyParser::Result::kReply);
  EXPECT_EQ(next.consumed, 7u);
  EXPECT_EQ(parser.TakeReply(), R(221, {"b"}, 7));
}

TEST(ReplyParserTest, NeedMoreConsumesEverything) {
  ReplyParser parser;
  const ReplyParser::Step step = parser.Parse("250-a\r\n250-b\r\n250 c");
  EXPECT_EQ(step.result, ReplyParser::Result::kNeedMore);
  EXPECT_EQ(step.consumed, 19u);
  EXPECT_EQ(parser.offset(), 19u);
  const ReplyParser::Step empty = parser.Parse("");
  EXPECT_EQ(empty.result, ReplyParser::Result::kNeedMore);
  EXPECT_EQ(empty.consumed, 0u);
}

TEST(ReplyParserTest, ErrorIsSticky) {
  ReplyParser parser;
  ReplyParser::Step step = parser.Parse("hello\r\n");
  EXPECT_EQ(step.result, ReplyParser::Result::kError);
  EXPECT_EQ(step.consumed, 7u);
  step = parser.Parse("250 ok\r\n");
  EXPECT_EQ(step.result, ReplyParser::Result::kError);
  EXPECT_EQ(step.consumed, 8u);
  EXPECT_EQ(parser.error().kind, ReplyError::kBadLine);
  EXPECT_EQ(parser.error().offset, 0u);
  EXPECT_EQ(parser.error().excerpt, "hello");
  EXPECT_EQ(parser.offset(), 15u);
}

TEST(ReplyParserTest, ExcerptGrowsUntilLineEnd) {
  ReplyParser parser;
  ASSERT_EQ(parser.Parse("HTTP/1.1").result, ReplyParser::Result::kError);
  EXPECT_EQ(parser.error().excerpt, "HTTP/1.1");
  parser.Parse(" 400 Bad");
  EXPECT_EQ(parser.error().excerpt, "HTTP/1.1 400 Bad");
  parser.Parse(" Request\r");
  parser.Parse("\nServer: x\r\n");
  EXPECT_EQ(parser.error().excerpt, "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(parser.error().offset, 0u);
}

TEST(ReplyParserTest, HasPartialReply) {
  ReplyParser parser;
  EXPECT_FALSE(parser.HasPartialReply());
  parser.Parse("2");
  EXPECT_TRUE(parser.HasPartialReply());
  parser.Parse("50-a\r\n");
  EXPECT_TRUE(parser.HasPartialReply());  // a continuation line is buffered
  parser.Parse("250 b\r");
  EXPECT_TRUE(parser.HasPartialReply());
  ASSERT_EQ(parser.Parse("\n").result, ReplyParser::Result::kReply);
  parser.TakeReply();
  EXPECT_FALSE(parser.HasPartialReply());
}

TEST(ReplyParserTest, ResetMidReply) {
  ReplyParser parser;
  parser.Parse("250-a\r\n25");
  parser.Reset();
  EXPECT_FALSE(parser.HasPartialReply());
  EXPECT_EQ(parser.offset(), 0u);
  const ReplyParser::Step step = parser.Parse("220 b\r\n");
  ASSERT_EQ(step.result, ReplyParser::Result::kReply);
  EXPECT_EQ(step.consumed, 7u);
  EXPECT_EQ(parser.TakeReply(), R(220, {"b"}, 7));
  EXPECT_EQ(parser.offset(), 7u);
}

TEST(ReplyParserTest, ResetAfterError) {
  ReplyParser parser;
  ASSERT_EQ(parser.Parse("SSH-2.0-x\r\n").result, ReplyParser::Result::kError);
  parser.Reset();
  ReplyParser::Step step = parser.Parse("220 ok\r\nxyz\r\n");
  ASSERT_EQ(step.result, ReplyParser::Result::kReply);
  EXPECT_EQ(parser.TakeReply(), R(220, {"ok"}, 8));
  step = parser.Parse(absl::string_view("220 ok\r\nxyz\r\n").substr(8));
  ASSERT_EQ(step.result, ReplyParser::Result::kError);
  // Offsets count from the Reset(), and the old error is gone.
  EXPECT_EQ(parser.error().kind, ReplyError::kBadLine);
  EXPECT_EQ(parser.error().offset, 8u);
  EXPECT_EQ(parser.error().excerpt, "xyz");
}

TEST(ReplyParserTest, ResetDropsAnUntakenReply) {
  ReplyParser parser;
  ASSERT_EQ(parser.Parse("220 a\r\n").result, ReplyParser::Result::kReply);
  parser.Reset();
  ASSERT_EQ(parser.Parse("221 b\r\n").result, ReplyParser::Result::kReply);
  EXPECT_EQ(parser.TakeReply(), R(221, {"b"}, 7));
}

TEST(ReplyParserTest, ResetKeepsLimits) {
  ReplyParser parser(kLine16);
  parser.Parse("250 a\r\n");
  parser.TakeReply();
  parser.Reset();
  ASSERT_EQ(parser.Parse("250 " + Text(13) + "\r\n").result,
            ReplyParser::Result::kError);
  EXPECT_EQ(parser.error().kind, ReplyError::kLineTooLong);
}

TEST(ReplyParserTest, ErrorNamesArePinned) {
  // Part of the output format: never rename.
  const std::pair<ReplyError, absl::string_view> kNames[] = {
      {ReplyError::kBadLine, "bad-line"},
      {ReplyError::kCodeMismatch, "code-mismatch"},
      {ReplyError::kLineTooLong, "line-too-long"},
      {ReplyError::kReplyTooLarge, "reply-too-large"},
      {ReplyError::kTooManyLines, "too-many-lines"},
      {ReplyError::kHttp, "http"},
      {ReplyError::kSsh, "ssh"},
      {ReplyError::kTls, "tls"},
      {ReplyError::kImap, "imap"},
      {ReplyError::kPop3, "pop3"},
      {ReplyError::kBinary, "binary"},
  };
  for (const auto& [error, name] : kNames) {
    EXPECT_EQ(ReplyErrorName(error), name);
  }
}

}  // namespace
}  // namespace smtpscan::smtp
