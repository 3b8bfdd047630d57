#include "cli/progress.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smtpscan::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;

// A scan 65 s in, over a 1,000,000-byte input.
ProgressSnapshot Example() {
  ProgressSnapshot s;
  s.elapsed = absl::Seconds(65);
  s.lines_read = 12000;
  s.lines_in_progress = 500;
  s.records = 11500;
  s.records_success = 7050;
  s.input_bytes_read = 130000;
  s.input_bytes = 1000000;
  s.connections_open = 980;
  s.dns_in_flight = 57;
  return s;
}

TEST(FractionDoneTest, BytesReadDiscountedByLinesInProgress) {
  // 13% of the bytes, 11500 of the 12000 lines read done.
  EXPECT_THAT(FractionDone(Example()), Optional(0.13 * 11500 / 12000));
  ProgressSnapshot s = Example();
  s.lines_in_progress = 0;
  EXPECT_THAT(FractionDone(s), Optional(0.13));
  s.input_bytes_read = s.input_bytes;
  EXPECT_THAT(FractionDone(s), Optional(1.0));
}

TEST(FractionDoneTest, UnknownSizeOrNothingReadYet) {
  ProgressSnapshot s = Example();
  s.input_bytes = 0;
  EXPECT_EQ(FractionDone(s), absl::nullopt);
  s = Example();
  s.lines_read = 0;
  s.lines_in_progress = 0;
  EXPECT_THAT(FractionDone(s), Optional(0.0));
}

TEST(FractionDoneTest, NeverOutsideZeroToOne) {
  ProgressSnapshot s = Example();
  s.input_bytes_read = 2 * s.input_bytes;  // the file grew
  s.lines_in_progress = 0;
  EXPECT_THAT(FractionDone(s), Optional(1.0));
  s.lines_in_progress = s.lines_read + 5;  // a racy snapshot
  EXPECT_THAT(FractionDone(s), Optional(0.0));
}

TEST(ProgressFormatterTest, ExactLine) {
  ProgressFormatter f;
  // 12.46% done after 65 s: 65 * (1 - f) / f = 456.7 s left, rounded up.
  // The first line's interval is the whole run: 11500 / 65 = 176.9/s.
  EXPECT_EQ(f.Line(Example()),
            "0:01:05 12.4% ETA 0:07:37 lines 12000 records 11500 177/s "
            "avg 177/s conns 980 dns 57 ok 61.3%");
}

TEST(ProgressFormatterTest, IntervalRateFromThePreviousLine) {
  ProgressFormatter f;
  f.Line(Example());
  ProgressSnapshot s = Example();
  s.elapsed += absl::Seconds(2);
  s.records += 500;  // 250/s over the last 2 s
  s.records_success += 500;
  const std::string line = f.Line(s);
  EXPECT_NE(line.find(" records 12000 250/s avg 179/s "), std::string::npos)
      << line;
}

TEST(ProgressFormatterTest, UnderASecondSinceThePreviousLineGivesTheAverage) {
  ProgressFormatter f;
  f.Line(Example());
  ProgressSnapshot s = Example();
  s.elapsed += absl::Milliseconds(999);
  s.records += 500;
  const std::string line = f.Line(s);
  EXPECT_NE(line.find(" records 12000 182/s avg 182/s "), std::string::npos)
      << line;
}

TEST(ProgressFormatterTest, WithoutInputSizeOrDns) {
  ProgressFormatter f;
  ProgressSnapshot s = Example();
  s.input_bytes = 0;  // standard input
  s.dns_in_flight.reset();
  EXPECT_EQ(f.Line(s),
            "0:01:05 lines 12000 records 11500 177/s avg 177/s conns 980 "
            "ok 61.3%");
}

TEST(ProgressFormatterTest, AtTheStart) {
  ProgressFormatter f;
  ProgressSnapshot s;
  s.input_bytes = 100;
  EXPECT_EQ(f.Line(s),
            "0:00:00 0.0% ETA - lines 0 records 0 0.0/s avg 0.0/s conns 0 "
            "ok -");
}

TEST(ProgressFormatterTest, SlowRatesHaveOneDecimal) {
  ProgressFormatter f;
  ProgressSnapshot s;
  s.elapsed = absl::Seconds(4);
  s.records = 10;  // 2.5/s
  s.records_success = 1;
  const std::string line = f.Line(s);
  EXPECT_NE(line.find(" records 10 2.5/s avg 2.5/s "), std::string::npos)
      << line;
  EXPECT_NE(line.find(" ok 10.0%"), std::string::npos) << line;
}

TEST(ProgressFormatterTest, LongRunsAndTheEnd) {
  ProgressFormatter f;
  ProgressSnapshot s;
  s.elapsed = absl::Hours(100) + absl::Minutes(2) + absl::Seconds(3.9);
  s.lines_read = s.records = s.records_success = 1;
  s.input_bytes_read = s.input_bytes = 10;
  // Percent rounds down, so 100.0% and ETA 0:00:00 only when done.
  const std::string line = f.Line(s);
  EXPECT_EQ(line.rfind("100:02:03 100.0% ETA 0:00:00 lines 1 records 1 ", 0),
            0u)
      << line;
  EXPECT_NE(line.find(" ok 100.0%"), std::string::npos) << line;
  s.input_bytes_read = 9999;
  s.input_bytes = 10000;
  EXPECT_NE(f.Line(s).find(" 99.9% ETA 0:00:37 "), std::string::npos);
}

TEST(ProgressFormatterTest, HopelessEtaIsADash) {
  ProgressFormatter f;
  ProgressSnapshot s;
  s.elapsed = absl::Seconds(10);
  s.lines_read = 1;
  s.input_bytes_read = 1;
  s.input_bytes = uint64_t{1} << 40;
  EXPECT_EQ(f.Line(s).rfind("0:00:10 0.0% ETA - lines 1 ", 0), 0u);
}

// A reporter whose bytes land in a vector, one entry per write.
struct Capture {
  std::vector<std::string> writes;
  size_t columns = 0;

  ProgressReporter::Options Options(bool terminal, absl::Duration interval) {
    ProgressReporter::Options o;
    o.terminal = terminal;
    o.interval = interval;
    o.columns = [this] { return columns; };
    o.write = [this](absl::string_view bytes) { writes.emplace_back(bytes); };
    return o;
  }
};

ProgressSnapshot Small(int seconds, uint64_t records) {
  ProgressSnapshot s;
  s.elapsed = absl::Seconds(seconds);
  s.lines_read = records;
  s.records = records;
  s.records_success = records;
  return s;
}

const absl::Time kStart = absl::FromUnixSeconds(1715000000);

TEST(ProgressReporterTest, TerminalRedrawsInPlaceAndEndsWithNewline) {
  Capture c;
  ProgressReporter r(kStart, c.Options(/*terminal=*/true, absl::Seconds(1)));
  EXPECT_FALSE(r.Due(kStart));
  EXPECT_FALSE(r.Due(kStart + absl::Milliseconds(999)));
  ASSERT_TRUE(r.Due(kStart + absl::Seconds(1)));
  r.Report(kStart + absl::Seconds(1), Small(1, 10));
  r.Report(kStart + absl::Seconds(2), Small(2, 30));
  r.Finish(Small(2, 31));
  EXPECT_THAT(
      c.writes,
      ElementsAre(
          "\r0:00:01 lines 10 records 10 10/s avg 10/s conns 0 ok 100.0%"
          "\x1b[K",
          "\r0:00:02 lines 30 records 30 20/s avg 15/s conns 0 ok 100.0%"
          "\x1b[K",
          // Under a second since the last line: the average twice.
          "\r0:00:02 lines 31 records 31 16/s avg 16/s conns 0 ok 100.0%"
          "\x1b[K\n"));
}

TEST(ProgressReporterTest, TerminalLineIsCutToTheWidthLessOne) {
  Capture c;
  c.columns = 21;
  ProgressReporter r(kStart, c.Options(/*terminal=*/true, absl::Seconds(1)));
  r.Report(kStart + absl::Seconds(1), Small(1, 10));
  c.columns = 0;  // unknown: not cut
  r.Report(kStart + absl::Seconds(2), Small(2, 20));
  EXPECT_THAT(c.writes,
              ElementsAre("\r0:00:01 lines 10 rec\x1b[K",
                          "\r0:00:02 lines 20 records 20 10/s avg 10/s conns 0 "
                          "ok 100.0%\x1b[K"));
}

TEST(ProgressReporterTest, PlainLinesWithPrefixAndNothingAtTheEnd) {
  Capture c;
  ProgressReporter r(kStart, c.Options(/*terminal=*/false, absl::Seconds(10)));
  EXPECT_FALSE(r.Due(kStart + absl::Seconds(9)));
  ASSERT_TRUE(r.Due(kStart + absl::Seconds(10)));
  r.Report(kStart + absl::Seconds(10), Small(10, 100));
  r.Finish(Small(12, 120));
  EXPECT_THAT(c.writes,
              ElementsAre("smtpscan: 0:00:10 lines 100 records 100 10/s avg "
                          "10/s conns 0 ok 100.0%\n"));
}

TEST(ProgressReporterTest, TerminalWithNothingDrawnWritesNothingAtTheEnd) {
  Capture c;
  ProgressReporter r(kStart, c.Options(/*terminal=*/true, absl::Seconds(1)));
  r.Finish(Small(0, 3));
  EXPECT_THAT(c.writes, IsEmpty());
}

TEST(ProgressReporterTest, StaysOnTheStartsGridWhenLate) {
  Capture c;
  ProgressReporter r(kStart, c.Options(/*terminal=*/false, absl::Seconds(10)));
  // The loop was busy: the report at 10 s happens at 23.5 s. The next is
  // due at 30 s, not 33.5 s, and missed ones are not made up.
  r.Report(kStart + absl::Milliseconds(23500), Small(23, 1));
  EXPECT_FALSE(r.Due(kStart + absl::Milliseconds(29999)));
  EXPECT_TRUE(r.Due(kStart + absl::Seconds(30)));
  r.Report(kStart + absl::Seconds(30), Small(30, 2));
  EXPECT_FALSE(r.Due(kStart + absl::Milliseconds(39999)));
  EXPECT_TRUE(r.Due(kStart + absl::Seconds(40)));
}

}  // namespace
}  // namespace smtpscan::cli
