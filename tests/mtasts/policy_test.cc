#include "mtasts/policy.h"

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smtpscan::mtasts {

// For gtest's messages (found by ADL, so outside the unnamed namespace).
void PrintTo(const Policy& p, std::ostream* os) {
  *os << "{version=" << p.version << " mode=" << p.mode << " mx=["
      << absl::StrJoin(p.mx, ",") << "] max_age=" << p.max_age << "}";
}

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kOk[] =
    "version: STSv1\n"
    "mode: enforce\n"
    "mx: mail.example.com\n"
    "mx: *.example.net\n"
    "mx: backupmx.example.com\n"
    "max_age: 604800\n";

// The error of a failed parse; fails the test on success. Checks that the
// error is one printable line.
std::string Error(absl::string_view body) {
  absl::StatusOr<Policy> p = ParsePolicy(body);
  EXPECT_FALSE(p.ok()) << "parsed: " << body;
  if (p.ok()) return "";
  const std::string message(p.status().message());
  EXPECT_FALSE(message.empty());
  for (char c : message) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "unprintable in: " << message;
  }
  EXPECT_LE(message.size(), 200u) << message;
  return message;
}

Policy MustParse(absl::string_view body) {
  absl::StatusOr<Policy> p = ParsePolicy(body);
  EXPECT_TRUE(p.ok()) << p.status() << " for: " << body;
  return p.ok() ? *p : Policy{};
}

TEST(ParsePolicyTest, RfcExampleWithLf) {
  const Policy p = MustParse(kOk);
  EXPECT_EQ(p.version, "STSv1");
  EXPECT_EQ(p.mode, "enforce");
  EXPECT_THAT(p.mx, ElementsAre("mail.example.com", "*.example.net",
                                "backupmx.example.com"));
  EXPECT_EQ(p.max_age, 604800);
}

TEST(ParsePolicyTest, CrlfGivesTheSamePolicy) {
  const std::string crlf = absl::StrReplaceAll(kOk, {{"\n", "\r\n"}});
  EXPECT_EQ(MustParse(crlf), MustParse(kOk));
}

TEST(ParsePolicyTest, MixedLineEndsAndNoFinalLineEnd) {
  const Policy p = MustParse(
      "version: STSv1\r\nmode: testing\nmx: mx.example.com\r\nmax_age: 86400");
  EXPECT_EQ(p.mode, "testing");
  EXPECT_EQ(p.max_age, 86400);
  EXPECT_THAT(p.mx, ElementsAre("mx.example.com"));
}

TEST(ParsePolicyTest, FieldsInAnyOrder) {
  const Policy p = MustParse(
      "max_age: 1\nmx: b.example\nmode: testing\nmx: a.example\n"
      "version: STSv1\n");
  EXPECT_EQ(p.version, "STSv1");
  EXPECT_THAT(p.mx, ElementsAre("b.example", "a.example"));
  EXPECT_EQ(p.max_age, 1);
}

TEST(ParsePolicyTest, WhitespaceAroundValuesAndKeys) {
  const Policy p = MustParse(
      "version:STSv1\n"
      "mode:\t enforce \t\n"
      "  mx :   mx.example.com   \r\n"
      "max_age:    86400\t\n");
  EXPECT_EQ(p.version, "STSv1");
  EXPECT_EQ(p.mode, "enforce");
  EXPECT_THAT(p.mx, ElementsAre("mx.example.com"));
  EXPECT_EQ(p.max_age, 86400);
}

TEST(ParsePolicyTest, BlankLinesAreSkipped) {
  const Policy p =
      MustParse("\n\nversion: STSv1\n\n  \nmode: none\r\n\r\nmax_age: 0\n\n\n");
  EXPECT_EQ(p.mode, "none");
  EXPECT_EQ(p.max_age, 0);
}

TEST(ParsePolicyTest, ModeNoneNeedsNoMx) {
  const Policy p = MustParse("version: STSv1\nmode: none\nmax_age: 86400\n");
  EXPECT_EQ(p.mode, "none");
  EXPECT_THAT(p.mx, IsEmpty());
}

TEST(ParsePolicyTest, ModeNoneMayHaveMx) {
  const Policy p =
      MustParse("version: STSv1\nmode: none\nmx: a.example\nmax_age: 5\n");
  EXPECT_THAT(p.mx, ElementsAre("a.example"));
}

TEST(ParsePolicyTest, MxIsLowerCasedAndMayRepeat) {
  const Policy p = MustParse(
      "version: STSv1\nmode: enforce\nmx: MX1.Example.COM\nmx: *.EXAMPLE.net\n"
      "mx: mx1.example.com\nmax_age: 5\n");
  EXPECT_THAT(
      p.mx, ElementsAre("mx1.example.com", "*.example.net", "mx1.example.com"));
}

TEST(ParsePolicyTest, UnknownKeysAreIgnored) {
  const Policy p = MustParse(
      "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\n"
      "x-extension: anything; goes = here\n"
      "future.key_1: \xc3\xa9t\xc3\xa9\n"
      "empty:\n"
      "weird key with spaces: value\n");
  EXPECT_EQ(
      p,
      MustParse("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\n"));
}

TEST(ParsePolicyTest, ValueMayContainColons) {
  // Only the first ':' separates: the rest belongs to the value.
  EXPECT_THAT(Error("version: STSv1\nmode: enforce:now\nmx: a\nmax_age: 5\n"),
              HasSubstr("unknown mode 'enforce:now'"));
  const Policy p = MustParse(
      "version: STSv1\nmode: none\nmax_age: 5\nnote: see https://x.test/\n");
  EXPECT_EQ(p.mode, "none");
}

TEST(ParsePolicyTest, MaxAgeLimits) {
  auto age = [](absl::string_view value) {
    return absl::StrCat("version: STSv1\nmode: none\nmax_age: ", value, "\n");
  };
  EXPECT_EQ(MustParse(age("0")).max_age, 0);
  EXPECT_EQ(MustParse(age("31557600")).max_age, 31557600);
  EXPECT_EQ(MustParse(age("0000000007")).max_age, 7);  // 10 digits
  EXPECT_THAT(Error(age("31557601")), HasSubstr("max_age '31557601'"));
  EXPECT_THAT(Error(age("9999999999")), HasSubstr("not a number of 0 to"));
  EXPECT_THAT(Error(age("00000000007")), HasSubstr("max_age"));  // 11 digits
  EXPECT_THAT(Error(age("99999999999999999999999999999999")),
              HasSubstr("max_age"));
  EXPECT_THAT(Error(age("18446744073709551617")), HasSubstr("max_age"));
  EXPECT_THAT(Error(age("-1")), HasSubstr("max_age '-1'"));
  EXPECT_THAT(Error(age("+5")), HasSubstr("max_age"));
  EXPECT_THAT(Error(age("1e6")), HasSubstr("max_age"));
  EXPECT_THAT(Error(age("86 400")), HasSubstr("max_age"));
  EXPECT_THAT(Error(age("0x10")), HasSubstr("max_age"));
  EXPECT_THAT(Error(age("")), HasSubstr("max_age ''"));
}

TEST(ParsePolicyTest, BadVersion) {
  EXPECT_THAT(Error("version: STSv2\nmode: none\nmax_age: 5\n"),
              HasSubstr("line 1: unsupported version 'STSv2'"));
  EXPECT_THAT(Error("version: stsv1\nmode: none\nmax_age: 5\n"),
              HasSubstr("unsupported version 'stsv1'"));
  EXPECT_THAT(Error("version:\nmode: none\nmax_age: 5\n"),
              HasSubstr("unsupported version ''"));
}

TEST(ParsePolicyTest, BadMode) {
  for (const char* mode : {"Enforce", "ENFORCE", "report", "", "enforce;",
                           "testing none", "non"}) {
    SCOPED_TRACE(mode);
    EXPECT_THAT(Error(absl::StrCat("version: STSv1\nmode: ", mode,
                                   "\nmx: a.example\nmax_age: 5\n")),
                HasSubstr("line 2: unknown mode"));
  }
}

TEST(ParsePolicyTest, MissingFields) {
  EXPECT_EQ(Error("mode: enforce\nmx: a.example\nmax_age: 5\n"),
            "no version field");
  EXPECT_EQ(Error("version: STSv1\nmx: a.example\nmax_age: 5\n"),
            "no mode field");
  EXPECT_EQ(Error("version: STSv1\nmode: enforce\nmx: a.example\n"),
            "no max_age field");
  EXPECT_EQ(Error("version: STSv1\nmode: enforce\nmax_age: 5\n"),
            "no mx field");
  EXPECT_EQ(Error("version: STSv1\nmode: testing\nmax_age: 5\n"),
            "no mx field");
}

TEST(ParsePolicyTest, KeysAreCaseSensitive) {
  EXPECT_EQ(Error("version: STSv1\nMode: enforce\nmx: a.example\nmax_age: 5\n"),
            "no mode field (found 'Mode': keys are case-sensitive)");
  EXPECT_EQ(Error("VERSION: STSv1\nmode: none\nmax_age: 5\n"),
            "no version field (found 'VERSION': keys are case-sensitive)");
  EXPECT_EQ(Error("version: STSv1\nmode: enforce\nMX: a.example\nmax_age: 5\n"),
            "no mx field (found 'MX': keys are case-sensitive)");
}

TEST(ParsePolicyTest, RepeatedFieldsAreErrors) {
  EXPECT_EQ(Error("version: STSv1\nversion: STSv1\nmode: none\nmax_age: 5\n"),
            "line 2: repeated version (first on line 1)");
  EXPECT_EQ(Error("version: STSv1\nmode: none\nmax_age: 5\nmode: none\n"),
            "line 4: repeated mode (first on line 2)");
  EXPECT_EQ(Error("max_age: 5\nversion: STSv1\nmode: none\n\nmax_age: 6\n"),
            "line 5: repeated max_age (first on line 1)");
}

TEST(ParsePolicyTest, LineWithoutColonOrKey) {
  EXPECT_EQ(Error("version: STSv1\nmode enforce\nmx: a\nmax_age: 5\n"),
            "line 2: no ':' in 'mode enforce'");
  EXPECT_EQ(Error("version: STSv1\n: enforce\nmode: none\nmax_age: 5\n"),
            "line 2: no key before ':' in ': enforce'");
}

TEST(ParsePolicyTest, EmptyBody) {
  EXPECT_EQ(Error(""), "empty policy");
  EXPECT_EQ(Error("\n"), "empty policy");
  EXPECT_EQ(Error(" \r\n\t\n"), "empty policy");
}

TEST(ParsePolicyTest, NulAndControlBytes) {
  using std::string_literals::operator""s;
  EXPECT_EQ(Error("version: STSv1\0\nmode: none\nmax_age: 5\n"s),
            "line 1: control character '\\x00'");
  EXPECT_EQ(Error("\0"s), "line 1: control character '\\x00'");
  EXPECT_EQ(Error("version: STSv1\nmode: none\nmax_age: 5\nx: a\0b\n"s),
            "line 4: control character '\\x00'");
  EXPECT_EQ(Error("version: STSv1\nmode: no\rne\nmax_age: 5\n"),
            "line 2: control character '\\r'");
  EXPECT_EQ(Error("version: STSv1\nmode: none\x7f\nmax_age: 5\n"),
            "line 2: control character '\\x7f'");
  // A lone CR is not a line end (sts-policy-term = LF / CRLF).
  EXPECT_EQ(Error("version: STSv1\rmode: none\rmax_age: 5\r"),
            "line 1: control character '\\r'");
}

TEST(ParsePolicyTest, NotAPolicyAtAll) {
  EXPECT_THAT(Error("<html><body>Not found</body></html>\n"),
              HasSubstr("line 1: no ':' in '<html><body>Not found</body>"
                        "</html>'"));
  EXPECT_THAT(Error("\xff\xfe\x00v\x00"), HasSubstr("line 1"));
}

TEST(ParsePolicyTest, LongValuesAreCutInErrors) {
  const std::string mode(5000, 'x');
  const std::string e =
      Error(absl::StrCat("version: STSv1\nmode: ", mode, "\nmax_age: 5\n"));
  EXPECT_THAT(e, HasSubstr("unknown mode 'xxxx"));
  EXPECT_THAT(e, HasSubstr("...'"));
  EXPECT_LT(e.size(), 100u);
}

TEST(ParsePolicyTest, EscapedBytesAreCutInErrorsToo) {
  const std::string e = Error(
      absl::StrCat("max_age: 5", std::string(300, '\xff'), "\nmode: none\n"));
  EXPECT_THAT(e, HasSubstr("line 1: max_age '5\\xff\\xff"));
  EXPECT_THAT(e, HasSubstr("...' is not a number"));
  EXPECT_LT(e.size(), 110u) << e;
}

TEST(ParsePolicyTest, BadMxValues) {
  for (const char* mx :
       {"", "*", "*.", "**.example.com", "a.*.example.com", "mx.example.com.",
        ".example.com", "mx..example.com", "-mx.example.com", "mx-.example.com",
        "mx_1.example.com", "mx example.com", "mx.example.com:25",
        "192.0.2.1:25", "*example.com", "*.-x.com", "\xc3\xa9.example"}) {
    SCOPED_TRACE(mx);
    EXPECT_THAT(Error(absl::StrCat("version: STSv1\nmode: enforce\nmx: ", mx,
                                   "\nmax_age: 5\n")),
                HasSubstr("line 3: mx '"));
  }
  const std::string label64(64, 'a');
  EXPECT_THAT(Error(absl::StrCat("version: STSv1\nmode: enforce\nmx: ", label64,
                                 ".example\nmax_age: 5\n")),
              HasSubstr("is not a host name"));
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  long_name += "example";  // 263 octets
  EXPECT_THAT(Error(absl::StrCat("version: STSv1\nmode: enforce\nmx: ",
                                 long_name, "\nmax_age: 5\n")),
              HasSubstr("is not a host name"));
}

TEST(ParsePolicyTest, GoodMxValues) {
  const std::string label63(63, 'a');
  for (const std::string& mx : std::vector<std::string>{
           "a", "mx1.example.com", "*.example.com", "xn--bcher-kva.example",
           "1.2.3.4", "a-b--c.d", label63, absl::StrCat("*.", label63)}) {
    SCOPED_TRACE(mx);
    MustParse(absl::StrCat("version: STSv1\nmode: enforce\nmx: ", mx,
                           "\nmax_age: 5\n"));
  }
}

TEST(ParsePolicyTest, FirstErrorWins) {
  EXPECT_EQ(Error("version: STSv2\nmode: bogus\n"),
            "line 1: unsupported version 'STSv2'");
}

TEST(ParsePolicyTest, EveryPrefix) {
  // A body cut at a line end lacks a field (max_age is the last line)
  // until it is whole; cut anywhere, it parses or fails with one line, never
  // crashes.
  const std::string crlf = absl::StrReplaceAll(kOk, {{"\n", "\r\n"}});
  for (size_t i = 0; i < crlf.size(); ++i) {
    const absl::string_view prefix = absl::string_view(crlf).substr(0, i);
    absl::StatusOr<Policy> p = ParsePolicy(prefix);
    if (i == 0 || crlf[i - 1] == '\n') {
      EXPECT_FALSE(p.ok()) << i;
      EXPECT_THAT(std::string(p.status().message()),
                  testing::AnyOf("empty policy", testing::StartsWith("no ")))
          << i;
    } else if (!p.ok()) {
      EXPECT_EQ(p.status().message().find('\n'), absl::string_view::npos);
    }
  }
  EXPECT_EQ(MustParse(crlf), MustParse(kOk));
}

TEST(MxPatternMatchesTest, Exact) {
  EXPECT_TRUE(MxPatternMatches("mail.example.com", "mail.example.com"));
  EXPECT_TRUE(MxPatternMatches("Mail.Example.COM", "mail.example.com"));
  EXPECT_TRUE(MxPatternMatches("mail.example.com", "MAIL.example.com"));
  EXPECT_FALSE(MxPatternMatches("mail.example.com", "mail2.example.com"));
  EXPECT_FALSE(MxPatternMatches("mail.example.com", "example.com"));
  EXPECT_FALSE(MxPatternMatches("mail.example.com", "a.mail.example.com"));
  EXPECT_FALSE(MxPatternMatches("example.com", "mail.example.com"));
}

TEST(MxPatternMatchesTest, WildcardIsOneLeftmostLabel) {
  EXPECT_TRUE(MxPatternMatches("*.example.com", "mx1.example.com"));
  EXPECT_TRUE(MxPatternMatches("*.example.com", "MX1.EXAMPLE.COM"));
  EXPECT_TRUE(MxPatternMatches("*.EXAMPLE.com", "mx1.example.com"));
  EXPECT_TRUE(MxPatternMatches("*.example.com", "x.example.com"));
  EXPECT_FALSE(MxPatternMatches("*.example.com", "example.com"));
  EXPECT_FALSE(MxPatternMatches("*.example.com", ".example.com"));
  EXPECT_FALSE(MxPatternMatches("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(MxPatternMatches("*.example.com", "mx1.example.org"));
  EXPECT_FALSE(MxPatternMatches("*.example.com", "mx1example.com"));
  EXPECT_FALSE(MxPatternMatches("*.example.com", "mx1.notexample.com"));
  EXPECT_FALSE(MxPatternMatches("*.example.com", "mx1.example.com.evil"));
}

TEST(MxPatternMatchesTest, TrailingDotsAndDegenerateInput) {
  EXPECT_TRUE(MxPatternMatches("mail.example.com", "mail.example.com."));
  EXPECT_TRUE(MxPatternMatches("*.example.com", "mx.example.com."));
  EXPECT_FALSE(MxPatternMatches("", ""));
  EXPECT_FALSE(MxPatternMatches("", "a"));
  EXPECT_FALSE(MxPatternMatches("a", ""));
  EXPECT_FALSE(MxPatternMatches(".", "."));
  EXPECT_FALSE(MxPatternMatches("*", "a"));
  EXPECT_FALSE(MxPatternMatches("*.", "a."));
  EXPECT_FALSE(MxPatternMatches("*.", "a"));
  EXPECT_TRUE(MxPatternMatches("*.com", "a.com"));
  // "*" is only a wildcard as the whole leftmost label.
  EXPECT_FALSE(MxPatternMatches("mx*.example.com", "mx1.example.com"));
  EXPECT_FALSE(MxPatternMatches("a.*.example.com", "a.b.example.com"));
}

TEST(PolicyMatchesHostTest, AnyPattern) {
  const Policy p = MustParse(kOk);
  EXPECT_TRUE(PolicyMatchesHost(p, "mail.example.com"));
  EXPECT_TRUE(PolicyMatchesHost(p, "backupmx.example.com"));
  EXPECT_TRUE(PolicyMatchesHost(p, "anything.example.net"));
  EXPECT_FALSE(PolicyMatchesHost(p, "example.net"));
  EXPECT_FALSE(PolicyMatchesHost(p, "a.b.example.net"));
  EXPECT_FALSE(PolicyMatchesHost(p, "other.example.com"));
  EXPECT_FALSE(PolicyMatchesHost(Policy{}, "mail.example.com"));
}

}  // namespace
}  // namespace smtpscan::mtasts
