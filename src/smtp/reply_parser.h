// Incremental SMTP reply parser (sans-I/O).
//
// Feed it bytes in chunks of any size; it yields complete replies. The result
// depends only on the bytes, never on how they were split into chunks: every
// decision is taken at a byte position fixed by the content (the fourth byte
// of a line, a line end, a size limit), as if the input arrived one byte at a
// time. The tests check this for every split of every case.
//
// Protocol errors are reported as values, never thrown or asserted: a server
// can send anything.
#ifndef SMTPSCAN_SMTP_REPLY_PARSER_H_
#define SMTPSCAN_SMTP_REPLY_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "smtp/reply.h"

namespace smtpscan::smtp {

struct ReplyParserLimits {
  size_t max_line_bytes = 4096;       // one line, without its line ending
  size_t max_reply_bytes = 64 << 10;  // one reply, line endings included
  size_t max_lines = 512;             // lines in one reply
};

// Why the byte stream is not (or no longer) SMTP. Stable names in
// ReplyErrorName(); part of the output format.
enum class ReplyError : uint8_t {
  kBadLine,        // a line that is not "NNN", "NNN text" or "NNN-text"
  kCodeMismatch,   // the code changed within a multi-line reply
  kLineTooLong,    // a line over ReplyParserLimits::max_line_bytes
  kReplyTooLarge,  // a reply over ReplyParserLimits::max_reply_bytes
  kTooManyLines,   // a reply over ReplyParserLimits::max_lines
  // A line recognised as another protocol (checked on its first 4 bytes).
  kHttp,    // "HTTP/1.1 400 ..."
  kSsh,     // "SSH-2.0-..."
  kTls,     // a TLS record header: content type 20..23, version 3.x
  kImap,    // "* OK", "* PREAUTH", "* BYE"
  kPop3,    // "+OK " or "-ERR"
  kBinary,  // control bytes or non-ASCII where a reply code belongs
};

absl::string_view ReplyErrorName(ReplyError error);

struct ReplyParseError {
  ReplyError kind = ReplyError::kBadLine;
  // Stream offset (bytes fed before it) of the first byte of the bad line.
  uint64_t offset = 0;
  // The first bytes of the offending line, raw, at most kExcerptBytes, never
  // the line end. Once all input has been fed, independent of the split.
  std::string excerpt;

  static constexpr size_t kExcerptBytes = 256;
};

class ReplyParser {
 public:
  enum class Result : uint8_t {
    kNeedMore,  // all of the input was consumed; no reply is complete yet
    kReply,     // a reply is complete: call TakeReply()
    kError,     // a protocol error: see error(); the parser stays in error
  };
  struct Step {
    Result result;
    // Bytes of the input consumed. On kReply, the reply's last byte is the
    // last consumed byte: the rest of the input was not looked at.
    size_t consumed;
  };

  explicit ReplyParser(ReplyParserLimits limits = {});

  ReplyParser(const ReplyParser&) = delete;
  ReplyParser& operator=(const ReplyParser&) = delete;

  // Consumes bytes until a reply completes, an error occurs, or the input
  // ends. After kError every call consumes all input (extending the error's
  // excerpt up to its cap or the line end) and returns kError again.
  Step Parse(absl::string_view input);

  // Moves out the completed reply and readies the parser for the next one.
  // REQUIRES: the last Parse() returned kReply.
  Reply TakeReply();

  // REQUIRES: the last Parse() returned kError.
  const ReplyParseError& error() const { return error_; }

  // True when bytes of an unfinished reply are buffered (for diagnostics
  // when the peer closes mid-reply).
  bool HasPartialReply() const {
    return !line_.empty() || !reply_.lines.empty();
  }

  // Total bytes consumed so far.
  uint64_t offset() const { return offset_; }

  // Forgets everything, as if newly constructed (for a new byte stream,
  // such as the one that starts inside TLS after STARTTLS).
  void Reset();

 private:
  enum class State : uint8_t { kInReply, kReplyReady, kError };

  // Processes one byte; returns false when it ended the reply or failed.
  bool ConsumeByte(char c);
  // Checks the first bytes of a line (4, or fewer when the line ended).
  bool CheckPrefix(bool line_ended);
  // A line ending arrived for line_.
  bool FinishLine();
  // Enters the error state; the excerpt starts with line_.
  void Fail(ReplyError kind, bool line_ended);
  void ExtendExcerpt(absl::string_view bytes);
  void EndExcerpt();
  Step AbsorbAfterError(absl::string_view input);

  ReplyParserLimits limits_;
  State state_ = State::kInReply;
  Reply reply_;
  std::string line_;  // current line without LF (a CR stays)
  bool prefix_checked_ = false;
  size_t reply_bytes_ = 0;  // wire bytes of completed lines of reply_
  uint64_t offset_ = 0;
  uint64_t line_offset_ = 0;      // stream offset of line_'s first byte
  bool excerpt_done_ = false;     // the bad line's end was reached
  bool excerpt_dropped_ = false;  // bytes of the bad line fell past the cap
  ReplyParseError error_;
};

}  // namespace smtpscan::smtp

#endif  // SMTPSCAN_SMTP_REPLY_PARSER_H_
