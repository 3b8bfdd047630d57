// Recorded SMTP conversations, and replaying them through a Session.
//
// A transcript is a text file, one step per line:
//
//   # a comment; blank lines are ignored
//   S: 220 mx.example.com ESMTP      server sends this line + CRLF
//   S| 250-PART\x00                  server sends these bytes as they are
//   C: EHLO                          the client must have sent this command
//   TLS                              the TLS handshake succeeds
//   TLS-FAIL wrong version number    the TLS handshake fails with a reason
//   CLOSE                            the server closes the connection
//   RESET                            the connection is reset (ECONNRESET)
//   TIMEOUT                          the current phase's deadline passes
//
// The text after "S: " and "S| " is C-unescaped (\r \n \t \\ \xHH \0).
// Consecutive S lines arrive as one chunk of bytes, as a server's multi-line
// reply usually does. "C:" compares the command's verb (EHLO, HELO,
// STARTTLS, QUIT; case-insensitive), not the EHLO name. Every command the
// session sends must appear as a "C:" line before the next server step.
#ifndef SMTPSCAN_SMTP_TRANSCRIPT_H_
#define SMTPSCAN_SMTP_TRANSCRIPT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "smtp/session.h"

namespace smtpscan::smtp {

struct TranscriptStep {
  enum class Kind : uint8_t {
    kServerBytes,
    kClientCommand,
    kTls,
    kTlsFail,
    kClose,
    kReset,
    kTimeout,
  };
  Kind kind;
  std::string text;  // bytes, the expected verb, or the TLS failure reason
  int line = 0;      // in the transcript text, for error messages
};

// Parses transcript text. `name` prefixes error messages ("file:line: ...").
absl::StatusOr<std::vector<TranscriptStep>> ParseTranscript(
    absl::string_view text, absl::string_view name);

struct ReplayOutcome {
  SessionResult result;
  std::vector<std::string> sent;  // every command the session sent, in order
};

// Runs a Session with `config` through `steps`. The clock starts at `start`
// and advances by `step_time` per step, so results are deterministic. A
// transcript that ends before the session does acts as the server closing.
// Returns an error when the session's commands differ from the transcript's.
absl::StatusOr<ReplayOutcome> Replay(const std::vector<TranscriptStep>& steps,
                                     const SessionConfig& config,
                                     absl::Time start, absl::Duration step_time,
                                     absl::string_view name);

}  // namespace smtpscan::smtp

#endif  // SMTPSCAN_SMTP_TRANSCRIPT_H_
