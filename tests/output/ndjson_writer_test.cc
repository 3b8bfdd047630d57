#include "output/ndjson_writer.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "output/record_fixtures.h"

namespace smtpscan::output {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Json = nlohmann::ordered_json;

using fixtures::AddressRecordOf;
using fixtures::AllBytes;
using fixtures::ExampleDomainRecord;
using fixtures::ExampleInvalidRecord;
using fixtures::HostileProbe;
using fixtures::HostileText;
using fixtures::HttpProbe;
using fixtures::IsStrictUtf8;
using fixtures::MultiPortAddressRecord;
using fixtures::NullMxDomainRecord;
using fixtures::PostfixAddressRecord;
using fixtures::PostfixProbe;
using fixtures::RandomByteStrings;
using fixtures::RefusedProbe;

std::vector<std::string> Keys(const Json& j) {
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  return keys;
}

// The one line a record became, checked for what every NDJSON line must be:
// one '\n' at its end, no raw control bytes, valid UTF-8, a JSON object.
template <typename Record>
Json WriteOne(const Record& record, WriterOptions options = {}) {
  NdjsonWriter writer(options);
  std::string out;
  writer.Write(record, &out);
  EXPECT_FALSE(out.empty());
  if (out.empty()) return Json();
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1) << "more than one line: " << out;
  for (size_t i = 0; i < out.size(); ++i) {
    const auto b = static_cast<unsigned char>(out[i]);
    if (b < 0x20 && i != out.size() - 1) {
      ADD_FAILURE() << "raw control byte " << int{b} << " at " << i;
      break;
    }
  }
  EXPECT_TRUE(IsStrictUtf8(out)) << out;
  Json j = Json::parse(out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << out;
  EXPECT_TRUE(j.is_object()) << out;
  return j;
}

// The probe object of an address record that has exactly one probe.
Json OnlyProbe(const AddressRecord& record, WriterOptions options = {}) {
  const Json j = WriteOne(record, options);
  if (!j.is_object() || !j.contains("probes") || !j.at("probes").is_array() ||
      j.at("probes").size() != 1) {
    ADD_FAILURE() << "want exactly one probe: " << j;
    return Json::object();
  }
  return j.at("probes").at(0);
}

// The ASCII bytes of `s`, NUL included (JSON keeps NUL as \u0000).
std::string AsciiOf(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x80) out.push_back(c);
  }
  return out;
}

TEST(NdjsonWriterTest, HeaderIsEmpty) {
  NdjsonWriter writer({});
  std::string out = "kept";
  writer.WriteHeader(&out);
  EXPECT_EQ(out, "kept");
}

TEST(NdjsonWriterTest, AddressRecordKeys) {
  Json j = WriteOne(PostfixAddressRecord());
  EXPECT_THAT(Keys(j), ElementsAre("line", "input", "kind", "address", "host",
                                   "status", "probes"));
}

TEST(NdjsonWriterTest, AddressRecordTopLevelValues) {
  Json j = WriteOne(PostfixAddressRecord());
  EXPECT_EQ(j["line"], 7);
  EXPECT_TRUE(j["line"].is_number_unsigned());
  EXPECT_EQ(j["input"], "192.0.2.25:25,mx1.example.com");
  EXPECT_EQ(j["kind"], "address");
  EXPECT_EQ(j["address"], "192.0.2.25");
  EXPECT_EQ(j["host"], "mx1.example.com");
  EXPECT_EQ(j["status"], "success");
  ASSERT_TRUE(j["probes"].is_array());
  EXPECT_EQ(j["probes"].size(), 1u);
}

TEST(NdjsonWriterTest, ProbeKeysInConversationOrder) {
  EXPECT_THAT(
      Keys(OnlyProbe(PostfixAddressRecord())),
      ElementsAre("address", "port", "host", "tls_mode", "status", "started_at",
                  "greeting", "ehlo", "starttls", "tls_established", "ehlo_tls",
                  "quit", "timings_us", "bytes_received", "bytes_sent"));
}

TEST(NdjsonWriterTest, ProbeValues) {
  Json p = OnlyProbe(PostfixAddressRecord());
  EXPECT_EQ(p["address"], "192.0.2.25");
  EXPECT_EQ(p["port"], 25);
  EXPECT_EQ(p["host"], "mx1.example.com");
  EXPECT_EQ(p["tls_mode"], "starttls");
  EXPECT_EQ(p["status"], "success");
  EXPECT_EQ(p["started_at"], "2024-05-06T07:08:09.012345Z");
  EXPECT_EQ(p["tls_established"], true);
  EXPECT_EQ(p["bytes_received"], 433);
  EXPECT_EQ(p["bytes_sent"], 62);
}

TEST(NdjsonWriterTest, SeveralProbesOnOneLine) {
  // An address without a port, scanned with -p 25,465,587.
  const AddressRecord record = MultiPortAddressRecord();
  Json j = WriteOne(record);
  EXPECT_THAT(Keys(j), ElementsAre("line", "input", "kind", "address", "host",
                                   "status", "probes"));
  EXPECT_EQ(j["line"], 8);
  EXPECT_EQ(j["input"], "192.0.2.25,mx1.example.com");
  EXPECT_EQ(j["address"], "192.0.2.25");
  EXPECT_EQ(j["host"], "mx1.example.com");
  // One probe succeeded: the line succeeded.
  EXPECT_EQ(j["status"], "success");
  ASSERT_EQ(j["probes"].size(), 3u);
  std::vector<int> ports;
  for (const Json& p : j["probes"]) {
    ports.push_back(p["port"]);
    EXPECT_EQ(p["address"], "192.0.2.25");
    EXPECT_EQ(p["host"], "mx1.example.com");
    EXPECT_FALSE(p.contains("line"));
    EXPECT_FALSE(p.contains("kind"));
  }
  EXPECT_THAT(ports, ElementsAre(25, 465, 587));
  EXPECT_EQ(j["probes"][0]["status"], "connection-refused");
  EXPECT_EQ(j["probes"][0]["status_detail"], "ECONNREFUSED");
  EXPECT_EQ(j["probes"][1]["status"], "success");
  EXPECT_EQ(j["probes"][1]["tls_mode"], "implicit");
  EXPECT_EQ(j["probes"][2]["status"], "protocol-error");
  EXPECT_EQ(j["probes"][2]["protocol_error"]["kind"], "http");
  // Each probe object is what that probe alone would give.
  for (size_t i = 0; i < record.probes.size(); ++i) {
    EXPECT_EQ(j["probes"][i],
              OnlyProbe(AddressRecordOf(1, "x", {record.probes[i]})));
  }
}

TEST(NdjsonWriterTest, AllProbesFailedGivesTheFirstProbesStatus) {
  AddressRecord r = MultiPortAddressRecord();
  r.probes.erase(r.probes.begin() + 1);  // drop the success
  r = AddressRecordOf(r.line, r.input, r.probes);
  Json j = WriteOne(r);
  EXPECT_THAT(Keys(j), ElementsAre("line", "input", "kind", "address", "host",
                                   "status", "status_detail", "probes"));
  EXPECT_EQ(j["status"], "connection-refused");
  EXPECT_EQ(j["status_detail"], "ECONNREFUSED");
  EXPECT_EQ(j["probes"].size(), 2u);

  std::swap(r.probes[0], r.probes[1]);
  r = AddressRecordOf(r.line, r.input, r.probes);
  j = WriteOne(r);
  EXPECT_EQ(j["status"], "protocol-error");
  EXPECT_EQ(j["status_detail"], "http");
}

TEST(NdjsonWriterTest, RecordStatusIsWrittenAsGiven) {
  // The writer does not summarise: the record's own fields are written.
  AddressRecord r = PostfixAddressRecord();
  r.status = ScanStatus::kBlocked;
  r.status_detail = "reserved";
  Json j = WriteOne(r);
  EXPECT_EQ(j["status"], "blocked");
  EXPECT_EQ(j["status_detail"], "reserved");
  EXPECT_EQ(j["probes"][0]["status"], "success");
  EXPECT_FALSE(j["probes"][0].contains("status_detail"));
}

TEST(NdjsonWriterTest, AddressRecordWithoutProbes) {
  AddressRecord r;
  r.line = 3;
  r.input = "10.0.0.1";
  r.address = "10.0.0.1";
  r.status = ScanStatus::kBlocked;
  r.status_detail = "reserved";
  Json j = WriteOne(r);
  EXPECT_THAT(Keys(j), ElementsAre("line", "input", "kind", "address", "status",
                                   "status_detail", "probes"));
  EXPECT_EQ(j["status"], "blocked");
  EXPECT_EQ(j["probes"], Json::array());
}

TEST(NdjsonWriterTest, GreetingObject) {
  Json j = OnlyProbe(PostfixAddressRecord());
  EXPECT_EQ(j["greeting"], Json::parse(R"j({"code":220,
                "lines":["mx1.example.com ESMTP Postfix (Debian/GNU)"],
                "host":"mx1.example.com"})j"));
}

TEST(NdjsonWriterTest, GreetingWithEnhancedCodeAndSeveralLines) {
  AddressRecord r = PostfixAddressRecord();
  r.probes[0].session.status = ScanStatus::kGreetingRejected;
  r.probes[0].session.status_detail = "554";
  r.probes[0].session.greeting = fixtures::MakeReply(
      554, {"5.7.1 blocked.example.net Service unavailable", "see url"},
      smtp::EnhancedStatusCode{5, 7, 1});
  Json j = OnlyProbe(r);
  EXPECT_EQ(j["status"], "greeting-rejected");
  EXPECT_EQ(j["status_detail"], "554");
  EXPECT_THAT(Keys(j["greeting"]),
              ElementsAre("code", "enhanced", "lines", "host"));
  EXPECT_EQ(j["greeting"]["code"], 554);
  EXPECT_EQ(j["greeting"]["enhanced"], "5.7.1");
  EXPECT_EQ(j["greeting"]["lines"].size(), 2u);
  EXPECT_EQ(j["greeting"]["lines"][1], "see url");
  // The server's name follows the enhanced status code, as in an EHLO
  // reply's domain; "5.7.1" is no host name.
  EXPECT_EQ(j["greeting"]["host"].get<std::string>(), "blocked.example.net");
}

TEST(NdjsonWriterTest, EhloObject) {
  Json j = OnlyProbe(PostfixAddressRecord());
  Json& ehlo = j["ehlo"];
  EXPECT_THAT(Keys(ehlo), ElementsAre("code", "lines", "domain", "greet",
                                      "extensions", "starttls", "size_limit"));
  EXPECT_EQ(ehlo["code"], 250);
  EXPECT_EQ(ehlo["lines"].size(), 11u);
  EXPECT_EQ(ehlo["lines"][0], "mx1.example.com");
  EXPECT_EQ(ehlo["domain"], "mx1.example.com");
  EXPECT_EQ(ehlo["greet"], "");
  ASSERT_EQ(ehlo["extensions"].size(), 10u);
  EXPECT_EQ(ehlo["extensions"][0], Json::parse(R"({"keyword":"PIPELINING"})"));
  EXPECT_EQ(ehlo["extensions"][1],
            Json::parse(R"({"keyword":"SIZE","params":["10240000"]})"));
  EXPECT_EQ(ehlo["extensions"][4], Json::parse(R"({"keyword":"STARTTLS"})"));
  EXPECT_EQ(ehlo["starttls"], true);
  EXPECT_EQ(ehlo["size_limit"], 10240000);
  EXPECT_FALSE(ehlo.contains("auth"));
}

TEST(NdjsonWriterTest, EhloTlsWithAuthAndLegacyEquals) {
  Json j = OnlyProbe(PostfixAddressRecord());
  Json& ehlo = j["ehlo_tls"];
  EXPECT_EQ(ehlo["starttls"], false);
  EXPECT_EQ(ehlo["extensions"][2],
            Json::parse(R"({"keyword":"AUTH","params":["PLAIN","LOGIN"]})"));
  EXPECT_EQ(ehlo["extensions"][3],
            Json::parse(R"({"keyword":"AUTH","params":["LOGIN","PLAIN"],
                            "legacy_equals":true})"));
  EXPECT_THAT(Keys(ehlo["extensions"][3]),
              ElementsAre("keyword", "params", "legacy_equals"));
  EXPECT_EQ(ehlo["auth"], Json::parse(R"(["PLAIN","LOGIN"])"));
}

TEST(NdjsonWriterTest, EhloWithGreetAndNoSizeNumber) {
  AddressRecord r = PostfixAddressRecord();
  r.probes[0].session.ehlo = fixtures::MakeEhlo(
      {"mail.example.org Hello scanner [203.0.113.5]", "SIZE", "HELP"});
  Json j = OnlyProbe(r);
  EXPECT_EQ(j["ehlo"]["domain"], "mail.example.org");
  EXPECT_EQ(j["ehlo"]["greet"], "Hello scanner [203.0.113.5]");
  EXPECT_EQ(j["ehlo"]["starttls"], false);
  EXPECT_FALSE(j["ehlo"].contains("size_limit"));
  EXPECT_EQ(j["ehlo"]["extensions"][0], Json::parse(R"({"keyword":"SIZE"})"));
}

TEST(NdjsonWriterTest, StartTlsAndQuitReplies) {
  Json j = OnlyProbe(PostfixAddressRecord());
  EXPECT_EQ(j["starttls"], Json::parse(R"({"code":220,"enhanced":"2.0.0",
                                      "lines":["2.0.0 Ready to start TLS"]})"));
  EXPECT_THAT(Keys(j["starttls"]), ElementsAre("code", "enhanced", "lines"));
  EXPECT_EQ(j["quit"], Json::parse(R"({"code":221,"enhanced":"2.0.0",
                                      "lines":["2.0.0 Bye"]})"));
}

TEST(NdjsonWriterTest, HeloAndTlsErrorWhenPresent) {
  AddressRecord r = PostfixAddressRecord();
  smtp::SessionResult& s = r.probes[0].session;
  s.status = ScanStatus::kTlsHandshakeError;
  s.status_detail = "tls-handshake";
  s.ehlo = fixtures::MakeEhlo({"x"});
  s.ehlo->reply.code = 502;
  s.helo = fixtures::MakeReply(250, {"old.example.net"});
  s.tls_established = false;
  s.tls_error = "wrong version number";
  s.ehlo_tls.reset();
  s.helo_tls = fixtures::MakeReply(250, {"in tls"});
  Json j = OnlyProbe(r);
  EXPECT_THAT(
      Keys(j),
      ElementsAre("address", "port", "host", "tls_mode", "status",
                  "status_detail", "started_at", "greeting", "ehlo", "helo",
                  "starttls", "tls_established", "tls_error", "helo_tls",
                  "quit", "timings_us", "bytes_received", "bytes_sent"));
  EXPECT_EQ(j["status"], "tls-handshake-error");
  EXPECT_EQ(j["status_detail"], "tls-handshake");
  EXPECT_EQ(j["helo"],
            Json::parse(R"({"code":250,"lines":["old.example.net"]})"));
  EXPECT_EQ(j["tls_established"], false);
  EXPECT_EQ(j["tls_error"], "wrong version number");
  EXPECT_EQ(j["helo_tls"]["lines"][0], "in tls");
}

TEST(NdjsonWriterTest, TimingsInMicrosecondsInFixedOrder) {
  Json j = OnlyProbe(PostfixAddressRecord());
  EXPECT_THAT(Keys(j["timings_us"]),
              ElementsAre("connect", "tls_handshake", "greeting", "ehlo",
                          "starttls", "ehlo_tls", "quit", "total"));
  EXPECT_EQ(j["timings_us"],
            Json::parse(R"({"connect":1500,"tls_handshake":12000,
                "greeting":2500,"ehlo":800,"starttls":700,"ehlo_tls":900,
                "quit":600,"total":19000})"));
}

TEST(NdjsonWriterTest, RefusedProbeHasOnlyWhatHappened) {
  const AddressRecord r =
      AddressRecordOf(1, "[2001:db8::25]:25", {RefusedProbe()});
  Json record = WriteOne(r);
  EXPECT_THAT(Keys(record),
              ElementsAre("line", "input", "kind", "address", "host", "status",
                          "status_detail", "probes"));
  EXPECT_EQ(record["address"], "2001:db8::25");
  EXPECT_EQ(record["status"], "connection-refused");
  EXPECT_EQ(record["status_detail"], "ECONNREFUSED");
  Json j = OnlyProbe(r);
  EXPECT_THAT(Keys(j),
              ElementsAre("address", "port", "host", "tls_mode", "status",
                          "status_detail", "started_at", "tls_established",
                          "timings_us", "bytes_received", "bytes_sent"));
  EXPECT_EQ(j["address"], "2001:db8::25");
  EXPECT_EQ(j["status"], "connection-refused");
  EXPECT_EQ(j["status_detail"], "ECONNREFUSED");
  EXPECT_EQ(j["started_at"], "2024-05-06T07:08:10.012345Z");
  EXPECT_EQ(j["timings_us"], Json::parse(R"({"total":300})"));
  EXPECT_EQ(j["bytes_received"], 0);
}

TEST(NdjsonWriterTest, EmptyProbeOmitsOptionalFields) {
  ProbeResult p;
  p.address = "192.0.2.1";
  p.port = 25;
  p.tls_mode = TlsMode::kNone;
  const AddressRecord r = AddressRecordOf(2, "192.0.2.1", {p});
  EXPECT_THAT(Keys(WriteOne(r)), ElementsAre("line", "input", "kind", "address",
                                             "status", "probes"));
  Json j = OnlyProbe(r);
  EXPECT_THAT(Keys(j), ElementsAre("address", "port", "tls_mode", "status",
                                   "tls_established", "timings_us",
                                   "bytes_received", "bytes_sent"));
  EXPECT_EQ(j["tls_mode"], "none");
  EXPECT_TRUE(j["timings_us"].is_object());
  EXPECT_TRUE(j["timings_us"].empty());
}

TEST(NdjsonWriterTest, StartedAtAlwaysHasSixFractionDigitsAndZ) {
  AddressRecord r = PostfixAddressRecord();
  r.probes[0].started_at = absl::FromUnixSeconds(0);
  EXPECT_EQ(OnlyProbe(r)["started_at"], "1970-01-01T00:00:00.000000Z");
  r.probes[0].started_at =
      absl::FromUnixMicros(int64_t{1714979289} * 1000000 + 1);
  EXPECT_EQ(OnlyProbe(r)["started_at"], "2024-05-06T07:08:09.000001Z");
  // Nanoseconds are truncated to microseconds, not rounded up.
  r.probes[0].started_at =
      absl::FromUnixNanos(int64_t{1714979289} * 1000000000 + 999999999);
  EXPECT_EQ(OnlyProbe(r)["started_at"], "2024-05-06T07:08:09.999999Z");
}

TEST(NdjsonWriterTest, TlsModeNames) {
  AddressRecord r = PostfixAddressRecord();
  r.probes[0].tls_mode = TlsMode::kImplicit;
  r.probes[0].port = 465;
  Json j = OnlyProbe(r);
  EXPECT_EQ(j["tls_mode"], "implicit");
  EXPECT_EQ(j["port"], 465);
}

TEST(NdjsonWriterTest, ProtocolErrorAndAnomalies) {
  Json j = OnlyProbe(AddressRecordOf(5, "198.51.100.7:587", {HttpProbe()}));
  EXPECT_EQ(j["status"], "protocol-error");
  EXPECT_THAT(Keys(j["protocol_error"]),
              ElementsAre("kind", "offset", "excerpt", "excerpt_b64"));
  EXPECT_EQ(j["protocol_error"]["kind"], "http");
  EXPECT_EQ(j["protocol_error"]["offset"], 17);
  EXPECT_EQ(j["protocol_error"]["excerpt"], "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(j["protocol_error"]["excerpt_b64"],
            absl::Base64Escape("HTTP/1.1 400 Bad Request"));
  ASSERT_EQ(j["anomalies"].size(), 2u);
  EXPECT_THAT(Keys(j["anomalies"][0]),
              ElementsAre("kind", "phase", "size", "excerpt"));
  EXPECT_EQ(j["anomalies"][0],
            Json::parse(R"({"kind":"unexpected-data","phase":"greeting",
                            "size":5,"excerpt":"junk!"})"));
  EXPECT_EQ(j["anomalies"][1],
            Json::parse(R"({"kind":"data-after-starttls","phase":"starttls",
                            "size":100,"excerpt":"250 injected"})"));
  EXPECT_EQ(j["anomaly_count"], 11);
  // Both follow protocol_error, before the timings.
  const std::vector<std::string> keys = Keys(j);
  const auto pos = [&](const std::string& k) {
    return std::find(keys.begin(), keys.end(), k) - keys.begin();
  };
  EXPECT_LT(pos("protocol_error"), pos("anomalies"));
  EXPECT_EQ(pos("anomalies") + 1, pos("anomaly_count"));
  EXPECT_EQ(pos("anomaly_count") + 1, pos("timings_us"));
}

TEST(NdjsonWriterTest, NoAnomalyKeysWhenCountIsZero) {
  const AddressRecord r = PostfixAddressRecord();
  EXPECT_FALSE(WriteOne(r).contains("status_detail"));
  Json j = OnlyProbe(r);
  EXPECT_FALSE(j.contains("anomalies"));
  EXPECT_FALSE(j.contains("anomaly_count"));
  EXPECT_FALSE(j.contains("protocol_error"));
  EXPECT_FALSE(j.contains("status_detail"));
  EXPECT_FALSE(j.contains("helo"));
  EXPECT_FALSE(j.contains("tls_error"));
  EXPECT_FALSE(j.contains("greeting_raw_b64"));
}

TEST(NdjsonWriterTest, GreetingRawOnlyWhenAsked) {
  const AddressRecord r = PostfixAddressRecord();
  EXPECT_FALSE(OnlyProbe(r).contains("greeting_raw_b64"));

  WriterOptions options;
  options.greeting_raw = true;
  EXPECT_FALSE(WriteOne(r, options).contains("greeting_raw_b64"));
  Json j = OnlyProbe(r, options);
  ASSERT_TRUE(j.contains("greeting_raw_b64"));
  std::string raw;
  ASSERT_TRUE(
      absl::Base64Unescape(j["greeting_raw_b64"].get<std::string>(), &raw));
  EXPECT_EQ(raw, r.probes[0].session.greeting_raw);
  // Right after the parsed greeting.
  const std::vector<std::string> keys = Keys(j);
  const auto it = std::find(keys.begin(), keys.end(), "greeting");
  ASSERT_NE(it, keys.end());
  ASSERT_NE(it + 1, keys.end());
  EXPECT_EQ(*(it + 1), "greeting_raw_b64");
}

TEST(NdjsonWriterTest, GreetingRawAbsentWhenNoBytesArrived) {
  WriterOptions options;
  options.greeting_raw = true;
  const AddressRecord r = AddressRecordOf(1, "x", {RefusedProbe()});
  EXPECT_FALSE(OnlyProbe(r, options).contains("greeting_raw_b64"));
}

TEST(NdjsonWriterTest, GreetingRawKeepsEveryByte) {
  WriterOptions options;
  options.greeting_raw = true;
  AddressRecord r = PostfixAddressRecord();
  r.probes[0].session.greeting_raw =
      "220 " + AllBytes() + HostileText() + "\r\n";
  Json j = OnlyProbe(r, options);
  std::string raw;
  ASSERT_TRUE(
      absl::Base64Unescape(j["greeting_raw_b64"].get<std::string>(), &raw));
  EXPECT_EQ(raw, r.probes[0].session.greeting_raw);
}

TEST(NdjsonWriterTest, DomainRecord) {
  Json j = WriteOne(ExampleDomainRecord());
  EXPECT_THAT(Keys(j),
              ElementsAre("line", "input", "kind", "domain", "domain_unicode",
                          "status", "dns", "probes"));
  EXPECT_EQ(j["line"], 3);
  EXPECT_EQ(j["input"], "bücher.example");
  EXPECT_EQ(j["kind"], "domain");
  EXPECT_EQ(j["domain"], "xn--bcher-kva.example");
  EXPECT_EQ(j["domain_unicode"], "bücher.example");
  EXPECT_EQ(j["status"], "success");
  EXPECT_THAT(Keys(j["dns"]),
              ElementsAre("mx_status", "null_mx", "implicit_mx", "mx"));
  EXPECT_EQ(j["dns"]["mx_status"], "NOERROR");
  EXPECT_EQ(j["dns"]["null_mx"], false);
  EXPECT_EQ(j["dns"]["implicit_mx"], false);
  ASSERT_EQ(j["dns"]["mx"].size(), 3u);
  EXPECT_EQ(j["dns"]["mx"][0],
            Json::parse(R"({"name":"mx1.example.com","preference":10,
                "a_status":"NOERROR","addresses":["192.0.2.25"]})"));
  EXPECT_THAT(Keys(j["dns"]["mx"][1]),
              ElementsAre("name", "preference", "a_status", "addresses",
                          "via_cname", "canonical"));
  EXPECT_EQ(j["dns"]["mx"][1]["via_cname"], true);
  EXPECT_EQ(j["dns"]["mx"][2],
            Json::parse(R"({"name":"mx3.example.com","preference":30,
                "a_status":"NXDOMAIN","addresses":[]})"));
}

// Policy kinds are the one key the writer takes from a record: unlike its
// literal keys, they are repaired and escaped.
TEST(NdjsonWriterTest, PolicyKindKeysAreEscaped) {
  DomainRecord record = ExampleDomainRecord();
  PolicyResult spf;
  spf.kind = "spf";
  spf.name = "example.com";
  spf.dns_status = "NOERROR";
  PolicyResult odd;
  odd.kind = "a\"b\\c\n\xff";
  odd.name = "example.com";
  odd.dns_status = "NOERROR";
  record.policies = {spf, odd};
  const Json j = WriteOne(record);
  ASSERT_TRUE(j.contains("policy"));
  EXPECT_THAT(Keys(j["policy"]), ElementsAre("spf", "a\"b\\c\n\xEF\xBF\xBD"));
}

TEST(NdjsonWriterTest, DomainProbesAreProbeObjects) {
  const DomainRecord record = ExampleDomainRecord();
  Json j = WriteOne(record);
  ASSERT_EQ(j["probes"].size(), 2u);
  for (size_t i = 0; i < record.probes.size(); ++i) {
    // The same probe in an address record is the same object.
    EXPECT_EQ(j["probes"][i],
              OnlyProbe(AddressRecordOf(1, "x", {record.probes[i]})));
    EXPECT_FALSE(j["probes"][i].contains("line"));
    EXPECT_FALSE(j["probes"][i].contains("kind"));
  }
  EXPECT_EQ(j["probes"][0]["host"], "mx1.example.com");
  EXPECT_EQ(j["probes"][0]["status"], "success");
  EXPECT_EQ(j["probes"][1]["status"], "connection-refused");
}

TEST(NdjsonWriterTest, NullMxDomainOmitsEmptyFields) {
  Json j = WriteOne(NullMxDomainRecord());
  EXPECT_THAT(Keys(j), ElementsAre("line", "input", "kind", "domain", "status",
                                   "dns", "probes"));
  EXPECT_EQ(j["status"], "null-mx");
  EXPECT_EQ(j["dns"], Json::parse(R"({"mx_status":"NOERROR","null_mx":true,
                                      "implicit_mx":false,"mx":[]})"));
  EXPECT_EQ(j["probes"], Json::array());
}

TEST(NdjsonWriterTest, DomainWithoutMxStatus) {
  DomainRecord r = NullMxDomainRecord();
  r.mx_dns_status.clear();
  r.null_mx = false;
  r.implicit_mx = true;
  Json j = WriteOne(r);
  EXPECT_THAT(Keys(j["dns"]), ElementsAre("null_mx", "implicit_mx", "mx"));
  EXPECT_EQ(j["dns"]["implicit_mx"], true);
}

TEST(NdjsonWriterTest, InvalidRecordExactBytes) {
  NdjsonWriter writer({});
  std::string out;
  writer.Write(ExampleInvalidRecord(), &out);
  EXPECT_EQ(out,
            "{\"line\":9,\"input\":\"not an address, \\\"quoted\\\"\","
            "\"kind\":\"invalid\",\"status\":\"invalid-input\","
            "\"status_detail\":\"neither an address nor a domain\"}\n");
}

TEST(NdjsonWriterTest, InvalidRecordWithEmptyReasonStillHasDetail) {
  InvalidInputRecord r;
  r.line = 1;
  Json j = WriteOne(r);
  EXPECT_THAT(Keys(j),
              ElementsAre("line", "input", "kind", "status", "status_detail"));
  EXPECT_EQ(j["input"], "");
  EXPECT_EQ(j["status_detail"], "");
}

TEST(NdjsonWriterTest, RecordsAppendOneLineEach) {
  NdjsonWriter writer({});
  std::string out;
  writer.WriteHeader(&out);
  writer.Write(PostfixAddressRecord(), &out);
  writer.Write(ExampleDomainRecord(), &out);
  writer.Write(ExampleInvalidRecord(), &out);
  std::vector<std::string> kinds;
  size_t start = 0;
  for (size_t nl = out.find('\n'); nl != std::string::npos;
       start = nl + 1, nl = out.find('\n', start)) {
    kinds.push_back(Json::parse(out.substr(start, nl - start))["kind"]);
  }
  EXPECT_EQ(start, out.size());
  EXPECT_THAT(kinds, ElementsAre("address", "domain", "invalid"));
}

TEST(NdjsonWriterTest, LargeCountersKeepFullPrecision) {
  AddressRecord r = PostfixAddressRecord();
  r.line = UINT64_MAX;
  r.probes[0].session.bytes_received = uint64_t{1} << 60;
  Json j = WriteOne(r);
  EXPECT_EQ(j["line"].get<uint64_t>(), UINT64_MAX);
  EXPECT_EQ(j["probes"][0]["bytes_received"].get<uint64_t>(),
            uint64_t{1} << 60);
}

TEST(NdjsonWriterTest, ValidHostileTextRoundTripsExactly) {
  // Valid UTF-8 (NUL, quotes, backslashes, U+2028, controls): nothing may be
  // lost or changed, only escaped.
  const std::string text = std::string("a\0b", 3) +
                           "\"q\" \\ \\u0041 \xE2\x80\xA8\xE2\x80\xA9 \x01\x1F"
                           "\x7F \r\n\t </script> \xF0\x9F\x98\x80";
  ASSERT_TRUE(IsStrictUtf8(text));
  AddressRecord r = AddressRecordOf(1, text, {HostileProbe(text)});
  r.host = text;
  r.status_detail = text;
  Json record = WriteOne(r);
  EXPECT_EQ(record["input"], text);
  EXPECT_EQ(record["host"], text);
  EXPECT_EQ(record["status_detail"], text);
  Json j = OnlyProbe(r);
  EXPECT_EQ(j["host"], text);
  EXPECT_EQ(j["status_detail"], text);
  EXPECT_EQ(j["greeting"]["lines"][0], text);
  EXPECT_EQ(j["ehlo"]["domain"], text);
  EXPECT_EQ(j["ehlo"]["greet"], text);
  EXPECT_EQ(j["ehlo"]["extensions"][1]["keyword"], "X-" + text);
  EXPECT_EQ(j["ehlo"]["extensions"][1]["params"][1], text);
  EXPECT_EQ(j["tls_error"], text);
  EXPECT_EQ(j["protocol_error"]["excerpt"], text);
  EXPECT_EQ(j["anomalies"][0]["excerpt"], text);
}

// Checks that a hostile string came through: the line is valid (WriteOne),
// every ASCII byte survived in order, and the b64 copies are exact. The
// record holds two hostile probes and the string in its own host and detail.
void ExpectHostileSurvives(const std::string& bytes) {
  WriterOptions options;
  options.greeting_raw = true;
  AddressRecord r =
      AddressRecordOf(1, bytes, {HostileProbe(bytes), HostileProbe(bytes)});
  r.host = bytes;
  r.status_detail = bytes;
  Json j = WriteOne(r, options);
  if (::testing::Test::HasFailure() || j.is_discarded()) return;
  std::vector<std::string> paths = {"/input", "/host", "/status_detail"};
  for (const char* probe : {"/probes/0", "/probes/1"}) {
    for (const char* field :
         {"/host", "/status_detail", "/greeting/lines/0", "/ehlo/domain",
          "/ehlo/greet", "/ehlo/lines/2", "/ehlo/extensions/1/params/0",
          "/ehlo_tls/extensions/2/params/0", "/helo/lines/0", "/tls_error",
          "/protocol_error/excerpt", "/anomalies/0/excerpt"}) {
      paths.push_back(std::string(probe) + field);
    }
  }
  for (const std::string& path : paths) {
    const Json::json_pointer pointer(path);
    if (bytes.empty() && (absl::EndsWith(path, "/host") ||
                          absl::EndsWith(path, "/status_detail") ||
                          absl::EndsWith(path, "/tls_error"))) {
      EXPECT_FALSE(j.contains(pointer)) << path << " is omitted when empty";
      continue;
    }
    ASSERT_TRUE(j.contains(pointer)) << path;
    const Json& value = j.at(pointer);
    ASSERT_TRUE(value.is_string()) << path << ": " << value;
    EXPECT_EQ(AsciiOf(value.get<std::string>()), AsciiOf(bytes)) << path;
  }
  for (size_t i = 0; i < r.probes.size(); ++i) {
    const Json& probe = j["probes"][i];
    std::string decoded;
    ASSERT_TRUE(absl::Base64Unescape(
        probe["protocol_error"]["excerpt_b64"].get<std::string>(), &decoded));
    EXPECT_EQ(decoded, bytes);
    ASSERT_TRUE(absl::Base64Unescape(
        probe["greeting_raw_b64"].get<std::string>(), &decoded));
    EXPECT_EQ(decoded, r.probes[i].session.greeting_raw);
  }
}

TEST(NdjsonWriterTest, EveryByteValueInEveryServerField) {
  ExpectHostileSurvives(AllBytes());
}

TEST(NdjsonWriterTest, HostileTextInEveryServerField) {
  ExpectHostileSurvives(HostileText());
}

TEST(NdjsonWriterTest, EachSingleByteInEveryServerField) {
  for (int b = 0; b < 256; ++b) {
    SCOPED_TRACE(b);
    std::string framed = "x_y";
    framed[1] = static_cast<char>(b);
    ExpectHostileSurvives(framed.substr(1, 1));
    ExpectHostileSurvives(framed);
  }
}

TEST(NdjsonWriterTest, RandomBytesAlwaysGiveOneValidLine) {
  for (const std::string& bytes : RandomByteStrings(1500, 48, 7)) {
    SCOPED_TRACE(::testing::PrintToString(bytes));
    ExpectHostileSurvives(bytes);
    if (HasFailure()) return;  // one counterexample is enough
  }
}

TEST(NdjsonWriterTest, HostileDomainAndInvalidRecords) {
  for (const std::string& bytes : {AllBytes(), HostileText()}) {
    DomainRecord d = ExampleDomainRecord();
    d.input = bytes;
    d.domain_unicode = bytes;
    d.status_detail = bytes;
    d.mx_dns_status = bytes;
    d.mx[0].name = bytes;
    d.mx[0].addresses.push_back(bytes);
    d.probes.push_back(HostileProbe(bytes));
    Json dj = WriteOne(d);
    EXPECT_EQ(AsciiOf(dj["input"].get<std::string>()), AsciiOf(bytes));
    EXPECT_EQ(dj["probes"].size(), 3u);

    InvalidInputRecord i;
    i.input = bytes;
    i.reason = bytes;
    Json ij = WriteOne(i);
    EXPECT_EQ(AsciiOf(ij["status_detail"].get<std::string>()), AsciiOf(bytes));
  }
}

// The writer escapes strings itself (for speed) exactly as RapidJSON's
// Writer::String did: the short forms for \b \t \n \f \r, \u00XX with
// upper-case hex for the other control bytes, \" and \\, and every other
// byte (DEL, '/', UTF-8) as it is.
TEST(NdjsonWriterTest, StringEscapesAreRapidJsonsByteForByte) {
  InvalidInputRecord i;
  i.line = 3;
  i.input = std::string("a\x01\x1f\"\\/\x7f\xc3\xa9\b\t\n\f\r\x00z", 16);
  std::string line;
  NdjsonWriter(WriterOptions{}).Write(i, &line);
  EXPECT_THAT(line, ::testing::HasSubstr(
                        "\"input\":\"a\\u0001\\u001F\\\"\\\\/\x7f\xc3\xa9"
                        "\\b\\t\\n\\f\\r\\u0000z\""));
}

}  // namespace
}  // namespace smtpscan::output

namespace smtpscan::output {
namespace {

TEST(NdjsonWriterSplitTest, DomainProbesAreReferencesAndProbesTheirOwnRecords) {
  WriterOptions options;
  options.split_probes = true;
  const DomainRecord record = ExampleDomainRecord();
  const Json j = WriteOne(record, options);
  ASSERT_EQ(j["probes"].size(), record.probes.size());
  for (size_t i = 0; i < record.probes.size(); ++i) {
    SCOPED_TRACE(i);
    const Json& ref = j["probes"][i];
    EXPECT_EQ(ref["key"], ProbeKey(record.probes[i]));
    EXPECT_EQ(ref["status"],
              std::string(ScanStatusName(record.probes[i].session.status)));
    EXPECT_FALSE(ref.contains("greeting"));  // a reference, not a copy
  }
  // The probe's own record: every probe field, plus kind and key.
  NdjsonWriter writer(options);
  std::string out;
  writer.WriteProbe(record.probes[0], &out);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.find('\n'), out.size() - 1);
  const Json p = Json::parse(out);
  EXPECT_EQ(p["kind"], "probe");
  EXPECT_EQ(p["key"], ProbeKey(record.probes[0]));
  EXPECT_FALSE(p.contains("line"));
  const Json nested = WriteOne(record)["probes"][0];
  for (const auto& [key, value] : nested.items()) {
    EXPECT_EQ(p[key], value) << key;
  }
}

TEST(NdjsonWriterSplitTest, ProbeKeyBracketsIpv6) {
  ProbeResult p;
  p.address = "192.0.2.25";
  p.port = 25;
  EXPECT_EQ(ProbeKey(p), "192.0.2.25:25");
  p.address = "2001:db8::25";
  p.port = 587;
  EXPECT_EQ(ProbeKey(p), "[2001:db8::25]:587");
}

TEST(NdjsonWriterSplitTest, ProbeKeyNamesTheHostWhenTlsIsUsed) {
  ProbeResult p;
  p.address = "192.0.2.25";
  p.port = 25;
  p.host = "mx.example.com";
  p.tls_mode = TlsMode::kStartTls;
  EXPECT_EQ(ProbeKey(p), "mx.example.com@192.0.2.25:25");
  p.tls_mode = TlsMode::kNone;  // the name changes nothing in plaintext
  EXPECT_EQ(ProbeKey(p), "192.0.2.25:25");
}

tls::TlsFacts EstablishedFacts() {
  tls::TlsFacts t;
  t.established = true;
  t.sni = "mx1.example.com";
  t.version = "TLSv1.3";
  t.cipher = "TLS_AES_256_GCM_SHA384";
  t.group = "x25519";
  t.kx_bits = 253;
  tls::Certificate c;
  c.subject = "CN=mx1.example.com";
  c.issuer = "CN=Example CA,O=Example";
  c.dns_names = {"mx1.example.com", "*.example.com"};
  c.ip_addresses = {"192.0.2.25"};
  c.not_before = absl::FromUnixSeconds(1700000000);
  c.not_after = absl::FromUnixSeconds(1800000000);
  c.sha256 = std::string(64, 'a');
  c.spki_sha256 = std::string(64, 'b');
  c.key_type = "RSA";
  c.key_bits = 2048;
  c.signature_algorithm = "sha256WithRSAEncryption";
  t.chain.push_back(c);
  t.verified = false;
  t.verify_code = 20;
  t.verify_reason = "unable to get local issuer certificate";
  t.verify_errors = {{0, 20, "unable to get local issuer certificate"},
                     {0, 21, "unable to verify the first certificate"}};
  t.host_match = true;
  return t;
}

TEST(NdjsonWriterTest, TlsFactsOfAnEstablishedHandshake) {
  AddressRecord r = PostfixAddressRecord();
  r.probes[0].tls = std::make_shared<tls::TlsFacts>(EstablishedFacts());
  const Json j = OnlyProbe(r);
  ASSERT_TRUE(j.contains("tls"));
  const Json& t = j["tls"];
  EXPECT_THAT(Keys(t),
              ElementsAre("established", "sni", "version", "cipher", "group",
                          "kx_bits", "chain", "verify", "host_match"));
  EXPECT_EQ(t["version"], "TLSv1.3");
  EXPECT_EQ(t["group"], "x25519");
  EXPECT_EQ(t["kx_bits"], 253);
  ASSERT_EQ(t["chain"].size(), 1u);
  const Json& c = t["chain"][0];
  EXPECT_EQ(c["subject"], "CN=mx1.example.com");
  EXPECT_EQ(c["dns_names"],
            Json::parse(R"(["mx1.example.com","*.example.com"])"));
  EXPECT_EQ(c["ip_addresses"], Json::parse(R"(["192.0.2.25"])"));
  EXPECT_EQ(c["not_before"], "2023-11-14T22:13:20.000000Z");
  EXPECT_EQ(c["key_bits"], 2048);
  EXPECT_EQ(c["self_signed"], false);
  EXPECT_EQ(t["verify"], Json::parse(R"({"ok":false,"code":20,
      "reason":"unable to get local issuer certificate","errors":[
      {"depth":0,"code":20,"reason":"unable to get local issuer certificate"},
      {"depth":0,"code":21,"reason":"unable to verify the first certificate"}
      ]})"));
  EXPECT_EQ(t["host_match"], true);
  EXPECT_FALSE(j.contains("dane"));  // not checked
}

TEST(NdjsonWriterTest, TlsFactsOfAFailedHandshake) {
  AddressRecord r = PostfixAddressRecord();
  tls::TlsFacts t;
  t.sni = "mx1.example.com";
  t.error = "wrong version number";
  t.alert = "sent: protocol version";
  t.failed_state = "SSLv3/TLS write client hello";
  t.bytes_received = 17;
  r.probes[0].tls = std::make_shared<tls::TlsFacts>(t);
  const Json j = OnlyProbe(r);
  EXPECT_EQ(j["tls"], Json::parse(R"({"established":false,
      "sni":"mx1.example.com","error":"wrong version number",
      "alert":"sent: protocol version",
      "failed_state":"SSLv3/TLS write client hello","bytes_received":17})"));
}

std::string AbHex() {  // 32 bytes of 0xab in hex
  std::string hex;
  for (int i = 0; i < 32; ++i) hex += "ab";
  return hex;
}

TEST(NdjsonWriterTest, DaneFromTheHandshakeOrFromTheLookupAlone) {
  AddressRecord r = PostfixAddressRecord();
  tls::DaneResult lookup;
  lookup.tlsa_name = "_25._tcp.mx1.example.com";
  lookup.dns_status = "NOERROR";
  lookup.authenticated = true;
  lookup.records = {{3, 1, 1, std::string(32, '\xab')}};
  r.probes[0].dane = std::make_shared<tls::DaneResult>(lookup);
  // No handshake: the lookup alone says usable records but no TLS.
  Json j = OnlyProbe(r);
  EXPECT_EQ(j["dane"], Json::parse(R"({"verdict":"no-tls",
      "tlsa_name":"_25._tcp.mx1.example.com","dns_status":"NOERROR",
      "authenticated":true,"records":[
      {"usage":3,"selector":1,"mtype":1,"data":")" +
                                   AbHex() + R"("}]})"));
  // With a handshake, its verdict wins.
  tls::TlsFacts t = EstablishedFacts();
  t.dane = lookup;
  t.dane.verdict = tls::DaneVerdict::kMatch;
  t.dane.matched_record = 0;
  t.dane.matched_depth = 0;
  r.probes[0].tls = std::make_shared<tls::TlsFacts>(t);
  j = OnlyProbe(r);
  EXPECT_EQ(j["dane"]["verdict"], "match");
  EXPECT_EQ(j["dane"]["matched_record"], 0);
  EXPECT_EQ(j["dane"]["matched_depth"], 0);
}

}  // namespace
}  // namespace smtpscan::output

namespace smtpscan::output {
namespace {

// A scan's writer options: an id and a clock the test sets.
WriterOptions RunOptions(absl::Time* now) {
  WriterOptions options;
  options.scan_id = "0a1b2c3d";
  options.clock = [now] { return *now; };
  return options;
}

TEST(NdjsonWriterRunFieldsTest, ExactBytesRightAfterKind) {
  absl::Time now = absl::FromUnixMicros(1715000000123456);  // 2024-05-06
  NdjsonWriter writer(RunOptions(&now));
  std::string out;
  writer.Write(ExampleInvalidRecord(), &out);
  EXPECT_EQ(out,
            "{\"line\":9,\"input\":\"not an address, \\\"quoted\\\"\","
            "\"kind\":\"invalid\",\"scan_id\":\"0a1b2c3d\","
            "\"time\":\"2024-05-06T12:53:20.123Z\","
            "\"status\":\"invalid-input\","
            "\"status_detail\":\"neither an address nor a domain\"}\n");
}

TEST(NdjsonWriterRunFieldsTest, EveryKindOfRecordCarriesThem) {
  absl::Time now = absl::FromUnixMillis(1715000000999);
  const WriterOptions options = RunOptions(&now);
  EXPECT_THAT(Keys(WriteOne(PostfixAddressRecord(), options)),
              ElementsAre("line", "input", "kind", "scan_id", "time", "address",
                          "host", "status", "probes"));
  const Json domain = WriteOne(ExampleDomainRecord(), options);
  std::vector<std::string> keys = Keys(domain);
  keys.resize(6);
  EXPECT_THAT(
      keys, ElementsAre("line", "input", "kind", "scan_id", "time", "domain"));
  EXPECT_EQ(domain["scan_id"], "0a1b2c3d");
  EXPECT_EQ(domain["time"], "2024-05-06T12:53:20.999Z");
  // Probe objects inside a record do not repeat them.
  EXPECT_FALSE(domain["probes"][0].contains("scan_id"));
  EXPECT_FALSE(domain["probes"][0].contains("time"));
}

TEST(NdjsonWriterRunFieldsTest, SplitProbeRecordsCarryThemAfterKind) {
  absl::Time now = absl::FromUnixSeconds(1715000000);
  WriterOptions options = RunOptions(&now);
  options.split_probes = true;
  NdjsonWriter writer(options);
  std::string out;
  writer.WriteProbe(ExampleDomainRecord().probes[0], &out);
  const Json p = Json::parse(out);
  std::vector<std::string> keys = Keys(p);
  keys.resize(4);
  EXPECT_THAT(keys, ElementsAre("kind", "scan_id", "time", "key"));
  EXPECT_EQ(p["time"], "2024-05-06T12:53:20.000Z");
}

TEST(NdjsonWriterRunFieldsTest, TimeIsWhenEachRecordIsWritten) {
  absl::Time now = absl::FromUnixMicros(1715000000000999);
  NdjsonWriter writer(RunOptions(&now));
  std::vector<std::string> times;
  for (absl::Duration step :
       {absl::ZeroDuration(), absl::Microseconds(1), absl::Milliseconds(5),
        absl::Seconds(1), absl::Hours(24 * 366)}) {
    now += step;
    std::string out;
    writer.Write(ExampleInvalidRecord(), &out);
    times.push_back(Json::parse(out)["time"]);
  }
  // Milliseconds rounded down, the date following the clock.
  EXPECT_THAT(
      times, ElementsAre("2024-05-06T12:53:20.000Z", "2024-05-06T12:53:20.001Z",
                         "2024-05-06T12:53:20.006Z", "2024-05-06T12:53:21.006Z",
                         "2025-05-07T12:53:21.006Z"));
}

TEST(NdjsonWriterRunFieldsTest, AbsentWithoutScanId) {
  absl::Time now = absl::FromUnixSeconds(1715000000);
  WriterOptions options = RunOptions(&now);
  options.scan_id.clear();
  const Json j = WriteOne(ExampleInvalidRecord(), options);
  EXPECT_FALSE(j.contains("scan_id"));
  EXPECT_FALSE(j.contains("time"));
}

TEST(NdjsonWriterRunFieldsTest, DefaultClockIsNow) {
  WriterOptions options;
  options.scan_id = "ffffffff";
  const absl::Time before = absl::Now();
  const Json j = WriteOne(ExampleInvalidRecord(), options);
  const absl::Time after = absl::Now();
  absl::Time t;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, j["time"].get<std::string>(),
                              &t, &error))
      << error;
  EXPECT_GE(t, absl::FromUnixMillis(absl::ToUnixMillis(before)));
  EXPECT_LE(t, after);
}

}  // namespace
}  // namespace smtpscan::output
