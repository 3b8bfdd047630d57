#include "smtp/transcript.h"

#include <cerrno>
#include <deque>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace smtpscan::smtp {
namespace {

using Kind = TranscriptStep::Kind;

// The verb of a command line the session sent: "EHLO x\r\n" -> "EHLO".
absl::string_view Verb(absl::string_view command) {
  command = absl::StripAsciiWhitespace(command);
  return command.substr(0, command.find(' '));
}

}  // namespace

absl::StatusOr<std::vector<TranscriptStep>> ParseTranscript(
    absl::string_view text, absl::string_view name) {
  std::vector<TranscriptStep> steps;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::ConsumeSuffix(&line, "\r");
    const auto error = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", line_number, ": ", why));
    };
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (trimmed.empty() || absl::StartsWith(trimmed, "#")) continue;

    TranscriptStep step{Kind::kServerBytes, {}, line_number};
    if (absl::StartsWith(line, "S: ") || absl::StartsWith(line, "S| ") ||
        line == "S:" || line == "S|") {
      std::string bytes;
      std::string error_text;
      if (!absl::CUnescape(line.substr(std::min<size_t>(3, line.size())),
                           &bytes, &error_text)) {
        return error(absl::StrCat("bad escape: ", error_text));
      }
      if (line[1] == ':') bytes += "\r\n";
      // Consecutive server lines form one chunk.
      if (!steps.empty() && steps.back().kind == Kind::kServerBytes) {
        steps.back().text += bytes;
        continue;
      }
      step.text = std::move(bytes);
    } else if (absl::StartsWith(line, "C: ")) {
      step.kind = Kind::kClientCommand;
      step.text = std::string(Verb(line.substr(3)));
      if (step.text.empty()) return error("C: needs a command");
    } else if (trimmed == "TLS") {
      step.kind = Kind::kTls;
    } else if (trimmed == "TLS-FAIL" ||
               absl::StartsWith(trimmed, "TLS-FAIL ")) {
      step.kind = Kind::kTlsFail;
      step.text = std::string(absl::StripAsciiWhitespace(trimmed.substr(8)));
    } else if (trimmed == "CLOSE") {
      step.kind = Kind::kClose;
    } else if (trimmed == "RESET") {
      step.kind = Kind::kReset;
    } else if (trimmed == "TIMEOUT") {
      step.kind = Kind::kTimeout;
    } else {
      return error(absl::StrCat("unknown step '", trimmed.substr(0, 40),
                                "' (expected S:, S|, C:, TLS, TLS-FAIL, "
                                "CLOSE, RESET or TIMEOUT)"));
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

absl::StatusOr<ReplayOutcome> Replay(const std::vector<TranscriptStep>& steps,
                                     const SessionConfig& config,
                                     absl::Time start, absl::Duration step_time,
                                     absl::string_view name) {
  Session session(config);
  ReplayOutcome outcome;
  std::deque<std::string> unchecked;  // sent, not yet matched by a C: line
  absl::Time now = start;
  session.Start(now);
  now += step_time;

  const auto take = [&](Action action) {
    if (action.kind == Action::Kind::kSend) {
      outcome.sent.push_back(action.bytes);
      unchecked.push_back(action.bytes);
    }
    return action;
  };
  Action action = take(session.OnConnected(now));

  for (const TranscriptStep& step : steps) {
    const auto error = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", step.line, ": ", why));
    };
    if (step.kind == Kind::kClientCommand) {
      if (unchecked.empty()) {
        return error(absl::StrCat("expected the client to send ", step.text,
                                  ", but it sent nothing"));
      }
      const absl::string_view verb = Verb(unchecked.front());
      if (!absl::EqualsIgnoreCase(verb, step.text)) {
        return error(absl::StrCat("expected the client to send ", step.text,
                                  ", but it sent ", verb));
      }
      unchecked.pop_front();
      continue;
    }
    if (!unchecked.empty()) {
      return error(absl::StrCat("the client sent ", Verb(unchecked.front()),
                                ", which the transcript has no C: line for"));
    }
    if (session.done()) {
      if (step.kind == Kind::kServerBytes || step.kind == Kind::kClose) {
        continue;  // the server may talk or close after we are done
      }
      return error("the session already ended");
    }
    now += step_time;
    switch (step.kind) {
      case Kind::kServerBytes:
        action = take(session.OnBytes(step.text, now));
        break;
      case Kind::kTls:
      case Kind::kTlsFail:
        if (action.kind != Action::Kind::kStartTls) {
          return error("TLS step, but the session did not ask for TLS");
        }
        action =
            take(step.kind == Kind::kTls ? session.OnTlsEstablished(now)
                                         : session.OnTlsFailed(step.text, now));
        break;
      case Kind::kClose:
        action = take(session.OnEof(now));
        break;
      case Kind::kReset:
        action = take(session.OnSocketError(ECONNRESET, now));
        break;
      case Kind::kTimeout:
        action = take(session.OnDeadline(now));
        break;
      case Kind::kClientCommand:
        break;  // handled above
    }
  }
  if (!unchecked.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": the client sent ", Verb(unchecked.front()),
                     " after the transcript's last line"));
  }
  if (!session.done()) {
    now += step_time;
    session.OnEof(now);
  }
  outcome.result = session.TakeResult();
  return outcome;
}

}  // namespace smtpscan::smtp
