// What each listener mode says, with no sockets: the server asks this file
// how to open a connection and how to answer each command line, and does the
// I/O itself. All text returned here is complete wire bytes (CRLF included).

#ifndef SMTPSCAN_TOOLS_SMTP_TEST_SERVER_MODE_H_
#define SMTPSCAN_TOOLS_SMTP_TEST_SERVER_MODE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smtpscan::test_server {

enum class ModeKind {
  kPostfix,
  kExim,
  kSendmail,
  kFast,
  kMultiline,
  kDelay,
  kTarpit,
  kIdle,
  kGreet421,
  kGreet554,
  kHttp,
  kSsh,
  kBinary,
  kResetMidReply,
  kEndlessReply,
  kSlow,
  kCloseAfterGreeting,
  kStarttls454,
  kHoldAfterQuit,
  // TLS modes (tls.h makes their contexts).
  kTls,             // implicit TLS, then `fast`
  kTlsOld,          // implicit TLS 1.0 only, RSA-1024/SHA-1 certificate
  kTlsGarbage,      // plaintext garbage instead of a ServerHello
  kTlsStall,        // never answers the ClientHello
  kStarttls,        // `fast` with STARTTLS, then EHLO again inside TLS
  kStarttlsClose,   // 220 to STARTTLS, then close
  kStarttlsRefuse,  // 454 to STARTTLS
  kStarttlsInject,  // 220 and a plaintext "250 injected" in one write
};

// Which server TLS context a mode needs.
enum class TlsProfile {
  kNone,
  kModern,  // --tls-cert/--tls-key, or a generated EC P-256 certificate
  kLegacy,  // TLS 1.0 only, security level 0, RSA-1024/SHA-1 certificate
};

struct Mode {
  ModeKind kind = ModeKind::kPostfix;
  int delay_ms = 0;  // kDelay only
  std::string name;  // as written on the command line, e.g. "delay:500"

  // True when replies mention the client's address (exim, sendmail), so the
  // server must look it up.
  bool NeedsClientIp() const {
    return kind == ModeKind::kExim || kind == ModeKind::kSendmail;
  }

  // The TLS context this mode's connections use, if any.
  TlsProfile tls_profile() const;
};

// Parses a MODE string ("postfix", "delay:250", ...). nullopt when unknown.
std::optional<Mode> ParseMode(std::string_view text);

// What a connection does once its opening bytes are out.
enum class Phase {
  kDialogue,      // read command lines and answer them
  kDiscard,       // read and discard input, never answer (tarpit, ssh)
  kIdle,          // do not read at all; close when the client closes
  kClose,         // close (after flushing the opening bytes)
  kCloseOnInput,  // close as soon as any input arrives (tls-garbage)
};

// How a connection starts.
struct Opening {
  std::string immediate;  // sent as soon as the connection is accepted
  int delay_ms = -1;      // >= 0: send `delayed` after this many milliseconds
  std::string delayed;    // the (rest of the) greeting, for delay/multiline
  bool pregreet_closes = false;  // input before `delayed` closes (postscreen)
  bool paced = false;            // all output leaves one byte per second
  Phase phase = Phase::kDialogue;
  // Implicit TLS: the server handshakes first (as with `immediate` empty),
  // then sends `after_handshake` inside TLS and goes on with `phase`.
  bool tls = false;
  std::string after_handshake;
};

// The per-connection facts replies may quote.
struct Peer {
  std::string_view hostname;   // the server's name (--hostname)
  std::string_view client_ip;  // empty unless Mode::NeedsClientIp()
  bool tls = false;            // the conversation is inside TLS now
};

Opening MakeOpening(const Mode& mode, const Peer& peer);

// What the connection does after answering a command.
enum class Next {
  kContinue,
  kClose,    // flush the reply, then close
  kReset,    // send the reply, then reset the connection (RST)
  kEndless,  // start an endless stream of 250- continuation lines
  // Send the reply in plaintext, drop any input after the command (RFC 3207
  // section 4: pipelined bytes before the handshake are discarded), then
  // handshake as the TLS server.
  kStartTls,
};

// Appends the answer to one command `line` (without its line end) to `out`.
// REQUIRES: the mode's opening phase is Phase::kDialogue.
Next Answer(const Mode& mode, const Peer& peer, std::string_view line,
            std::string& out);

// Appends at least `bytes` bytes of "250-X-FILLER-nnnnnn\r\n" lines to `out`,
// numbering them from `*counter` (advanced).
void AppendFiller(std::uint32_t* counter, std::size_t bytes, std::string& out);

}  // namespace smtpscan::test_server

#endif  // SMTPSCAN_TOOLS_SMTP_TEST_SERVER_MODE_H_
