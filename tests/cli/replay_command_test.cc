// End-to-end tests of `smtpscan replay`: the real binary, run through the
// shell, with its output in files.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "output/csv_writer.h"
#include "output/record_fixtures.h"

namespace smtpscan::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;
using Json = nlohmann::ordered_json;

const std::string kPostfix =
    SMTPSCAN_TEST_DATA_DIR "/../../examples/postfix.transcript";
const std::string kExim = SMTPSCAN_TEST_DATA_DIR "/cli/exim_plain.transcript";
const std::string kMismatch = SMTPSCAN_TEST_DATA_DIR "/cli/mismatch.transcript";
const std::string kBadStep = SMTPSCAN_TEST_DATA_DIR "/cli/bad_step.transcript";
const std::string kHostile =
    SMTPSCAN_TEST_DATA_DIR "/cli/hostile_greeting.transcript";
const std::string kImplicit =
    SMTPSCAN_TEST_DATA_DIR "/cli/implicit_tls.transcript";
const std::string kRejected =
    SMTPSCAN_TEST_DATA_DIR "/cli/greeting_rejected.transcript";

std::string ShellQuote(absl::string_view s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Lines(absl::string_view text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class ReplayCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "smtpscan_cli_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string TempPath(absl::string_view name) const {
    return absl::StrCat(dir_, "/", name);
  }

  // Runs smtpscan with `args`, stdin empty, stdout and stderr captured
  // (stdout to `stdout_path` instead, when given).
  RunResult Run(const std::vector<std::string>& args,
                const std::string& stdout_path = "") {
    std::string command = ShellQuote(SMTPSCAN_BINARY);
    for (const std::string& arg : args) {
      absl::StrAppend(&command, " ", ShellQuote(arg));
    }
    const std::string out =
        stdout_path.empty() ? TempPath("stdout") : stdout_path;
    const std::string err = TempPath("stderr");
    absl::StrAppend(&command, " </dev/null >", ShellQuote(out), " 2>",
                    ShellQuote(err));
    RunResult result;
    const int status = std::system(command.c_str());
    if (status != -1 && WIFEXITED(status))
      result.exit_code = WEXITSTATUS(status);
    if (stdout_path.empty()) result.out = ReadAll(out);
    result.err = ReadAll(err);
    return result;
  }

  // Runs a replay that must succeed and returns its NDJSON records.
  std::vector<Json> ReplayJson(const std::vector<std::string>& args) {
    const RunResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    std::vector<Json> records;
    for (const std::string& line : Lines(r.out)) {
      EXPECT_TRUE(output::fixtures::IsStrictUtf8(line));
      records.push_back(Json::parse(line, nullptr, false));
      EXPECT_FALSE(records.back().is_discarded()) << line;
    }
    return records;
  }

  std::string dir_;
};

TEST_F(ReplayCommandTest, PostfixTranscriptToNdjson) {
  const RunResult r = Run({"replay", kPostfix});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "want exactly one line";
  Json record = Json::parse(r.out);
  EXPECT_EQ(record["line"], 1);
  EXPECT_EQ(record["input"], kPostfix);
  EXPECT_EQ(record["kind"], "address");
  EXPECT_EQ(record["status"], "success");
  EXPECT_FALSE(record.contains("status_detail"));
  EXPECT_FALSE(record.contains("host"));
  // One transcript, one probe.
  ASSERT_TRUE(record["probes"].is_array());
  ASSERT_EQ(record["probes"].size(), 1u);
  Json j = record["probes"][0];
  EXPECT_EQ(j["port"], 25);
  EXPECT_EQ(j["tls_mode"], "starttls");
  EXPECT_EQ(j["status"], "success");
  EXPECT_FALSE(j.contains("status_detail"));
  EXPECT_THAT(j["started_at"].get<std::string>(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                           "[0-9]{2}\\.[0-9]{6}Z"));
  EXPECT_EQ(j["greeting"]["code"], 220);
  EXPECT_EQ(j["greeting"]["host"], "mx.example.test");
  EXPECT_EQ(j["ehlo"]["starttls"], true);
  EXPECT_EQ(j["ehlo"]["size_limit"], 10240000);
  EXPECT_EQ(j["starttls"]["code"], 220);
  EXPECT_EQ(j["tls_established"], true);
  EXPECT_FALSE(j["ehlo"].contains("auth"));
  EXPECT_EQ(j["ehlo_tls"]["auth"], Json::parse(R"(["PLAIN","LOGIN"])"));
  EXPECT_EQ(j["ehlo_tls"]["extensions"][4],
            Json::parse(R"({"keyword":"AUTH","params":["PLAIN","LOGIN"]})"));
  EXPECT_EQ(j["quit"]["code"], 221);
  EXPECT_FALSE(j.contains("greeting_raw_b64"));
  // One synthetic millisecond per transcript step.
  EXPECT_EQ(j["timings_us"]["total"], 7000);
  EXPECT_GT(j["bytes_received"].get<int>(), 0);
  EXPECT_GT(j["bytes_sent"].get<int>(), 0);
}

TEST_F(ReplayCommandTest, AddressPortAndHostAreRecorded) {
  std::vector<Json> records =
      ReplayJson({"replay", "--address", "192.0.2.25", "--port", "587",
                  "--host", "mx.example.test", kPostfix});
  ASSERT_THAT(records, SizeIs(1));
  EXPECT_EQ(records[0]["address"], "192.0.2.25");
  EXPECT_EQ(records[0]["host"], "mx.example.test");
  ASSERT_EQ(records[0]["probes"].size(), 1u);
  const Json& probe = records[0]["probes"][0];
  EXPECT_EQ(probe["address"], "192.0.2.25");
  EXPECT_EQ(probe["port"], 587);
  EXPECT_EQ(probe["host"], "mx.example.test");
}

TEST_F(ReplayCommandTest, CsvFormatGivesHeaderAndOneRow) {
  const RunResult r = Run({"replay", "--format", "csv", kPostfix});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> rows =
      absl::StrSplit(r.out, "\r\n", absl::SkipEmpty());
  ASSERT_THAT(rows, SizeIs(2)) << r.out;
  EXPECT_TRUE(absl::EndsWith(r.out, "\r\n"));
  EXPECT_EQ(rows[0], absl::StrJoin(output::CsvColumns(), ","));
  ASSERT_EQ(rows[1].find('"'), std::string::npos) << "no quoting expected";
  const std::vector<std::string> cells = absl::StrSplit(rows[1], ',');
  ASSERT_THAT(cells, SizeIs(output::CsvColumns().size()));
  const auto cell = [&](absl::string_view column) {
    for (size_t i = 0; i < output::CsvColumns().size(); ++i) {
      if (output::CsvColumns()[i] == column) return cells[i];
    }
    ADD_FAILURE() << "no column " << column;
    return std::string();
  };
  EXPECT_EQ(cell("line"), "1");
  EXPECT_EQ(cell("input"), kPostfix);
  EXPECT_EQ(cell("kind"), "address");
  EXPECT_EQ(cell("status"), "success");
  EXPECT_EQ(cell("probe_status"), "success");
  EXPECT_EQ(cell("greeting_code"), "220");
  EXPECT_EQ(cell("starttls_offered"), "true");
  EXPECT_EQ(cell("tls_established"), "true");
  EXPECT_EQ(cell("ehlo_tls_keywords"),
            "PIPELINING SIZE VRFY ETRN AUTH ENHANCEDSTATUSCODES 8BITMIME DSN "
            "SMTPUTF8 CHUNKING");
  EXPECT_EQ(cell("quit_code"), "221");
  EXPECT_EQ(cell("total_us"), "7000");
}

TEST_F(ReplayCommandTest, OutputFileNameChoosesFormat) {
  const std::string csv = TempPath("out.csv");
  RunResult r = Run({"replay", "-o", csv, kPostfix});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(ReadAll(csv), StartsWith("line,input,kind,domain,"));
  EXPECT_THAT(Lines(ReadAll(csv)), SizeIs(2));

  const std::string upper = TempPath("OUT.CSV");
  r = Run({"replay", "--output", upper, kPostfix});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(ReadAll(upper), StartsWith("line,input,kind,"));

  const std::string ndjson = TempPath("out.ndjson");
  r = Run({"replay", "-o", ndjson, kPostfix});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  const std::string text = ReadAll(ndjson);
  ASSERT_THAT(Lines(text), SizeIs(1));
  EXPECT_EQ(Json::parse(text)["status"], "success");
}

TEST_F(ReplayCommandTest, ExplicitFormatBeatsFileName) {
  const std::string path = TempPath("really_json.csv");
  const RunResult r =
      Run({"replay", "--format", "ndjson", "-o", path, kPostfix});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = ReadAll(path);
  ASSERT_THAT(text, StartsWith("{"));
  EXPECT_EQ(Json::parse(text)["kind"], "address");
}

TEST_F(ReplayCommandTest, OutputFileIsReplacedNotAppended) {
  const std::string path = TempPath("out.ndjson");
  std::ofstream(path) << "old content that is longer than nothing\n";
  ASSERT_EQ(Run({"replay", "-o", path, kPostfix}).exit_code, 0);
  const std::string text = ReadAll(path);
  ASSERT_THAT(Lines(text), SizeIs(1));
  EXPECT_THAT(text, StartsWith("{\"line\":1,"));
}

TEST_F(ReplayCommandTest, SeveralTranscriptsOneRecordEach) {
  std::vector<Json> records =
      ReplayJson({"replay", kPostfix, kExim, kRejected, kPostfix});
  ASSERT_THAT(records, SizeIs(4));
  const std::vector<std::string> inputs = {kPostfix, kExim, kRejected,
                                           kPostfix};
  std::vector<Json> probes;
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i]["line"], i + 1);
    EXPECT_EQ(records[i]["input"], inputs[i]);
    EXPECT_EQ(records[i]["kind"], "address");
    ASSERT_EQ(records[i]["probes"].size(), 1u);
    probes.push_back(records[i]["probes"][0]);
    // The record's outcome is its one probe's.
    EXPECT_EQ(records[i]["status"], probes[i]["status"]);
  }
  EXPECT_EQ(records[0]["status"], "success");
  EXPECT_EQ(records[1]["status"], "success");
  EXPECT_EQ(probes[1]["tls_established"], false);
  EXPECT_FALSE(probes[1].contains("starttls"));
  EXPECT_EQ(probes[1]["ehlo"]["greet"], "Hello smtpscan.invalid [192.0.2.1]");
  EXPECT_EQ(records[2]["status"], "greeting-rejected");
  EXPECT_EQ(records[2]["status_detail"], "554");
  EXPECT_EQ(probes[2]["status"], "greeting-rejected");
  EXPECT_EQ(probes[2]["status_detail"], "554");
  EXPECT_EQ(probes[3]["tls_established"], true);
}

TEST_F(ReplayCommandTest, SeveralTranscriptsAsCsv) {
  const RunResult r = Run({"replay", "--format", "csv", kExim, kPostfix});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> rows =
      absl::StrSplit(r.out, "\r\n", absl::SkipEmpty());
  ASSERT_THAT(rows, SizeIs(3));
  EXPECT_THAT(rows[1], StartsWith("1," + kExim + ",address,"));
  EXPECT_THAT(rows[2], StartsWith("2," + kPostfix + ",address,"));
}

TEST_F(ReplayCommandTest, RejectedGreetingIsAnOutcomeNotAFailure) {
  std::vector<Json> records = ReplayJson({"replay", kRejected});
  ASSERT_THAT(records, SizeIs(1));
  EXPECT_EQ(records[0]["status"], "greeting-rejected");
  EXPECT_EQ(records[0]["status_detail"], "554");
  ASSERT_EQ(records[0]["probes"].size(), 1u);
  Json& j = records[0]["probes"][0];
  EXPECT_EQ(j["status"], "greeting-rejected");
  EXPECT_EQ(j["greeting"]["code"], 554);
  EXPECT_EQ(j["greeting"]["enhanced"], "5.7.1");
  // The server's name follows the enhanced status code; "5.7.1" is no name.
  EXPECT_EQ(j["greeting"]["host"].get<std::string>(), "blocked.example.net");
  EXPECT_FALSE(j.contains("ehlo"));
}

TEST_F(ReplayCommandTest, GreetingRawFlag) {
  std::vector<Json> records =
      ReplayJson({"replay", "--greeting-raw", kPostfix});
  ASSERT_THAT(records, SizeIs(1));
  EXPECT_FALSE(records[0].contains("greeting_raw_b64"));
  ASSERT_EQ(records[0]["probes"].size(), 1u);
  const Json& probe = records[0]["probes"][0];
  ASSERT_TRUE(probe.contains("greeting_raw_b64"));
  std::string raw;
  ASSERT_TRUE(
      absl::Base64Unescape(probe["greeting_raw_b64"].get<std::string>(), &raw));
  EXPECT_EQ(raw, "220 mx.example.test ESMTP Postfix (Debian/GNU)\r\n");
}

TEST_F(ReplayCommandTest, HostileGreetingStaysValidJson) {
  const RunResult r = Run({"replay", "--greeting-raw", kHostile});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_THAT(Lines(r.out), SizeIs(1));
  EXPECT_TRUE(output::fixtures::IsStrictUtf8(r.out));
  for (size_t i = 0; i + 1 < r.out.size(); ++i) {
    ASSERT_GE(static_cast<unsigned char>(r.out[i]), 0x20) << "at " << i;
  }
  Json record = Json::parse(r.out);
  EXPECT_EQ(record["status"], "success");
  ASSERT_EQ(record["probes"].size(), 1u);
  Json j = record["probes"][0];
  EXPECT_EQ(j["status"], "success");
  const std::string line = j["greeting"]["lines"][0];
  EXPECT_THAT(line, HasSubstr("\"quoted\" \\back\\slash \xE2\x80\xA8 "));
  EXPECT_THAT(line, HasSubstr(std::string(" \0 ", 3)));
  EXPECT_THAT(line, HasSubstr("\x1B[31m =cmd|' /C calc'!A0, \xF0\x9F\x98\x80"));
  EXPECT_THAT(line, Not(HasSubstr("\r")));
  std::string raw;
  ASSERT_TRUE(
      absl::Base64Unescape(j["greeting_raw_b64"].get<std::string>(), &raw));
  static constexpr char kRaw[] =
      "220 mx.\xFF\xFE\x80.example \0 \"quoted\" \\back\\slash \xE2\x80\xA8 "
      "\xC0\xAF \xED\xA0\x80 \x1B[31m =cmd|' /C calc'!A0, \xF0\x9F\x98\x80\r\n";
  EXPECT_EQ(raw, std::string(kRaw, sizeof(kRaw) - 1));
  EXPECT_EQ(j["ehlo"]["extensions"][0]["params"][0], "param\\");
}

TEST_F(ReplayCommandTest, HostileGreetingAsCsv) {
  const RunResult r = Run({"replay", "--format", "csv", kHostile});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(output::fixtures::IsStrictUtf8(r.out));
  EXPECT_EQ(r.out.find('\0'), std::string::npos);
  // The greeting holds a comma and quotes: one quoted cell, quotes doubled.
  EXPECT_THAT(r.out, HasSubstr(",\"mx.\xEF\xBF\xBD"));
  EXPECT_THAT(r.out, HasSubstr(" \"\"quoted\"\" "));
}

TEST_F(ReplayCommandTest, ImplicitTlsAndStartTlsPolicy) {
  std::vector<Json> records =
      ReplayJson({"replay", "--implicit-tls", "--port", "465", kImplicit});
  ASSERT_THAT(records, SizeIs(1));
  ASSERT_EQ(records[0]["probes"].size(), 1u);
  Json probe = records[0]["probes"][0];
  EXPECT_EQ(probe["tls_mode"], "implicit");
  EXPECT_EQ(probe["port"], 465);
  EXPECT_EQ(probe["tls_established"], true);
  EXPECT_EQ(probe["ehlo"]["auth"], Json::parse(R"(["PLAIN"])"));

  records = ReplayJson({"replay", "--starttls", "never", kExim});
  ASSERT_THAT(records, SizeIs(1));
  ASSERT_EQ(records[0]["probes"].size(), 1u);
  probe = records[0]["probes"][0];
  EXPECT_EQ(probe["tls_mode"], "none");
  EXPECT_EQ(probe["status"], "success");
  EXPECT_EQ(records[0]["status"], "success");
}

TEST_F(ReplayCommandTest, TlsStepWithoutImplicitTlsIsAMismatch) {
  const RunResult r = Run({"replay", kImplicit});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(kImplicit + ":2: "));
  EXPECT_EQ(r.out, "");
}

TEST_F(ReplayCommandTest, StartTlsNeverAgainstPostfixTranscriptMismatches) {
  // The transcript expects STARTTLS; with --starttls never the client QUITs.
  const RunResult r = Run({"replay", "--starttls", "never", kPostfix});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(kPostfix + ":16: "));
  EXPECT_THAT(r.err, HasSubstr("QUIT"));
}

TEST_F(ReplayCommandTest, CommandMismatchNamesFileAndLine) {
  const RunResult r = Run({"replay", kMismatch});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(Lines(r.err), SizeIs(1)) << r.err;
  EXPECT_THAT(r.err, HasSubstr(kMismatch + ":3: "));
  EXPECT_THAT(r.err, HasSubstr("HELO"));
  EXPECT_THAT(r.err, HasSubstr("EHLO"));
  EXPECT_EQ(r.out, "");
}

TEST_F(ReplayCommandTest, MismatchInLaterTranscriptWritesNothing) {
  const std::string path = TempPath("out.ndjson");
  const RunResult r = Run({"replay", "-o", path, kPostfix, kMismatch});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(kMismatch + ":3: "));
  EXPECT_EQ(r.out, "");
}

TEST_F(ReplayCommandTest, BadTranscriptSyntaxNamesFileAndLine) {
  const RunResult r = Run({"replay", kBadStep});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(Lines(r.err), SizeIs(1)) << r.err;
  EXPECT_THAT(r.err, HasSubstr(kBadStep + ":3: "));
  EXPECT_THAT(r.err, HasSubstr("SEND 250 ok"));
}

TEST_F(ReplayCommandTest, MissingTranscriptIsAUsageError) {
  const std::string missing = TempPath("no_such.transcript");
  const RunResult r = Run({"replay", missing});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  const std::vector<std::string> lines = Lines(r.err);
  ASSERT_THAT(lines, Not(::testing::IsEmpty()));
  // One line that names the file; no usage dump.
  EXPECT_THAT(lines[0], HasSubstr(missing));
  EXPECT_THAT(lines[0], HasSubstr("does not exist"));
  EXPECT_EQ(lines.size(), 1u) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("Usage")));
}

TEST_F(ReplayCommandTest, UsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string stderr_has;
  };
  const std::vector<Case> cases = {
      {{}, "--input"},  // no subcommand: a scan, which needs -i
      {{"replay"}, "transcripts"},
      {{"replay", "--bogus", kPostfix}, "--bogus"},
      {{"--bogus"}, "--bogus"},
      {{"scan", kPostfix}, "scan"},
      {{"replay", "--format", "xml", kPostfix}, "xml"},
      {{"replay", "--starttls", "sometimes", kPostfix}, "sometimes"},
      {{"replay", "--port", "70000", kPostfix}, "70000"},
      {{"replay", "--port", "x", kPostfix}, "x"},
      {{"replay", "-o"}, "output"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    const RunResult r = Run(c.args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, HasSubstr(c.stderr_has));
    EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;  // one clear line
  }
}

TEST_F(ReplayCommandTest, UnwritableOutputFails) {
  const RunResult r =
      Run({"replay", "-o", "/nonexistent/dir/out.ndjson", kPostfix});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(Lines(r.err), SizeIs(1)) << r.err;
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/dir/out.ndjson"));
}

TEST_F(ReplayCommandTest, OutputToADirectoryFails) {
  const RunResult r = Run({"replay", "-o", dir_, kPostfix});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(dir_));
}

TEST_F(ReplayCommandTest, FullDiskFails) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const RunResult r = Run({"replay", "-o", "/dev/full", kPostfix});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("/dev/full"));
}

TEST_F(ReplayCommandTest, FullStdoutFails) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const RunResult r = Run({"replay", kPostfix}, "/dev/full");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("standard output"));
}

TEST_F(ReplayCommandTest, Version) {
  const RunResult r = Run({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, MatchesRegex("smtpscan [0-9]+\\.[0-9]+\\.[0-9]+\n"));
  EXPECT_EQ(r.err, "");
}

TEST_F(ReplayCommandTest, Help) {
  RunResult r = Run({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("replay"));
  EXPECT_THAT(r.out, HasSubstr("--version"));

  r = Run({"replay", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* option :
       {"--output", "--format", "--ehlo-name", "--starttls", "--implicit-tls",
        "--address", "--port", "--host", "--greeting-raw", "--csv-raw-cells"}) {
    EXPECT_THAT(r.out, HasSubstr(option));
  }
}

}  // namespace
}  // namespace smtpscan::cli
