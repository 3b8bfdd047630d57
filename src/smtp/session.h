// The client side of one SMTP conversation, as a sans-I/O state machine.
//
//   connect → greeting (complete, never talked over) → EHLO (HELO on 5xx)
//     → [STARTTLS → TLS handshake → EHLO again] → QUIT → done
//   implicit TLS (port 465): connect → TLS handshake → greeting → ...
//
// The session never sees a socket, a ring, a TLS library or a clock. The
// caller (the engine) reports what happened — connected, bytes arrived, the
// peer closed, a deadline passed, TLS is up — with the current time, and gets
// back an Action: what to do next. The same object runs over plaintext and,
// after kStartTls, over the plaintext side of a TLS channel.
//
// An event that makes no sense in the current phase changes nothing; once
// the session is done, every call returns kClose.
//
// Typical use:
//   Session s(config);
//   s.Start(now);                      // TCP connect begins
//   Action a = s.OnConnected(now);     // or OnSocketError / OnDeadline
//   while (a.kind != Action::Kind::kClose) {
//     ... send a.bytes, read, then a = s.OnBytes(chunk, now) ...
//   }
//   const SessionResult& r = s.result();
#ifndef SMTPSCAN_SMTP_SESSION_H_
#define SMTPSCAN_SMTP_SESSION_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "scan/scan_status.h"
#include "smtp/ehlo.h"
#include "smtp/heap_optional.h"
#include "smtp/reply.h"
#include "smtp/reply_parser.h"

namespace smtpscan::smtp {

enum class StartTlsPolicy : uint8_t {
  kAuto,    // STARTTLS when the EHLO reply advertises it
  kAlways,  // STARTTLS after any positive EHLO, advertised or not
  kNever,   // never
};

// The command SessionConfig::probe sends that no server knows.
inline constexpr absl::string_view kUnknownCommand = "XSMTPSCANPROBE";

struct SessionConfig {
  std::string ehlo_name;  // REQUIRES: non-empty; a name the scanner controls
  StartTlsPolicy starttls = StartTlsPolicy::kAuto;
  bool implicit_tls = false;  // TLS from the first byte (RFC 8314, port 465)
  // Before QUIT, after a successful EHLO or HELO (and TLS), send HELP and
  // one unknown command (kUnknownCommand): their replies tell products
  // apart when the banner does not (--probe).
  bool probe = false;
  ReplyParserLimits limits;
};

// Where the conversation is. The engine picks the deadline from it.
enum class Phase : uint8_t {
  kConnect,       // TCP connect in progress
  kGreeting,      // waiting for the complete greeting
  kEhlo,          // EHLO sent, waiting for its reply
  kHelo,          // HELO sent after EHLO was refused
  kStartTls,      // STARTTLS sent, waiting for its reply
  kTlsHandshake,  // the caller runs the TLS handshake
  kEhloTls,       // EHLO sent inside TLS
  kHeloTls,       // HELO sent inside TLS after EHLO was refused
  kHelp,          // HELP sent (SessionConfig::probe)
  kUnknown,       // an unknown command sent (SessionConfig::probe)
  kQuit,          // QUIT sent, waiting for 221 or the close
  kDone,          // finished: result() is final
};

// Stable lowercase name, used in status details and anomalies.
absl::string_view PhaseName(Phase phase);

// What the caller must do next.
struct Action {
  enum class Kind : uint8_t {
    kRead,      // wait for bytes, then call OnBytes (or OnEof, OnDeadline...)
    kSend,      // send `bytes` (all of them), then wait as for kRead
    kStartTls,  // run a TLS handshake, then OnTlsEstablished / OnTlsFailed
    kClose,     // close the connection; the session is done
  };
  Kind kind = Kind::kRead;
  std::string bytes;  // kSend only

  friend bool operator==(const Action&, const Action&) = default;
};

// Bytes the server sent when no reply was due.
struct Anomaly {
  enum class Kind : uint8_t {
    kUnexpectedData,     // after a complete reply, before our next command
    kDataAfterStartTls,  // after "220" to STARTTLS, before the handshake
                         // (the CVE-2011-0411 injection class); never fed to
                         // TLS
  };
  Kind kind = Kind::kUnexpectedData;
  Phase phase = Phase::kGreeting;  // the phase whose reply they followed
  uint64_t size = 0;               // how many bytes
  std::string excerpt;             // the first kExcerptBytes of them, raw

  static constexpr size_t kExcerptBytes = 64;
  static constexpr size_t kMaxRecorded = 8;  // further ones are only counted
};

absl::string_view AnomalyKindName(Anomaly::Kind kind);

// An optional absl::Duration in 8 bytes: nanoseconds, with a sentinel for
// "unset". absl::optional<absl::Duration> takes 24, and every open
// connection holds ten of these (the idle-connection memory budget is
// 2 KiB). Reads like an optional: has_value(), *d, == nullopt, == Duration.
class OptionalDuration {
 public:
  OptionalDuration() = default;
  OptionalDuration(absl::nullopt_t) {}  // NOLINT: implicit, like optional
  OptionalDuration(absl::Duration d)    // NOLINT: implicit, like optional
      : ns_(absl::ToInt64Nanoseconds(d)) {}

  bool has_value() const { return ns_ != kUnset; }
  // REQUIRES: has_value().
  absl::Duration operator*() const { return absl::Nanoseconds(ns_); }
  // REQUIRES: has_value(). Truncated toward zero, like
  // absl::ToInt64Microseconds, without its general division.
  int64_t microseconds() const { return ns_ / 1000; }

  friend bool operator==(const OptionalDuration& a, const OptionalDuration& b) {
    return a.ns_ == b.ns_;
  }
  friend bool operator==(const OptionalDuration& a, absl::nullopt_t) {
    return !a.has_value();
  }
  friend bool operator==(const OptionalDuration& a, absl::Duration d) {
    return a.has_value() && *a == d;
  }

 private:
  static constexpr int64_t kUnset = INT64_MIN;
  int64_t ns_ = kUnset;
};

// For test failure messages.
std::ostream& operator<<(std::ostream& os, const OptionalDuration& d);

// How long each step took. Unset for steps that did not complete.
struct Timings {
  OptionalDuration connect;        // Start → connected
  OptionalDuration tls_handshake;  // kStartTls → established
  OptionalDuration greeting;       // connected (or TLS up) → greeting
  OptionalDuration ehlo;           // EHLO sent → reply
  OptionalDuration helo;
  OptionalDuration starttls;  // STARTTLS sent → reply
  OptionalDuration ehlo_tls;
  OptionalDuration helo_tls;
  OptionalDuration quit;
  OptionalDuration total;  // Start → done
};

// Everything the conversation showed. Final once phase() is kDone.
//
// Part of every open connection and moved several times per conversation,
// so the replies that most conversations never get (HELO, STARTTLS, those
// inside TLS, --probe's, a protocol error) are HeapOptionals: 8 bytes each
// when absent. This took an idle connection from 1,504 to 1,080 bytes of
// engine state (bench/e2e scenario 3).
struct SessionResult {
  ScanStatus status = ScanStatus::kSuccess;
  // Short and machine-friendly: a phase name for timeouts and early closes
  // ("greeting"), a reply code for rejections ("554"), a ReplyErrorName for
  // protocol errors, an errno name for socket errors ("ECONNREFUSED").
  std::string status_detail;

  absl::optional<Reply> greeting;
  std::string greeting_raw;  // the greeting's bytes exactly as received
  absl::optional<EhloReply> ehlo;
  HeapOptional<Reply> helo;
  HeapOptional<Reply> starttls;
  bool tls_established = false;
  std::string tls_error;  // OnTlsFailed's detail
  HeapOptional<EhloReply> ehlo_tls;
  HeapOptional<Reply> helo_tls;
  HeapOptional<Reply> help;     // SessionConfig::probe
  HeapOptional<Reply> unknown;  // reply to kUnknownCommand
  absl::optional<Reply> quit;
  HeapOptional<ReplyParseError> protocol_error;
  std::vector<Anomaly> anomalies;
  uint64_t anomaly_count = 0;  // all of them, recorded or not

  Timings timings;
  uint64_t bytes_received = 0;  // plaintext SMTP bytes
  uint64_t bytes_sent = 0;
};

class Session {
 public:
  // Borrows `config`, which must outlive the session: the engine shares one
  // configuration among thousands of sessions.
  // REQUIRES: config != nullptr, !config->ehlo_name.empty().
  explicit Session(const SessionConfig* config);
  // Keeps its own copy. REQUIRES: !config.ehlo_name.empty().
  explicit Session(SessionConfig config);

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The TCP connect starts now.
  void Start(absl::Time now);

  // The TCP connection is established.
  Action OnConnected(absl::Time now);

  // Plaintext bytes from the server (decrypted ones after kStartTls).
  Action OnBytes(absl::string_view bytes, absl::Time now);

  // The server closed its side (a read returned 0).
  Action OnEof(absl::Time now);

  // A socket operation failed with `error_number` (an errno value, positive).
  Action OnSocketError(int error_number, absl::Time now);

  // The deadline of the current phase (or of the whole session) passed.
  Action OnDeadline(absl::Time now);

  // The TLS handshake the session asked for finished.
  Action OnTlsEstablished(absl::Time now);
  // ... or failed; `detail` is kept in the result (OpenSSL's reason).
  Action OnTlsFailed(absl::string_view detail, absl::Time now);

  Phase phase() const { return phase_; }
  bool done() const { return phase_ == Phase::kDone; }
  const SessionResult& result() const { return result_; }
  SessionResult TakeResult() { return std::move(result_); }

 private:
  Action HandleReply(Reply reply, absl::Time now);
  // After a positive EHLO (esmtp) or HELO: STARTTLS if wanted, else QUIT.
  Action AfterHello(bool esmtp, absl::Time now);
  // Sends `verb` (with the EHLO name for EHLO and HELO) and enters `next`.
  Action Send(Phase next, absl::string_view verb, absl::Time now);
  Action SendQuit(absl::Time now);
  // After a successful conversation: the probe commands (if configured),
  // then QUIT.
  Action Conclude(absl::Time now);
  // The action for the current phase, for an event that arrives where it
  // means nothing (after the end, a second OnConnected, ...): it changes
  // nothing and asks the caller to keep doing what it was doing.
  Action Idle() const;
  Action Finish(absl::Time now);
  void SetOutcome(ScanStatus status, std::string detail);
  void RecordAnomaly(Anomaly::Kind kind, absl::string_view bytes,
                     absl::optional<Phase> phase = absl::nullopt);

  std::unique_ptr<const SessionConfig>
      owned_;                    // set by the copying constructor
  const SessionConfig* config_;  // never null
  ReplyParser parser_;
  Phase phase_ = Phase::kConnect;
  absl::Time started_;
  absl::Time phase_started_;
  bool tls_ = false;  // the byte stream now runs inside TLS
  SessionResult result_;
};

}  // namespace smtpscan::smtp

#endif  // SMTPSCAN_SMTP_SESSION_H_
