// End-to-end tests of `smtpscan fingerprint`: the real binary, run through
// the shell, on NDJSON files written by the real writer.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "fingerprint/fingerprint.h"
#include "fingerprint/observation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "output/ndjson_writer.h"
#include "output/record_fixtures.h"
#include "smtp/test_support.h"

namespace smtpscan::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using Json = nlohmann::ordered_json;
using output::ProbeResult;
using output::fixtures::MakeEhlo;
using smtp::test::MakeReply;

std::string ShellQuote(absl::string_view s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, absl::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

std::vector<std::string> Lines(absl::string_view text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// A fingerprint no current rule gives, as rules of an older version might.
std::shared_ptr<const fingerprint::Identification> Stale() {
  auto id = std::make_shared<fingerprint::Identification>();
  id->product = "sendmail";
  id->version = "8.1";
  id->confidence = 0.123;
  id->basis = "banner";
  id->evidence.push_back(
      {"old-rule", "product", "sendmail", "banner", {"greeting"}});
  return id;
}

// Postfix with everything a probe can show: help, unknown, a certificate.
ProbeResult RichProbe() {
  ProbeResult p = output::fixtures::PostfixProbe();
  p.session.help = MakeReply(502, {"5.5.2 Error: command not recognized"},
                             smtp::EnhancedStatusCode{5, 5, 2});
  p.session.unknown = p.session.help;
  auto tls = std::make_shared<tls::TlsFacts>();
  tls->established = true;
  tls->version = "TLSv1.3";
  tls->cipher = "TLS_AES_128_GCM_SHA256";
  tls::Certificate leaf;
  leaf.subject = "CN=mx1.example.com";
  leaf.issuer = "CN=Example CA";
  leaf.dns_names = {"mx1.example.com"};
  leaf.key_type = "EC";
  leaf.key_bits = 256;
  tls->chain = {leaf};
  tls->verify_code = 20;
  tls->verify_reason = "unable to get local issuer certificate";
  tls->verify_errors = {{0, 20, "unable to get local issuer certificate"}};
  tls->host_match = true;
  p.tls = tls;
  p.fingerprint = Stale();
  return p;
}

ProbeResult EximProbe() {
  ProbeResult p;
  p.address = "198.51.100.25";
  p.port = 587;
  p.tls_mode = output::TlsMode::kNone;
  p.started_at = output::fixtures::ExampleStart();
  p.session.greeting = MakeReply(
      220,
      {"mail.example.org ESMTP Exim 4.96 Tue, 07 May 2024 10:00:00 +0000"});
  p.session.ehlo =
      MakeEhlo({"mail.example.org Hello smtpscan.invalid [192.0.2.1]",
                "SIZE 52428800", "8BITMIME", "PIPELINING", "CHUNKING", "HELP"});
  p.session.quit = MakeReply(221, {"mail.example.org closing connection"});
  p.session.timings.greeting = absl::Microseconds(3210);
  p.session.timings.total = absl::Microseconds(9000);
  return p;
}

// A server that says nothing about itself.
ProbeResult AnonymousProbe(absl::string_view banner) {
  ProbeResult p;
  p.address = "203.0.113.9";
  p.port = 25;
  p.session.greeting = MakeReply(220, {std::string(banner)});
  p.session.timings.greeting = absl::Microseconds(100);
  return p;
}

// Records of every kind, as a scan with old rules might have left them,
// and the same records as a scan with `fingerprinter` would write them.
struct Dataset {
  std::vector<output::AddressRecord> addresses;
  std::vector<output::DomainRecord> domains;
  output::InvalidInputRecord invalid = output::fixtures::ExampleInvalidRecord();
  std::vector<ProbeResult> split_probes;  // for the split-layout domain
};

Dataset Records() {
  Dataset d;
  ProbeResult refused_with_stale = output::fixtures::RefusedProbe();
  refused_with_stale.fingerprint = Stale();  // no greeting: must go
  d.addresses.push_back(output::fixtures::AddressRecordOf(
      1, "192.0.2.25:25,mx1.example.com", {RichProbe()}));
  d.addresses.push_back(output::fixtures::MultiPortAddressRecord());
  d.addresses.push_back(output::fixtures::AddressRecordOf(
      5, "198.51.100.25:587", {EximProbe(), refused_with_stale}));
  d.domains.push_back(output::fixtures::ExampleDomainRecord());
  d.domains.back().probes.front().fingerprint = Stale();
  d.domains.push_back(output::fixtures::NullMxDomainRecord());
  d.split_probes = {RichProbe(), EximProbe(), output::fixtures::RefusedProbe()};
  return d;
}

// Writes `d` as NDJSON (the split-layout domain as its reference record and
// then its probe records), each probe's fingerprint first replaced by what
// `identify` gives when it is not null.
std::string Write(Dataset d, const fingerprint::Fingerprinter* identify) {
  const auto reidentify = [&](std::vector<ProbeResult>* probes) {
    if (identify == nullptr) return;
    for (ProbeResult& p : *probes) {
      p.fingerprint = nullptr;
      if (p.session.greeting.has_value()) {
        p.fingerprint = std::make_shared<const fingerprint::Identification>(
            identify->Identify(fingerprint::ObservationOf(p)));
      }
    }
  };
  output::NdjsonWriter full(output::WriterOptions{});
  output::NdjsonWriter split(output::WriterOptions{.split_probes = true});
  std::string out;
  for (output::AddressRecord& r : d.addresses) {
    reidentify(&r.probes);
    full.Write(r, &out);
  }
  full.Write(d.invalid, &out);
  for (output::DomainRecord& r : d.domains) {
    reidentify(&r.probes);
    full.Write(r, &out);
  }
  output::DomainRecord split_domain = output::fixtures::ExampleDomainRecord();
  split_domain.line = 11;
  reidentify(&d.split_probes);
  split_domain.probes = d.split_probes;
  split.Write(split_domain, &out);
  for (const ProbeResult& p : d.split_probes) split.WriteProbe(p, &out);
  return out;
}

// Removes every probe's "fingerprint" (in "probes" arrays and probe records).
Json WithoutFingerprints(Json record) {
  record.erase("fingerprint");
  if (record.contains("probes") && record["probes"].is_array()) {
    for (Json& p : record["probes"]) {
      if (p.is_object()) p.erase("fingerprint");
    }
  }
  return record;
}

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class FingerprintCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "smtpscan_fpcli_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto fingerprinter = fingerprint::Fingerprinter::Create();
    ASSERT_TRUE(fingerprinter.ok()) << fingerprinter.status();
    fingerprinter_ = *std::move(fingerprinter);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string TempPath(absl::string_view name) const {
    return absl::StrCat(dir_, "/", name);
  }

  // Writes `text` to a file and returns its path.
  std::string Input(absl::string_view text, absl::string_view name = "in") {
    const std::string path = TempPath(name);
    WriteFile(path, text);
    return path;
  }

  // Runs smtpscan with `args` and `stdin_path` as standard input; stdout
  // and stderr captured.
  RunResult Run(const std::vector<std::string>& args,
                const std::string& stdin_path = "/dev/null") {
    std::string command = ShellQuote(SMTPSCAN_BINARY);
    for (const std::string& arg : args) {
      absl::StrAppend(&command, " ", ShellQuote(arg));
    }
    const std::string out = TempPath("stdout");
    const std::string err = TempPath("stderr");
    absl::StrAppend(&command, " <", ShellQuote(stdin_path), " >",
                    ShellQuote(out), " 2>", ShellQuote(err));
    RunResult result;
    const int status = std::system(command.c_str());
    if (status != -1 && WIFEXITED(status)) {
      result.exit_code = WEXITSTATUS(status);
    }
    result.out = ReadAll(out);
    result.err = ReadAll(err);
    return result;
  }

  std::string dir_;
  std::unique_ptr<fingerprint::Fingerprinter> fingerprinter_;
};

TEST_F(FingerprintCommandTest, WritesWhatAScanWithTheCurrentRulesWould) {
  const std::string old = Write(Records(), nullptr);
  const std::string want = Write(Records(), fingerprinter_.get());
  ASSERT_NE(old, want);
  const std::string in = Input(old);
  const std::string out = TempPath("out.ndjson");

  const RunResult r = Run({"fingerprint", "-i", in, "-o", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  // Six probes have a greeting: all are identified, and none had the
  // product the current rules give.
  EXPECT_EQ(r.err,
            "smtpscan fingerprint: 10 records, 6 probes identified (6 with "
            "another product), 0 lines failed\n");
  const std::string got = ReadAll(out);
  const std::vector<std::string> got_lines = Lines(got);
  const std::vector<std::string> want_lines = Lines(want);
  ASSERT_THAT(got_lines, SizeIs(want_lines.size()));
  for (size_t i = 0; i < want_lines.size(); ++i) {
    EXPECT_EQ(got_lines[i], want_lines[i]) << "line " << i + 1;
  }
  EXPECT_EQ(got, want);  // line ends too

  // Again on its own output: nothing changes.
  const RunResult again =
      Run({"fingerprint", "-i", out, "-o", TempPath("again")});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.err,
            "smtpscan fingerprint: 10 records, 6 probes identified (0 with "
            "another product), 0 lines failed\n");
  EXPECT_EQ(ReadAll(TempPath("again")), want);
}

TEST_F(FingerprintCommandTest, KeepsEveryOtherFieldAsItWas) {
  Dataset d = Records();
  // Server bytes of every kind (the writer repaired them to valid UTF-8).
  for (const std::string& bytes :
       {output::fixtures::AllBytes(), output::fixtures::HostileText()}) {
    ProbeResult p = output::fixtures::HostileProbe(bytes);
    p.fingerprint = Stale();
    d.addresses.push_back(
        output::fixtures::AddressRecordOf(20, bytes, {p, RichProbe()}));
  }
  const std::string old = Write(d, nullptr);
  const RunResult r = Run({"fingerprint", "-q", "-i", Input(old)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");

  const std::vector<std::string> old_lines = Lines(old);
  const std::vector<std::string> new_lines = Lines(r.out);
  ASSERT_THAT(new_lines, SizeIs(old_lines.size()));
  int identified = 0;
  for (size_t i = 0; i < old_lines.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("line ", i + 1));
    const Json before = Json::parse(old_lines[i]);
    const Json after = Json::parse(new_lines[i]);
    // ordered_json: same keys in the same order with the same values.
    EXPECT_EQ(WithoutFingerprints(after), WithoutFingerprints(before));

    std::vector<Json> probes;
    if (after["kind"] == "probe") probes.push_back(after);
    if (after.contains("probes")) {
      for (const Json& p : after["probes"]) probes.push_back(p);
    }
    for (const Json& p : probes) {
      if (p.contains("key") && !p.contains("address")) continue;  // a ref
      if (!p.contains("greeting")) {
        EXPECT_FALSE(p.contains("fingerprint")) << p.dump();
        continue;
      }
      ++identified;
      ASSERT_TRUE(p.contains("fingerprint")) << p.dump();
      EXPECT_NE(p["fingerprint"]["product"], "sendmail");
      // Where the writer puts it: just before "timings_us".
      std::vector<std::string> keys;
      for (const auto& [key, value] : p.items()) keys.push_back(key);
      const auto at = std::find(keys.begin(), keys.end(), "fingerprint");
      ASSERT_NE(at + 1, keys.end());
      EXPECT_EQ(*(at + 1), "timings_us");
    }
  }
  EXPECT_EQ(identified, 10);
}

TEST_F(FingerprintCommandTest, BadLinesAreReportedAndCopiedUnchanged) {
  const std::vector<std::string> good =
      Lines(Write(Records(), fingerprinter_.get()));
  const std::vector<std::string> stale = Lines(Write(Records(), nullptr));
  const std::vector<std::string> bad = {
      "this is not JSON",
      R"({"line":2,"input":"x","kind":"address","probes":[)",
      R"([1,2,3])",
      R"({"line":4,"kind":"address","address":"192.0.2.1","probes":)"
      R"([{"greeting":{"code":"220","lines":[]},"timings_us":{}}]})",
      R"({"kind":"weird\u0007thing"})",
      R"({"kind":"probe","key":"192.0.2.1:25","address":"192.0.2.1"})",
      R"({"kind":"domain","domain":"example.com"})",
      "",
      std::string(100, '[') + std::string(100, ']'),
  };
  const std::vector<std::string> reasons = {
      "not JSON: Invalid value. (offset 1)",
      "not JSON: Invalid value. (offset 49)",
      "not a JSON object",
      "probes[0]: greeting.code is not an integer",
      "unknown record kind \"weird\\x07thing\"",
      "no \"timings_us\" object",
      "no \"probes\" array",
      "not JSON: The document is empty. (offset 0)",
      "nested deeper than 64",
  };
  // good[0], bad[0], good[1], bad[1], ...: bad lines at even line numbers.
  std::string text;
  std::vector<std::string> want;
  std::string want_err;
  for (size_t i = 0; i < bad.size(); ++i) {
    absl::StrAppend(&text, stale[i % stale.size()], "\n", bad[i], "\n");
    want.push_back(good[i % good.size()]);
    want.push_back(bad[i]);
    absl::StrAppend(&want_err, "smtpscan fingerprint: line ", 2 * i + 2, ": ",
                    reasons[i], "\n");
  }
  // A CRLF line end is read; the last line may lack its line end.
  absl::StrAppend(&text, stale[0], "\r\n", "{\"kind\": 5}");
  want.push_back(good[0]);
  want.push_back("{\"kind\": 5}");
  absl::StrAppend(&want_err, "smtpscan fingerprint: line ", 2 * bad.size() + 2,
                  ": no \"kind\" string\n");

  const RunResult r = Run({"fingerprint", "-i", Input(text)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, absl::StrCat(want_err, "smtpscan fingerprint: 20 records, ",
                                "7 probes identified (7 with another ",
                                "product), 10 lines failed\n"));
  EXPECT_EQ(r.out, absl::StrCat(absl::StrJoin(want, "\n"), "\n"));
}

TEST_F(FingerprintCommandTest, StandardInputToStandardOutput) {
  const std::string old = Write(Records(), nullptr);
  const RunResult r =
      Run({"fingerprint", "-q", "-i", "-", "-o", "-"}, Input(old));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, Write(Records(), fingerprinter_.get()));
  // -o defaults to standard output.
  const RunResult d = Run({"fingerprint", "-q", "-i", "-"}, Input(old));
  EXPECT_EQ(d.out, r.out);
}

TEST_F(FingerprintCommandTest, RulesFileOverridingARuleChangesTheProduct) {
  ProbeResult p = AnonymousProbe("mx.example.test ESMTP Postfix");
  output::NdjsonWriter writer(output::WriterOptions{});
  std::string old;
  writer.Write(output::fixtures::AddressRecordOf(1, "203.0.113.9", {p}), &old);
  const std::string in = Input(old);

  const RunResult builtin = Run({"fingerprint", "-q", "-i", in});
  ASSERT_EQ(builtin.exit_code, 0) << builtin.err;
  EXPECT_EQ(Json::parse(builtin.out)["probes"][0]["fingerprint"]["product"],
            "postfix");

  const std::string rules = Input(R"(products:
  - {id: zorkmail, name: Zorkmail, vendor: Zork Inc., role: product}
rules:
  - id: postfix-banner
    product: zorkmail
    basis: banner
    confidence: 0.95
    match:
      greeting: 'ESMTP Postfix'
)",
                                  "override.yaml");
  const RunResult r =
      Run({"fingerprint", "-q", "-i", in, "--fingerprints", rules});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json fp = Json::parse(r.out)["probes"][0]["fingerprint"];
  EXPECT_EQ(fp["product"], "zorkmail");
  EXPECT_EQ(fp["vendor"], "Zork Inc.");
  ASSERT_EQ(fp["evidence"].size(), 1u);
  EXPECT_EQ(fp["evidence"][0]["rule"], "postfix-banner");
}

TEST_F(FingerprintCommandTest, BadRulesFileIsAUsageError) {
  const std::string in = Input(Write(Records(), nullptr));
  const std::string out = TempPath("out.ndjson");
  const std::string rules = Input(
      "rules:\n  - {id: broken, product: postfix, basis: banner, "
      "confidence: 0.5, match: {greeting: '(unclosed'}}\n",
      "bad.yaml");
  const RunResult r =
      Run({"fingerprint", "-i", in, "-o", out, "--fingerprints", rules});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("bad.yaml"));
  EXPECT_THAT(r.err, HasSubstr("broken"));
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out)) << "output touched";

  const RunResult missing =
      Run({"fingerprint", "-i", in, "--fingerprints", TempPath("nope")});
  EXPECT_EQ(missing.exit_code, 2);
}

TEST_F(FingerprintCommandTest, InputAndOutputFailures) {
  const std::string in = Input(Write(Records(), nullptr));

  RunResult r = Run({"fingerprint", "-i", TempPath("missing")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            absl::StrCat("smtpscan fingerprint: cannot open ",
                         TempPath("missing"), ": No such file or directory\n"));

  r = Run({"fingerprint", "-i", in, "-o", "/dev/full"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "smtpscan fingerprint: cannot write /dev/full: No space left on "
            "device\n");

  r = Run({"fingerprint", "-i", in, "-o", TempPath("no/such/dir/out")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot open"));

  const std::string before = ReadAll(in);
  r = Run({"fingerprint", "-i", in, "-o", in});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("-o names the input file"));
  EXPECT_EQ(ReadAll(in), before);

  r = Run({"fingerprint", "-o", TempPath("x")});
  EXPECT_EQ(r.exit_code, 2) << "-i is required";
}

TEST_F(FingerprintCommandTest, StreamsLargeInputs) {
  // More than the 1 MiB output chunk, many times over.
  const std::string one = Write(Records(), nullptr);
  const std::string want_one = Write(Records(), fingerprinter_.get());
  std::string old;
  std::string want;
  for (int i = 0; i < 2000; ++i) {
    old += one;
    want += want_one;
  }
  ASSERT_GT(old.size(), size_t{8} << 20);
  const std::string out = TempPath("big.ndjson");
  const RunResult r = Run({"fingerprint", "-i", Input(old), "-o", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err,
            "smtpscan fingerprint: 20000 records, 12000 probes identified "
            "(12000 with another product), 0 lines failed\n");
  EXPECT_TRUE(ReadAll(out) == want) << "output differs";
}

}  // namespace
}  // namespace smtpscan::cli
