// Tests of fingerprint/observation_json: the Observation read back from a
// probe's NDJSON object must be the one ObservationOf() gave the probe.
#include "fingerprint/observation_json.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fingerprint/observation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "output/ndjson_writer.h"
#include "output/record_fixtures.h"
#include "output/text.h"
#include "smtp/test_support.h"

namespace smtpscan::fingerprint {
namespace {

using output::ProbeResult;
using output::fixtures::MakeEhlo;
using smtp::test::MakeReply;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Field by field, so that a failure names the field.
void ExpectSameObservation(const Observation& got, const Observation& want) {
  EXPECT_EQ(got.greeting, want.greeting);
  EXPECT_EQ(got.ehlo, want.ehlo);
  EXPECT_EQ(got.ehlo_keywords, want.ehlo_keywords);
  EXPECT_EQ(got.ehlo_tls, want.ehlo_tls);
  EXPECT_EQ(got.ehlo_tls_keywords, want.ehlo_tls_keywords);
  EXPECT_EQ(got.helo, want.helo);
  EXPECT_EQ(got.starttls, want.starttls);
  EXPECT_EQ(got.help, want.help);
  EXPECT_EQ(got.unknown, want.unknown);
  EXPECT_EQ(got.quit, want.quit);
  EXPECT_EQ(got.cert_subject, want.cert_subject);
  EXPECT_EQ(got.cert_issuer, want.cert_issuer);
  EXPECT_EQ(got.greeting_ms, want.greeting_ms);
}

// What the writer makes of the text: valid UTF-8 (output/text.h).
Observation AsWritten(Observation o) {
  for (std::string* s :
       {&o.greeting, &o.ehlo, &o.ehlo_keywords, &o.ehlo_tls,
        &o.ehlo_tls_keywords, &o.helo, &o.starttls, &o.help, &o.unknown,
        &o.quit, &o.cert_subject, &o.cert_issuer}) {
    std::string scratch;
    *s = std::string(output::ValidUtf8(*s, &scratch));
  }
  return o;
}

tls::Certificate Cert(std::string subject, std::string issuer) {
  tls::Certificate c;
  c.subject = std::move(subject);
  c.issuer = std::move(issuer);
  c.dns_names = {"mx1.example.com"};
  c.not_before = output::fixtures::ExampleStart();
  c.not_after = output::fixtures::ExampleStart() + absl::Hours(24 * 90);
  c.sha256 = std::string(64, 'a');
  c.spki_sha256 = std::string(64, 'b');
  c.key_type = "EC";
  c.key_bits = 256;
  c.signature_algorithm = "ecdsa-with-SHA256";
  return c;
}

// A probe with every field an Observation reads, and the others around it.
ProbeResult FullProbe() {
  ProbeResult p = output::fixtures::PostfixProbe();
  smtp::SessionResult& s = p.session;
  s.greeting =
      MakeReply(220, {"mx1.example.com ESMTP Postfix (Debian/GNU)", "line 2"});
  s.ehlo = MakeEhlo({"mx1.example.com Hello", "pipelining", "Size 10240000",
                     "STARTTLS", "AUTH=LOGIN PLAIN", "8BITMIME"});
  s.helo = MakeReply(250, {"mx1.example.com"});
  s.help = MakeReply(214, {"2.0.0 Commands: HELO EHLO", "End of HELP"},
                     smtp::EnhancedStatusCode{2, 0, 0});
  s.unknown = MakeReply(502, {"5.5.2 Error: command not recognized"},
                        smtp::EnhancedStatusCode{5, 5, 2});
  s.helo_tls = MakeReply(250, {"mx1.example.com"});
  s.timings.greeting = absl::Microseconds(2'567'999);
  auto tls = std::make_shared<tls::TlsFacts>();
  tls->established = true;
  tls->sni = "mx1.example.com";
  tls->version = "TLSv1.3";
  tls->cipher = "TLS_AES_256_GCM_SHA384";
  tls->group = "x25519";
  tls->kx_bits = 253;
  tls->chain = {Cert("CN=mx1.example.com", "CN=R3,O=Let's Encrypt,C=US"),
                Cert("CN=R3,O=Let's Encrypt,C=US", "CN=ISRG Root X1")};
  tls->verified = true;
  tls->host_match = true;
  p.tls = tls;
  auto id = std::make_shared<Identification>();
  id->product = "postfix";
  id->confidence = 0.9;
  id->evidence.push_back(
      {"postfix-banner", "product", "postfix", "banner", {"greeting"}});
  p.fingerprint = id;
  return p;
}

// Writes `probe` in an address record and as a split-layout probe record,
// reads both back, and checks each against ObservationOf(probe).
void ExpectRoundTrip(const ProbeResult& probe) {
  const Observation want = AsWritten(ObservationOf(probe));
  output::NdjsonWriter writer(output::WriterOptions{.greeting_raw = true});

  std::string line;
  writer.Write(output::fixtures::AddressRecordOf(1, "x", {probe, probe}),
               &line);
  rapidjson::Document record;
  ASSERT_TRUE(ParseJsonLine(line, &record).ok()) << line;
  ASSERT_TRUE(record["probes"].IsArray());
  for (const rapidjson::Value& p : record["probes"].GetArray()) {
    absl::StatusOr<Observation> got = ObservationFromJson(p);
    ASSERT_TRUE(got.ok()) << got.status() << "\n" << line;
    ExpectSameObservation(*got, want);
  }

  std::string split;
  writer.WriteProbe(probe, &split);
  absl::StatusOr<Observation> got = ObservationFromJsonText(split);
  ASSERT_TRUE(got.ok()) << got.status() << "\n" << split;
  ExpectSameObservation(*got, want);
}

TEST(ObservationJsonTest, FullProbeRoundTrips) {
  const ProbeResult probe = FullProbe();
  // The probe really has every field, or the test proves little.
  const Observation o = ObservationOf(probe);
  for (const std::string* s :
       {&o.greeting, &o.ehlo, &o.ehlo_keywords, &o.ehlo_tls,
        &o.ehlo_tls_keywords, &o.helo, &o.starttls, &o.help, &o.unknown,
        &o.quit, &o.cert_subject, &o.cert_issuer}) {
    EXPECT_FALSE(s->empty());
  }
  EXPECT_EQ(o.greeting_ms, 2567);
  ExpectRoundTrip(probe);
}

TEST(ObservationJsonTest, FixtureProbesRoundTrip) {
  ExpectRoundTrip(output::fixtures::PostfixProbe());
  ExpectRoundTrip(output::fixtures::RefusedProbe());
  ExpectRoundTrip(output::fixtures::HttpProbe());
  ExpectRoundTrip(ProbeResult{});
}

TEST(ObservationJsonTest, GreetingTimeTruncatesLikeObservationOf) {
  for (int64_t us : {0, 999, 1000, 1001, 59'999'999, -1, -1500}) {
    ProbeResult p = output::fixtures::PostfixProbe();
    p.session.timings.greeting = absl::Microseconds(us);
    SCOPED_TRACE(us);
    ExpectRoundTrip(p);
  }
}

TEST(ObservationJsonTest, TlsWithoutChainGivesNoCertificate) {
  ProbeResult p = FullProbe();
  auto failed = std::make_shared<tls::TlsFacts>();
  failed->error = "wrong version number";
  p.tls = failed;
  ExpectRoundTrip(p);
  EXPECT_EQ(ObservationOf(p).cert_subject, "");
}

TEST(ObservationJsonTest, HostileBytesRoundTripAsValidUtf8) {
  ExpectRoundTrip(output::fixtures::HostileProbe(output::fixtures::AllBytes()));
  ExpectRoundTrip(
      output::fixtures::HostileProbe(output::fixtures::HostileText()));
  for (const std::string& bytes :
       output::fixtures::RandomByteStrings(200, 40, 20240506)) {
    ProbeResult p = output::fixtures::HostileProbe(bytes);
    p.session.help = MakeReply(214, {bytes});
    p.session.unknown = MakeReply(500, {bytes, bytes});
    auto tls = std::make_shared<tls::TlsFacts>();
    tls->established = true;
    tls->chain = {Cert(bytes, "CN=" + bytes)};
    p.tls = tls;
    ExpectRoundTrip(p);
  }
}

// Known answers, independent of ObservationOf.
TEST(ObservationJsonTest, ReadsTheFieldsItNeeds) {
  absl::StatusOr<Observation> o = ObservationFromJsonText(R"({
    "address": "192.0.2.1", "port": 25,
    "greeting": {"code": 220, "enhanced": "2.0.0",
                 "lines": ["mx ESMTP", "second"], "host": "mx"},
    "ehlo": {"code": 250, "lines": ["mx", "size 100", "Pipelining"],
             "domain": "mx", "greet": "",
             "extensions": [{"keyword": "size", "params": ["100"]},
                            {"keyword": "Pipelining"}], "starttls": false},
    "starttls": {"code": 454, "lines": []},
    "ehlo_tls": {"code": 550, "lines": ["no"], "extensions": []},
    "helo": {"code": 250, "lines": [""]},
    "help": {"code": 214, "lines": ["a\u0000b"]},
    "unknown": {"code": 502, "lines": ["what?"]},
    "quit": {"code": 221, "lines": ["bye"]},
    "tls": {"established": true,
            "chain": [{"subject": "CN=leaf", "issuer": "CN=ca"},
                      {"subject": "CN=ca", "issuer": "CN=root"}]},
    "fingerprint": {"product": "old"},
    "timings_us": {"connect": 5, "greeting": 12345}})");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->greeting, "220 mx ESMTP\n220 second");
  EXPECT_EQ(o->ehlo, "250 mx\n250 size 100\n250 Pipelining");
  EXPECT_EQ(o->ehlo_keywords, "SIZE PIPELINING");
  EXPECT_EQ(o->starttls, "454");
  EXPECT_EQ(o->ehlo_tls, "550 no");
  EXPECT_EQ(o->ehlo_tls_keywords, "");
  EXPECT_EQ(o->helo, "250 ");
  EXPECT_EQ(o->help, std::string("214 a\0b", 7));
  EXPECT_EQ(o->unknown, "502 what?");
  EXPECT_EQ(o->quit, "221 bye");
  EXPECT_EQ(o->cert_subject, "CN=leaf");
  EXPECT_EQ(o->cert_issuer, "CN=ca");
  EXPECT_EQ(o->greeting_ms, 12);
}

TEST(ObservationJsonTest, AbsentMembersLeaveFieldsEmpty) {
  for (const char* json :
       {R"({})", R"({"timings_us": {}})", R"({"tls": {"established": false}})",
        R"({"tls": {"chain": []}, "timings_us": {"connect": 1}})"}) {
    absl::StatusOr<Observation> o = ObservationFromJsonText(json);
    ASSERT_TRUE(o.ok()) << json << ": " << o.status();
    ExpectSameObservation(*o, Observation{});
  }
}

TEST(ObservationJsonTest, MalformedObjectsNameTheMember) {
  const struct {
    const char* json;
    const char* error;
  } kCases[] = {
      {R"([])", "the probe is not an object"},
      {R"("probe")", "the probe is not an object"},
      {R"(null)", "the probe is not an object"},
      {R"({"greeting": "220 hi"})", "greeting is not an object"},
      {R"({"greeting": {"lines": []}})", R"(greeting has no "code")"},
      {R"({"greeting": {"code": "220", "lines": []}})",
       "greeting.code is not an integer"},
      {R"({"greeting": {"code": 220.0, "lines": []}})",
       "greeting.code is not an integer"},
      {R"({"greeting": {"code": 1e3, "lines": []}})",
       "greeting.code is not an integer"},
      {R"({"greeting": {"code": 4294967296, "lines": []}})",
       "greeting.code is not an integer"},
      {R"({"greeting": {"code": null, "lines": []}})",
       "greeting.code is not an integer"},
      {R"({"greeting": {"code": 220}})", R"(greeting has no "lines")"},
      {R"({"greeting": {"code": 220, "lines": "hi"}})",
       "greeting.lines is not an array"},
      {R"({"greeting": {"code": 220, "lines": ["a", 1]}})",
       "greeting.lines[1] is not a string"},
      {R"({"greeting": {"code": 220, "lines": [["a"]]}})",
       "greeting.lines[0] is not a string"},
      {R"({"helo": 1})", "helo is not an object"},
      {R"({"starttls": true})", "starttls is not an object"},
      {R"({"help": {"code": 214}})", R"(help has no "lines")"},
      {R"({"unknown": {"code": -1.5, "lines": []}})",
       "unknown.code is not an integer"},
      {R"({"quit": []})", "quit is not an object"},
      {R"({"ehlo": {"code": 250, "lines": []}})",
       R"(ehlo has no "extensions")"},
      {R"({"ehlo": {"code": 250, "lines": [], "extensions": {}}})",
       "ehlo.extensions is not an array"},
      {R"({"ehlo": {"code": 250, "lines": [], "extensions": ["SIZE"]}})",
       "ehlo.extensions[0] is not an object"},
      {R"({"ehlo": {"code": 250, "lines": [], "extensions": [{}]}})",
       R"(ehlo.extensions[0] has no "keyword")"},
      {R"({"ehlo_tls": {"code": 250, "lines": [],
           "extensions": [{"keyword": "A"}, {"keyword": 5}]}})",
       "ehlo_tls.extensions[1].keyword is not a string"},
      {R"({"ehlo_tls": {"code": 250, "lines": [1], "extensions": []}})",
       "ehlo_tls.lines[0] is not a string"},
      {R"({"tls": "yes"})", "tls is not an object"},
      {R"({"tls": {"chain": {}}})", "tls.chain is not an array"},
      {R"({"tls": {"chain": [null]}})", "tls.chain[0] is not an object"},
      {R"({"tls": {"chain": [{"issuer": "x"}]}})",
       R"(tls.chain[0] has no "subject")"},
      {R"({"tls": {"chain": [{"subject": "x"}]}})",
       R"(tls.chain[0] has no "issuer")"},
      {R"({"tls": {"chain": [{"subject": 1, "issuer": "x"}]}})",
       "tls.chain[0].subject is not a string"},
      {R"({"tls": {"chain": [{"subject": "x", "issuer": false}]}})",
       "tls.chain[0].issuer is not a string"},
      {R"({"timings_us": []})", "timings_us is not an object"},
      {R"({"timings_us": {"greeting": "5"}})",
       "timings_us.greeting is not an integer"},
      {R"({"timings_us": {"greeting": 1.5}})",
       "timings_us.greeting is not an integer"},
      {R"({"timings_us": {"greeting": 18446744073709551615}})",
       "timings_us.greeting is not an integer"},
      {R"({"greeting": {"code": 220, "lines": []}, "quit": 0})",
       "quit is not an object"},
  };
  for (const auto& c : kCases) {
    absl::StatusOr<Observation> o = ObservationFromJsonText(c.json);
    ASSERT_FALSE(o.ok()) << c.json;
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(o.status().message(), c.error) << c.json;
  }
}

TEST(ObservationJsonTest, NotJson) {
  for (const char* text : {"", "{", "{\"greeting\": }", "{} {}", "{}x", "NaN",
                           "{'a': 1}", "{\"a\": \"\xFF\"", "[1,]"}) {
    absl::StatusOr<Observation> o = ObservationFromJsonText(text);
    ASSERT_FALSE(o.ok()) << text;
    const std::string message(o.status().message());
    EXPECT_THAT(message, StartsWith("not JSON: ")) << text;
    EXPECT_THAT(message, HasSubstr("(offset ")) << text;
  }
}

TEST(ObservationJsonTest, ErrorsAreOnePrintableLine) {
  for (const char* text : {"{\"greeting\": \"\n\"", "\x01", "{\"\xFF\": [}"}) {
    absl::StatusOr<Observation> o = ObservationFromJsonText(text);
    ASSERT_FALSE(o.ok());
    for (char c : o.status().message()) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << o.status();
    }
  }
}

TEST(ObservationJsonTest, DeepNestingIsRefusedBeforeParsing) {
  const int kDepth = 1'000'000;  // would overflow a recursive parser
  const std::string deep =
      absl::StrCat(std::string(kDepth, '['), std::string(kDepth, ']'));
  absl::StatusOr<Observation> o = ObservationFromJsonText(deep);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().message(), "nested deeper than 64");
  // Inside an ignored member too, and in objects.
  std::string in_member = "{\"anomalies\": ";
  for (int i = 0; i < 100; ++i) in_member += "{\"a\":";
  in_member += "1" + std::string(100, '}') + "}";
  EXPECT_EQ(ObservationFromJsonText(in_member).status().message(),
            "nested deeper than 64");
}

TEST(ObservationJsonTest, NestingLimitCountsOnlyStructure) {
  // 64 levels is fine; brackets inside strings (escaped quotes included)
  // do not count.
  const std::string ok64 =
      absl::StrCat("{\"x\":", std::string(63, '['), std::string(63, ']'), "}");
  EXPECT_TRUE(ObservationFromJsonText(ok64).ok());
  const std::string ok65 =
      absl::StrCat("{\"x\":", std::string(64, '['), std::string(64, ']'), "}");
  EXPECT_FALSE(ObservationFromJsonText(ok65).ok());
  const std::string brackets = absl::StrCat(
      R"({"greeting": {"code": 220, "lines": [")", std::string(100, '['),
      R"(\"\\", ")", std::string(100, '{'), R"("]}})");
  absl::StatusOr<Observation> o = ObservationFromJsonText(brackets);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->greeting, absl::StrCat("220 ", std::string(100, '['),
                                      "\"\\\n220 ", std::string(100, '{')));
}

TEST(ObservationJsonTest, ZerosWithAnExponentReadAsZero) {
  // RapidJSON 1.1.0 alone reads "0e200" as 7.8e56 in full precision.
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJsonLine(R"({"a": 0e200, "b": -0.000E+400, "c": [0E7],)"
                            R"( "s": "0e200", "n": 10e2, "m": -1.5e-3})",
                            &doc)
                  .ok());
  EXPECT_EQ(doc["a"].GetDouble(), 0.0);
  EXPECT_EQ(doc["b"].GetDouble(), 0.0);
  EXPECT_TRUE(std::signbit(doc["b"].GetDouble()));
  EXPECT_EQ(doc["c"][0].GetDouble(), 0.0);
  EXPECT_STREQ(doc["s"].GetString(), "0e200");
  EXPECT_EQ(doc["n"].GetDouble(), 1000.0);
  EXPECT_EQ(doc["m"].GetDouble(), -0.0015);
  // Invalid numbers stay invalid.
  for (const char* bad :
       {R"({"x": 0e})", R"({"x": -e5})", R"({"x": 00e5})", R"({"x": 0.e5})",
        R"({"x": 0e+})", R"({"x": --0e1})"}) {
    rapidjson::Document d;
    EXPECT_FALSE(ParseJsonLine(bad, &d).ok()) << bad;
  }
}

TEST(ObservationJsonTest, HugeArrays) {
  constexpr int kCount = 200'000;
  std::vector<std::string> lines(kCount, "\"250-x\"");
  std::vector<std::string> exts(kCount, R"({"keyword": "x"})");
  const std::string json = absl::StrCat(
      R"({"greeting": {"code": 220, "lines": [)", absl::StrJoin(lines, ","),
      R"(]}, "ehlo": {"code": 250, "lines": [], "extensions": [)",
      absl::StrJoin(exts, ","), "]}}");
  absl::StatusOr<Observation> o = ObservationFromJsonText(json);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->greeting.size(), kCount * std::string("220 250-x\n").size() - 1);
  EXPECT_EQ(o->ehlo_keywords.size(), kCount * 2 - 1);
  EXPECT_EQ(o->ehlo, "250");

  // A bad element at the end of a huge array is still found and named.
  const std::string bad =
      absl::StrCat(R"({"greeting": {"code": 220, "lines": [)",
                   absl::StrJoin(lines, ","), ", 7]}}");
  EXPECT_EQ(ObservationFromJsonText(bad).status().message(),
            absl::StrCat("greeting.lines[", kCount, "] is not a string"));
}

// FillObservation reuses an Observation a scan keeps: whatever it held
// before (a full probe, an empty one) must not show through.
TEST(ObservationJsonTest, FillObservationOverwritesEveryField) {
  const std::vector<ProbeResult> probes = {FullProbe(),
                                           output::fixtures::PostfixProbe(),
                                           output::fixtures::RefusedProbe(),
                                           output::fixtures::HttpProbe(),
                                           ProbeResult{},
                                           FullProbe()};
  Observation reused;
  for (const ProbeResult& before : probes) {
    for (const ProbeResult& probe : probes) {
      FillObservation(before, &reused);
      FillObservation(probe, &reused);
      ExpectSameObservation(reused, ObservationOf(probe));
    }
  }
}

}  // namespace
}  // namespace smtpscan::fingerprint
