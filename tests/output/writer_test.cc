#include "output/writer.h"

#include <memory>
#include <string>

#include "absl/time/time.h"
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
  // Compressed output (output/sink.h) keeps the format of its inner name.
  EXPECT_EQ(FormatForPath("x.csv.gz"), Format::kCsv);
  EXPECT_EQ(FormatForPath("x.CSV.ZST"), Format::kCsv);
}

TEST(FormatForPathTest, EverythingElseIsNdjson) {
  EXPECT_EQ(FormatForPath("x.ndjson"), Format::kNdjson);
  EXPECT_EQ(FormatForPath("x.json"), Format::kNdjson);
  EXPECT_EQ(FormatForPath("-"), Format::kNdjson);
  EXPECT_EQ(FormatForPath(""), Format::kNdjson);
  EXPECT_EQ(FormatForPath("csv"), Format::kNdjson);
  EXPECT_EQ(FormatForPath("x.ndjson.zst"), Format::kNdjson);
  EXPECT_EQ(FormatForPath("x.gz"), Format::kNdjson);
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

TEST(MakeWriterTest, PassesScanIdAndClockOn) {
  WriterOptions options;
  options.scan_id = "0a1b2c3d";
  options.clock = [] { return absl::FromUnixMillis(1715000000042); };
  for (Format format : {Format::kNdjson, Format::kCsv}) {
    std::string out;
    MakeWriter(format, options)->Write(fixtures::ExampleInvalidRecord(), &out);
    EXPECT_NE(out.find("0a1b2c3d"), std::string::npos) << out;
    EXPECT_NE(out.find("2024-05-06T12:53:20.042Z"), std::string::npos) << out;
  }
}

TEST(RecordClockTest, MillisecondsRoundedDownWithZ) {
  RecordClock clock({});
  EXPECT_EQ(clock.Format(absl::FromUnixMicros(1715000000123999)),
            "2024-05-06T12:53:20.123Z");
  EXPECT_EQ(clock.Format(absl::FromUnixSeconds(0)), "1970-01-01T00:00:00.000Z");
  // Before 1970 the fraction still counts forward from the second.
  EXPECT_EQ(clock.Format(absl::FromUnixMicros(-1)), "1969-12-31T23:59:59.999Z");
}

TEST(RecordClockTest, SameAsAbslFormatTimeAcrossSeconds) {
  RecordClock clock({});
  const absl::Time base = absl::FromUnixMicros(1715000000999000);
  // Back and forth across second, day and year boundaries: the cached
  // date must never leak into another second.
  for (absl::Duration step :
       {absl::ZeroDuration(), absl::Microseconds(999), absl::Milliseconds(1),
        absl::Seconds(-1), absl::Hours(24), absl::Hours(-24 * 400),
        absl::Microseconds(1), absl::Seconds(59)}) {
    const absl::Time t = base + step;
    EXPECT_EQ(clock.Format(t),
              absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()))
        << step;
  }
}

TEST(RecordClockTest, NowReadsTheGivenClock) {
  absl::Time now = absl::FromUnixSeconds(1715000000);
  RecordClock clock([&now] { return now; });
  EXPECT_EQ(clock.Now(), "2024-05-06T12:53:20.000Z");
  now += absl::Milliseconds(1500);
  EXPECT_EQ(clock.Now(), "2024-05-06T12:53:21.500Z");
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
