#include "output/writer.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "output/csv_writer.h"
#include "output/ndjson_writer.h"
#include "output/record_fixtures.h"

namespace smtpscan::output {
namespace {

using ::testing::Optional;

TEST(ParseFormatTest, KnownNames) {
  EXPECT_THAT(ParseFormat("ndjson"), Optional(Format::kNdjson));
  // The command line offers exactly "ndjson" and "csv"; so does the parser.
  EXPECT_EQ(ParseFormat("json"), absl::nullopt);
  EXPECT_THAT(ParseFormat("csv"), Optional(Format::kCsv));
}

TEST(ParseFormatTest, EverythingElseIsRejected) {
  for (const char* name : {"", "xml", "tsv", "CSV", "NDJSON", "csv ", " csv",
                           "jsonl", "ndjson\n", "c"}) {
    EXPECT_FALSE(ParseFormat(name).has_value()) << '"' << name << '"';
  }
}

TEST(FormatForPathTest, CsvExtensionAnyCase) {
  EXPECT_EQ(FormatForPath("x.csv"), Format::kCsv);
  EXPECT_EQ(FormatForPath("X.CSV"), Format::kCsv);
  EXPECT_EQ(FormatForPath("out.Csv"), Format::kCsv);
  EXPECT_EQ(FormatForPath("/tmp/dir.d/results.csv"), Format::kCsv);
  EXPECT_EQ(FormatForPath(".csv"), Format::kCsv);
}

TEST(FormatForPathTest, EverythingElseIsNdjson) {
  EXPECT_EQ(FormatForPath("x.ndjson"), Format::kNdjson);
  EXPECT_EQ(FormatForPath("x.json"), Format::kNdjson);
  EXPECT_EQ(FormatForPath("-"), Format::kNdjson);
  EXPECT_EQ(FormatForPath(""), Format::kNdjson);
  EXPECT_EQ(FormatForPath("csv"), Format::kNdjson);
  EXPECT_EQ(FormatForPath("x.csv.gz"), Format::kNdjson);
  EXPECT_EQ(FormatForPath("x.csvx"), Format::kNdjson);
  EXPECT_EQ(FormatForPath("x_csv"), Format::kNdjson);
}

TEST(MakeWriterTest, ReturnsTheFormatsWriter) {
  std::unique_ptr<RecordWriter> csv = MakeWriter(Format::kCsv, {});
  ASSERT_NE(csv, nullptr);
  EXPECT_NE(dynamic_cast<CsvWriter*>(csv.get()), nullptr);
  std::unique_ptr<RecordWriter> ndjson = MakeWriter(Format::kNdjson, {});
  ASSERT_NE(ndjson, nullptr);
  EXPECT_NE(dynamic_cast<NdjsonWriter*>(ndjson.get()), nullptr);
}

TEST(MakeWriterTest, PassesOptionsOn) {
  const AddressRecord record = fixtures::PostfixAddressRecord();
  WriterOptions options;
  options.greeting_raw = true;
  std::string out;
  MakeWriter(Format::kNdjson, options)->Write(record, &out);
  EXPECT_NE(out.find("\"greeting_raw_b64\":"), std::string::npos) << out;
  out.clear();
  MakeWriter(Format::kNdjson, {})->Write(record, &out);
  EXPECT_EQ(out.find("greeting_raw_b64"), std::string::npos) << out;

  AddressRecord formula = record;
  formula.input = "=1+2";
  options.csv_raw_cells = true;
  out.clear();
  MakeWriter(Format::kCsv, options)->Write(formula, &out);
  EXPECT_EQ(out.rfind("7,=1+2,", 0), 0u) << out;
  out.clear();
  MakeWriter(Format::kCsv, {})->Write(formula, &out);
  EXPECT_EQ(out.rfind("7,'=1+2,", 0), 0u) << out;
}

TEST(MakeWriterTest, HeadersDiffer) {
  std::string csv;
  MakeWriter(Format::kCsv, {})->WriteHeader(&csv);
  EXPECT_EQ(csv.rfind("line,input,kind,", 0), 0u);
  EXPECT_EQ(csv.substr(csv.size() - 2), "\r\n");
  std::string ndjson;
  MakeWriter(Format::kNdjson, {})->WriteHeader(&ndjson);
  EXPECT_EQ(ndjson, "");
}

TEST(TlsModeNameTest, Names) {
  EXPECT_EQ(TlsModeName(TlsMode::kNone), "none");
  EXPECT_EQ(TlsModeName(TlsMode::kStartTls), "starttls");
  EXPECT_EQ(TlsModeName(TlsMode::kImplicit), "implicit");
}

TEST(TlsModeNameTest, DefaultIsStartTls) {
  EXPECT_EQ(ProbeResult().tls_mode, TlsMode::kStartTls);
}

}  // namespace
}  // namespace smtpscan::output
