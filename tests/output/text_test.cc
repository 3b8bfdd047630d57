#include "output/text.h"

#include <random>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "output/record_fixtures.h"

namespace smtpscan::output {
namespace {

using fixtures::AllBytes;
using fixtures::AsciiWithoutNul;
using fixtures::IsStrictUtf8;
using fixtures::RandomByteStrings;

constexpr absl::string_view kFffd = "\xEF\xBF\xBD";

std::string Fffd(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.append(kFffd.data(), kFffd.size());
  return s;
}

// Checks our own validator first, since every other test relies on it.
TEST(IsStrictUtf8Test, AgreesWithKnownCases) {
  EXPECT_TRUE(IsStrictUtf8(""));
  EXPECT_TRUE(IsStrictUtf8("plain"));
  EXPECT_TRUE(IsStrictUtf8("\xC3\xBC\xE2\x82\xAC\xF0\x9F\x98\x80"));
  EXPECT_TRUE(IsStrictUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  EXPECT_FALSE(IsStrictUtf8("\x80"));
  EXPECT_FALSE(IsStrictUtf8("\xE2\x82"));
  EXPECT_FALSE(IsStrictUtf8("\xC0\xAF"));
  EXPECT_FALSE(IsStrictUtf8("\xE0\x80\xAF"));
  EXPECT_FALSE(IsStrictUtf8("\xED\xA0\x80"));
  EXPECT_FALSE(IsStrictUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsStrictUtf8("\xFF"));
}

struct KeepCase {
  const char* name;
  std::string bytes;
};

class ToValidUtf8KeepsTest : public ::testing::TestWithParam<KeepCase> {};

TEST_P(ToValidUtf8KeepsTest, ValidTextIsByteIdentical) {
  const std::string& in = GetParam().bytes;
  EXPECT_EQ(ToValidUtf8(in), in);
}

INSTANTIATE_TEST_SUITE_P(
    ValidUtf8, ToValidUtf8KeepsTest,
    ::testing::Values(
        KeepCase{"Empty", ""},
        KeepCase{"Ascii", "220 mx.example.com ESMTP Postfix (Debian/GNU)"},
        KeepCase{"TwoByte",
                 "Gr\xC3\xBC\xC3\x9F"
                 "e \xC3\xA9t\xC3\xA9"},
        KeepCase{"ThreeByte", "\xE2\x82\xAC \xE6\x97\xA5\xE6\x9C\xAC"},
        KeepCase{"FourByteEmoji", "\xF0\x9F\x98\x80\xF0\x9F\x93\xA7"},
        KeepCase{"Boundaries",
                 "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80"
                 "\xF4\x8F\xBF\xBF"},
        KeepCase{"LineSeparators",
                 "a\xE2\x80\xA8"
                 "b\xE2\x80\xA9"
                 "c"},
        KeepCase{"ReplacementCharItself", "x\xEF\xBF\xBDy"},
        KeepCase{"ControlChars", "\x01\x07\x08\t\n\v\f\r\x1B[0m\x7F"}),
    [](const ::testing::TestParamInfo<KeepCase>& param_info) {
      return std::string(param_info.param.name);
    });

struct ReplaceCase {
  const char* name;
  std::string in;
  std::string want;
};

class ToValidUtf8ReplacesTest : public ::testing::TestWithParam<ReplaceCase> {};

TEST_P(ToValidUtf8ReplacesTest, InvalidSequenceBecomesReplacementChar) {
  const std::string got = ToValidUtf8(GetParam().in);
  EXPECT_EQ(got, GetParam().want);
  EXPECT_TRUE(IsStrictUtf8(got));
}

// One U+FFFD per invalid sequence, as utfcpp's replace_invalid does; the
// text around it is kept.
INSTANTIATE_TEST_SUITE_P(
    InvalidUtf8, ToValidUtf8ReplacesTest,
    ::testing::Values(
        ReplaceCase{"LoneContinuation", "a\x80z", "a" + Fffd(1) + "z"},
        ReplaceCase{"TwoLoneContinuations", "\x80\xBF", Fffd(2)},
        ReplaceCase{"TruncatedAtEnd", "a\xE2\x82", "a" + Fffd(1)},
        ReplaceCase{"TruncatedInMiddle", "a\xE2\x82z", "a" + Fffd(1) + "z"},
        ReplaceCase{"TruncatedFourByte", "\xF0\x9F\x98 ok", Fffd(1) + " ok"},
        ReplaceCase{"OverlongSlash", "/\xC0\xAF/", "/" + Fffd(1) + "/"},
        ReplaceCase{"OverlongThreeByte", "\xE0\x80\xAF", Fffd(1)},
        ReplaceCase{"Surrogate", "x\xED\xA0\x80y", "x" + Fffd(1) + "y"},
        ReplaceCase{"AboveMaxCodePoint", "\xF4\x90\x80\x80", Fffd(1)},
        ReplaceCase{"ByteFF", "\xFF", Fffd(1)},
        ReplaceCase{"ByteFE",
                    "a\xFE"
                    "b",
                    "a" + Fffd(1) + "b"},
        ReplaceCase{"Nul", std::string("a\0b", 3), "a" + Fffd(1) + "b"},
        ReplaceCase{"OnlyNuls", std::string(3, '\0'), Fffd(3)},
        ReplaceCase{"NulAndInvalid", std::string("\0\xFF", 2), Fffd(2)},
        ReplaceCase{"ValidAroundInvalid", "\xC3\xBC\xFF\xF0\x9F\x98\x80",
                    "\xC3\xBC" + Fffd(1) + "\xF0\x9F\x98\x80"}),
    [](const ::testing::TestParamInfo<ReplaceCase>& param_info) {
      return std::string(param_info.param.name);
    });

TEST(ToValidUtf8Test, KeepsControlCharactersOtherThanNul) {
  std::string in;
  for (int b = 1; b < 0x20; ++b) in.push_back(static_cast<char>(b));
  in.push_back('\x7F');
  EXPECT_EQ(ToValidUtf8(in), in);
}

TEST(ToValidUtf8Test, EveryByteValue) {
  const std::string got = ToValidUtf8(AllBytes());
  EXPECT_TRUE(IsStrictUtf8(got));
  EXPECT_EQ(got.find('\0'), std::string::npos);
  // 0x00 becomes U+FFFD, 0x01..0x7F stay, and 0x80..0xFF (no valid sequence
  // when in ascending order) each become U+FFFD.
  std::string want = Fffd(1);
  for (int b = 1; b < 0x80; ++b) want.push_back(static_cast<char>(b));
  EXPECT_EQ(got.substr(0, want.size()), want);
  EXPECT_EQ(AsciiWithoutNul(got), AsciiWithoutNul(AllBytes()));
}

TEST(ToValidUtf8Test, LongInputWithManyNuls) {
  std::string in;
  for (int i = 0; i < 1000; ++i) in += std::string("ab\0", 3);
  std::string want;
  for (int i = 0; i < 1000; ++i) want += "ab" + Fffd(1);
  EXPECT_EQ(ToValidUtf8(in), want);
}

TEST(ToValidUtf8Test, RandomBytesAlwaysGiveValidUtf8) {
  for (const std::string& in : RandomByteStrings(3000, 64, 20240506)) {
    const std::string got = ToValidUtf8(in);
    SCOPED_TRACE(::testing::PrintToString(in));
    ASSERT_TRUE(IsStrictUtf8(got));
    ASSERT_EQ(got.find('\0'), std::string::npos);
    // ASCII is never swallowed by a neighbouring invalid sequence.
    ASSERT_EQ(AsciiWithoutNul(got), AsciiWithoutNul(in));
    // Repairing twice changes nothing.
    ASSERT_EQ(ToValidUtf8(got), got);
    // nlohmann's strict mode accepts it as a JSON string.
    const std::string dumped = nlohmann::json(got).dump();
    ASSERT_EQ(nlohmann::json::parse(dumped).get<std::string>(), got);
  }
}

TEST(ValidUtf8Test, InvalidByteAfterAnyLengthOfAscii) {
  // The ASCII fast path steps eight bytes at a time: an invalid byte (or a
  // valid multibyte sequence) at any offset around those steps must be seen.
  std::string scratch;
  for (size_t prefix = 0; prefix < 40; ++prefix) {
    SCOPED_TRACE(prefix);
    const std::string ascii(prefix, 'a');
    EXPECT_EQ(ValidUtf8(ascii, &scratch), ascii);
    const std::string valid = ascii + "\xC3\xBC" + "tail";
    EXPECT_EQ(ValidUtf8(valid, &scratch).data(), valid.data());  // no copy
    const std::string invalid = ascii + "\xFF" + "tail";
    EXPECT_EQ(ValidUtf8(invalid, &scratch), ascii + Fffd(1) + "tail");
    const std::string cut = ascii + "\xE2\x82";  // truncated at the end
    EXPECT_TRUE(IsStrictUtf8(ValidUtf8(cut, &scratch)));
    EXPECT_NE(ValidUtf8(cut, &scratch), cut);
  }
}

TEST(TimestampFormatterTest, SameTextAsAbslFormatTime) {
  TimestampFormatter formatter;
  auto Expected = [](absl::Time t) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
  };
  std::vector<absl::Time> times = {
      absl::UnixEpoch(),
      absl::FromUnixMicros(1),
      absl::FromUnixMicros(-1),  // 1969-12-31T23:59:59.999999Z
      absl::FromUnixNanos(-1),   // rounds down to the microsecond too
      absl::FromUnixSeconds(-86400 * 365),
      absl::FromUnixMicros(1714979289012345),
      absl::FromUnixMicros(1714979289999999),
      absl::FromUnixMicros(1714979290000000),  // the next second
      absl::FromUnixNanos(1714979289012345999),
      absl::FromUnixSeconds(253402300799),  // 9999-12-31T23:59:59Z
  };
  std::mt19937_64 random(20261121);
  for (int i = 0; i < 2000; ++i) {
    // Clusters within a second and jumps back and forth between seconds.
    const int64_t base = 1700000000 + static_cast<int64_t>(random() % 5);
    times.push_back(absl::FromUnixNanos(
        base * 1'000'000'000 + static_cast<int64_t>(random() % 1'000'000'000)));
  }
  for (absl::Time t : times) {
    ASSERT_EQ(formatter.Format(t), Expected(t)) << absl::ToUnixNanos(t);
  }
}

}  // namespace
}  // namespace smtpscan::output
