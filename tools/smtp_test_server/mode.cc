#include "mode.h"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace smtpscan::test_server {
namespace {

constexpr std::string_view kCrlf = "\r\n";

// The families of command answers. Several modes share Postfix's.
enum class Dialect {
  kPostfix,
  kFast,
  kStarttls,  // `fast`, plus STARTTLS (and AUTH PLAIN once inside TLS)
  kExim,
  kSendmail,
  kGreet554,
};

Dialect DialectOf(ModeKind kind) {
  switch (kind) {
    case ModeKind::kFast:
    case ModeKind::kTls:
    case ModeKind::kTlsOld:
      return Dialect::kFast;
    case ModeKind::kStarttls:
    case ModeKind::kStarttlsClose:
    case ModeKind::kStarttlsRefuse:
    case ModeKind::kStarttlsInject:
      return Dialect::kStarttls;
    case ModeKind::kExim:
      return Dialect::kExim;
    case ModeKind::kSendmail:
      return Dialect::kSendmail;
    case ModeKind::kGreet554:
      return Dialect::kGreet554;
    default:
      return Dialect::kPostfix;
  }
}

// Appends the concatenation of `parts` and CRLF.
template <typename... Parts>
void AppendLine(std::string& out, const Parts&... parts) {
  (out.append(std::string_view(parts)), ...);
  out.append(kCrlf);
}

// RFC 2822 date in UTC, e.g. "Mon, 01 Jan 2024 12:00:00 +0000".
std::string Rfc2822Now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::size_t n =
      std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return std::string(buf, n);
}

std::string PostfixGreeting(const Peer& peer) {
  std::string out;
  AppendLine(out, "220 ", peer.hostname, " ESMTP Postfix (Debian/GNU)");
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

void PostfixEhlo(const Peer& peer, std::string& out) {
  AppendLine(out, "250-", peer.hostname);
  out.append(
      "250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
      "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
      "250-SMTPUTF8\r\n250 CHUNKING\r\n");
}

std::string FastGreeting(const Peer& peer) {
  std::string out;
  AppendLine(out, "220 ", peer.hostname, " ESMTP");
  return out;
}

Next AnswerPostfix(const Mode& mode, const Peer& peer, std::string_view verb,
                   std::string_view arg, std::string& out) {
  const bool fast = DialectOf(mode.kind) != Dialect::kPostfix;
  if (EqualsIgnoreCase(verb, "EHLO")) {
    if (arg.empty()) {
      AppendLine(out, "501 5.5.4 Syntax: EHLO hostname");
      return Next::kContinue;
    }
    switch (mode.kind) {
      case ModeKind::kFast:
      case ModeKind::kTls:
      case ModeKind::kTlsOld:
        AppendLine(out, "250-", peer.hostname);
        out.append("250-PIPELINING\r\n250 8BITMIME\r\n");
        return Next::kContinue;
      case ModeKind::kResetMidReply:
        AppendLine(out, "250-", peer.hostname);
        out.append("250-PIPEL");
        return Next::kReset;
      case ModeKind::kEndlessReply:
        AppendLine(out, "250-", peer.hostname);
        return Next::kEndless;
      default:
        PostfixEhlo(peer, out);
        return Next::kContinue;
    }
  }
  if (EqualsIgnoreCase(verb, "HELO")) {
    if (arg.empty()) {
      AppendLine(out, "501 5.5.4 Syntax: HELO hostname");
    } else {
      AppendLine(out, "250 ", peer.hostname);
    }
    return Next::kContinue;
  }
  if (EqualsIgnoreCase(verb, "QUIT")) {
    AppendLine(out, fast ? "221 Bye" : "221 2.0.0 Bye");
    // RFC 5321 §4.1.1.10 says the server closes after 221; this mode does
    // not, to show that the client then closes after a while itself.
    return mode.kind == ModeKind::kHoldAfterQuit ? Next::kContinue
                                                 : Next::kClose;
  }
  if (EqualsIgnoreCase(verb, "STARTTLS")) {
    AppendLine(out, "454 4.7.0 TLS not available due to local problem");
  } else if (EqualsIgnoreCase(verb, "NOOP") || EqualsIgnoreCase(verb, "RSET")) {
    AppendLine(out, "250 2.0.0 Ok");
  } else if (EqualsIgnoreCase(verb, "HELP")) {
    AppendLine(out, "214 2.0.0 see https://www.postfix.org/");
  } else {
    AppendLine(out, "502 5.5.2 Error: command not recognized");
  }
  return Next::kContinue;
}

// The starttls modes: `fast`, but EHLO advertises STARTTLS before TLS and
// AUTH PLAIN inside it (as Postfix with smtpd_tls_auth_only does), and
// STARTTLS does what the mode is for.
Next AnswerStarttls(const Mode& mode, const Peer& peer, std::string_view verb,
                    std::string_view arg, std::string& out) {
  if (EqualsIgnoreCase(verb, "EHLO") && !arg.empty()) {
    AppendLine(out, "250-", peer.hostname);
    out.append(peer.tls ? "250-PIPELINING\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
                        : "250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
    return Next::kContinue;
  }
  if (!EqualsIgnoreCase(verb, "STARTTLS")) {
    return AnswerPostfix(mode, peer, verb, arg, out);
  }
  if (!arg.empty()) {
    AppendLine(out, "501 5.5.4 Syntax: STARTTLS");
    return Next::kContinue;
  }
  if (peer.tls) {
    AppendLine(out, "554 5.5.1 Error: TLS already active");
    return Next::kContinue;
  }
  constexpr std::string_view kReady = "220 2.0.0 Ready to start TLS\r\n";
  switch (mode.kind) {
    case ModeKind::kStarttlsClose:
      out.append(kReady);
      return Next::kClose;
    case ModeKind::kStarttlsRefuse:
      AppendLine(out, "454 4.7.0 TLS not available due to local problem");
      return Next::kContinue;
    case ModeKind::kStarttlsInject:
      // Both lines leave in one write; a client that reads them with one
      // recv() and then hands its buffer to TLS has the CVE-2011-0411 bug.
      out.append(kReady);
      out.append("250 injected\r\n");
      return Next::kStartTls;
    default:
      out.append(kReady);
      return Next::kStartTls;
  }
}

Next AnswerExim(const Peer& peer, std::string_view verb, std::string_view arg,
                std::string& out) {
  if (EqualsIgnoreCase(verb, "EHLO") || EqualsIgnoreCase(verb, "HELO")) {
    if (arg.empty()) {
      AppendLine(out, "501 Syntactically invalid ", verb, " argument(s)");
      return Next::kContinue;
    }
    const bool ehlo = EqualsIgnoreCase(verb, "EHLO");
    AppendLine(out, ehlo ? "250-" : "250 ", peer.hostname, " Hello ", arg, " [",
               peer.client_ip, "]");
    if (ehlo) {
      out.append(
          "250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n"
          "250-PIPE_CONNECT\r\n250-CHUNKING\r\n250-STARTTLS\r\n250-PRDR\r\n"
          "250 HELP\r\n");
    }
    return Next::kContinue;
  }
  if (EqualsIgnoreCase(verb, "QUIT")) {
    AppendLine(out, "221 ", peer.hostname, " closing connection");
    return Next::kClose;
  }
  if (EqualsIgnoreCase(verb, "STARTTLS")) {
    AppendLine(out, "454 TLS currently unavailable");
  } else if (EqualsIgnoreCase(verb, "NOOP")) {
    AppendLine(out, "250 OK");
  } else if (EqualsIgnoreCase(verb, "RSET")) {
    AppendLine(out, "250 Reset OK");
  } else if (EqualsIgnoreCase(verb, "HELP")) {
    out.append(
        "214-Commands supported:\r\n"
        "214 AUTH HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP\r\n");
  } else {
    AppendLine(out, "500 unrecognized command");
  }
  return Next::kContinue;
}

Next AnswerSendmail(const Peer& peer, std::string_view verb,
                    std::string_view arg, std::string_view line,
                    std::string& out) {
  if (EqualsIgnoreCase(verb, "EHLO") || EqualsIgnoreCase(verb, "HELO")) {
    const bool ehlo = EqualsIgnoreCase(verb, "EHLO");
    if (arg.empty()) {
      AppendLine(out, "501 5.0.0 ", ehlo ? "EHLO" : "HELO",
                 " requires domain address");
      return Next::kContinue;
    }
    AppendLine(out, ehlo ? "250-" : "250 ", peer.hostname, " Hello localhost [",
               peer.client_ip, "], pleased to meet you");
    if (ehlo) {
      out.append(
          "250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-EXPN\r\n"
          "250-VERB\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250-ETRN\r\n"
          "250-STARTTLS\r\n250-DELIVERBY\r\n250 HELP\r\n");
    }
    return Next::kContinue;
  }
  if (EqualsIgnoreCase(verb, "QUIT")) {
    AppendLine(out, "221 2.0.0 ", peer.hostname, " closing connection");
    return Next::kClose;
  }
  if (EqualsIgnoreCase(verb, "STARTTLS")) {
    AppendLine(out, "454 4.3.0 TLS not available");
  } else if (EqualsIgnoreCase(verb, "NOOP")) {
    AppendLine(out, "250 2.0.0 OK");
  } else if (EqualsIgnoreCase(verb, "RSET")) {
    AppendLine(out, "250 2.0.0 Reset state");
  } else if (EqualsIgnoreCase(verb, "HELP")) {
    AppendLine(out, "214 2.0.0 This is sendmail version 8.17.1.9");
  } else {
    AppendLine(out, "500 5.5.1 Command unrecognized: \"", line, "\"");
  }
  return Next::kContinue;
}

}  // namespace

std::optional<Mode> ParseMode(std::string_view text) {
  struct Named {
    std::string_view name;
    ModeKind kind;
  };
  static constexpr Named kNames[] = {
      {"postfix", ModeKind::kPostfix},
      {"exim", ModeKind::kExim},
      {"sendmail", ModeKind::kSendmail},
      {"fast", ModeKind::kFast},
      {"multiline", ModeKind::kMultiline},
      {"tarpit", ModeKind::kTarpit},
      {"idle", ModeKind::kIdle},
      {"greet421", ModeKind::kGreet421},
      {"greet554", ModeKind::kGreet554},
      {"http", ModeKind::kHttp},
      {"ssh", ModeKind::kSsh},
      {"binary", ModeKind::kBinary},
      {"reset-mid-reply", ModeKind::kResetMidReply},
      {"endless-reply", ModeKind::kEndlessReply},
      {"slow", ModeKind::kSlow},
      {"close-after-greeting", ModeKind::kCloseAfterGreeting},
      {"starttls-454", ModeKind::kStarttls454},
      {"hold-after-quit", ModeKind::kHoldAfterQuit},
      {"tls", ModeKind::kTls},
      {"tls-old", ModeKind::kTlsOld},
      {"tls-garbage", ModeKind::kTlsGarbage},
      {"tls-stall", ModeKind::kTlsStall},
      {"starttls", ModeKind::kStarttls},
      {"starttls-close", ModeKind::kStarttlsClose},
      {"starttls-refuse", ModeKind::kStarttlsRefuse},
      {"starttls-inject", ModeKind::kStarttlsInject},
  };
  Mode mode;
  mode.name = std::string(text);
  for (const Named& named : kNames) {
    if (text == named.name) {
      mode.kind = named.kind;
      return mode;
    }
  }
  constexpr std::string_view kDelay = "delay:";
  if (text.substr(0, kDelay.size()) == kDelay) {
    std::string_view digits = text.substr(kDelay.size());
    int ms = 0;
    auto [end, ec] =
        std::from_chars(digits.data(), digits.data() + digits.size(), ms);
    if (digits.empty() || ec != std::errc() ||
        end != digits.data() + digits.size() || ms < 0) {
      return std::nullopt;
    }
    mode.kind = ModeKind::kDelay;
    mode.delay_ms = ms;
    return mode;
  }
  return std::nullopt;
}

TlsProfile Mode::tls_profile() const {
  switch (kind) {
    case ModeKind::kTls:
    case ModeKind::kStarttls:
    case ModeKind::kStarttlsInject:
      return TlsProfile::kModern;
    case ModeKind::kTlsOld:
      return TlsProfile::kLegacy;
    default:
      return TlsProfile::kNone;
  }
}

Opening MakeOpening(const Mode& mode, const Peer& peer) {
  Opening o;
  switch (mode.kind) {
    case ModeKind::kPostfix:
    case ModeKind::kStarttls454:
    case ModeKind::kHoldAfterQuit:
    case ModeKind::kResetMidReply:
    case ModeKind::kEndlessReply:
      o.immediate = PostfixGreeting(peer);
      break;
    case ModeKind::kSlow:
      o.immediate = PostfixGreeting(peer);
      o.paced = true;
      break;
    case ModeKind::kCloseAfterGreeting:
      o.immediate = PostfixGreeting(peer);
      o.phase = Phase::kClose;
      break;
    case ModeKind::kDelay:
      o.delay_ms = mode.delay_ms;
      o.delayed = PostfixGreeting(peer);
      break;
    case ModeKind::kFast:
    case ModeKind::kStarttls:
    case ModeKind::kStarttlsClose:
    case ModeKind::kStarttlsRefuse:
    case ModeKind::kStarttlsInject:
      o.immediate = FastGreeting(peer);
      break;
    case ModeKind::kTls:
    case ModeKind::kTlsOld:
      o.tls = true;
      o.after_handshake = FastGreeting(peer);
      break;
    case ModeKind::kTlsGarbage:
      // What an HTTP server on port 465 says to a ClientHello. Sent at
      // once; the connection closes when the ClientHello (or any input)
      // arrives, so the client never meets a reset.
      o.immediate = "HTTP/1.1 400 Bad Request\r\n\r\n";
      o.phase = Phase::kCloseOnInput;
      break;
    case ModeKind::kTlsStall:
      o.phase = Phase::kDiscard;
      break;
    case ModeKind::kMultiline:
      AppendLine(o.immediate, "220-", peer.hostname, " ESMTP");
      o.delay_ms = 200;
      AppendLine(o.delayed, "220 ", peer.hostname, " ESMTP");
      o.pregreet_closes = true;
      break;
    case ModeKind::kExim:
      AppendLine(o.immediate, "220 ", peer.hostname, " ESMTP Exim 4.96 ",
                 Rfc2822Now());
      break;
    case ModeKind::kSendmail:
      AppendLine(o.immediate, "220 ", peer.hostname,
                 " ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2; ", Rfc2822Now(),
                 "; (No UCE/UBE) logging access from: localhost [",
                 peer.client_ip, "]");
      break;
    case ModeKind::kTarpit:
      o.phase = Phase::kDiscard;
      break;
    case ModeKind::kIdle:
      o.phase = Phase::kIdle;
      break;
    case ModeKind::kGreet421:
      AppendLine(o.immediate, "421 4.3.2 ", peer.hostname,
                 " Service not available");
      o.phase = Phase::kClose;
      break;
    case ModeKind::kGreet554:
      AppendLine(o.immediate, "554 5.7.1 ", peer.hostname,
                 " No SMTP service here");
      break;
    case ModeKind::kHttp:
      o.immediate =
          "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
          "Connection: close\r\n\r\n";
      o.phase = Phase::kClose;
      break;
    case ModeKind::kSsh:
      o.immediate = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
      o.phase = Phase::kDiscard;
      break;
    case ModeKind::kBinary:
      // 64 fixed bytes: 00 FF, then a byte pattern that never repeats.
      o.immediate.push_back('\0');
      o.immediate.push_back('\xff');
      for (int i = 2; i < 64; ++i) {
        o.immediate.push_back(static_cast<char>((i * 73 + 0x11) & 0xff));
      }
      o.phase = Phase::kClose;
      break;
  }
  return o;
}

Next Answer(const Mode& mode, const Peer& peer, std::string_view line,
            std::string& out) {
  std::string_view verb = line;
  std::string_view arg;
  if (std::size_t space = line.find(' '); space != std::string_view::npos) {
    verb = line.substr(0, space);
    arg = Trim(line.substr(space + 1));
  }
  switch (DialectOf(mode.kind)) {
    case Dialect::kExim:
      return AnswerExim(peer, verb, arg, out);
    case Dialect::kSendmail:
      return AnswerSendmail(peer, verb, arg, line, out);
    case Dialect::kGreet554:
      if (EqualsIgnoreCase(verb, "QUIT")) {
        AppendLine(out, "221 2.0.0 Bye");
        return Next::kClose;
      }
      AppendLine(out, "503 5.5.1 Bad sequence of commands");
      return Next::kContinue;
    case Dialect::kStarttls:
      return AnswerStarttls(mode, peer, verb, arg, out);
    case Dialect::kPostfix:
    case Dialect::kFast:
      break;
  }
  return AnswerPostfix(mode, peer, verb, arg, out);
}

void AppendFiller(std::uint32_t* counter, std::size_t bytes, std::string& out) {
  const std::size_t target = out.size() + bytes;
  char line[32];
  while (out.size() < target) {
    int n = std::snprintf(line, sizeof(line), "250-X-FILLER-%06u\r\n",
                          static_cast<unsigned>(*counter % 1000000));
    out.append(line, static_cast<std::size_t>(n));
    ++*counter;
  }
}

}  // namespace smtpscan::test_server
