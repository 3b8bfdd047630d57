// Fuzz target: a whole SMTP session against an arbitrary server.
//
// The input is a script: each step takes one control byte (what happens:
// bytes arrive, EOF, reset, deadline, TLS result) and, for bytes, a length
// and that many server bytes. Checks that nothing is sent before a complete
// positive greeting, that the session ends, and that its memory is bounded.
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "smtp/session.h"

using smtpscan::smtp::Action;
using smtpscan::smtp::Anomaly;
using smtpscan::smtp::Session;
using smtpscan::smtp::SessionConfig;
using smtpscan::smtp::StartTlsPolicy;

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  SessionConfig config;
  config.ehlo_name = "fuzz.example.test";
  config.starttls = static_cast<StartTlsPolicy>(data[0] % 3);
  config.implicit_tls = (data[0] & 0x4) != 0;
  config.limits.max_reply_bytes = 2048;
  config.limits.max_line_bytes = 512;
  Session session(config);
  absl::Time now = absl::FromUnixSeconds(1800000000);
  session.Start(now);
  Action action = session.OnConnected(now);

  size_t pos = 1;
  while (pos < size && !session.done()) {
    now += absl::Milliseconds(1);
    const uint8_t control = data[pos++];
    switch (control % 16) {
      case 0:
        action = session.OnEof(now);
        break;
      case 1:
        action = session.OnSocketError(ECONNRESET, now);
        break;
      case 2:
        action = session.OnDeadline(now);
        break;
      case 3:
        action = session.OnTlsFailed("alert", now);
        break;
      case 4:
      case 5:
        action = session.OnTlsEstablished(now);
        break;
      default: {
        const size_t len = std::min<size_t>(control / 16 * 8 + 1, size - pos);
        action = session.OnBytes(
            absl::string_view(reinterpret_cast<const char*>(data + pos), len),
            now);
        pos += len;
        break;
      }
    }
    if (action.kind == Action::Kind::kSend) {
      const auto& greeting = session.result().greeting;
      FUZZ_CHECK(greeting.has_value());
      FUZZ_CHECK(greeting->IsPositive() || action.bytes == "QUIT\r\n");
      FUZZ_CHECK(absl::EndsWith(action.bytes, "\r\n"));
    }
  }
  session.OnEof(now + absl::Milliseconds(1));
  FUZZ_CHECK(session.done());
  const auto& r = session.result();
  FUZZ_CHECK(r.greeting_raw.size() <= config.limits.max_reply_bytes);
  FUZZ_CHECK(r.anomalies.size() <= Anomaly::kMaxRecorded);
  FUZZ_CHECK(r.timings.total.has_value());
  return 0;
}
