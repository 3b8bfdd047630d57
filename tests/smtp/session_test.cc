#include "smtp/session.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scan/scan_status.h"
#include "smtp/test_support.h"
#include "smtp/transcript.h"

namespace smtpscan::smtp {
namespace {

using test::ReadFile;
using test::TranscriptDir;

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// --- Helpers ----------------------------------------------------------------

// The fake clock: every time in these tests is kT0 plus a chosen offset.
const absl::Time kT0 = absl::FromUnixSeconds(1795341600);  // 2026-11-22 10:00

absl::Time At(int64_t ms) { return kT0 + absl::Milliseconds(ms); }

// Actions as short strings, so that failures print readably.
std::string Str(const Action& action) {
  switch (action.kind) {
    case Action::Kind::kRead:
      return "read";
    case Action::Kind::kSend:
      return "send " + absl::CHexEscape(action.bytes);
    case Action::Kind::kStartTls:
      return "starttls";
    case Action::Kind::kClose:
      return "close";
  }
  return "unknown";
}

constexpr char kRead[] = "read";
constexpr char kClose[] = "close";
constexpr char kStartTlsAction[] = "starttls";
constexpr char kSendEhlo[] = "send EHLO scanner.example.test\\r\\n";
constexpr char kSendHelo[] = "send HELO scanner.example.test\\r\\n";
constexpr char kSendStartTls[] = "send STARTTLS\\r\\n";
constexpr char kSendQuit[] = "send QUIT\\r\\n";

constexpr absl::string_view kGreeting =
    "220 mx.example.test ESMTP Postfix (Debian/GNU)\r\n";
constexpr absl::string_view kEhloWithStartTls =
    "250-mx.example.test\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 10240000\r\n"
    "250-STARTTLS\r\n"
    "250 8BITMIME\r\n";
constexpr absl::string_view kEhloPlain =
    "250-mx.example.test\r\n"
    "250-PIPELINING\r\n"
    "250 8BITMIME\r\n";
constexpr absl::string_view kReady = "220 2.0.0 Ready to start TLS\r\n";
constexpr absl::string_view kEhloInsideTls =
    "250-mx.example.test\r\n"
    "250-PIPELINING\r\n"
    "250-AUTH PLAIN LOGIN\r\n"
    "250 8BITMIME\r\n";
constexpr absl::string_view kBye = "221 2.0.0 Bye\r\n";

SessionConfig Config(StartTlsPolicy policy = StartTlsPolicy::kAuto,
                     bool implicit_tls = false) {
  SessionConfig config;
  config.ehlo_name = "scanner.example.test";
  config.starttls = policy;
  config.implicit_tls = implicit_tls;
  return config;
}

// Start at 0 ms, connected at 1 ms: the session now waits for the greeting.
void Connect(Session& session) {
  session.Start(At(0));
  ASSERT_EQ(Str(session.OnConnected(At(1))), kRead);
  ASSERT_EQ(session.phase(), Phase::kGreeting);
}

// Drives a plaintext session to the point where it waits for the TLS
// handshake after STARTTLS (at 4 ms).
void UpToHandshake(Session& session) {
  Connect(session);
  ASSERT_EQ(Str(session.OnBytes(kGreeting, At(2))), kSendEhlo);
  ASSERT_EQ(Str(session.OnBytes(kEhloWithStartTls, At(3))), kSendStartTls);
  ASSERT_EQ(Str(session.OnBytes(kReady, At(4))), kStartTlsAction);
  ASSERT_EQ(session.phase(), Phase::kTlsHandshake);
}

std::string Hex(absl::string_view s) { return absl::CHexEscape(s); }

std::string ReplyStr(const Reply& reply) {
  return absl::StrCat(reply.code, " [", Hex(absl::StrJoin(reply.lines, "|")),
                      "] wire=", reply.wire_bytes);
}

// `reply` is an absl::optional or a HeapOptional of Reply (SessionResult
// has both).
template <typename OptionalReply>
std::string ReplyStr(const OptionalReply& reply) {
  return reply.has_value() ? ReplyStr(*reply) : "none";
}

template <typename OptionalEhloReply>
std::string EhloStr(const OptionalEhloReply& ehlo) {
  if (!ehlo.has_value()) return "none";
  return absl::StrCat(ReplyStr(ehlo->reply), " domain=", ehlo->domain,
                      " extensions=", ehlo->extensions.size());
}

std::string DurationStr(const OptionalDuration& d) {
  return d.has_value() ? absl::FormatDuration(*d) : "unset";
}

// Describes how two results differ; empty when they agree. With
// `exact_bytes` false, the fields that legitimately depend on how far the
// input was fed before a protocol error ended the session are skipped.
std::string Diff(const SessionResult& a, const SessionResult& b,
                 bool exact_bytes = true) {
  std::string diff;
  const auto field = [&diff](absl::string_view name, const std::string& x,
                             const std::string& y) {
    if (x != y) absl::StrAppend(&diff, name, ": '", x, "' vs '", y, "'\n");
  };
  field("status", std::string(ScanStatusName(a.status)),
        std::string(ScanStatusName(b.status)));
  field("status_detail", a.status_detail, b.status_detail);
  field("greeting", ReplyStr(a.greeting), ReplyStr(b.greeting));
  if (exact_bytes)
    field("greeting_raw", Hex(a.greeting_raw), Hex(b.greeting_raw));
  field("ehlo", EhloStr(a.ehlo), EhloStr(b.ehlo));
  if (a.ehlo != b.ehlo) absl::StrAppend(&diff, "ehlo: parsed differently\n");
  field("helo", ReplyStr(a.helo), ReplyStr(b.helo));
  field("starttls", ReplyStr(a.starttls), ReplyStr(b.starttls));
  field("tls_established", absl::StrCat(a.tls_established),
        absl::StrCat(b.tls_established));
  field("tls_error", a.tls_error, b.tls_error);
  field("ehlo_tls", EhloStr(a.ehlo_tls), EhloStr(b.ehlo_tls));
  if (a.ehlo_tls != b.ehlo_tls) {
    absl::StrAppend(&diff, "ehlo_tls: parsed differently\n");
  }
  field("helo_tls", ReplyStr(a.helo_tls), ReplyStr(b.helo_tls));
  field("quit", ReplyStr(a.quit), ReplyStr(b.quit));
  const auto error_str = [exact_bytes](const HeapOptional<ReplyParseError>& e) {
    if (!e.has_value()) return std::string("none");
    return absl::StrCat(ReplyErrorName(e->kind), " at ", e->offset,
                        exact_bytes ? " '" + Hex(e->excerpt) + "'" : "");
  };
  field("protocol_error", error_str(a.protocol_error),
        error_str(b.protocol_error));
  field("anomaly_count", absl::StrCat(a.anomaly_count),
        absl::StrCat(b.anomaly_count));
  const auto anomalies_str = [](const std::vector<Anomaly>& list) {
    std::string s;
    for (const Anomaly& an : list) {
      absl::StrAppend(&s, AnomalyKindName(an.kind), "/", PhaseName(an.phase),
                      "/", an.size, "/'", Hex(an.excerpt), "' ");
    }
    return s;
  };
  field("anomalies", anomalies_str(a.anomalies), anomalies_str(b.anomalies));
  const Timings& ta = a.timings;
  const Timings& tb = b.timings;
  field("timings.connect", DurationStr(ta.connect), DurationStr(tb.connect));
  field("timings.tls_handshake", DurationStr(ta.tls_handshake),
        DurationStr(tb.tls_handshake));
  field("timings.greeting", DurationStr(ta.greeting), DurationStr(tb.greeting));
  field("timings.ehlo", DurationStr(ta.ehlo), DurationStr(tb.ehlo));
  field("timings.helo", DurationStr(ta.helo), DurationStr(tb.helo));
  field("timings.starttls", DurationStr(ta.starttls), DurationStr(tb.starttls));
  field("timings.ehlo_tls", DurationStr(ta.ehlo_tls), DurationStr(tb.ehlo_tls));
  field("timings.helo_tls", DurationStr(ta.helo_tls), DurationStr(tb.helo_tls));
  field("timings.quit", DurationStr(ta.quit), DurationStr(tb.quit));
  field("timings.total", DurationStr(ta.total), DurationStr(tb.total));
  if (exact_bytes) {
    field("bytes_received", absl::StrCat(a.bytes_received),
          absl::StrCat(b.bytes_received));
  }
  field("bytes_sent", absl::StrCat(a.bytes_sent), absl::StrCat(b.bytes_sent));
  return diff;
}

// --- Scenarios: what a server does, step by step -----------------------------

struct Event {
  enum class Kind { kBytes, kTls, kTlsFail, kEof, kReset, kDeadline };
  Kind kind;
  std::string text;  // kBytes: the bytes; kTlsFail: the reason
};

Event Bytes(absl::string_view bytes) {
  return {Event::Kind::kBytes, std::string(bytes)};
}
Event Tls() { return {Event::Kind::kTls, {}}; }
Event TlsFail(absl::string_view why) {
  return {Event::Kind::kTlsFail, std::string(why)};
}
Event Eof() { return {Event::Kind::kEof, {}}; }
Event Reset() { return {Event::Kind::kReset, {}}; }
Event Deadline() { return {Event::Kind::kDeadline, {}}; }

struct Scenario {
  std::string name;
  std::vector<Event> events;
  SessionConfig config = Config();
  // A protocol error is detected before the last byte of its step: bytes
  // fed after that point (which a caller stops feeding) are not compared.
  bool error_before_last_byte = false;
};

void PrintTo(const Scenario& scenario, std::ostream* os) {
  *os << scenario.name;
}

// Cuts the bytes of event `index` into the chunks OnBytes receives.
using Chunker =
    std::function<std::vector<std::string>(size_t index, absl::string_view)>;

std::vector<std::string> Whole(size_t, absl::string_view bytes) {
  return {std::string(bytes)};
}

std::vector<std::string> ByteByByte(size_t, absl::string_view bytes) {
  std::vector<std::string> chunks;
  for (char c : bytes) chunks.emplace_back(1, c);
  if (chunks.empty()) chunks.emplace_back();
  return chunks;
}

struct Outcome {
  // Per event: the decisive action, i.e. the first that is not kRead (or
  // kRead when every chunk got kRead).
  std::vector<std::string> actions;
  SessionResult result;
};

// Runs `scenario`. The clock advances 10 ms per event; all chunks of one
// event arrive at the same time. Like an engine, stops feeding once the
// session is done.
Outcome Drive(const Scenario& scenario, const Chunker& chunker) {
  // Borrowing the configuration, as the engine does; the single tests below
  // use the copying constructor.
  Session session(&scenario.config);
  Outcome run;
  absl::Time now = At(0);
  session.Start(now);
  now += absl::Milliseconds(10);
  run.actions.push_back(Str(session.OnConnected(now)));
  for (size_t i = 0; i < scenario.events.size() && !session.done(); ++i) {
    const Event& event = scenario.events[i];
    now += absl::Milliseconds(10);
    std::string decisive(kRead);
    switch (event.kind) {
      case Event::Kind::kBytes:
        for (const std::string& chunk : chunker(i, event.text)) {
          const std::string action = Str(session.OnBytes(chunk, now));
          if (action != kRead) {
            if (decisive != kRead) {
              absl::StrAppend(&decisive, ", then ", action);
            } else {
              decisive = action;
            }
          }
          if (session.done()) break;
        }
        break;
      case Event::Kind::kTls:
        decisive = Str(session.OnTlsEstablished(now));
        break;
      case Event::Kind::kTlsFail:
        decisive = Str(session.OnTlsFailed(event.text, now));
        break;
      case Event::Kind::kEof:
        decisive = Str(session.OnEof(now));
        break;
      case Event::Kind::kReset:
        decisive = Str(session.OnSocketError(ECONNRESET, now));
        break;
      case Event::Kind::kDeadline:
        decisive = Str(session.OnDeadline(now));
        break;
    }
    run.actions.push_back(decisive);
  }
  run.result = session.TakeResult();
  return run;
}

std::vector<Scenario> InlineScenarios() {
  std::vector<Scenario> s;
  s.push_back({"postfix_starttls",
               {Bytes(kGreeting), Bytes(kEhloWithStartTls), Bytes(kReady),
                Tls(), Bytes(kEhloInsideTls), Bytes(kBye), Eof()}});
  s.push_back({"postscreen_multiline_greeting",
               {Bytes("220-mx.example.test ESMTP\r\n"
                      "220 mx.example.test ESMTP\r\n"),
                Bytes(kEhloPlain), Bytes(kBye), Eof()}});
  s.push_back({"long_multiline_greeting_and_bare_lf",
               {Bytes("220-mx.example.test\n220-line two\r\n220-\r\n"
                      "220-line four\n220 done\n"),
                Bytes("250 mx.example.test\n"), Bytes("221 bye\n")}});
  s.push_back(
      {"helo_fallback",
       {Bytes("220 legacy.example.test Simple Mail Transfer Service\r\n"),
        Bytes("502 5.5.1 Command not implemented\r\n"),
        Bytes("250 legacy.example.test\r\n"), Bytes("221 bye\r\n")}});
  s.push_back({"helo_fallback_inside_tls",
               {Bytes(kGreeting), Bytes(kEhloWithStartTls), Bytes(kReady),
                Tls(), Bytes("500 5.5.2 Error: command not recognized\r\n"),
                Bytes("250 mx.example.test\r\n"), Bytes(kBye)}});
  s.push_back(
      {"greeting_554",
       {Bytes("554 5.7.1 mx.example.test ESMTP not accepting messages\r\n"),
        Bytes(kBye), Eof()}});
  s.push_back({"greeting_421_multiline",
               {Bytes("421-mx.example.test Service not available\r\n"
                      "421 4.3.2 closing transmission channel\r\n")}});
  s.push_back({"ehlo_and_helo_rejected",
               {Bytes(kGreeting), Bytes("550 5.7.1 Access denied\r\n"),
                Bytes("550 5.7.1 Access denied\r\n"), Bytes(kBye)}});
  s.push_back(
      {"ehlo_421",
       {Bytes(kGreeting), Bytes("421 4.3.2 Service not available\r\n")}});
  s.push_back({"starttls_454",
               {Bytes(kGreeting), Bytes(kEhloWithStartTls),
                Bytes("454 4.7.0 TLS not available due to local problem\r\n"),
                Bytes(kBye)}});
  s.push_back({"tls_handshake_fails",
               {Bytes(kGreeting), Bytes(kEhloWithStartTls), Bytes(kReady),
                TlsFail("error:0A00010B:SSL routines::wrong version number")}});
  s.push_back({"implicit_tls",
               {Tls(), Bytes(kGreeting), Bytes(kEhloWithStartTls), Bytes(kBye)},
               Config(StartTlsPolicy::kAuto, /*implicit_tls=*/true)});
  s.push_back({"always_without_advertisement",
               {Bytes(kGreeting), Bytes(kEhloPlain), Bytes(kReady), Tls(),
                Bytes(kEhloInsideTls), Bytes(kBye)},
               Config(StartTlsPolicy::kAlways)});
  s.push_back({"never_with_advertisement",
               {Bytes(kGreeting), Bytes(kEhloWithStartTls), Bytes(kBye)},
               Config(StartTlsPolicy::kNever)});
  s.push_back({"http_server",
               {Bytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")},
               Config(),
               /*error_before_last_byte=*/true});
  s.push_back({"tls_server_on_a_plaintext_port",
               {Bytes(absl::string_view("\x15\x03\x03\x00\x02\x02\x46", 7))},
               Config(),
               /*error_before_last_byte=*/true});
  s.push_back(
      {"code_mismatch_in_ehlo",
       {Bytes(kGreeting), Bytes("250-mx.example.test\r\n251 oops\r\n")}});
  s.push_back(
      {"bad_line_in_greeting", {Bytes("220-mx.example.test\r\nxyz\r\n")}});
  s.push_back({"eof_inside_greeting",
               {Bytes("220-mx.example.test ESMTP\r\n220 mx.exa"), Eof()}});
  s.push_back({"reset_in_ehlo", {Bytes(kGreeting), Reset()}});
  s.push_back(
      {"timeout_in_ehlo", {Bytes(kGreeting), Bytes("250-mx"), Deadline()}});
  s.push_back({"timeout_waiting_for_221",
               {Bytes(kGreeting), Bytes(kEhloPlain), Deadline()}});
  return s;
}

// Files whose server sends bytes after a reply in the same chunk: their
// anomalies depend on the chunking by design (see AnomalyTest).
const std::set<std::string>& ChunkDependentFiles() {
  static const auto* const kFiles =
      new std::set<std::string>{"data-after-starttls.transcript"};
  return *kFiles;
}

// The files of tests/data/transcripts as scenarios (their C: lines are
// checked by transcript_test; here only the server side matters).
std::vector<Scenario> FileScenarios() {
  std::vector<Scenario> scenarios;
  for (const std::string& name : test::TranscriptFiles()) {
    if (ChunkDependentFiles().count(name) > 0) continue;
    absl::StatusOr<std::vector<TranscriptStep>> steps =
        ParseTranscript(ReadFile(TranscriptDir() + "/" + name), name);
    if (!steps.ok()) continue;  // transcript_test reports it
    Scenario scenario;
    scenario.name = "file_" + name.substr(0, name.find('.'));
    std::replace(scenario.name.begin(), scenario.name.end(), '-', '_');
    scenario.config =
        Config(StartTlsPolicy::kAuto, absl::StartsWith(name, "implicit-tls"));
    for (const TranscriptStep& step : *steps) {
      switch (step.kind) {
        case TranscriptStep::Kind::kServerBytes:
          scenario.events.push_back(Bytes(step.text));
          break;
        case TranscriptStep::Kind::kClientCommand:
          break;
        case TranscriptStep::Kind::kTls:
          scenario.events.push_back(Tls());
          break;
        case TranscriptStep::Kind::kTlsFail:
          scenario.events.push_back(TlsFail(step.text));
          break;
        case TranscriptStep::Kind::kClose:
          scenario.events.push_back(Eof());
          break;
        case TranscriptStep::Kind::kReset:
          scenario.events.push_back(Reset());
          break;
        case TranscriptStep::Kind::kTimeout:
          scenario.events.push_back(Deadline());
          break;
      }
    }
    scenario.error_before_last_byte =
        Drive(scenario, Whole).result.status == ScanStatus::kProtocolError;
    scenarios.push_back(std::move(scenario));
  }
  return scenarios;
}

std::vector<Scenario> AllScenarios() {
  std::vector<Scenario> all = InlineScenarios();
  for (Scenario& s : FileScenarios()) all.push_back(std::move(s));
  return all;
}

// --- Split invariance
// ---------------------------------------------------------

class SplitInvarianceTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(SplitInvarianceTest, NoExtraBytesSoNoAnomalies) {
  const Outcome whole = Drive(GetParam(), Whole);
  EXPECT_EQ(whole.result.anomaly_count, 0u)
      << "a split-invariance scenario must not carry bytes after a reply";
}

TEST_P(SplitInvarianceTest, ByteByByteEqualsWhole) {
  const Scenario& scenario = GetParam();
  const Outcome whole = Drive(scenario, Whole);
  const Outcome bytes = Drive(scenario, ByteByByte);
  EXPECT_EQ(bytes.actions, whole.actions);
  EXPECT_EQ(Diff(whole.result, bytes.result, !scenario.error_before_last_byte),
            "");
}

TEST_P(SplitInvarianceTest, EveryTwoPartSplitEqualsWhole) {
  const Scenario& scenario = GetParam();
  const Outcome whole = Drive(scenario, Whole);
  for (size_t target = 0; target < scenario.events.size(); ++target) {
    const Event& event = scenario.events[target];
    if (event.kind != Event::Kind::kBytes) continue;
    for (size_t cut = 1; cut < event.text.size(); ++cut) {
      const Outcome split =
          Drive(scenario, [&](size_t index, absl::string_view bytes) {
            if (index != target) return Whole(index, bytes);
            return std::vector<std::string>{std::string(bytes.substr(0, cut)),
                                            std::string(bytes.substr(cut))};
          });
      ASSERT_EQ(split.actions, whole.actions)
          << "event " << target << " cut at " << cut;
      ASSERT_EQ(
          Diff(whole.result, split.result, !scenario.error_before_last_byte),
          "")
          << "event " << target << " cut at " << cut;
    }
  }
}

TEST_P(SplitInvarianceTest, EveryStepCutEverywhereAtOnce) {
  // All steps split at the same relative position at once, three parts each.
  const Scenario& scenario = GetParam();
  const Outcome whole = Drive(scenario, Whole);
  for (size_t a = 1; a <= 6; ++a) {
    const Outcome split = Drive(scenario, [a](size_t, absl::string_view bytes) {
      const size_t first = bytes.size() * a / 8;
      const size_t second = bytes.size() * (a + 1) / 8;
      return std::vector<std::string>{
          std::string(bytes.substr(0, first)),
          std::string(bytes.substr(first, second - first)),
          std::string(bytes.substr(second))};
    });
    ASSERT_EQ(split.actions, whole.actions) << "a=" << a;
    ASSERT_EQ(
        Diff(whole.result, split.result, !scenario.error_before_last_byte), "")
        << "a=" << a;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Scenarios, SplitInvarianceTest, ::testing::ValuesIn(AllScenarios()),
    [](const ::testing::TestParamInfo<Scenario>& param_info) {
      return param_info.param.name;
    });

// The expected outcome of a few inline scenarios, so that split invariance
// is not the invariance of a wrong answer.
TEST(ScenarioTest, WholeRunsGiveTheExpectedActions) {
  const std::vector<Scenario> scenarios = InlineScenarios();
  const auto find = [&](absl::string_view name) -> const Scenario& {
    for (const Scenario& s : scenarios) {
      if (s.name == name) return s;
    }
    ADD_FAILURE() << "no scenario " << name;
    return scenarios.front();
  };
  EXPECT_THAT(Drive(find("postfix_starttls"), Whole).actions,
              ElementsAre(kRead, kSendEhlo, kSendStartTls, kStartTlsAction,
                          kSendEhlo, kSendQuit, kClose));
  EXPECT_THAT(Drive(find("helo_fallback_inside_tls"), Whole).actions,
              ElementsAre(kRead, kSendEhlo, kSendStartTls, kStartTlsAction,
                          kSendEhlo, kSendHelo, kSendQuit, kClose));
  EXPECT_THAT(Drive(find("greeting_421_multiline"), Whole).actions,
              ElementsAre(kRead, kClose));
  EXPECT_THAT(
      Drive(find("implicit_tls"), Whole).actions,
      ElementsAre(kStartTlsAction, kRead, kSendEhlo, kSendQuit, kClose));
  EXPECT_THAT(Drive(find("http_server"), Whole).actions,
              ElementsAre(kRead, kClose));
  const Outcome bad = Drive(find("bad_line_in_greeting"), Whole);
  EXPECT_EQ(bad.result.status, ScanStatus::kProtocolError);
  EXPECT_EQ(bad.result.status_detail, "bad-line");
  const Outcome tls = Drive(find("tls_server_on_a_plaintext_port"), Whole);
  EXPECT_EQ(tls.result.status_detail, "tls");
}

// --- The greeting is never talked over ---------------------------------------

TEST(GreetingTest, NeverSendsBeforeTheFinalGreetingLine) {
  Session s(Config());
  Connect(s);
  // postscreen's teaser line, then silence for a while.
  EXPECT_EQ(Str(s.OnBytes("220-mx.example.test ESMTP\r\n", At(100))), kRead);
  EXPECT_EQ(Str(s.OnBytes("220-", At(2000))), kRead);
  EXPECT_EQ(Str(s.OnBytes("mx.example.test pregreet test\r\n220", At(4000))),
            kRead);
  EXPECT_EQ(Str(s.OnBytes(" mx.example.test ESMTP\r", At(6000))), kRead);
  EXPECT_EQ(s.phase(), Phase::kGreeting);
  EXPECT_EQ(s.result().bytes_sent, 0u);
  EXPECT_EQ(s.result().greeting, absl::nullopt);
  // Only the line end of the final "220 " line completes the greeting.
  EXPECT_EQ(Str(s.OnBytes("\n", At(6001))), kSendEhlo);
  EXPECT_EQ(s.phase(), Phase::kEhlo);
  ASSERT_TRUE(s.result().greeting.has_value());
  EXPECT_THAT(
      s.result().greeting->lines,
      ElementsAre("mx.example.test ESMTP", "mx.example.test pregreet test",
                  "mx.example.test ESMTP"));
  EXPECT_EQ(s.result().timings.greeting, absl::Milliseconds(6000));
}

TEST(GreetingTest, ContinuationLinesAloneNeverTriggerEhlo) {
  Session s(Config());
  Connect(s);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(Str(s.OnBytes("220-still greeting\r\n", At(10 + i))), kRead)
        << "line " << i;
  }
  EXPECT_EQ(Str(s.OnDeadline(At(30000))), kClose);
  EXPECT_EQ(s.result().status, ScanStatus::kGreetingTimeout);
  EXPECT_EQ(s.result().bytes_sent, 0u);
}

TEST(GreetingTest, GreetingRawIsCappedAtTheReplyLimit) {
  SessionConfig config = Config();
  config.limits.max_reply_bytes = 64;
  Session s(config);
  Connect(s);
  std::string greeting;
  for (int i = 0; i < 10; ++i) greeting += "220-0123456789abcdef\r\n";
  EXPECT_EQ(Str(s.OnBytes(greeting, At(2))), kClose);
  EXPECT_EQ(s.result().status, ScanStatus::kProtocolError);
  EXPECT_EQ(s.result().status_detail, "reply-too-large");
  EXPECT_EQ(s.result().greeting_raw, greeting.substr(0, 64));
}

TEST(GreetingTest, GreetingRawHoldsTheExactBytes) {
  Session s(Config());
  Connect(s);
  const std::string greeting =
      "220-mx.example.test ESMTP\r\n220-bare lf\n220 mx.example.test ready\r\n";
  EXPECT_EQ(Str(s.OnBytes(greeting.substr(0, 10), At(2))), kRead);
  EXPECT_EQ(Str(s.OnBytes(greeting.substr(10, 20), At(3))), kRead);
  EXPECT_EQ(Str(s.OnBytes(greeting.substr(30) + "250 early\r\n", At(4))),
            kSendEhlo);
  EXPECT_EQ(s.result().greeting_raw, greeting);  // not the extra bytes
  EXPECT_EQ(s.result().greeting->wire_bytes, greeting.size());
}

// --- Timings
// ------------------------------------------------------------------

TEST(TimingsTest, EachPhaseOfAStartTlsConversation) {
  Session s(Config());
  s.Start(At(0));
  EXPECT_EQ(Str(s.OnConnected(At(100))), kRead);
  EXPECT_EQ(Str(s.OnBytes(kGreeting, At(350))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes(kEhloWithStartTls, At(400))), kSendStartTls);
  EXPECT_EQ(Str(s.OnBytes(kReady, At(460))), kStartTlsAction);
  EXPECT_EQ(Str(s.OnTlsEstablished(At(600))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes(kEhloInsideTls, At(630))), kSendQuit);
  EXPECT_EQ(Str(s.OnBytes(kBye, At(700))), kClose);
  const Timings& t = s.result().timings;
  EXPECT_EQ(t.connect, absl::Milliseconds(100));
  EXPECT_EQ(t.greeting, absl::Milliseconds(250));
  EXPECT_EQ(t.ehlo, absl::Milliseconds(50));
  EXPECT_EQ(t.starttls, absl::Milliseconds(60));
  EXPECT_EQ(t.tls_handshake, absl::Milliseconds(140));
  EXPECT_EQ(t.ehlo_tls, absl::Milliseconds(30));
  EXPECT_EQ(t.quit, absl::Milliseconds(70));
  EXPECT_EQ(t.total, absl::Milliseconds(700));
  EXPECT_EQ(t.helo, absl::nullopt);
  EXPECT_EQ(t.helo_tls, absl::nullopt);
}

TEST(TimingsTest, HeloPhases) {
  Session s(Config());
  s.Start(At(0));
  s.OnConnected(At(10));
  EXPECT_EQ(Str(s.OnBytes(kGreeting, At(20))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes(kEhloWithStartTls, At(25))), kSendStartTls);
  EXPECT_EQ(Str(s.OnBytes(kReady, At(27))), kStartTlsAction);
  EXPECT_EQ(Str(s.OnTlsEstablished(At(40))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes("502 5.5.1 no\r\n", At(43))), kSendHelo);
  EXPECT_EQ(Str(s.OnBytes("250 mx.example.test\r\n", At(50))), kSendQuit);
  EXPECT_EQ(s.result().timings.ehlo_tls, absl::Milliseconds(3));
  EXPECT_EQ(s.result().timings.helo_tls, absl::Milliseconds(7));
  ASSERT_TRUE(s.result().helo_tls.has_value());
  EXPECT_EQ(s.result().helo_tls->code, 250);

  Session plain(Config());
  plain.Start(At(0));
  plain.OnConnected(At(10));
  EXPECT_EQ(Str(plain.OnBytes(kGreeting, At(20))), kSendEhlo);
  EXPECT_EQ(Str(plain.OnBytes("500 unrecognized\r\n", At(21))), kSendHelo);
  EXPECT_EQ(Str(plain.OnBytes("250 mx.example.test\r\n", At(33))), kSendQuit);
  EXPECT_EQ(plain.result().timings.ehlo, absl::Milliseconds(1));
  EXPECT_EQ(plain.result().timings.helo, absl::Milliseconds(12));
}

TEST(TimingsTest, UnfinishedStepsStayUnset) {
  Session s(Config());
  s.Start(At(0));
  s.OnConnected(At(40));
  EXPECT_EQ(Str(s.OnDeadline(At(30040))), kClose);
  const Timings& t = s.result().timings;
  EXPECT_EQ(t.connect, absl::Milliseconds(40));
  EXPECT_EQ(t.greeting, absl::nullopt);
  EXPECT_EQ(t.ehlo, absl::nullopt);
  EXPECT_EQ(t.quit, absl::nullopt);
  EXPECT_EQ(t.total, absl::Milliseconds(30040));
}

TEST(TimingsTest, ImplicitTlsHandshakeThenGreeting) {
  Session s(Config(StartTlsPolicy::kAuto, /*implicit_tls=*/true));
  s.Start(At(0));
  EXPECT_EQ(Str(s.OnConnected(At(20))), kStartTlsAction);
  EXPECT_EQ(Str(s.OnTlsEstablished(At(95))), kRead);
  EXPECT_EQ(Str(s.OnBytes(kGreeting, At(100))), kSendEhlo);
  const Timings& t = s.result().timings;
  EXPECT_EQ(t.connect, absl::Milliseconds(20));
  EXPECT_EQ(t.tls_handshake, absl::Milliseconds(75));
  EXPECT_EQ(t.greeting, absl::Milliseconds(5));
}

// --- Statuses
// -----------------------------------------------------------------

TEST(StatusTest, ConnectionRefused) {
  Session s(Config());
  s.Start(At(0));
  EXPECT_EQ(Str(s.OnSocketError(ECONNREFUSED, At(3))), kClose);
  EXPECT_TRUE(s.done());
  EXPECT_EQ(s.result().status, ScanStatus::kConnectionRefused);
  EXPECT_EQ(s.result().status_detail, "ECONNREFUSED");
  EXPECT_EQ(s.result().timings.connect, absl::nullopt);
  EXPECT_EQ(s.result().timings.total, absl::Milliseconds(3));
  EXPECT_EQ(s.result().bytes_sent, 0u);
}

TEST(StatusTest, ConnectionTimeoutByDeadline) {
  Session s(Config());
  s.Start(At(0));
  EXPECT_EQ(Str(s.OnDeadline(At(5000))), kClose);
  EXPECT_EQ(s.result().status, ScanStatus::kConnectionTimeout);
  EXPECT_EQ(s.result().status_detail, "connect");
}

TEST(StatusTest, ConnectionTimeoutByEtimedout) {
  Session s(Config());
  s.Start(At(0));
  EXPECT_EQ(Str(s.OnSocketError(ETIMEDOUT, At(127000))), kClose);
  EXPECT_EQ(s.result().status, ScanStatus::kConnectionTimeout);
  EXPECT_EQ(s.result().status_detail, "ETIMEDOUT");
}

TEST(StatusTest, Unreachable) {
  const std::vector<std::pair<int, std::string>> errors = {
      {EHOSTUNREACH, "EHOSTUNREACH"}, {ENETUNREACH, "ENETUNREACH"}};
  for (const auto& [error, name] : errors) {
    SCOPED_TRACE(name);
    Session s(Config());
    s.Start(At(0));
    EXPECT_EQ(Str(s.OnSocketError(error, At(1))), kClose);
    EXPECT_EQ(s.result().status, ScanStatus::kUnreachable);
    EXPECT_EQ(s.result().status_detail, name);
  }
}

TEST(StatusTest, ConnectionResetAfterConnect) {
  Session greeting(Config());
  Connect(greeting);
  EXPECT_EQ(Str(greeting.OnSocketError(ECONNRESET, At(2))), kClose);
  EXPECT_EQ(greeting.result().status, ScanStatus::kConnectionReset);
  EXPECT_EQ(greeting.result().status_detail, "ECONNRESET");

  Session ehlo(Config());
  Connect(ehlo);
  ehlo.OnBytes(kGreeting, At(2));
  EXPECT_EQ(Str(ehlo.OnSocketError(ECONNRESET, At(3))), kClose);
  EXPECT_EQ(ehlo.result().status, ScanStatus::kConnectionReset);
  EXPECT_EQ(ehlo.result().status_detail, "ECONNRESET");
  EXPECT_TRUE(ehlo.result().greeting.has_value());
}

TEST(StatusTest, UnnamedErrnoIsANumber) {
  Session s(Config());
  Connect(s);
  EXPECT_EQ(Str(s.OnSocketError(9999, At(2))), kClose);
  EXPECT_EQ(s.result().status_detail, "errno 9999");
}

TEST(StatusTest, GreetingTimeout) {
  Session s(Config());
  Connect(s);
  s.OnBytes("220-mx.example.test", At(5));
  EXPECT_EQ(Str(s.OnDeadline(At(300000))), kClose);
  EXPECT_EQ(s.result().status, ScanStatus::kGreetingTimeout);
  EXPECT_EQ(s.result().status_detail, "greeting");
  EXPECT_EQ(s.result().bytes_sent, 0u);
}

TEST(StatusTest, IoTimeoutNamesThePhase) {
  Session ehlo(Config());
  Connect(ehlo);
  ehlo.OnBytes(kGreeting, At(2));
  EXPECT_EQ(Str(ehlo.OnDeadline(At(300))), kClose);
  EXPECT_EQ(ehlo.result().status, ScanStatus::kIoTimeout);
  EXPECT_EQ(ehlo.result().status_detail, "ehlo");

  Session starttls(Config());
  Connect(starttls);
  starttls.OnBytes(kGreeting, At(2));
  starttls.OnBytes(kEhloWithStartTls, At(3));
  EXPECT_EQ(Str(starttls.OnDeadline(At(300))), kClose);
  EXPECT_EQ(starttls.result().status, ScanStatus::kIoTimeout);
  EXPECT_EQ(starttls.result().status_detail, "starttls");

  Session ehlo_tls(Config());
  UpToHandshake(ehlo_tls);
  ehlo_tls.OnTlsEstablished(At(5));
  EXPECT_EQ(Str(ehlo_tls.OnDeadline(At(300))), kClose);
  EXPECT_EQ(ehlo_tls.result().status, ScanStatus::kIoTimeout);
  EXPECT_EQ(ehlo_tls.result().status_detail, "ehlo-tls");

  Session helo(Config());
  Connect(helo);
  helo.OnBytes(kGreeting, At(2));
  helo.OnBytes("502 no\r\n", At(3));
  EXPECT_EQ(Str(helo.OnDeadline(At(300))), kClose);
  EXPECT_EQ(helo.result().status_detail, "helo");
}

TEST(StatusTest, Greeting554SendsQuit) {
  Session s(Config());
  Connect(s);
  EXPECT_EQ(Str(s.OnBytes(
                "554 mx.example.test ESMTP not accepting messages\r\n", At(2))),
            kSendQuit);
  EXPECT_EQ(s.phase(), Phase::kQuit);
  EXPECT_EQ(Str(s.OnBytes(kBye, At(3))), kClose);
  const SessionResult& r = s.result();
  EXPECT_EQ(r.status, ScanStatus::kGreetingRejected);
  EXPECT_EQ(r.status_detail, "554");
  EXPECT_EQ(r.greeting->code, 554);
  EXPECT_EQ(r.ehlo, absl::nullopt);
  ASSERT_TRUE(r.quit.has_value());
  EXPECT_EQ(r.quit->code, 221);
}

TEST(StatusTest, Greeting421ClosesWithoutQuit) {
  Session s(Config());
  Connect(s);
  EXPECT_EQ(Str(s.OnBytes("421 4.7.0 mx.example.test Error: too many "
                          "connections from 192.0.2.10\r\n",
                          At(2))),
            kClose);
  EXPECT_TRUE(s.done());
  EXPECT_EQ(s.result().status, ScanStatus::kGreetingRejected);
  EXPECT_EQ(s.result().status_detail, "421");
  EXPECT_EQ(s.result().bytes_sent, 0u);
  EXPECT_EQ(s.result().quit, absl::nullopt);
}

TEST(StatusTest, EhloThenHeloRejected) {
  Session s(Config());
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  EXPECT_EQ(Str(s.OnBytes("550 5.7.1 Access denied\r\n", At(3))), kSendHelo);
  EXPECT_EQ(Str(s.OnBytes("501 5.5.4 Syntax error\r\n", At(4))), kSendQuit);
  EXPECT_EQ(Str(s.OnBytes(kBye, At(5))), kClose);
  const SessionResult& r = s.result();
  EXPECT_EQ(r.status, ScanStatus::kEhloRejected);
  EXPECT_EQ(r.status_detail, "501");  // the HELO reply decides
  EXPECT_EQ(r.ehlo->reply.code, 550);
  EXPECT_THAT(r.ehlo->extensions, IsEmpty());
  EXPECT_EQ(r.helo->code, 501);
}

TEST(StatusTest, Ehlo421ClosesWithoutHeloOrQuit) {
  Session s(Config());
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  const uint64_t sent = s.result().bytes_sent;
  EXPECT_EQ(Str(s.OnBytes("421 4.3.2 Service not available\r\n", At(3))),
            kClose);
  EXPECT_EQ(s.result().status, ScanStatus::kEhloRejected);
  EXPECT_EQ(s.result().status_detail, "421");
  EXPECT_EQ(s.result().helo, absl::nullopt);
  EXPECT_EQ(s.result().bytes_sent, sent);
}

TEST(StatusTest, EhloTemporaryFailureQuitsWithoutHelo) {
  Session s(Config());
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  EXPECT_EQ(Str(s.OnBytes("451 4.3.0 try later\r\n", At(3))), kSendQuit);
  EXPECT_EQ(s.result().status, ScanStatus::kEhloRejected);
  EXPECT_EQ(s.result().status_detail, "451");
}

TEST(StatusTest, ProtocolErrorInTheGreeting) {
  Session s(Config());
  Connect(s);
  EXPECT_EQ(Str(s.OnBytes("HTTP/1.1 400 Bad Request\r\n\r\n", At(2))), kClose);
  const SessionResult& r = s.result();
  EXPECT_EQ(r.status, ScanStatus::kProtocolError);
  EXPECT_EQ(r.status_detail, "http");
  ASSERT_TRUE(r.protocol_error.has_value());
  EXPECT_EQ(r.protocol_error->kind, ReplyError::kHttp);
  EXPECT_EQ(r.protocol_error->offset, 0u);
  EXPECT_EQ(r.protocol_error->excerpt, "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(r.bytes_sent, 0u);  // no QUIT to something that is not SMTP
}

TEST(StatusTest, ProtocolErrorInTheEhloReply) {
  Session s(Config());
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  EXPECT_EQ(Str(s.OnBytes("250-mx.example.test\r\n251 oops\r\n", At(3))),
            kClose);
  const SessionResult& r = s.result();
  EXPECT_EQ(r.status, ScanStatus::kProtocolError);
  EXPECT_EQ(r.status_detail, "code-mismatch");
  ASSERT_TRUE(r.protocol_error.has_value());
  EXPECT_EQ(r.protocol_error->kind, ReplyError::kCodeMismatch);
  EXPECT_EQ(r.protocol_error->offset, kGreeting.size() + 21);
  EXPECT_EQ(r.protocol_error->excerpt, "251 oops");
  EXPECT_EQ(r.ehlo, absl::nullopt);
}

TEST(StatusTest, ClosedEarlyNamesThePhase) {
  Session greeting(Config());
  Connect(greeting);
  greeting.OnBytes("220-mx.example.test\r\n", At(2));
  EXPECT_EQ(Str(greeting.OnEof(At(3))), kClose);
  EXPECT_EQ(greeting.result().status, ScanStatus::kClosedEarly);
  EXPECT_EQ(greeting.result().status_detail, "greeting");
  EXPECT_EQ(greeting.result().greeting_raw, "220-mx.example.test\r\n");

  Session ehlo(Config());
  Connect(ehlo);
  ehlo.OnBytes(kGreeting, At(2));
  EXPECT_EQ(Str(ehlo.OnEof(At(3))), kClose);
  EXPECT_EQ(ehlo.result().status_detail, "ehlo");

  Session handshake(Config());
  UpToHandshake(handshake);
  EXPECT_EQ(Str(handshake.OnEof(At(5))), kClose);
  EXPECT_EQ(handshake.result().status, ScanStatus::kClosedEarly);
  EXPECT_EQ(handshake.result().status_detail, "tls-handshake");
}

TEST(StatusTest, StartTlsRefused) {
  Session s(Config());
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  s.OnBytes(kEhloWithStartTls, At(3));
  EXPECT_EQ(Str(s.OnBytes("454 4.7.0 TLS not available due to local "
                          "problem\r\n",
                          At(4))),
            kSendQuit);
  EXPECT_EQ(Str(s.OnBytes(kBye, At(5))), kClose);
  EXPECT_EQ(s.result().status, ScanStatus::kStartTlsRefused);
  EXPECT_EQ(s.result().status_detail, "454");
  EXPECT_EQ(s.result().starttls->code, 454);
  EXPECT_FALSE(s.result().tls_established);
}

TEST(StatusTest, StartTls421ClosesWithoutQuit) {
  Session s(Config());
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  s.OnBytes(kEhloWithStartTls, At(3));
  EXPECT_EQ(Str(s.OnBytes("421 4.3.2 shutting down\r\n", At(4))), kClose);
  EXPECT_EQ(s.result().status, ScanStatus::kStartTlsRefused);
  EXPECT_EQ(s.result().status_detail, "421");
}

TEST(StatusTest, TlsHandshakeErrorKeepsTheReason) {
  Session s(Config());
  UpToHandshake(s);
  const uint64_t sent = s.result().bytes_sent;
  EXPECT_EQ(Str(s.OnTlsFailed("error:0A000086:SSL routines::certificate "
                              "verify failed",
                              At(9))),
            kClose);
  EXPECT_TRUE(s.done());
  const SessionResult& r = s.result();
  EXPECT_EQ(r.status, ScanStatus::kTlsHandshakeError);
  EXPECT_EQ(r.status_detail,
            "error:0A000086:SSL routines::certificate verify failed");
  EXPECT_EQ(r.tls_error, r.status_detail);
  EXPECT_FALSE(r.tls_established);
  EXPECT_EQ(r.bytes_sent, sent);  // no QUIT into a broken stream
  EXPECT_EQ(r.timings.tls_handshake, absl::nullopt);
}

TEST(StatusTest, TlsTimeout) {
  Session s(Config());
  UpToHandshake(s);
  EXPECT_EQ(Str(s.OnDeadline(At(10004))), kClose);
  EXPECT_EQ(s.result().status, ScanStatus::kTlsTimeout);
  EXPECT_EQ(s.result().status_detail, "tls-handshake");
}

// Drives a successful plaintext conversation up to the QUIT.
void UpToQuit(Session& s) {
  Connect(s);
  ASSERT_EQ(Str(s.OnBytes(kGreeting, At(2))), kSendEhlo);
  ASSERT_EQ(Str(s.OnBytes(kEhloPlain, At(3))), kSendQuit);
  ASSERT_EQ(s.phase(), Phase::kQuit);
}

TEST(StatusTest, TroubleWaitingFor221KeepsSuccess) {
  Session reset(Config());
  UpToQuit(reset);
  EXPECT_EQ(Str(reset.OnSocketError(ECONNRESET, At(4))), kClose);
  EXPECT_EQ(reset.result().status, ScanStatus::kSuccess);
  EXPECT_EQ(reset.result().status_detail, "");
  EXPECT_EQ(reset.result().quit, absl::nullopt);

  Session timeout(Config());
  UpToQuit(timeout);
  EXPECT_EQ(Str(timeout.OnDeadline(At(4))), kClose);
  EXPECT_EQ(timeout.result().status, ScanStatus::kSuccess);
  EXPECT_EQ(timeout.result().timings.quit, absl::nullopt);
  EXPECT_EQ(timeout.result().timings.total, absl::Milliseconds(4));

  Session eof(Config());
  UpToQuit(eof);
  EXPECT_EQ(Str(eof.OnEof(At(4))), kClose);
  EXPECT_EQ(eof.result().status, ScanStatus::kSuccess);

  // Garbage in place of the 221 is recorded, but the outcome stands.
  Session garbage(Config());
  UpToQuit(garbage);
  EXPECT_EQ(Str(garbage.OnBytes("HTTP/1.1 400 Bad Request\r\n", At(4))),
            kClose);
  EXPECT_EQ(garbage.result().status, ScanStatus::kSuccess);
  ASSERT_TRUE(garbage.result().protocol_error.has_value());
  EXPECT_EQ(garbage.result().protocol_error->kind, ReplyError::kHttp);
  EXPECT_EQ(garbage.result().quit, absl::nullopt);
}

TEST(StatusTest, TheFirstFailureIsNeverOverwritten) {
  Session reset(Config());
  Connect(reset);
  EXPECT_EQ(Str(reset.OnBytes("554 no\r\n", At(2))), kSendQuit);
  EXPECT_EQ(Str(reset.OnSocketError(ECONNRESET, At(3))), kClose);
  EXPECT_EQ(reset.result().status, ScanStatus::kGreetingRejected);
  EXPECT_EQ(reset.result().status_detail, "554");

  Session timeout(Config());
  Connect(timeout);
  timeout.OnBytes("554 no\r\n", At(2));
  EXPECT_EQ(Str(timeout.OnDeadline(At(3))), kClose);
  EXPECT_EQ(timeout.result().status_detail, "554");

  Session garbage(Config());
  Connect(garbage);
  garbage.OnBytes(kGreeting, At(2));
  garbage.OnBytes(kEhloWithStartTls, At(3));
  EXPECT_EQ(Str(garbage.OnBytes("454 4.7.0 no TLS\r\n", At(4))), kSendQuit);
  EXPECT_EQ(Str(garbage.OnBytes("HTTP/1.0 400\r\n", At(5))), kClose);
  EXPECT_EQ(garbage.result().status, ScanStatus::kStartTlsRefused);
  EXPECT_EQ(garbage.result().status_detail, "454");

  Session eof(Config());
  Connect(eof);
  eof.OnBytes(kGreeting, At(2));
  eof.OnBytes("550 no\r\n", At(3));
  eof.OnBytes("550 no\r\n", At(4));
  EXPECT_EQ(Str(eof.OnEof(At(5))), kClose);
  EXPECT_EQ(eof.result().status, ScanStatus::kEhloRejected);
  EXPECT_EQ(eof.result().status_detail, "550");
}

// --- STARTTLS policy
// ------------------------------------------------------------

TEST(StartTlsPolicyTest, AutoWhenAdvertisedInAnyCase) {
  Session s(Config(StartTlsPolicy::kAuto));
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  EXPECT_EQ(Str(s.OnBytes("250-mx.example.test\r\n250-starttls\r\n250 "
                          "8BITMIME\r\n",
                          At(3))),
            kSendStartTls);
}

TEST(StartTlsPolicyTest, AutoQuitsWhenNotAdvertised) {
  Session s(Config(StartTlsPolicy::kAuto));
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  EXPECT_EQ(Str(s.OnBytes(kEhloPlain, At(3))), kSendQuit);
}

TEST(StartTlsPolicyTest, AlwaysEvenWhenNotAdvertised) {
  Session s(Config(StartTlsPolicy::kAlways));
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  EXPECT_EQ(Str(s.OnBytes(kEhloPlain, At(3))), kSendStartTls);
  EXPECT_EQ(Str(s.OnBytes("502 5.5.1 not implemented\r\n", At(4))), kSendQuit);
  EXPECT_EQ(s.result().status, ScanStatus::kStartTlsRefused);
  EXPECT_EQ(s.result().status_detail, "502");
}

TEST(StartTlsPolicyTest, AlwaysNeedsAPositiveEhloNotHelo) {
  Session s(Config(StartTlsPolicy::kAlways));
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  EXPECT_EQ(Str(s.OnBytes("502 no\r\n", At(3))), kSendHelo);
  EXPECT_EQ(Str(s.OnBytes("250 mx.example.test\r\n", At(4))), kSendQuit);
}

TEST(StartTlsPolicyTest, NeverEvenWhenAdvertised) {
  Session s(Config(StartTlsPolicy::kNever));
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  EXPECT_EQ(Str(s.OnBytes(kEhloWithStartTls, At(3))), kSendQuit);
  EXPECT_EQ(Str(s.OnBytes(kBye, At(4))), kClose);
  EXPECT_EQ(s.result().status, ScanStatus::kSuccess);
  EXPECT_FALSE(s.result().tls_established);
  EXPECT_EQ(s.result().starttls, absl::nullopt);
}

TEST(StartTlsPolicyTest, EhloInsideTlsIsStoredApartAndNoSecondStartTls) {
  for (StartTlsPolicy policy :
       {StartTlsPolicy::kAuto, StartTlsPolicy::kAlways}) {
    SCOPED_TRACE(static_cast<int>(policy));
    Session s(Config(policy));
    UpToHandshake(s);
    EXPECT_EQ(Str(s.OnTlsEstablished(At(5))), kSendEhlo);
    EXPECT_EQ(s.phase(), Phase::kEhloTls);
    // A server that (wrongly, RFC 3207 §4.2) advertises STARTTLS again.
    EXPECT_EQ(Str(s.OnBytes("250-mx.example.test\r\n250-STARTTLS\r\n250 AUTH "
                            "PLAIN\r\n",
                            At(6))),
              kSendQuit);
    EXPECT_EQ(Str(s.OnBytes(kBye, At(7))), kClose);
    const SessionResult& r = s.result();
    EXPECT_EQ(r.status, ScanStatus::kSuccess);
    EXPECT_TRUE(r.tls_established);
    EXPECT_TRUE(r.ehlo->Has("SIZE"));  // the first EHLO is kept
    ASSERT_TRUE(r.ehlo_tls.has_value());
    EXPECT_THAT(r.ehlo_tls->Keywords(), ElementsAre("STARTTLS", "AUTH"));
    EXPECT_EQ(r.starttls->code, 220);
  }
}

TEST(StartTlsPolicyTest, ImplicitTls) {
  Session s(Config(StartTlsPolicy::kAuto, /*implicit_tls=*/true));
  s.Start(At(0));
  EXPECT_EQ(Str(s.OnConnected(At(1))), kStartTlsAction);
  EXPECT_EQ(s.phase(), Phase::kTlsHandshake);
  EXPECT_EQ(Str(s.OnTlsEstablished(At(2))), kRead);
  EXPECT_EQ(s.phase(), Phase::kGreeting);
  EXPECT_EQ(Str(s.OnBytes(kGreeting, At(3))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes(kEhloWithStartTls, At(4))), kSendQuit);
  EXPECT_EQ(Str(s.OnBytes(kBye, At(5))), kClose);
  const SessionResult& r = s.result();
  EXPECT_EQ(r.status, ScanStatus::kSuccess);
  EXPECT_TRUE(r.tls_established);
  EXPECT_EQ(r.greeting->code, 220);
  EXPECT_TRUE(r.ehlo.has_value());
  EXPECT_EQ(r.starttls, absl::nullopt);
}

TEST(StartTlsPolicyTest, ImplicitTlsHandshakeFailure) {
  Session s(Config(StartTlsPolicy::kAuto, /*implicit_tls=*/true));
  s.Start(At(0));
  EXPECT_EQ(Str(s.OnConnected(At(1))), kStartTlsAction);
  EXPECT_EQ(Str(s.OnTlsFailed("unexpected eof while reading", At(2))), kClose);
  EXPECT_EQ(s.result().status, ScanStatus::kTlsHandshakeError);
  EXPECT_EQ(s.result().greeting, absl::nullopt);
  EXPECT_EQ(s.result().bytes_sent, 0u);
}

TEST(StartTlsPolicyTest, TlsEventsOutsideTheHandshakeChangeNothing) {
  Session s(Config());
  Connect(s);
  // Waiting for the greeting: a TLS result makes no sense and is ignored.
  EXPECT_EQ(Str(s.OnTlsFailed("alert", At(2))), kRead);
  EXPECT_EQ(Str(s.OnTlsEstablished(At(2))), kRead);
  EXPECT_EQ(s.phase(), Phase::kGreeting);
  EXPECT_EQ(s.result().status, ScanStatus::kSuccess);
  EXPECT_TRUE(s.result().tls_error.empty());
  EXPECT_FALSE(s.result().tls_established);
  EXPECT_EQ(Str(s.OnBytes(kGreeting, At(3))), kSendEhlo);
}

// --- Anomalies
// ------------------------------------------------------------------

TEST(AnomalyTest, ExtraBytesAfterTheGreetingInTheSameChunk) {
  Session s(Config());
  Connect(s);
  EXPECT_EQ(Str(s.OnBytes(absl::StrCat(kGreeting, "250 early\r\n"), At(2))),
            kSendEhlo);
  const SessionResult& r = s.result();
  ASSERT_EQ(r.anomalies.size(), 1u);
  EXPECT_EQ(r.anomaly_count, 1u);
  EXPECT_EQ(r.anomalies[0].kind, Anomaly::Kind::kUnexpectedData);
  EXPECT_EQ(r.anomalies[0].phase, Phase::kGreeting);
  EXPECT_EQ(r.anomalies[0].size, 11u);
  EXPECT_EQ(r.anomalies[0].excerpt, "250 early\r\n");
  EXPECT_EQ(r.greeting_raw, kGreeting);
  // The extra bytes were dropped, not taken as the start of the EHLO reply.
  EXPECT_EQ(Str(s.OnBytes(kEhloPlain, At(3))), kSendQuit);
  EXPECT_EQ(s.result().ehlo->domain, "mx.example.test");
  EXPECT_EQ(s.result().ehlo->extensions.size(), 2u);
}

TEST(AnomalyTest, TheSameBytesInTheirOwnChunkAreNoAnomaly) {
  // The chunking dependence is by design: here "250 early" arrives after
  // EHLO was sent and becomes the EHLO reply.
  Session s(Config());
  Connect(s);
  EXPECT_EQ(Str(s.OnBytes(kGreeting, At(2))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes("250 early\r\n", At(3))), kSendQuit);
  EXPECT_EQ(s.result().anomaly_count, 0u);
}

TEST(AnomalyTest, ExcerptIsCappedButSizeIsNot) {
  Session s(Config());
  Connect(s);
  const std::string extra(100, 'x');
  s.OnBytes(absl::StrCat(kGreeting, extra), At(2));
  ASSERT_EQ(s.result().anomalies.size(), 1u);
  EXPECT_EQ(s.result().anomalies[0].size, 100u);
  EXPECT_EQ(s.result().anomalies[0].excerpt,
            std::string(Anomaly::kExcerptBytes, 'x'));
}

TEST(AnomalyTest, DataAfterStartTlsIsNeverFedToTls) {
  Session s(Config());
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  s.OnBytes(kEhloWithStartTls, At(3));
  EXPECT_EQ(Str(s.OnBytes(absl::StrCat(kReady, "250 AUTH PLAIN\r\n"), At(4))),
            kStartTlsAction);
  ASSERT_EQ(s.result().anomalies.size(), 1u);
  const Anomaly& a = s.result().anomalies[0];
  EXPECT_EQ(a.kind, Anomaly::Kind::kDataAfterStartTls);
  EXPECT_EQ(AnomalyKindName(a.kind), "data-after-starttls");
  EXPECT_EQ(a.phase, Phase::kStartTls);
  EXPECT_EQ(a.size, 16u);
  EXPECT_EQ(a.excerpt, "250 AUTH PLAIN\r\n");
  EXPECT_EQ(Str(s.OnTlsEstablished(At(5))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes(kEhloInsideTls, At(6))), kSendQuit);
  EXPECT_EQ(s.result().ehlo_tls->domain, "mx.example.test");
  EXPECT_THAT(s.result().ehlo_tls->AuthMechanisms(),
              ElementsAre("PLAIN", "LOGIN"));
}

TEST(AnomalyTest, ExtraBytesAfterARefusedStartTlsAreUnexpectedData) {
  Session s(Config());
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  s.OnBytes(kEhloWithStartTls, At(3));
  EXPECT_EQ(Str(s.OnBytes("454 4.7.0 no\r\nxyz", At(4))), kSendQuit);
  ASSERT_EQ(s.result().anomalies.size(), 1u);
  EXPECT_EQ(s.result().anomalies[0].kind, Anomaly::Kind::kUnexpectedData);
  EXPECT_EQ(AnomalyKindName(s.result().anomalies[0].kind), "unexpected-data");
  EXPECT_EQ(s.result().anomalies[0].phase, Phase::kStartTls);
}

TEST(AnomalyTest, ExtraBytesAfterThe221) {
  Session s(Config());
  UpToQuit(s);
  EXPECT_EQ(Str(s.OnBytes(absl::StrCat(kBye, "bye!"), At(4))), kClose);
  ASSERT_EQ(s.result().anomalies.size(), 1u);
  EXPECT_EQ(s.result().anomalies[0].phase, Phase::kQuit);
  EXPECT_EQ(s.result().anomalies[0].excerpt, "bye!");
  EXPECT_EQ(s.result().status, ScanStatus::kSuccess);
}

TEST(AnomalyTest, OnlyTheFirstKMaxRecordedAreKept) {
  Session s(Config());
  Connect(s);
  EXPECT_EQ(Str(s.OnBytes(absl::StrCat(kGreeting, "x1"), At(2))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes(absl::StrCat(kEhloWithStartTls, "x2"), At(3))),
            kSendStartTls);
  EXPECT_EQ(Str(s.OnBytes(absl::StrCat(kReady, "x3"), At(4))), kStartTlsAction);
  for (int i = 4; i <= 10; ++i) {
    // Plaintext during the handshake: no reply is due, and it must never
    // reach TLS.
    EXPECT_EQ(Str(s.OnBytes(absl::StrCat("x", i), At(5))), kStartTlsAction);
  }
  EXPECT_EQ(Str(s.OnTlsEstablished(At(6))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes(kEhloInsideTls, At(7))), kSendQuit);
  EXPECT_EQ(Str(s.OnBytes(kBye, At(8))), kClose);
  const SessionResult& r = s.result();
  EXPECT_EQ(r.status, ScanStatus::kSuccess);
  EXPECT_EQ(r.anomaly_count, 10u);
  ASSERT_EQ(r.anomalies.size(), Anomaly::kMaxRecorded);
  std::vector<std::string> excerpts;
  for (const Anomaly& a : r.anomalies) excerpts.push_back(a.excerpt);
  EXPECT_THAT(excerpts,
              ElementsAre("x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8"));
  EXPECT_EQ(r.anomalies[0].phase, Phase::kGreeting);
  EXPECT_EQ(r.anomalies[1].phase, Phase::kEhlo);
  EXPECT_EQ(r.anomalies[2].kind, Anomaly::Kind::kDataAfterStartTls);
  // Plaintext in a chunk of its own during the handshake is the same
  // injection anomaly as plaintext sharing the 220's chunk.
  EXPECT_EQ(r.anomalies[3].kind, Anomaly::Kind::kDataAfterStartTls);
  EXPECT_EQ(r.anomalies[3].phase, Phase::kStartTls);
}

// --- Counters, names and the end
// --------------------------------------------------

TEST(CounterTest, BytesSentAndReceived) {
  Session s(Config());
  Connect(s);
  s.OnBytes(kGreeting.substr(0, 7), At(2));
  s.OnBytes(kGreeting.substr(7), At(2));
  s.OnBytes(kEhloWithStartTls, At(3));
  s.OnBytes(kReady, At(4));
  s.OnTlsEstablished(At(5));
  s.OnBytes(kEhloInsideTls, At(6));
  s.OnBytes(kBye, At(7));
  ASSERT_TRUE(s.done());
  const std::string ehlo = "EHLO scanner.example.test\r\n";
  EXPECT_EQ(s.result().bytes_sent,
            ehlo.size() + 10 /* STARTTLS\r\n */ + ehlo.size() + 6 /* QUIT */);
  EXPECT_EQ(s.result().bytes_received,
            kGreeting.size() + kEhloWithStartTls.size() + kReady.size() +
                kEhloInsideTls.size() + kBye.size());
}

TEST(CounterTest, ReceivedCountsAnomalousBytesToo) {
  Session s(Config());
  Connect(s);
  s.OnBytes(absl::StrCat(kGreeting, "junk"), At(2));
  EXPECT_EQ(s.result().bytes_received, kGreeting.size() + 4);
}

TEST(NameTest, PhaseNames) {
  EXPECT_EQ(PhaseName(Phase::kConnect), "connect");
  EXPECT_EQ(PhaseName(Phase::kGreeting), "greeting");
  EXPECT_EQ(PhaseName(Phase::kEhlo), "ehlo");
  EXPECT_EQ(PhaseName(Phase::kHelo), "helo");
  EXPECT_EQ(PhaseName(Phase::kStartTls), "starttls");
  EXPECT_EQ(PhaseName(Phase::kTlsHandshake), "tls-handshake");
  EXPECT_EQ(PhaseName(Phase::kEhloTls), "ehlo-tls");
  EXPECT_EQ(PhaseName(Phase::kHeloTls), "helo-tls");
  EXPECT_EQ(PhaseName(Phase::kQuit), "quit");
  EXPECT_EQ(PhaseName(Phase::kDone), "done");
}

// After kClose every entry point returns kClose and leaves the result alone
// ("SessionResult ... Final once phase() is kDone").
struct AfterDoneCase {
  std::string name;
  std::function<Action(Session&)> call;
};

void PrintTo(const AfterDoneCase& c, std::ostream* os) { *os << c.name; }

class AfterDoneTest : public ::testing::TestWithParam<AfterDoneCase> {};

TEST_P(AfterDoneTest, ReturnsCloseAndChangesNothing) {
  Session s(Config());
  Connect(s);
  s.OnBytes(kGreeting, At(2));
  s.OnBytes(kEhloWithStartTls, At(3));
  s.OnBytes(kReady, At(4));
  s.OnTlsEstablished(At(5));
  s.OnBytes(kEhloInsideTls, At(6));
  ASSERT_EQ(Str(s.OnBytes(kBye, At(7))), kClose);
  ASSERT_TRUE(s.done());
  const SessionResult before = s.result();

  EXPECT_EQ(Str(GetParam().call(s)), kClose);
  EXPECT_TRUE(s.done());
  EXPECT_EQ(Diff(before, s.result()), "");
}

INSTANTIATE_TEST_SUITE_P(
    EveryEntryPoint, AfterDoneTest,
    ::testing::Values(
        AfterDoneCase{
            "OnBytes",
            [](Session& s) { return s.OnBytes("250 late\r\n", At(100)); }},
        AfterDoneCase{"OnEof", [](Session& s) { return s.OnEof(At(100)); }},
        AfterDoneCase{
            "OnSocketError",
            [](Session& s) { return s.OnSocketError(ECONNRESET, At(100)); }},
        AfterDoneCase{"OnDeadline",
                      [](Session& s) { return s.OnDeadline(At(100)); }},
        AfterDoneCase{"OnTlsEstablished",
                      [](Session& s) { return s.OnTlsEstablished(At(100)); }},
        AfterDoneCase{
            "OnTlsFailed",
            [](Session& s) { return s.OnTlsFailed("late", At(100)); }},
        AfterDoneCase{"OnConnected",
                      [](Session& s) { return s.OnConnected(At(100)); }}),
    [](const ::testing::TestParamInfo<AfterDoneCase>& param_info) {
      return param_info.param.name;
    });

// --- --probe: HELP and an unknown command before QUIT ------------------------

SessionConfig ProbeConfig(StartTlsPolicy policy = StartTlsPolicy::kAuto) {
  SessionConfig config = Config(policy);
  config.probe = true;
  return config;
}

constexpr char kSendHelp[] = "send HELP\\r\\n";
constexpr char kSendUnknown[] = "send XSMTPSCANPROBE\\r\\n";

TEST(ProbeTest, HelpThenUnknownCommandThenQuit) {
  Session s(ProbeConfig(StartTlsPolicy::kNever));
  Connect(s);
  EXPECT_EQ(Str(s.OnBytes(kGreeting, At(2))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes(kEhloPlain, At(3))), kSendHelp);
  EXPECT_EQ(s.phase(), Phase::kHelp);
  EXPECT_EQ(
      Str(s.OnBytes("214-2.0.0 Commands:\r\n214 2.0.0 HELO EHLO\r\n", At(4))),
      kSendUnknown);
  EXPECT_EQ(s.phase(), Phase::kUnknown);
  EXPECT_EQ(
      Str(s.OnBytes("502 5.5.2 Error: command not recognized\r\n", At(5))),
      kSendQuit);
  EXPECT_EQ(Str(s.OnBytes(kBye, At(6))), kClose);
  const SessionResult& r = s.result();
  EXPECT_EQ(r.status, ScanStatus::kSuccess);
  ASSERT_TRUE(r.help.has_value());
  EXPECT_EQ(r.help->code, 214);
  EXPECT_EQ(r.help->lines.size(), 2u);
  ASSERT_TRUE(r.unknown.has_value());
  EXPECT_EQ(r.unknown->code, 502);
  EXPECT_EQ(r.bytes_sent, std::string("EHLO scanner.example.test\r\nHELP\r\n"
                                      "XSMTPSCANPROBE\r\nQUIT\r\n")
                              .size());
}

TEST(ProbeTest, AfterTlsTheProbeRunsInsideIt) {
  Session s(ProbeConfig());
  UpToHandshake(s);
  EXPECT_EQ(Str(s.OnTlsEstablished(At(5))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes(kEhloInsideTls, At(6))), kSendHelp);
  EXPECT_EQ(Str(s.OnBytes("214 see the docs\r\n", At(7))), kSendUnknown);
  EXPECT_EQ(Str(s.OnBytes("500 unrecognized command\r\n", At(8))), kSendQuit);
}

TEST(ProbeTest, NoProbeAfterARejection) {
  Session s(ProbeConfig());
  Connect(s);
  EXPECT_EQ(Str(s.OnBytes("554 go away\r\n", At(2))), kSendQuit);
}

TEST(ProbeTest, A421ToHelpEndsTheConversation) {
  Session s(ProbeConfig(StartTlsPolicy::kNever));
  Connect(s);
  EXPECT_EQ(Str(s.OnBytes(kGreeting, At(2))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes(kEhloPlain, At(3))), kSendHelp);
  EXPECT_EQ(Str(s.OnBytes("421 4.7.0 closing\r\n", At(4))), kClose);
  EXPECT_EQ(s.result().help->code, 421);
  EXPECT_FALSE(s.result().unknown.has_value());
}

TEST(ProbeTest, SilenceAfterHelpIsAnIoTimeoutNamingTheStep) {
  Session s(ProbeConfig(StartTlsPolicy::kNever));
  Connect(s);
  EXPECT_EQ(Str(s.OnBytes(kGreeting, At(2))), kSendEhlo);
  EXPECT_EQ(Str(s.OnBytes(kEhloPlain, At(3))), kSendHelp);
  EXPECT_EQ(Str(s.OnDeadline(At(30000))), kClose);
  EXPECT_EQ(s.result().status, ScanStatus::kIoTimeout);
  EXPECT_EQ(s.result().status_detail, "help");
}

}  // namespace
}  // namespace smtpscan::smtp
