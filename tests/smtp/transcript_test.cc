#include "smtp/transcript.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scan/scan_status.h"
#include "smtp/test_support.h"

namespace smtpscan::smtp {
namespace {

using test::TranscriptDir;
using test::TranscriptFiles;

// Reads a test file, failing the test when it cannot be opened.
std::string ReadFile(const std::string& path) {
  std::string text = test::ReadFile(path);
  EXPECT_FALSE(text.empty()) << "cannot read " << path;
  return text;
}

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Kind = TranscriptStep::Kind;

constexpr absl::string_view kEhloName = "scanner.example.test";
const absl::Time kStart =
    absl::FromUnixSeconds(1795341600);  // 2026-11-22 10:00:00 UTC
constexpr absl::Duration kStep = absl::Milliseconds(10);

SessionConfig Config(StartTlsPolicy policy = StartTlsPolicy::kAuto,
                     bool implicit_tls = false) {
  SessionConfig config;
  config.ehlo_name = std::string(kEhloName);
  config.starttls = policy;
  config.implicit_tls = implicit_tls;
  return config;
}

std::vector<TranscriptStep> MustParse(absl::string_view text) {
  absl::StatusOr<std::vector<TranscriptStep>> steps =
      ParseTranscript(text, "test.transcript");
  EXPECT_TRUE(steps.ok()) << steps.status();
  return steps.ok() ? *std::move(steps) : std::vector<TranscriptStep>();
}

absl::StatusOr<ReplayOutcome> ReplayText(
    absl::string_view text, const SessionConfig& config = Config()) {
  absl::StatusOr<std::vector<TranscriptStep>> steps =
      ParseTranscript(text, "test.transcript");
  if (!steps.ok()) return steps.status();
  return Replay(*steps, config, kStart, kStep, "test.transcript");
}

// The verbs of the commands the session sent, space-separated.
std::string SentVerbs(const std::vector<std::string>& sent) {
  std::vector<std::string> verbs;
  for (const std::string& command : sent) {
    verbs.push_back(command.substr(0, command.find_first_of(" \r")));
  }
  return absl::StrJoin(verbs, " ");
}

// --- ParseTranscript --------------------------------------------------------

TEST(ParseTranscriptTest, ReadsEveryStepKindWithItsLineNumber) {
  const std::vector<TranscriptStep> steps = MustParse(
      "# comment\n"
      "\n"
      "S: 220 mx.example.test ESMTP\n"
      "C: EHLO scanner.example.test\n"
      "S| 250 ok\\r\\n\n"
      "TLS\n"
      "TLS-FAIL  wrong version number  \n"
      "CLOSE\n"
      "RESET\n"
      "TIMEOUT\n");
  ASSERT_EQ(steps.size(), 8u);
  EXPECT_EQ(steps[0].kind, Kind::kServerBytes);
  EXPECT_EQ(steps[0].text, "220 mx.example.test ESMTP\r\n");
  EXPECT_EQ(steps[0].line, 3);
  EXPECT_EQ(steps[1].kind, Kind::kClientCommand);
  EXPECT_EQ(steps[1].text, "EHLO");  // the verb only, not the EHLO name
  EXPECT_EQ(steps[1].line, 4);
  EXPECT_EQ(steps[2].kind, Kind::kServerBytes);
  EXPECT_EQ(steps[2].text, "250 ok\r\n");
  EXPECT_EQ(steps[3].kind, Kind::kTls);
  EXPECT_EQ(steps[4].kind, Kind::kTlsFail);
  EXPECT_EQ(steps[4].text, "wrong version number");
  EXPECT_EQ(steps[4].line, 7);
  EXPECT_EQ(steps[5].kind, Kind::kClose);
  EXPECT_EQ(steps[6].kind, Kind::kReset);
  EXPECT_EQ(steps[7].kind, Kind::kTimeout);
  EXPECT_EQ(steps[7].line, 10);
}

TEST(ParseTranscriptTest, EmptyTextHasNoSteps) {
  EXPECT_THAT(MustParse(""), IsEmpty());
  EXPECT_THAT(MustParse("# only a comment\n\n   \n"), IsEmpty());
}

TEST(ParseTranscriptTest, UnknownStepNamesFileAndLine) {
  absl::StatusOr<std::vector<TranscriptStep>> steps = ParseTranscript(
      "S: 220 mx.example.test ESMTP\n"
      "# fine\n"
      "WAIT 5s\n",
      "servers/odd.transcript");
  ASSERT_FALSE(steps.ok());
  EXPECT_EQ(steps.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(steps.status().message(),
              HasSubstr("servers/odd.transcript:3: "));
  EXPECT_THAT(steps.status().message(), HasSubstr("'WAIT 5s'"));
}

TEST(ParseTranscriptTest, LowercaseOrSpacelessPrefixesAreUnknown) {
  for (absl::string_view line : {"s: 220 x", "S:220 x", "c: EHLO", "tls"}) {
    SCOPED_TRACE(line);
    absl::StatusOr<std::vector<TranscriptStep>> steps =
        ParseTranscript(line, "t");
    ASSERT_FALSE(steps.ok());
    EXPECT_THAT(steps.status().message(), HasSubstr("t:1: unknown step"));
  }
}

TEST(ParseTranscriptTest, BadEscapeNamesFileAndLine) {
  for (absl::string_view bad :
       {"S: 220 \\q", "S| 220 ends in a backslash\\", "S| \\x", "S: \\x100"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<std::vector<TranscriptStep>> steps =
        ParseTranscript(absl::StrCat("# first\n", bad, "\n"), "esc.transcript");
    ASSERT_FALSE(steps.ok());
    EXPECT_EQ(steps.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(steps.status().message(),
                HasSubstr("esc.transcript:2: bad escape"));
  }
}

TEST(ParseTranscriptTest, ClientLineWithoutCommandIsAnError) {
  for (absl::string_view bad : {"C: ", "C:    "}) {
    SCOPED_TRACE(absl::StrCat("'", bad, "'"));
    absl::StatusOr<std::vector<TranscriptStep>> steps = ParseTranscript(
        absl::StrCat("S: 220 x\n", bad, "\n"), "cmd.transcript");
    ASSERT_FALSE(steps.ok());
    EXPECT_THAT(steps.status().message(),
                HasSubstr("cmd.transcript:2: C: needs a command"));
  }
}

TEST(ParseTranscriptTest, ColonAddsCrlfAndPipeSendsBytesAsTheyAre) {
  std::vector<TranscriptStep> steps = MustParse("S: 220 a\n");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].text, "220 a\r\n");

  steps = MustParse("S| 220 a\n");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].text, "220 a");

  // A bare "S:" is an empty line; a bare "S|" is no bytes at all.
  steps = MustParse("S:\n");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].text, "\r\n");
  steps = MustParse("S|\n");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].text, "");

  // Trailing spaces are bytes, not layout.
  steps = MustParse("S: 220 a  \n");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].text, "220 a  \r\n");
}

TEST(ParseTranscriptTest, ConsecutiveServerLinesFormOneChunk) {
  const std::vector<TranscriptStep> steps = MustParse(
      "S: 220-mx.example.test ESMTP\n"
      "S| 220 mx.exa\n"
      "S: mple.test ESMTP\n"
      "C: EHLO\n"
      "S: 250 mx.example.test\n"
      "CLOSE\n"
      "S: 221 late\n");
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_EQ(steps[0].kind, Kind::kServerBytes);
  EXPECT_EQ(steps[0].text,
            "220-mx.example.test ESMTP\r\n220 mx.example.test ESMTP\r\n");
  EXPECT_EQ(steps[0].line, 1);  // the chunk's first line
  EXPECT_EQ(steps[2].text, "250 mx.example.test\r\n");
  EXPECT_EQ(steps[3].kind, Kind::kClose);
  EXPECT_EQ(steps[4].kind, Kind::kServerBytes);  // not merged across CLOSE
  EXPECT_EQ(steps[4].text, "221 late\r\n");
}

TEST(ParseTranscriptTest, UnescapesNulCrAndOtherEscapes) {
  std::vector<TranscriptStep> steps = MustParse("S| \\x00\\r\n");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].text, std::string("\0\r", 2));

  steps = MustParse("S: 250-PART\\x00\n");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].text, std::string("250-PART\0\r\n", 11));

  steps = MustParse("S| a\\tb\\\\c\\nd\\0e\\xffz\n");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].text, std::string("a\tb\\c\nd\0e\xffz", 11));
}

TEST(ParseTranscriptTest, AcceptsCrlfFiles) {
  const std::vector<TranscriptStep> steps =
      MustParse("S: 220 x\r\nC: EHLO\r\nS| y\r\nCLOSE\r\n");
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].text, "220 x\r\n");
  EXPECT_EQ(steps[1].text, "EHLO");
  EXPECT_EQ(steps[2].text, "y");
  EXPECT_EQ(steps[3].kind, Kind::kClose);
}

TEST(ParseTranscriptTest, StepKeywordsMustStandAlone) {
  // "TLS-FAILED x" is not "TLS-FAIL" with the reason "ED x".
  for (absl::string_view bad :
       {"TLS-FAILED handshake", "TLS-FAILURE", "CLOSED"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<std::vector<TranscriptStep>> steps =
        ParseTranscript(bad, "kw.transcript");
    EXPECT_FALSE(steps.ok())
        << "parsed as kind " << static_cast<int>((*steps)[0].kind) << " text '"
        << (*steps)[0].text << "'";
  }
}

TEST(ParseTranscriptTest, TlsFailReasonMayBeEmpty) {
  const std::vector<TranscriptStep> steps = MustParse("TLS-FAIL\n");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].kind, Kind::kTlsFail);
  EXPECT_EQ(steps[0].text, "");
}

// --- Replay: mismatches -----------------------------------------------------

constexpr absl::string_view kGreetingAndEhloWithStartTls =
    "S: 220 mx.example.test ESMTP Postfix (Debian/GNU)\n"
    "C: EHLO\n"
    "S: 250-mx.example.test\n"
    "S: 250-STARTTLS\n"
    "S: 250 8BITMIME\n";

TEST(ReplayTest, ClientSendsADifferentCommandThanExpected) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayText(absl::StrCat(kGreetingAndEhloWithStartTls,
                              "C: QUIT\n"
                              "S: 221 2.0.0 Bye\n"));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(outcome.status().message(),
              HasSubstr("test.transcript:6: expected the client to send QUIT, "
                        "but it sent STARTTLS"));
}

TEST(ReplayTest, TranscriptExpectsACommandTheClientNeverSent) {
  // After a 421 greeting the client closes without QUIT.
  const absl::StatusOr<ReplayOutcome> outcome = ReplayText(
      "S: 421 4.7.0 mx.example.test Error: too many connections\n"
      "C: QUIT\n");
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.status().message(),
              HasSubstr("test.transcript:2: expected the client to send QUIT, "
                        "but it sent nothing"));
}

TEST(ReplayTest, CommandLeftUnmatchedAtTheEnd) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayText(absl::StrCat(kGreetingAndEhloWithStartTls));
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.status().message(),
              HasSubstr("test.transcript: the client sent STARTTLS after the "
                        "transcript's last line"));
}

TEST(ReplayTest, ServerStepBeforeTheClientsCommandIsMatched) {
  const absl::StatusOr<ReplayOutcome> outcome = ReplayText(
      "S: 220 mx.example.test ESMTP\n"
      "S: 250 mx.example.test\n"  // merged into the greeting chunk
      "TIMEOUT\n");
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.status().message(),
              HasSubstr("test.transcript:3: the client sent EHLO, which the "
                        "transcript has no C: line for"));
}

TEST(ReplayTest, TlsStepWhenTheSessionDidNotAskForTls) {
  const absl::StatusOr<ReplayOutcome> outcome = ReplayText(
      "S: 220 mx.example.test ESMTP\n"
      "C: EHLO\n"
      "TLS\n");
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.status().message(),
              HasSubstr("test.transcript:3: TLS step, but the session did not "
                        "ask for TLS"));
}

TEST(ReplayTest, StepAfterTheSessionEnded) {
  const absl::StatusOr<ReplayOutcome> outcome = ReplayText(
      "S: 421 4.3.2 Service not available\n"
      "RESET\n");
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.status().message(),
              HasSubstr("test.transcript:2: the session already ended"));
}

TEST(ReplayTest, ServerBytesAndCloseAfterTheEndAreAccepted) {
  const absl::StatusOr<ReplayOutcome> outcome = ReplayText(
      "S: 421 4.3.2 Service not available\n"
      "CLOSE\n"
      "S: 221 late\n"
      "CLOSE\n");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->result.status, ScanStatus::kGreetingRejected);
  EXPECT_EQ(outcome->result.status_detail, "421");
  EXPECT_THAT(outcome->sent, IsEmpty());
}

TEST(ReplayTest, VerbsCompareCaseInsensitively) {
  const absl::StatusOr<ReplayOutcome> outcome = ReplayText(
      "S: 220 mx.example.test ESMTP\n"
      "C: ehlo whatever.name\n"
      "S: 250 mx.example.test\n"
      "C: quit\n"
      "S: 221 bye\n");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->result.status, ScanStatus::kSuccess);
  EXPECT_THAT(outcome->sent,
              ElementsAre("EHLO scanner.example.test\r\n", "QUIT\r\n"));
}

TEST(ReplayTest, TranscriptEndingEarlyActsAsTheServerClosing) {
  const absl::StatusOr<ReplayOutcome> outcome = ReplayText(
      "S: 220 mx.example.test ESMTP\n"
      "C: EHLO\n");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->result.status, ScanStatus::kClosedEarly);
  EXPECT_EQ(outcome->result.status_detail, "ehlo");
}

// --- Replay: the clock ------------------------------------------------------

TEST(ReplayTest, ClockAdvancesOneStepTimePerServerStep) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayText(ReadFile(std::string(SMTPSCAN_TEST_DATA_DIR) +
                          "/../../examples/postfix.transcript"));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const Timings& t = outcome->result.timings;
  EXPECT_EQ(t.connect, kStep);
  EXPECT_EQ(t.greeting, kStep);
  EXPECT_EQ(t.ehlo, kStep);
  EXPECT_EQ(t.starttls, kStep);
  EXPECT_EQ(t.tls_handshake, kStep);
  EXPECT_EQ(t.ehlo_tls, kStep);
  EXPECT_EQ(t.quit, kStep);
  EXPECT_EQ(t.helo, absl::nullopt);
  // Start, connect, greeting, EHLO, STARTTLS, TLS, EHLO, 221: seven steps.
  EXPECT_EQ(t.total, 7 * kStep);
}

TEST(ReplayTest, IsDeterministic) {
  const std::string text =
      ReadFile(TranscriptDir() + "/exim-debian.transcript");
  const absl::StatusOr<ReplayOutcome> a = ReplayText(text);
  const absl::StatusOr<ReplayOutcome> b = ReplayText(text);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->sent, b->sent);
  EXPECT_EQ(a->result.ehlo, b->result.ehlo);
  EXPECT_EQ(a->result.ehlo_tls, b->result.ehlo_tls);
  EXPECT_EQ(a->result.timings.total, b->result.timings.total);
  EXPECT_EQ(a->result.bytes_received, b->result.bytes_received);
}

TEST(ReplayTest, ExampleTranscriptSucceeds) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayText(ReadFile(std::string(SMTPSCAN_TEST_DATA_DIR) +
                          "/../../examples/postfix.transcript"));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->result.status, ScanStatus::kSuccess);
  EXPECT_TRUE(outcome->result.tls_established);
  EXPECT_THAT(outcome->sent,
              ElementsAre("EHLO scanner.example.test\r\n", "STARTTLS\r\n",
                          "EHLO scanner.example.test\r\n", "QUIT\r\n"));
}

TEST(ReplayTest, StartTlsPolicyNeverDisagreesWithATranscriptThatUsesIt) {
  absl::StatusOr<ReplayOutcome> outcome =
      ReplayText(ReadFile(TranscriptDir() + "/postfix-debian.transcript"),
                 Config(StartTlsPolicy::kNever));
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.status().message(),
              HasSubstr("expected the client to send STARTTLS, but it sent "
                        "QUIT"));
}

// --- Replay: every file in tests/data/transcripts ---------------------------

struct Expected {
  ScanStatus status = ScanStatus::kSuccess;
  std::string detail = "";
  std::string sent = "";  // verbs, space-separated
  bool tls_established = false;
  int greeting_code = 0;         // 0: no greeting
  std::string ehlo_domain = "";  // checked when non-empty
  int ehlo_code = 0;             // 0: no EHLO reply
  int ehlo_extensions = -1;      // -1: not checked
  int ehlo_tls_extensions = -1;  // -1: no EHLO inside STARTTLS
  int anomalies = 0;
};

const std::map<std::string, Expected>& ExpectedOutcomes() {
  static const auto* const kTable = new std::map<std::string, Expected>{
      {"postfix-debian.transcript",
       {.status = ScanStatus::kSuccess,
        .sent = "EHLO STARTTLS EHLO QUIT",
        .tls_established = true,
        .greeting_code = 220,
        .ehlo_domain = "mx.example.test",
        .ehlo_code = 250,
        .ehlo_extensions = 10,
        .ehlo_tls_extensions = 11}},
      {"postscreen-multiline.transcript",
       {.status = ScanStatus::kSuccess,
        .sent = "EHLO STARTTLS EHLO QUIT",
        .tls_established = true,
        .greeting_code = 220,
        .ehlo_domain = "mx.example.test",
        .ehlo_code = 250,
        .ehlo_extensions = 9,
        .ehlo_tls_extensions = 8}},
      {"exim-debian.transcript",
       {.status = ScanStatus::kSuccess,
        .sent = "EHLO STARTTLS EHLO QUIT",
        .tls_established = true,
        .greeting_code = 220,
        .ehlo_domain = "mail.example.test",
        .ehlo_code = 250,
        .ehlo_extensions = 8,
        .ehlo_tls_extensions = 8}},
      {"sendmail-debian.transcript",
       {.status = ScanStatus::kSuccess,
        .sent = "EHLO STARTTLS EHLO QUIT",
        .tls_established = true,
        .greeting_code = 220,
        .ehlo_domain = "mail.example.test",
        .ehlo_code = 250,
        .ehlo_extensions = 12,
        .ehlo_tls_extensions = 11}},
      {"exchange.transcript",
       {.status = ScanStatus::kSuccess,
        .sent = "EHLO STARTTLS EHLO QUIT",
        .tls_established = true,
        .greeting_code = 220,
        .ehlo_domain = "mail.contoso.com",
        .ehlo_code = 250,
        .ehlo_extensions = 12,
        .ehlo_tls_extensions = 10}},
      {"gmail.transcript",
       {.status = ScanStatus::kSuccess,
        .sent = "EHLO STARTTLS EHLO QUIT",
        .tls_established = true,
        .greeting_code = 220,
        .ehlo_domain = "mx.google.com",
        .ehlo_code = 250,
        .ehlo_extensions = 7,
        .ehlo_tls_extensions = 6}},
      {"implicit-tls-submissions.transcript",
       {.status = ScanStatus::kSuccess,
        .sent = "EHLO QUIT",
        .tls_established = true,
        .greeting_code = 220,
        .ehlo_domain = "smtp.example.test",
        .ehlo_code = 250,
        .ehlo_extensions = 9}},
      {"greeting-554.transcript",
       {.status = ScanStatus::kGreetingRejected,
        .detail = "554",
        .sent = "QUIT",
        .greeting_code = 554}},
      {"greeting-421.transcript",
       {.status = ScanStatus::kGreetingRejected,
        .detail = "421",
        .greeting_code = 421}},
      {"ehlo-502-helo-fallback.transcript",
       {.status = ScanStatus::kSuccess,
        .sent = "EHLO HELO QUIT",
        .greeting_code = 220,
        .ehlo_code = 502,
        .ehlo_extensions = 0}},
      {"ehlo-helo-rejected.transcript",
       {.status = ScanStatus::kEhloRejected,
        .detail = "550",
        .sent = "EHLO HELO QUIT",
        .greeting_code = 220,
        .ehlo_code = 550,
        .ehlo_extensions = 0}},
      {"ehlo-421.transcript",
       {.status = ScanStatus::kEhloRejected,
        .detail = "421",
        .sent = "EHLO",
        .greeting_code = 220,
        .ehlo_code = 421,
        .ehlo_extensions = 0}},
      {"starttls-refused-454.transcript",
       {.status = ScanStatus::kStartTlsRefused,
        .detail = "454",
        .sent = "EHLO STARTTLS QUIT",
        .greeting_code = 220,
        .ehlo_domain = "mx.example.test",
        .ehlo_code = 250,
        .ehlo_extensions = 6}},
      {"tls-fail.transcript",
       {.status = ScanStatus::kTlsHandshakeError,
        .detail = "error:0A00010B:SSL routines::wrong version number",
        .sent = "EHLO STARTTLS",
        .greeting_code = 220,
        .ehlo_domain = "mx.example.test",
        .ehlo_code = 250,
        .ehlo_extensions = 3}},
      {"data-after-starttls.transcript",
       {.status = ScanStatus::kSuccess,
        .sent = "EHLO STARTTLS EHLO QUIT",
        .tls_established = true,
        .greeting_code = 220,
        .ehlo_domain = "mx.example.test",
        .ehlo_code = 250,
        .ehlo_extensions = 3,
        .ehlo_tls_extensions = 3,
        .anomalies = 1}},
      {"http-server.transcript",
       {.status = ScanStatus::kProtocolError, .detail = "http"}},
      {"closed-during-greeting.transcript",
       {.status = ScanStatus::kClosedEarly, .detail = "greeting"}},
      {"reset-during-ehlo.transcript",
       {.status = ScanStatus::kConnectionReset,
        .detail = "ECONNRESET",
        .sent = "EHLO",
        .greeting_code = 220}},
      {"greeting-timeout.transcript",
       {.status = ScanStatus::kGreetingTimeout, .detail = "greeting"}},
      {"quit-reset.transcript",
       {.status = ScanStatus::kSuccess,
        .sent = "EHLO QUIT",
        .greeting_code = 220,
        .ehlo_domain = "mx.example.test",
        .ehlo_code = 250,
        .ehlo_extensions = 2}},
  };
  return *kTable;
}

absl::StatusOr<ReplayOutcome> ReplayFile(const std::string& name) {
  const std::string path = TranscriptDir() + "/" + name;
  absl::StatusOr<std::vector<TranscriptStep>> steps =
      ParseTranscript(ReadFile(path), name);
  if (!steps.ok()) return steps.status();
  return Replay(
      *steps,
      Config(StartTlsPolicy::kAuto, absl::StartsWith(name, "implicit-tls")),
      kStart, kStep, name);
}

TEST(TranscriptFilesTest, EveryFileHasAnExpectedOutcomeAndViceVersa) {
  std::vector<std::string> table;
  for (const auto& [name, expected] : ExpectedOutcomes()) table.push_back(name);
  EXPECT_EQ(TranscriptFiles(), table);
}

class TranscriptFileTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TranscriptFileTest, ReplaysToTheExpectedOutcome) {
  const std::string& name = GetParam();
  const auto it = ExpectedOutcomes().find(name);
  ASSERT_NE(it, ExpectedOutcomes().end()) << name << " is not in the table";
  const Expected& want = it->second;

  const absl::StatusOr<ReplayOutcome> outcome = ReplayFile(name);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const SessionResult& r = outcome->result;

  EXPECT_EQ(ScanStatusName(r.status), ScanStatusName(want.status));
  EXPECT_EQ(r.status_detail, want.detail);
  EXPECT_EQ(SentVerbs(outcome->sent), want.sent);
  EXPECT_EQ(r.tls_established, want.tls_established);
  if (want.greeting_code == 0) {
    EXPECT_EQ(r.greeting, absl::nullopt);
  } else {
    ASSERT_TRUE(r.greeting.has_value());
    EXPECT_EQ(r.greeting->code, want.greeting_code);
  }
  if (want.ehlo_code == 0) {
    EXPECT_EQ(r.ehlo, absl::nullopt);
  } else {
    ASSERT_TRUE(r.ehlo.has_value());
    EXPECT_EQ(r.ehlo->reply.code, want.ehlo_code);
    if (!want.ehlo_domain.empty()) {
      EXPECT_EQ(r.ehlo->domain, want.ehlo_domain);
    }
    if (want.ehlo_extensions >= 0) {
      EXPECT_EQ(r.ehlo->extensions.size(),
                static_cast<size_t>(want.ehlo_extensions));
    }
  }
  if (want.ehlo_tls_extensions < 0) {
    EXPECT_EQ(r.ehlo_tls, absl::nullopt);
  } else {
    ASSERT_TRUE(r.ehlo_tls.has_value());
    EXPECT_EQ(r.ehlo_tls->reply.code, 250);
    EXPECT_EQ(r.ehlo_tls->domain, want.ehlo_domain);
    EXPECT_EQ(r.ehlo_tls->extensions.size(),
              static_cast<size_t>(want.ehlo_tls_extensions));
    // RFC 3207 §4.2: no STARTTLS once TLS is up.
    EXPECT_FALSE(r.ehlo_tls->Has("STARTTLS"));
  }
  EXPECT_EQ(r.anomaly_count, static_cast<uint64_t>(want.anomalies));
  EXPECT_EQ(r.timings.total.has_value(), true);
}

INSTANTIATE_TEST_SUITE_P(
    AllFiles, TranscriptFileTest, ::testing::ValuesIn(TranscriptFiles()),
    [](const ::testing::TestParamInfo<std::string>& param_info) {
      std::string name = param_info.param.substr(0, param_info.param.find('.'));
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

// Facts beyond the table that the vendor files are there to show.

TEST(TranscriptFilesTest, PostfixOffersAuthOnlyInsideTls) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayFile("postfix-debian.transcript");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const SessionResult& r = outcome->result;
  ASSERT_TRUE(r.greeting.has_value());
  EXPECT_THAT(r.greeting->lines,
              ElementsAre("mx.example.test ESMTP Postfix (Debian/GNU)"));
  EXPECT_TRUE(r.ehlo->Has("STARTTLS"));
  EXPECT_THAT(r.ehlo->AuthMechanisms(), IsEmpty());
  EXPECT_EQ(r.ehlo->SizeLimit(), 10240000u);
  EXPECT_THAT(r.ehlo_tls->AuthMechanisms(), ElementsAre("PLAIN", "LOGIN"));
  const Extension* legacy = nullptr;
  for (const Extension& ext : r.ehlo_tls->extensions) {
    if (ext.legacy_equals) legacy = &ext;
  }
  ASSERT_NE(legacy, nullptr);
  EXPECT_EQ(legacy->keyword, "AUTH");
  EXPECT_THAT(legacy->params, ElementsAre("PLAIN", "LOGIN"));
  ASSERT_TRUE(r.starttls.has_value());
  EXPECT_EQ(r.starttls->code, 220);
  ASSERT_TRUE(r.quit.has_value());
  EXPECT_EQ(r.quit->code, 221);
}

TEST(TranscriptFilesTest, PostscreenGreetingKeepsBothLines) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayFile("postscreen-multiline.transcript");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const SessionResult& r = outcome->result;
  ASSERT_TRUE(r.greeting.has_value());
  EXPECT_THAT(r.greeting->lines,
              ElementsAre("mx.example.test ESMTP", "mx.example.test ESMTP"));
  EXPECT_EQ(r.greeting_raw,
            "220-mx.example.test ESMTP\r\n220 mx.example.test ESMTP\r\n");
}

TEST(TranscriptFilesTest, EximGreetsTheClientAndAdvertisesPipeConnect) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayFile("exim-debian.transcript");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const SessionResult& r = outcome->result;
  EXPECT_EQ(r.greeting->AnnouncedName(), "mail.example.test");
  EXPECT_EQ(r.ehlo->greet, "Hello client.example.test [192.0.2.10]");
  EXPECT_THAT(r.ehlo->Keywords(),
              ElementsAre("SIZE", "8BITMIME", "PIPELINING", "PIPE_CONNECT",
                          "CHUNKING", "STARTTLS", "PRDR", "HELP"));
  EXPECT_EQ(r.ehlo->SizeLimit(), 52428800u);
  EXPECT_EQ(r.starttls->lines, std::vector<std::string>{"TLS go ahead"});
  EXPECT_EQ(r.quit->lines,
            std::vector<std::string>{"mail.example.test closing connection"});
  EXPECT_EQ(r.quit->enhanced, absl::nullopt);
}

TEST(TranscriptFilesTest, SendmailSizeWithoutNumber) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayFile("sendmail-debian.transcript");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const SessionResult& r = outcome->result;
  EXPECT_THAT(r.greeting->lines[0],
              HasSubstr("Sendmail 8.17.1.9/8.17.1.9/Debian-2;"));
  EXPECT_EQ(r.ehlo->greet,
            "Hello client.example.test [192.0.2.10], pleased to meet you");
  EXPECT_TRUE(r.ehlo->Has("SIZE"));
  EXPECT_EQ(r.ehlo->SizeLimit(), absl::nullopt);
  EXPECT_THAT(r.ehlo_tls->AuthMechanisms(),
              ElementsAre("DIGEST-MD5", "CRAM-MD5", "LOGIN", "PLAIN"));
  ASSERT_TRUE(r.quit->enhanced.has_value());
  EXPECT_EQ(r.quit->enhanced->ToString(), "2.0.0");
}

TEST(TranscriptFilesTest, ExchangePrivateExtensionsAndAuthAfterTls) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayFile("exchange.transcript");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const SessionResult& r = outcome->result;
  EXPECT_EQ(r.ehlo->greet, "Hello [192.0.2.10]");
  EXPECT_TRUE(r.ehlo->Has("X-ANONYMOUSTLS"));
  EXPECT_TRUE(r.ehlo->Has("x-exps"));
  EXPECT_TRUE(r.ehlo->Has("XRDST"));
  EXPECT_TRUE(r.ehlo->Has("BINARYMIME"));
  EXPECT_THAT(r.ehlo->AuthMechanisms(), ElementsAre("NTLM"));
  EXPECT_FALSE(r.ehlo_tls->Has("X-ANONYMOUSTLS"));
  EXPECT_THAT(r.ehlo_tls->AuthMechanisms(), ElementsAre("NTLM", "LOGIN"));
  EXPECT_EQ(r.quit->lines, std::vector<std::string>{
                               "2.0.0 Service closing transmission channel"});
}

TEST(TranscriptFilesTest, GmailAtYourService) {
  const absl::StatusOr<ReplayOutcome> outcome = ReplayFile("gmail.transcript");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const SessionResult& r = outcome->result;
  EXPECT_TRUE(absl::EndsWith(r.greeting->lines[0], " - gsmtp"));
  EXPECT_EQ(r.ehlo->greet, "at your service, [192.0.2.10]");
  EXPECT_EQ(r.ehlo->SizeLimit(), 157286400u);
  EXPECT_TRUE(absl::EndsWith(r.quit->lines[0], " - gsmtp"));
}

TEST(TranscriptFilesTest, HelloFallbackKeepsBothReplies) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayFile("ehlo-502-helo-fallback.transcript");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const SessionResult& r = outcome->result;
  EXPECT_THAT(r.ehlo->extensions, IsEmpty());
  ASSERT_TRUE(r.helo.has_value());
  EXPECT_EQ(r.helo->code, 250);
  EXPECT_EQ(r.helo->AnnouncedName(), "legacy.example.test");
  EXPECT_TRUE(r.timings.helo.has_value());
}

TEST(TranscriptFilesTest, TlsFailureKeepsTheReason) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayFile("tls-fail.transcript");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->result.tls_error,
            "error:0A00010B:SSL routines::wrong version number");
  EXPECT_EQ(outcome->result.quit, absl::nullopt);
}

TEST(TranscriptFilesTest, DataAfterStartTlsIsAnAnomalyNotTls) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayFile("data-after-starttls.transcript");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const SessionResult& r = outcome->result;
  ASSERT_EQ(r.anomalies.size(), 1u);
  EXPECT_EQ(r.anomalies[0].kind, Anomaly::Kind::kDataAfterStartTls);
  EXPECT_EQ(r.anomalies[0].phase, Phase::kStartTls);
  EXPECT_EQ(r.anomalies[0].excerpt,
            "250-mx.example.test\r\n250 AUTH PLAIN\r\n");
  EXPECT_EQ(r.anomalies[0].size, r.anomalies[0].excerpt.size());
  // The injected "250 AUTH PLAIN" did not become the EHLO reply inside TLS.
  EXPECT_THAT(r.ehlo_tls->AuthMechanisms(), ElementsAre("PLAIN", "LOGIN"));
}

TEST(TranscriptFilesTest, HttpServerIsAProtocolError) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayFile("http-server.transcript");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const SessionResult& r = outcome->result;
  ASSERT_TRUE(r.protocol_error.has_value());
  EXPECT_EQ(r.protocol_error->kind, ReplyError::kHttp);
  EXPECT_EQ(r.protocol_error->offset, 0u);
  EXPECT_EQ(r.protocol_error->excerpt, "HTTP/1.1 408 Request Time-out");
}

TEST(TranscriptFilesTest, ClosedDuringGreetingKeepsThePartialGreeting) {
  const absl::StatusOr<ReplayOutcome> outcome =
      ReplayFile("closed-during-greeting.transcript");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->result.greeting_raw, "220-mx.example.test ESMTP\r\n");
}

}  // namespace
}  // namespace smtpscan::smtp
