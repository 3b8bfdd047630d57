#include "output/csv_writer.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "output/record_fixtures.h"
#include "output/text.h"

namespace smtpscan::output {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::SizeIs;

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
using fixtures::RandomByteStrings;

using Rows = std::vector<std::vector<std::string>>;

// A strict RFC 4180 reader: records end in CRLF; a field is either unquoted
// (no comma, quote, CR or LF in it) or quoted, with "" for a quote and any
// other byte (CR and LF included) taken as is. Anything else is an error, so
// a writer's mistake cannot be read away.
bool ParseCsv(absl::string_view text, Rows* rows, std::string* error) {
  rows->clear();
  size_t i = 0;
  while (i < text.size()) {
    std::vector<std::string> row;
    for (;;) {
      std::string field;
      if (i < text.size() && text[i] == '"') {
        for (++i;; ++i) {
          if (i >= text.size()) {
            *error = "unterminated quoted field";
            return false;
          }
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              field.push_back('"');
              ++i;
              continue;
            }
            ++i;
            break;
          }
          field.push_back(text[i]);
        }
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '\r') {
          if (text[i] == '"' || text[i] == '\n') {
            *error = absl::StrCat("bare quote or LF at byte ", i);
            return false;
          }
          field.push_back(text[i++]);
        }
      }
      row.push_back(std::move(field));
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      if (text.substr(i, 2) == "\r\n") {
        i += 2;
        break;
      }
      *error = absl::StrCat("expected ',' or CRLF at byte ", i);
      return false;
    }
    rows->push_back(std::move(row));
  }
  return true;
}

Rows MustParse(absl::string_view text) {
  Rows rows;
  std::string error;
  EXPECT_TRUE(ParseCsv(text, &rows, &error)) << error << " in:\n" << text;
  for (const auto& row : rows) {
    EXPECT_THAT(row, SizeIs(CsvColumns().size())) << text;
  }
  return rows;
}

// Column name → cell.
std::map<std::string, std::string> Cells(const std::vector<std::string>& row) {
  std::map<std::string, std::string> cells;
  for (size_t i = 0; i < row.size() && i < CsvColumns().size(); ++i) {
    cells[std::string(CsvColumns()[i])] = row[i];
  }
  return cells;
}

template <typename Record>
std::vector<std::map<std::string, std::string>> WriteRows(
    const Record& record, WriterOptions options = {}) {
  CsvWriter writer(options);
  std::string out;
  writer.Write(record, &out);
  std::vector<std::map<std::string, std::string>> rows;
  for (const auto& row : MustParse(out)) rows.push_back(Cells(row));
  return rows;
}

std::string Cell(absl::string_view in, bool raw) {
  std::string out;
  AppendCsvCell(in, raw, &out);
  return out;
}

TEST(CsvReaderTest, ReadsWhatRfc4180Allows) {
  Rows rows;
  std::string error;
  ASSERT_TRUE(ParseCsv("a,\"b,\"\"c\"\"\r\nd\",\r\n,x\r\n", &rows, &error))
      << error;
  EXPECT_THAT(rows, ElementsAre(ElementsAre("a", "b,\"c\"\r\nd", ""),
                                ElementsAre("", "x")));
  EXPECT_FALSE(ParseCsv("a\n", &rows, &error));
  EXPECT_FALSE(ParseCsv("a\"b\r\n", &rows, &error));
  EXPECT_FALSE(ParseCsv("\"a\r\n", &rows, &error));
  EXPECT_FALSE(ParseCsv("a\rb\r\n", &rows, &error));
  EXPECT_FALSE(ParseCsv("a", &rows, &error));
}

TEST(CsvColumnsTest, DocumentedOrder) {
  EXPECT_THAT(
      CsvColumns(),
      ElementsAre("line", "input", "kind", "domain", "status", "status_detail",
                  "mx_host", "mx_preference", "address", "port", "tls_mode",
                  "probe_status", "probe_status_detail", "greeting_code",
                  "greeting_text", "ehlo_code", "ehlo_domain", "ehlo_keywords",
                  "size_limit", "auth", "starttls_offered", "helo_code",
                  "starttls_code", "tls_established", "tls_error",
                  "tls_version", "tls_cipher", "cert_subject", "cert_issuer",
                  "cert_not_after", "cert_sha256", "verify_ok", "host_match",
                  "dane_verdict", "product", "product_version", "fronts",
                  "ehlo_tls_keywords", "auth_tls", "quit_code",
                  "protocol_error", "anomaly_count", "connect_us",
                  "greeting_us", "ehlo_us", "starttls_us", "tls_handshake_us",
                  "ehlo_tls_us", "total_us", "started_at", "scan_id", "time"));
}

TEST(CsvWriterTest, HeaderIsColumnsJoinedWithCrlf) {
  for (bool raw : {false, true}) {
    WriterOptions options;
    options.csv_raw_cells = raw;
    CsvWriter writer(options);
    std::string out;
    writer.WriteHeader(&out);
    EXPECT_EQ(out, absl::StrCat(absl::StrJoin(CsvColumns(), ","), "\r\n"));
  }
}

TEST(CsvWriterTest, AddressRecordRow) {
  const auto rows = WriteRows(PostfixAddressRecord());
  ASSERT_THAT(rows, SizeIs(1));
  const std::map<std::string, std::string> want = {
      {"line", "7"},
      {"input", "192.0.2.25:25,mx1.example.com"},
      {"kind", "address"},
      {"domain", ""},
      {"status", "success"},
      {"status_detail", ""},
      {"mx_host", "mx1.example.com"},
      {"mx_preference", ""},
      {"address", "192.0.2.25"},
      {"port", "25"},
      {"tls_mode", "starttls"},
      {"probe_status", "success"},
      {"probe_status_detail", ""},
      {"greeting_code", "220"},
      {"greeting_text", "mx1.example.com ESMTP Postfix (Debian/GNU)"},
      {"ehlo_code", "250"},
      {"ehlo_domain", "mx1.example.com"},
      {"ehlo_keywords",
       "PIPELINING SIZE VRFY ETRN STARTTLS ENHANCEDSTATUSCODES 8BITMIME DSN "
       "SMTPUTF8 CHUNKING"},
      {"size_limit", "10240000"},
      {"auth", ""},  // Postfix offers AUTH only inside TLS
      {"starttls_offered", "true"},
      {"helo_code", ""},
      {"starttls_code", "220"},
      {"tls_established", "true"},
      {"tls_error", ""},
      {"tls_version", ""},  // the fixture has no TLS facts
      {"tls_cipher", ""},
      {"cert_subject", ""},
      {"cert_issuer", ""},
      {"cert_not_after", ""},
      {"cert_sha256", ""},
      {"verify_ok", ""},
      {"host_match", ""},
      {"dane_verdict", ""},
      {"product", ""},  // not identified in the fixture
      {"product_version", ""},
      {"fronts", ""},
      {"ehlo_tls_keywords", "PIPELINING SIZE AUTH AUTH 8BITMIME"},
      {"auth_tls", "PLAIN LOGIN"},  // both AUTH forms, de-duplicated
      {"quit_code", "221"},
      {"protocol_error", ""},
      {"anomaly_count", "0"},
      {"connect_us", "1500"},
      {"greeting_us", "2500"},
      {"ehlo_us", "800"},
      {"starttls_us", "700"},
      {"tls_handshake_us", "12000"},
      {"ehlo_tls_us", "900"},
      {"total_us", "19000"},
      {"started_at", "2024-05-06T07:08:09.012345Z"},
      {"scan_id", ""},
      {"time", ""},
  };
  EXPECT_EQ(rows[0], want);
}

TEST(CsvWriterTest, AddressRecordExactBytes) {
  CsvWriter writer({});
  std::string out;
  writer.Write(PostfixAddressRecord(), &out);
  // The input holds a comma: quoted. Nothing else needs quoting.
  EXPECT_TRUE(
      absl::StartsWith(out,
                       "7,\"192.0.2.25:25,mx1.example.com\",address,,success,,"
                       "mx1.example.com,,192.0.2.25,25,starttls,success,,220,"))
      << out;
  EXPECT_TRUE(absl::EndsWith(out,
                             ",221,,0,1500,2500,800,700,12000,900,19000,"
                             "2024-05-06T07:08:09.012345Z,,\r\n"))
      << out;
  EXPECT_EQ(out.find('\n'), out.size() - 1);
}

TEST(CsvWriterTest, AuthAndHeloColumns) {
  AddressRecord r = PostfixAddressRecord();
  r.probes[0].session.ehlo = fixtures::MakeEhlo(
      {"mx.example.net", "AUTH login PLAIN", "AUTH=LOGIN CRAM-MD5", "SIZE x"});
  r.probes[0].session.helo = fixtures::MakeReply(250, {"mx.example.net"});
  const auto rows = WriteRows(r);
  ASSERT_THAT(rows, SizeIs(1));
  EXPECT_EQ(rows[0].at("auth"), "LOGIN PLAIN CRAM-MD5");
  EXPECT_EQ(rows[0].at("ehlo_keywords"), "AUTH AUTH SIZE");
  EXPECT_EQ(rows[0].at("size_limit"), "");
  EXPECT_EQ(rows[0].at("starttls_offered"), "false");
  EXPECT_EQ(rows[0].at("helo_code"), "250");
}

TEST(CsvWriterTest, ProtocolErrorRow) {
  const auto rows =
      WriteRows(AddressRecordOf(5, "198.51.100.7:587", {HttpProbe()}));
  ASSERT_THAT(rows, SizeIs(1));
  const auto& c = rows[0];
  EXPECT_EQ(c.at("status"), "protocol-error");
  EXPECT_EQ(c.at("status_detail"), "http");
  EXPECT_EQ(c.at("probe_status"), "protocol-error");
  EXPECT_EQ(c.at("probe_status_detail"), "http");
  EXPECT_EQ(c.at("protocol_error"), "http");
  EXPECT_EQ(c.at("anomaly_count"), "11");
  EXPECT_EQ(c.at("tls_mode"), "none");
  EXPECT_EQ(c.at("port"), "587");
  EXPECT_EQ(c.at("mx_host"), "");
  EXPECT_EQ(c.at("greeting_code"), "");
  EXPECT_EQ(c.at("ehlo_code"), "");
  EXPECT_EQ(c.at("starttls_offered"), "");
  EXPECT_EQ(c.at("tls_established"), "false");
  EXPECT_EQ(c.at("connect_us"), "42");
  EXPECT_EQ(c.at("total_us"), "");
  EXPECT_EQ(c.at("started_at"), "");
}

TEST(CsvWriterTest, AddressRecordOneRowPerProbe) {
  // An address without a port, scanned with -p 25,465,587.
  const auto rows = WriteRows(MultiPortAddressRecord());
  ASSERT_THAT(rows, SizeIs(3));
  std::vector<std::string> ports;
  for (const auto& c : rows) {
    EXPECT_EQ(c.at("line"), "8");
    EXPECT_EQ(c.at("input"), "192.0.2.25,mx1.example.com");
    EXPECT_EQ(c.at("kind"), "address");
    EXPECT_EQ(c.at("domain"), "");
    // The record succeeded because one probe did.
    EXPECT_EQ(c.at("status"), "success");
    EXPECT_EQ(c.at("status_detail"), "");
    EXPECT_EQ(c.at("mx_host"), "mx1.example.com");
    EXPECT_EQ(c.at("mx_preference"), "");
    EXPECT_EQ(c.at("address"), "192.0.2.25");
    ports.push_back(c.at("port"));
  }
  EXPECT_THAT(ports, ElementsAre("25", "465", "587"));
  EXPECT_EQ(rows[0].at("probe_status"), "connection-refused");
  EXPECT_EQ(rows[0].at("probe_status_detail"), "ECONNREFUSED");
  EXPECT_EQ(rows[0].at("greeting_code"), "");
  EXPECT_EQ(rows[1].at("probe_status"), "success");
  EXPECT_EQ(rows[1].at("probe_status_detail"), "");
  EXPECT_EQ(rows[1].at("tls_mode"), "implicit");
  EXPECT_EQ(rows[1].at("greeting_code"), "220");
  EXPECT_EQ(rows[2].at("probe_status"), "protocol-error");
  EXPECT_EQ(rows[2].at("protocol_error"), "http");
}

TEST(CsvWriterTest, AddressRecordStatusAndProbeStatusDiffer) {
  AddressRecord r = MultiPortAddressRecord();
  r.probes.erase(r.probes.begin() + 1);  // drop the success
  r = AddressRecordOf(r.line, r.input, r.probes);
  const auto rows = WriteRows(r);
  ASSERT_THAT(rows, SizeIs(2));
  for (const auto& c : rows) {
    EXPECT_EQ(c.at("status"), "connection-refused");
    EXPECT_EQ(c.at("status_detail"), "ECONNREFUSED");
  }
  EXPECT_EQ(rows[0].at("probe_status"), "connection-refused");
  EXPECT_EQ(rows[1].at("probe_status"), "protocol-error");
  EXPECT_EQ(rows[1].at("probe_status_detail"), "http");
}

TEST(CsvWriterTest, AddressRecordWithoutProbesGivesOneRow) {
  AddressRecord r;
  r.line = 6;
  r.input = "10.0.0.1,mx.example.com";
  r.address = "10.0.0.1";
  r.host = "mx.example.com";
  r.status = ScanStatus::kBlocked;
  r.status_detail = "reserved";
  const auto rows = WriteRows(r);
  ASSERT_THAT(rows, SizeIs(1));
  const auto& c = rows[0];
  EXPECT_EQ(c.at("line"), "6");
  EXPECT_EQ(c.at("input"), "10.0.0.1,mx.example.com");
  EXPECT_EQ(c.at("kind"), "address");
  EXPECT_EQ(c.at("status"), "blocked");
  EXPECT_EQ(c.at("status_detail"), "reserved");
  for (const char* empty :
       {"domain", "mx_host", "mx_preference", "address", "port", "tls_mode",
        "probe_status", "tls_established", "anomaly_count", "started_at"}) {
    EXPECT_EQ(c.at(empty), "") << empty;
  }
}

TEST(CsvWriterTest, MultiLineGreetingIsOneQuotedCell) {
  AddressRecord r = PostfixAddressRecord();
  r.probes[0].session.greeting =
      fixtures::MakeReply(220, {"mx.example.com ESMTP", "say \"hi\", ok"});
  CsvWriter writer({});
  std::string out;
  writer.Write(r, &out);
  EXPECT_NE(out.find("\"mx.example.com ESMTP\nsay \"\"hi\"\", ok\""),
            std::string::npos)
      << out;
  const Rows rows = MustParse(out);
  ASSERT_THAT(rows, SizeIs(1));
  EXPECT_EQ(Cells(rows[0]).at("greeting_text"),
            "mx.example.com ESMTP\nsay \"hi\", ok");
}

TEST(CsvWriterTest, DomainRecordOneRowPerProbe) {
  const auto rows = WriteRows(ExampleDomainRecord());
  ASSERT_THAT(rows, SizeIs(2));
  for (const auto& c : rows) {
    EXPECT_EQ(c.at("line"), "3");
    EXPECT_EQ(c.at("input"), "bücher.example");
    EXPECT_EQ(c.at("kind"), "domain");
    EXPECT_EQ(c.at("domain"), "xn--bcher-kva.example");
    EXPECT_EQ(c.at("status"), "success");
    EXPECT_EQ(c.at("status_detail"), "");
  }
  EXPECT_EQ(rows[0].at("mx_host"), "mx1.example.com");
  EXPECT_EQ(rows[0].at("mx_preference"), "10");
  EXPECT_EQ(rows[0].at("address"), "192.0.2.25");
  EXPECT_EQ(rows[0].at("probe_status"), "success");
  EXPECT_EQ(rows[0].at("greeting_code"), "220");

  EXPECT_EQ(rows[1].at("mx_host"), "mx2.example.com");
  EXPECT_EQ(rows[1].at("mx_preference"), "20");
  EXPECT_EQ(rows[1].at("address"), "2001:db8::25");
  EXPECT_EQ(rows[1].at("probe_status"), "connection-refused");
  EXPECT_EQ(rows[1].at("probe_status_detail"), "ECONNREFUSED");
  EXPECT_EQ(rows[1].at("greeting_code"), "");
  EXPECT_EQ(rows[1].at("tls_established"), "false");
  EXPECT_EQ(rows[1].at("total_us"), "300");
  EXPECT_EQ(rows[1].at("connect_us"), "");
  EXPECT_EQ(rows[1].at("started_at"), "2024-05-06T07:08:10.012345Z");
}

TEST(CsvWriterTest, DomainProbeOfUnlistedHostHasNoPreference) {
  DomainRecord r = ExampleDomainRecord();
  r.probes[0].host = "elsewhere.example.com";
  r.probes[1].host.clear();
  r.probes.push_back(fixtures::RefusedProbe());
  r.probes.back().host = "mx3.example.com";
  const auto rows = WriteRows(r);
  ASSERT_THAT(rows, SizeIs(3));
  EXPECT_EQ(rows[0].at("mx_preference"), "");
  EXPECT_EQ(rows[1].at("mx_preference"), "");
  EXPECT_EQ(rows[2].at("mx_preference"), "30");
}

TEST(CsvWriterTest, DomainWithoutProbesGivesOneRow) {
  const auto rows = WriteRows(NullMxDomainRecord());
  ASSERT_THAT(rows, SizeIs(1));
  const auto& c = rows[0];
  EXPECT_EQ(c.at("line"), "4");
  EXPECT_EQ(c.at("kind"), "domain");
  EXPECT_EQ(c.at("domain"), "nomail.example");
  EXPECT_EQ(c.at("status"), "null-mx");
  EXPECT_EQ(c.at("status_detail"), "");
  for (const char* empty :
       {"mx_host", "mx_preference", "address", "port", "tls_mode",
        "probe_status", "tls_established", "anomaly_count", "started_at"}) {
    EXPECT_EQ(c.at(empty), "") << empty;
  }
}

TEST(CsvWriterTest, InvalidInputRow) {
  CsvWriter writer({});
  std::string out;
  writer.Write(ExampleInvalidRecord(), &out);
  EXPECT_EQ(out,
            "9,\"not an address, \"\"quoted\"\"\",invalid,,invalid-input,"
            "neither an address nor a domain" +
                std::string(CsvColumns().size() - 6, ',') + "\r\n");
  const auto rows = WriteRows(ExampleInvalidRecord());
  ASSERT_THAT(rows, SizeIs(1));
  EXPECT_EQ(rows[0].at("input"), "not an address, \"quoted\"");
  EXPECT_EQ(rows[0].at("status"), "invalid-input");
}

TEST(CsvWriterTest, RowsAppendAfterHeader) {
  CsvWriter writer({});
  std::string out;
  writer.WriteHeader(&out);
  writer.Write(PostfixAddressRecord(), &out);
  writer.Write(MultiPortAddressRecord(), &out);
  writer.Write(ExampleDomainRecord(), &out);
  writer.Write(NullMxDomainRecord(), &out);
  writer.Write(ExampleInvalidRecord(), &out);
  const Rows rows = MustParse(out);
  ASSERT_THAT(rows, SizeIs(9));
  // The header's names are pinned by CsvColumnsTest.DocumentedOrder.
  EXPECT_THAT(rows[0], ElementsAreArray(CsvColumns()));
  std::vector<std::string> lines;
  for (size_t i = 1; i < rows.size(); ++i) lines.push_back(rows[i][0]);
  EXPECT_THAT(lines, ElementsAre("7", "8", "8", "8", "3", "3", "4", "9"));
}

TEST(CsvWriterTest, FormulaCellsNeutralised) {
  for (const char* start_char : {"=", "+", "-", "@", "\t", "\r"}) {
    const std::string start = start_char;
    SCOPED_TRACE(::testing::PrintToString(start));
    AddressRecord r = PostfixAddressRecord();
    r.input = start + "HYPERLINK(\"http://x\")";
    r.probes[0].session.greeting = fixtures::MakeReply(220, {start + "1+1"});
    r.probes[0].session.tls_error = start + "cmd|' /C calc'!A0";

    const auto safe = WriteRows(r);
    ASSERT_THAT(safe, SizeIs(1));
    EXPECT_EQ(safe[0].at("input"), "'" + r.input);
    EXPECT_EQ(safe[0].at("greeting_text"), "'" + start + "1+1");
    EXPECT_EQ(safe[0].at("tls_error"), "'" + r.probes[0].session.tls_error);

    WriterOptions raw;
    raw.csv_raw_cells = true;
    const auto kept = WriteRows(r, raw);
    ASSERT_THAT(kept, SizeIs(1));
    EXPECT_EQ(kept[0].at("input"), r.input);
    EXPECT_EQ(kept[0].at("greeting_text"), start + "1+1");
    EXPECT_EQ(kept[0].at("tls_error"), r.probes[0].session.tls_error);
  }
}

TEST(CsvWriterTest, FormulaNeutralisedInDomainAndInvalidRows) {
  DomainRecord d = NullMxDomainRecord();
  d.input = "=1+2";
  d.status_detail = "@x";
  const auto drows = WriteRows(d);
  ASSERT_THAT(drows, SizeIs(1));
  EXPECT_EQ(drows[0].at("input"), "'=1+2");
  EXPECT_EQ(drows[0].at("status_detail"), "'@x");

  InvalidInputRecord i;
  i.line = 1;
  i.input = "-2+3";
  i.reason = "+bad";
  const auto irows = WriteRows(i);
  ASSERT_THAT(irows, SizeIs(1));
  EXPECT_EQ(irows[0].at("input"), "'-2+3");
  EXPECT_EQ(irows[0].at("status_detail"), "'+bad");
}

struct CellCase {
  const char* name;
  std::string in;
  bool raw;
  std::string want;
};

class AppendCsvCellTest : public ::testing::TestWithParam<CellCase> {};

TEST_P(AppendCsvCellTest, Writes) {
  EXPECT_EQ(Cell(GetParam().in, GetParam().raw), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    Table, AppendCsvCellTest,
    ::testing::Values(
        CellCase{"Empty", "", false, ""},
        CellCase{"Plain", "mx.example.com", false, "mx.example.com"},
        CellCase{"Spaces", " a b ", false, " a b "},
        CellCase{"Comma", "a,b", false, "\"a,b\""},
        CellCase{"Quote", "say \"hi\"", false, "\"say \"\"hi\"\"\""},
        CellCase{"OnlyQuote", "\"", false, "\"\"\"\""},
        CellCase{"Crlf", "a\r\nb", false, "\"a\r\nb\""},
        CellCase{"Lf", "a\nb", false, "\"a\nb\""},
        CellCase{"CrInside", "a\rb", false, "\"a\rb\""},
        CellCase{"Semicolon", "a;b", false, "a;b"},
        CellCase{"Equals", "=1+2", false, "'=1+2"},
        CellCase{"Plus", "+1", false, "'+1"},
        CellCase{"Minus", "-1", false, "'-1"},
        CellCase{"At", "@SUM(A1)", false, "'@SUM(A1)"},
        CellCase{"Tab", "\tx", false, "'\tx"},
        CellCase{"LeadingCr", "\rx", false, "\"'\rx\""},
        CellCase{"FormulaWithComma", "=a,b", false, "\"'=a,b\""},
        CellCase{"FormulaWithQuote", "=\"x\"", false, "\"'=\"\"x\"\"\""},
        CellCase{"EqualsInside", "a=b", false, "a=b"},
        CellCase{"LeadingSpaceThenEquals", " =x", false, " =x"},
        CellCase{"Apostrophe", "'=x", false, "'=x"},
        CellCase{"LeadingLf", "\nx", false, "\"\nx\""},
        CellCase{"RawEquals", "=1+2", true, "=1+2"},
        CellCase{"RawTab", "\tx", true, "\tx"},
        CellCase{"RawLeadingCr", "\rx", true, "\"\rx\""},
        CellCase{"RawStillQuotes", "a,\"b\"", true, "\"a,\"\"b\"\"\""},
        CellCase{"Utf8Kept",
                 "b\xC3\xBC"
                 "cher \xF0\x9F\x98\x80",
                 false,
                 "b\xC3\xBC"
                 "cher \xF0\x9F\x98\x80"},
        CellCase{"InvalidReplaced",
                 "a\xFF"
                 "b",
                 false,
                 "a\xEF\xBF\xBD"
                 "b"},
        CellCase{"InvalidReplacedRaw", "\xC0\xAF", true, "\xEF\xBF\xBD"},
        CellCase{"NulReplaced", std::string("a\0b", 3), false,
                 "a\xEF\xBF\xBD"
                 "b"},
        CellCase{"NulBeforeEquals", std::string("\0=", 2), false,
                 "\xEF\xBF\xBD="},
        CellCase{"InvalidThenComma", "\x80,", false, "\"\xEF\xBF\xBD,\""}),
    [](const ::testing::TestParamInfo<CellCase>& param_info) {
      return std::string(param_info.param.name);
    });

TEST(AppendCsvCellTest, Appends) {
  std::string out = "x,";
  AppendCsvCell("y", false, &out);
  EXPECT_EQ(out, "x,y");
}

// What a cell holding `bytes` must read back as.
std::string Expected(absl::string_view bytes, bool raw) {
  std::string text = ToValidUtf8(bytes);
  if (!raw && !text.empty() &&
      absl::string_view("=+-@\t\r").find(text[0]) != absl::string_view::npos) {
    text.insert(0, "'");
  }
  return text;
}

void ExpectHostileRowsParse(const std::string& bytes, bool raw) {
  WriterOptions options;
  options.csv_raw_cells = raw;
  CsvWriter writer(options);
  std::string out;
  AddressRecord a =
      AddressRecordOf(1, bytes, {HostileProbe(bytes), HostileProbe(bytes)});
  a.host = bytes;
  a.status_detail = bytes;
  writer.Write(a, &out);
  DomainRecord d = ExampleDomainRecord();
  d.input = bytes;
  d.domain = bytes;
  d.status_detail = bytes;
  d.mx[0].name = bytes;
  d.probes[0].host = bytes;
  d.probes.push_back(HostileProbe(bytes));
  writer.Write(d, &out);
  InvalidInputRecord i;
  i.input = bytes;
  i.reason = bytes;
  writer.Write(i, &out);

  ASSERT_TRUE(IsStrictUtf8(out));
  Rows rows;
  std::string error;
  ASSERT_TRUE(ParseCsv(out, &rows, &error)) << error;
  ASSERT_THAT(rows, SizeIs(2 + 3 + 1));
  for (const auto& row : rows) {
    ASSERT_THAT(row, SizeIs(CsvColumns().size()));
    for (const std::string& cell : row) {
      ASSERT_EQ(cell.find('\0'), std::string::npos);
    }
  }
  const std::string want = Expected(bytes, raw);
  for (const auto& row : rows) EXPECT_EQ(Cells(row).at("input"), want);
  for (int k : {0, 1}) {
    const auto hostile = Cells(rows[k]);
    EXPECT_EQ(hostile.at("mx_host"), want);
    EXPECT_EQ(hostile.at("status_detail"), want);
    EXPECT_EQ(hostile.at("probe_status_detail"), want);
    EXPECT_EQ(hostile.at("ehlo_domain"), want);
    EXPECT_EQ(hostile.at("tls_error"), want);
  }
  EXPECT_EQ(Cells(rows[2]).at("domain"), want);
  // The probe of the hostile MX name still finds its preference.
  EXPECT_EQ(Cells(rows[2]).at("mx_preference"), "10");
  EXPECT_EQ(Cells(rows[5]).at("status_detail"), want);
}

TEST(CsvWriterTest, EveryByteValue) {
  ExpectHostileRowsParse(AllBytes(), false);
  ExpectHostileRowsParse(AllBytes(), true);
}

TEST(CsvWriterTest, HostileText) {
  ExpectHostileRowsParse(HostileText(), false);
  ExpectHostileRowsParse(HostileText(), true);
}

TEST(CsvWriterTest, RandomBytesAlwaysGiveParseableRows) {
  int i = 0;
  for (const std::string& bytes : RandomByteStrings(1000, 40, 4180)) {
    SCOPED_TRACE(::testing::PrintToString(bytes));
    ExpectHostileRowsParse(bytes, ++i % 3 == 0);
    if (HasFailure()) return;  // one counterexample is enough
  }
}

TEST(CsvWriterTest, RunColumnsOnEveryRowOfARun) {
  absl::Time now = absl::FromUnixMicros(1715000000123456);
  WriterOptions options;
  options.scan_id = "0a1b2c3d";
  options.clock = [&now] { return now; };
  CsvWriter writer(options);
  std::string out;
  writer.Write(ExampleInvalidRecord(), &out);
  EXPECT_EQ(out,
            "9,\"not an address, \"\"quoted\"\"\",invalid,,invalid-input,"
            "neither an address nor a domain" +
                std::string(CsvColumns().size() - 7, ',') +
                "0a1b2c3d,2024-05-06T12:53:20.123Z\r\n");
  // Every row of a record: the same id, the time the record was written.
  now += absl::Seconds(1);
  const auto rows = WriteRows(ExampleDomainRecord(), options);
  ASSERT_THAT(rows, SizeIs(2));
  for (const auto& row : rows) {
    EXPECT_EQ(row.at("scan_id"), "0a1b2c3d");
    EXPECT_EQ(row.at("time"), "2024-05-06T12:53:21.123Z");
  }
}

TEST(CsvWriterTest, RunColumnsEmptyWithoutScanId) {
  for (const auto& row : WriteRows(ExampleDomainRecord())) {
    EXPECT_EQ(row.at("scan_id"), "");
    EXPECT_EQ(row.at("time"), "");
  }
}

}  // namespace
}  // namespace smtpscan::output
