#include "smtp/session.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace smtpscan::smtp {
namespace {

constexpr std::array<absl::string_view, 12> kPhaseNames = {
    "connect",  "greeting", "ehlo", "helo",    "starttls", "tls-handshake",
    "ehlo-tls", "helo-tls", "help", "unknown", "quit",     "done",
};
static_assert(kPhaseNames.size() == static_cast<size_t>(Phase::kDone) + 1);

// "ECONNREFUSED" for ECONNREFUSED; the number when glibc has no name.
std::string ErrnoName(int error_number) {
  const char* name = strerrorname_np(error_number);
  return name != nullptr ? std::string(name)
                         : absl::StrCat("errno ", error_number);
}

bool IsUnreachable(int error_number) {
  switch (error_number) {
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENETDOWN:
    case EHOSTDOWN:
    case EACCES:  // a local firewall rule (connect(2))
    case EPERM:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const OptionalDuration& d) {
  return os << (d.has_value() ? absl::FormatDuration(*d) : "unset");
}

absl::string_view PhaseName(Phase phase) {
  return kPhaseNames[static_cast<size_t>(phase)];
}

absl::string_view AnomalyKindName(Anomaly::Kind kind) {
  switch (kind) {
    case Anomaly::Kind::kUnexpectedData:
      return "unexpected-data";
    case Anomaly::Kind::kDataAfterStartTls:
      return "data-after-starttls";
  }
  return "unknown";
}

Session::Session(const SessionConfig* config)
    : config_(config), parser_(config_->limits) {}

Session::Session(SessionConfig config)
    : owned_(std::make_unique<const SessionConfig>(std::move(config))),
      config_(owned_.get()),
      parser_(config_->limits) {}

void Session::Start(absl::Time now) {
  started_ = now;
  phase_started_ = now;
  phase_ = Phase::kConnect;
}

Action Session::OnConnected(absl::Time now) {
  if (phase_ != Phase::kConnect) return Idle();
  result_.timings.connect = now - started_;
  phase_started_ = now;
  if (config_->implicit_tls) {
    phase_ = Phase::kTlsHandshake;
    return {Action::Kind::kStartTls, {}};
  }
  phase_ = Phase::kGreeting;
  return {Action::Kind::kRead, {}};
}

Action Session::OnBytes(absl::string_view bytes, absl::Time now) {
  if (phase_ == Phase::kDone) return Idle();
  result_.bytes_received += bytes.size();
  if (phase_ == Phase::kConnect) {
    RecordAnomaly(Anomaly::Kind::kUnexpectedData, bytes);
    return Idle();
  }
  if (phase_ == Phase::kTlsHandshake) {
    // Plaintext after the 220 to STARTTLS that arrived in a chunk of its
    // own: the same injection anomaly as when it shares the 220's chunk.
    RecordAnomaly(
        config_->implicit_tls ? Anomaly::Kind::kUnexpectedData
                              : Anomaly::Kind::kDataAfterStartTls,
        bytes, config_->implicit_tls ? Phase::kTlsHandshake : Phase::kStartTls);
    return Idle();
  }
  while (!bytes.empty()) {
    const ReplyParser::Step step = parser_.Parse(bytes);
    if (phase_ == Phase::kGreeting) {
      const size_t room = config_->limits.max_reply_bytes -
                          std::min(result_.greeting_raw.size(),
                                   config_->limits.max_reply_bytes);
      result_.greeting_raw.append(bytes.data(), std::min(room, step.consumed));
    }
    bytes.remove_prefix(step.consumed);
    switch (step.result) {
      case ReplyParser::Result::kNeedMore:
        return {Action::Kind::kRead, {}};
      case ReplyParser::Result::kError:
        result_.protocol_error = parser_.error();
        // Garbage instead of the 221 is recorded but, like a reset at that
        // point, does not undo an outcome that is already known.
        if (phase_ != Phase::kQuit) {
          SetOutcome(ScanStatus::kProtocolError,
                     std::string(ReplyErrorName(parser_.error().kind)));
        }
        return Finish(now);
      case ReplyParser::Result::kReply: {
        const Phase replied = phase_;
        Action action = HandleReply(parser_.TakeReply(), now);
        if (!bytes.empty()) {
          RecordAnomaly(action.kind == Action::Kind::kStartTls
                            ? Anomaly::Kind::kDataAfterStartTls
                            : Anomaly::Kind::kUnexpectedData,
                        bytes, replied);
        }
        return action;
      }
    }
  }
  return {Action::Kind::kRead, {}};
}

Action Session::HandleReply(Reply reply, absl::Time now) {
  const absl::Duration took = now - phase_started_;
  switch (phase_) {
    case Phase::kGreeting: {
      result_.timings.greeting = took;
      const int code = reply.code;
      const bool positive = reply.IsPositive();
      result_.greeting = std::move(reply);
      if (positive) return Send(Phase::kEhlo, "EHLO", now);
      SetOutcome(ScanStatus::kGreetingRejected, absl::StrCat(code));
      // RFC 5321 §3.1: after 554 the server waits for QUIT; after 421 it
      // closes the connection itself.
      return code == 421 ? Finish(now) : SendQuit(now);
    }
    case Phase::kEhlo:
    case Phase::kEhloTls: {
      const bool in_tls = phase_ == Phase::kEhloTls;
      (in_tls ? result_.timings.ehlo_tls : result_.timings.ehlo) = took;
      const int code = reply.code;
      const bool positive = reply.IsPositive();
      if (in_tls) {
        result_.ehlo_tls = ParseEhloReply(std::move(reply));
      } else {
        result_.ehlo = ParseEhloReply(std::move(reply));
      }
      if (positive) return AfterHello(/*esmtp=*/true, now);
      // RFC 5321 §4.1.4 / §3.2: a server that does not know EHLO answers
      // 5xx, and the client falls back to HELO.
      if (code / 100 == 5) {
        return Send(in_tls ? Phase::kHeloTls : Phase::kHelo, "HELO", now);
      }
      SetOutcome(ScanStatus::kEhloRejected, absl::StrCat(code));
      return code == 421 ? Finish(now) : SendQuit(now);
    }
    case Phase::kHelo:
    case Phase::kHeloTls: {
      const bool in_tls = phase_ == Phase::kHeloTls;
      (in_tls ? result_.timings.helo_tls : result_.timings.helo) = took;
      const int code = reply.code;
      const bool positive = reply.IsPositive();
      (in_tls ? result_.helo_tls : result_.helo) = std::move(reply);
      if (positive) return AfterHello(/*esmtp=*/false, now);
      SetOutcome(ScanStatus::kEhloRejected, absl::StrCat(code));
      return code == 421 ? Finish(now) : SendQuit(now);
    }
    case Phase::kStartTls: {
      result_.timings.starttls = took;
      const int code = reply.code;
      const bool positive = reply.IsPositive();
      result_.starttls = std::move(reply);
      if (positive) {
        phase_ = Phase::kTlsHandshake;
        phase_started_ = now;
        return {Action::Kind::kStartTls, {}};
      }
      SetOutcome(ScanStatus::kStartTlsRefused, absl::StrCat(code));
      return code == 421 ? Finish(now) : SendQuit(now);
    }
    case Phase::kHelp:
    case Phase::kUnknown: {
      const bool help = phase_ == Phase::kHelp;
      const int code = reply.code;
      (help ? result_.help : result_.unknown) = std::move(reply);
      if (code == 421) return Finish(now);  // the server is closing
      return help ? Send(Phase::kUnknown, kUnknownCommand, now) : SendQuit(now);
    }
    case Phase::kQuit:
      result_.timings.quit = took;
      result_.quit = std::move(reply);
      return Finish(now);
    case Phase::kConnect:
    case Phase::kTlsHandshake:
    case Phase::kDone:
      break;  // OnBytes never parses in these phases
  }
  return {Action::Kind::kRead, {}};
}

Action Session::AfterHello(bool esmtp, absl::Time now) {
  if (!tls_ && esmtp) {
    const EhloReply& ehlo = *result_.ehlo;
    const bool want_tls =
        config_->starttls == StartTlsPolicy::kAlways ||
        (config_->starttls == StartTlsPolicy::kAuto && ehlo.Has("STARTTLS"));
    if (want_tls) return Send(Phase::kStartTls, "STARTTLS", now);
  }
  return Conclude(now);
}

Action Session::Conclude(absl::Time now) {
  if (config_->probe) return Send(Phase::kHelp, "HELP", now);
  return SendQuit(now);
}

Action Session::OnEof(absl::Time now) {
  if (phase_ == Phase::kDone) return Idle();
  if (phase_ != Phase::kQuit) {
    SetOutcome(ScanStatus::kClosedEarly, std::string(PhaseName(phase_)));
  }
  return Finish(now);
}

Action Session::OnSocketError(int error_number, absl::Time now) {
  if (phase_ == Phase::kDone) return Idle();
  ScanStatus status;
  if (phase_ == Phase::kConnect) {
    status = error_number == ETIMEDOUT     ? ScanStatus::kConnectionTimeout
             : IsUnreachable(error_number) ? ScanStatus::kUnreachable
             : error_number == ECONNREFUSED || error_number == ECONNRESET
                 ? ScanStatus::kConnectionRefused
                 : ScanStatus::kUnreachable;
  } else {
    status = error_number == ETIMEDOUT     ? ScanStatus::kIoTimeout
             : IsUnreachable(error_number) ? ScanStatus::kUnreachable
                                           : ScanStatus::kConnectionReset;
  }
  // Many servers reset the connection right after answering QUIT; the
  // conversation's outcome is already known then.
  if (phase_ != Phase::kQuit) SetOutcome(status, ErrnoName(error_number));
  return Finish(now);
}

Action Session::OnDeadline(absl::Time now) {
  switch (phase_) {
    case Phase::kDone:
      return Idle();
    case Phase::kConnect:
      SetOutcome(ScanStatus::kConnectionTimeout, "connect");
      break;
    case Phase::kGreeting:
      SetOutcome(ScanStatus::kGreetingTimeout, "greeting");
      break;
    case Phase::kTlsHandshake:
      SetOutcome(ScanStatus::kTlsTimeout, "tls-handshake");
      break;
    case Phase::kQuit:
      break;  // the outcome is known; the 221 is a courtesy
    case Phase::kEhlo:
    case Phase::kHelo:
    case Phase::kStartTls:
    case Phase::kEhloTls:
    case Phase::kHeloTls:
    case Phase::kHelp:
    case Phase::kUnknown:
      SetOutcome(ScanStatus::kIoTimeout, std::string(PhaseName(phase_)));
      break;
  }
  return Finish(now);
}

Action Session::OnTlsEstablished(absl::Time now) {
  if (phase_ != Phase::kTlsHandshake) return Idle();
  result_.timings.tls_handshake = now - phase_started_;
  result_.tls_established = true;
  tls_ = true;
  parser_.Reset();  // a new byte stream starts inside TLS
  if (config_->implicit_tls) {
    phase_ = Phase::kGreeting;
    phase_started_ = now;
    return {Action::Kind::kRead, {}};
  }
  return Send(Phase::kEhloTls, "EHLO", now);
}

Action Session::OnTlsFailed(absl::string_view detail, absl::Time now) {
  if (phase_ != Phase::kTlsHandshake) return Idle();
  result_.tls_error = std::string(detail);
  SetOutcome(ScanStatus::kTlsHandshakeError, std::string(detail));
  // No QUIT: after a failed handshake the stream is neither TLS nor SMTP.
  return Finish(now);
}

Action Session::Send(Phase next, absl::string_view verb, absl::Time now) {
  Action action{Action::Kind::kSend, {}};
  if (verb == "EHLO" || verb == "HELO") {
    action.bytes = absl::StrCat(verb, " ", config_->ehlo_name, "\r\n");
  } else {
    action.bytes = absl::StrCat(verb, "\r\n");
  }
  result_.bytes_sent += action.bytes.size();
  phase_ = next;
  phase_started_ = now;
  return action;
}

Action Session::Idle() const {
  switch (phase_) {
    case Phase::kDone:
      return {Action::Kind::kClose, {}};
    case Phase::kTlsHandshake:
      return {Action::Kind::kStartTls, {}};
    default:
      return {Action::Kind::kRead, {}};
  }
}

Action Session::SendQuit(absl::Time now) {
  return Send(Phase::kQuit, "QUIT", now);
}

Action Session::Finish(absl::Time now) {
  phase_ = Phase::kDone;
  result_.timings.total = now - started_;
  return {Action::Kind::kClose, {}};
}

void Session::SetOutcome(ScanStatus status, std::string detail) {
  // The first failure is the outcome; later ones (a reset while waiting for
  // the 221 after a rejected greeting) do not overwrite it.
  if (result_.status != ScanStatus::kSuccess) return;
  result_.status = status;
  result_.status_detail = std::move(detail);
}

void Session::RecordAnomaly(Anomaly::Kind kind, absl::string_view bytes,
                            absl::optional<Phase> phase) {
  ++result_.anomaly_count;
  if (result_.anomalies.size() >= Anomaly::kMaxRecorded) return;
  Anomaly a;
  a.kind = kind;
  a.phase = phase.value_or(phase_);
  a.size = bytes.size();
  a.excerpt = std::string(bytes.substr(0, Anomaly::kExcerptBytes));
  result_.anomalies.push_back(std::move(a));
}

}  // namespace smtpscan::smtp
