#include "smtp/reply_parser.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace smtpscan::smtp {
namespace {

constexpr std::array<absl::string_view, 11> kErrorNames = {
    "bad-line",       "code-mismatch", "line-too-long", "reply-too-large",
    "too-many-lines", "http",          "ssh",           "tls",
    "imap",           "pop3",          "binary",
};
static_assert(kErrorNames.size() ==
              static_cast<size_t>(ReplyError::kBinary) + 1);

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Names the protocol a bad line belongs to, from its first (up to 4) bytes.
ReplyError ClassifyBadLine(absl::string_view p) {
  if (absl::StartsWith(p, "HTTP")) return ReplyError::kHttp;
  if (absl::StartsWith(p, "SSH-")) return ReplyError::kSsh;
  if (p.size() >= 2 && p[0] >= 0x14 && p[0] <= 0x17 && p[1] == 0x03) {
    return ReplyError::kTls;
  }
  if (absl::StartsWith(p, "* OK") || absl::StartsWith(p, "* PR") ||
      absl::StartsWith(p, "* BY")) {
    return ReplyError::kImap;
  }
  if (absl::StartsWith(p, "+OK") || absl::StartsWith(p, "-ERR")) {
    return ReplyError::kPop3;
  }
  for (char c : p) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\r') || u >= 0x7f) {
      return ReplyError::kBinary;
    }
  }
  return ReplyError::kBadLine;
}

}  // namespace

absl::string_view ReplyErrorName(ReplyError error) {
  return kErrorNames[static_cast<size_t>(error)];
}

ReplyParser::ReplyParser(ReplyParserLimits limits) : limits_(limits) {
  // Below these the checks would overlap with the 4-byte prefix check and
  // lose their byte-exact meaning; no real configuration goes this low.
  limits_.max_line_bytes = std::max<size_t>(limits_.max_line_bytes, 8);
  limits_.max_reply_bytes = std::max<size_t>(limits_.max_reply_bytes, 8);
  limits_.max_lines = std::max<size_t>(limits_.max_lines, 1);
}

void ReplyParser::Reset() {
  state_ = State::kInReply;
  reply_ = Reply();
  line_.clear();
  prefix_checked_ = false;
  reply_bytes_ = 0;
  offset_ = 0;
  line_offset_ = 0;
  excerpt_done_ = false;
  excerpt_dropped_ = false;
  error_ = ReplyParseError();
}

void ReplyParser::Fail(ReplyError kind, bool line_ended) {
  state_ = State::kError;
  error_.kind = kind;
  error_.offset = line_offset_;
  error_.excerpt.clear();
  excerpt_done_ = false;
  excerpt_dropped_ = false;
  ExtendExcerpt(line_);
  if (line_ended) EndExcerpt();
}

void ReplyParser::ExtendExcerpt(absl::string_view bytes) {
  if (excerpt_done_) return;
  const size_t room = ReplyParseError::kExcerptBytes - error_.excerpt.size();
  if (bytes.size() > room) excerpt_dropped_ = true;
  error_.excerpt.append(bytes.data(), std::min(room, bytes.size()));
}

void ReplyParser::EndExcerpt() {
  if (excerpt_done_) return;
  // A CR right before the LF belongs to the line end, not the line; when
  // bytes were dropped at the cap, the excerpt's last byte was not that CR.
  if (!excerpt_dropped_ && !error_.excerpt.empty() &&
      error_.excerpt.back() == '\r') {
    error_.excerpt.pop_back();
  }
  excerpt_done_ = true;
}

bool ReplyParser::CheckPrefix(bool line_ended) {
  prefix_checked_ = true;
  absl::string_view p(line_.data(), std::min<size_t>(line_.size(), 4));
  const bool ok = p.size() >= 3 && IsDigit(p[0]) && IsDigit(p[1]) &&
                  IsDigit(p[2]) &&
                  (p.size() == 3 || p[3] == ' ' || p[3] == '-');
  if (!ok) Fail(ClassifyBadLine(p), line_ended);
  return ok;
}

bool ReplyParser::FinishLine() {
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  if (!prefix_checked_ && !CheckPrefix(/*line_ended=*/true)) return false;
  const int code =
      (line_[0] - '0') * 100 + (line_[1] - '0') * 10 + (line_[2] - '0');
  if (reply_.lines.empty()) {
    reply_.code = code;
  } else if (code != reply_.code) {
    Fail(ReplyError::kCodeMismatch, /*line_ended=*/true);
    return false;
  }
  if (reply_.lines.size() >= limits_.max_lines) {
    Fail(ReplyError::kTooManyLines, /*line_ended=*/true);
    return false;
  }
  const bool last = line_.size() == 3 || line_[3] == ' ';
  // Most replies have one line; a multiline one (an EHLO reply) usually a
  // handful: grow in one step to a few rather than one at a time.
  if (!last && reply_.lines.size() < 8) reply_.lines.reserve(8);
  reply_.lines.emplace_back(line_.size() > 4 ? line_.substr(4) : std::string());
  reply_bytes_ += static_cast<size_t>(offset_ + 1 - line_offset_);
  line_.clear();
  prefix_checked_ = false;
  line_offset_ = offset_ + 1;
  if (!last) return true;

  reply_.wire_bytes = reply_bytes_;
  EnhancedStatusCode c;
  size_t len = 0;
  if (ParseEnhancedStatusCode(reply_.lines[0], &c, &len) &&
      c.klass == reply_.code / 100) {
    reply_.enhanced = c;
  }
  state_ = State::kReplyReady;
  return false;
}

bool ReplyParser::ConsumeByte(char c) {
  if (c == '\n') {
    if (reply_bytes_ + line_.size() + 1 > limits_.max_reply_bytes) {
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      Fail(ReplyError::kReplyTooLarge, /*line_ended=*/true);
      return false;
    }
    return FinishLine();
  }
  line_.push_back(c);
  const size_t n = line_.size();
  // The prefix is checked at the 4th byte, or at the 5th when the 4th is a
  // CR that may yet turn out to end a bare "NNN" line.
  if (!prefix_checked_ && (n == 5 || (n == 4 && c != '\r')) &&
      !CheckPrefix(/*line_ended=*/false)) {
    return false;
  }
  if (n > limits_.max_line_bytes + 1 ||
      (n == limits_.max_line_bytes + 1 && c != '\r')) {
    Fail(ReplyError::kLineTooLong, /*line_ended=*/false);
    return false;
  }
  if (reply_bytes_ + n > limits_.max_reply_bytes) {
    Fail(ReplyError::kReplyTooLarge, /*line_ended=*/false);
    return false;
  }
  return true;
}

ReplyParser::Step ReplyParser::Parse(absl::string_view input) {
  if (state_ == State::kError) return AbsorbAfterError(input);
  if (state_ == State::kReplyReady) return {Result::kReply, 0};

  size_t i = 0;
  while (i < input.size()) {
    // Fast path: inside a line whose prefix is checked, no check can fire
    // until a line end or a size limit, so copy up to whichever comes first.
    if (prefix_checked_) {
      const size_t line_room = limits_.max_line_bytes -
                               std::min(line_.size(), limits_.max_line_bytes);
      const size_t used = reply_bytes_ + line_.size();
      const size_t reply_room =
          limits_.max_reply_bytes - std::min(used, limits_.max_reply_bytes);
      const size_t span = std::min({input.size() - i, line_room, reply_room});
      const void* lf = std::memchr(input.data() + i, '\n', span);
      const size_t plain =
          lf ? static_cast<size_t>(static_cast<const char*>(lf) -
                                   (input.data() + i))
             : span;
      line_.append(input.data() + i, plain);
      i += plain;
      offset_ += plain;
      if (i == input.size()) break;
    }
    const bool more = ConsumeByte(input[i]);
    ++i;
    ++offset_;
    if (!more) {
      if (state_ == State::kError) {
        return {Result::kError, i + AbsorbAfterError(input.substr(i)).consumed};
      }
      return {Result::kReply, i};
    }
  }
  return {Result::kNeedMore, input.size()};
}

ReplyParser::Step ReplyParser::AbsorbAfterError(absl::string_view input) {
  // Extend the excerpt to the end of the bad line (or its cap), so that once
  // everything is fed it does not depend on where the input was split.
  const size_t lf = input.find('\n');
  ExtendExcerpt(input.substr(0, lf));
  if (lf != absl::string_view::npos) EndExcerpt();
  offset_ += input.size();
  return {Result::kError, input.size()};
}

Reply ReplyParser::TakeReply() {
  Reply r = std::move(reply_);
  reply_ = Reply();
  reply_bytes_ = 0;
  state_ = State::kInReply;
  return r;
}

}  // namespace smtpscan::smtp
