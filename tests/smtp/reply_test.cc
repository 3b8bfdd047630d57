#include "smtp/reply.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "gtest/gtest.h"
#include "smtp/test_support.h"

namespace smtpscan::smtp {
namespace {

using test::MakeReply;

struct EnhancedCase {
  std::string text;
  bool ok;
  EnhancedStatusCode code = {};
  size_t length = 0;
};

TEST(ParseEnhancedStatusCodeTest, Table) {
  const EnhancedCase kCases[] = {
      {"2.0.0", true, {2, 0, 0}, 5},
      {"2.1.0 Ok", true, {2, 1, 0}, 5},
      {"5.7.1 Relaying denied", true, {5, 7, 1}, 5},
      {"4.4.2 ", true, {4, 4, 2}, 5},
      {"5.12.3 x", true, {5, 12, 3}, 6},
      {"5.123.456", true, {5, 123, 456}, 9},
      {"5.1.999 x", true, {5, 1, 999}, 7},
      {"2.01.001", true, {2, 1, 1}, 8},  // 1*3digit: leading zeros allowed
      {"5.7.1  two spaces", true, {5, 7, 1}, 5},
      // Four digits in subject or detail.
      {"5.1234.1", false},
      {"5.1.1234", false},
      {"5.1000.1 x", false},
      // Class must be 2, 4 or 5.
      {"3.1.1", false},
      {"1.0.0", false},
      {"0.0.0", false},
      {"6.0.0", false},
      {"20.0.0", false},
      // Must be followed by a space or the end.
      {"2.0.0x", false},
      {"2.0.0.", false},
      {"2.0.0\t", false},
      {"2.0.0-", false},
      {"2.0.0\r", false},
      // Malformed.
      {"", false},
      {"2", false},
      {"2.0", false},
      {"2.0.", false},
      {"2..0", false},
      {"2.0..", false},
      {"2..0.0", false},
      {"2.a.0", false},
      {"2.0.a", false},
      {"2-0-0", false},
      {"2,0,0", false},
      {" 2.0.0", false},
      {".2.0.0", false},
      {"x.0.0", false},
  };
  for (const EnhancedCase& c : kCases) {
    SCOPED_TRACE(absl::CHexEscape(c.text));
    EnhancedStatusCode code{9, 9, 9};
    size_t length = 99;
    EXPECT_EQ(ParseEnhancedStatusCode(c.text, &code, &length), c.ok);
    if (c.ok) {
      EXPECT_EQ(code, c.code);
      EXPECT_EQ(length, c.length);
    } else {
      // Outputs are stored only on success.
      EXPECT_EQ(code, (EnhancedStatusCode{9, 9, 9}));
      EXPECT_EQ(length, 99u);
    }
  }
}

TEST(ParseEnhancedStatusCodeTest, LooksOnlyAtTheGivenView) {
  // "2.0.0" followed by 'x' in memory, but the view ends before it.
  const absl::string_view text = absl::string_view("2.0.0x").substr(0, 5);
  EnhancedStatusCode code;
  size_t length = 0;
  ASSERT_TRUE(ParseEnhancedStatusCode(text, &code, &length));
  EXPECT_EQ(code, (EnhancedStatusCode{2, 0, 0}));
  EXPECT_EQ(length, 5u);
}

TEST(EnhancedStatusCodeTest, ToString) {
  EXPECT_EQ((EnhancedStatusCode{5, 7, 1}).ToString(), "5.7.1");
  EXPECT_EQ((EnhancedStatusCode{2, 0, 0}).ToString(), "2.0.0");
  EXPECT_EQ((EnhancedStatusCode{4, 123, 456}).ToString(), "4.123.456");
}

TEST(ReplyTest, ClassAndIsPositive) {
  struct {
    int code;
    int klass;
    bool positive;
  } const kCases[] = {
      {220, 2, true},  {250, 2, true},  {299, 2, true},  {354, 3, false},
      {421, 4, false}, {451, 4, false}, {502, 5, false}, {554, 5, false},
      {199, 1, false}, {0, 0, false},   {999, 9, false},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.code);
    const Reply r = MakeReply(c.code, {"x"});
    EXPECT_EQ(r.Class(), c.klass);
    EXPECT_EQ(r.IsPositive(), c.positive);
  }
}

TEST(ReplyTest, TextWithoutEnhanced) {
  struct Case {
    Reply reply;
    std::vector<std::string> want;  // one per line
  };
  const Case kCases[] = {
      {MakeReply(250, {"2.1.0 Ok"}, EnhancedStatusCode{2, 1, 0}), {"Ok"}},
      {MakeReply(250, {"2.0.0"}, EnhancedStatusCode{2, 0, 0}), {""}},
      {MakeReply(250, {"2.0.0 "}, EnhancedStatusCode{2, 0, 0}), {""}},
      // Only the one space after the code is removed.
      {MakeReply(250, {"2.0.0  Ok"}, EnhancedStatusCode{2, 0, 0}), {" Ok"}},
      {MakeReply(550, {"5.7.1 first", "5.7.1 second"},
                 EnhancedStatusCode{5, 7, 1}),
       {"first", "second"}},
      // Later lines may carry another subject/detail of the same class.
      {MakeReply(550, {"5.7.1 a", "5.1.1 b"}, EnhancedStatusCode{5, 7, 1}),
       {"a", "b"}},
      // A later line without a code, or with a code of another class.
      {MakeReply(550, {"5.7.1 a", "plain", "4.7.1 c"},
                 EnhancedStatusCode{5, 7, 1}),
       {"a", "plain", "4.7.1 c"}},
      // No enhanced code on the reply: nothing is removed.
      {MakeReply(250, {"5.1.1 x"}), {"5.1.1 x"}},
      {MakeReply(250, {"2.0.0 x"}), {"2.0.0 x"}},
      // Not a valid code: kept.
      {MakeReply(250, {"2.0.0", "2.0.0x", "2.0"}, EnhancedStatusCode{2, 0, 0}),
       {"", "2.0.0x", "2.0"}},
      {MakeReply(250, {"mail.example.com Hello"}), {"mail.example.com Hello"}},
      {MakeReply(250, {""}), {""}},
  };
  for (const Case& c : kCases) {
    ASSERT_EQ(c.reply.lines.size(), c.want.size());
    for (size_t i = 0; i < c.want.size(); ++i) {
      SCOPED_TRACE(c.reply.lines[i]);
      EXPECT_EQ(c.reply.TextWithoutEnhanced(i), c.want[i]);
    }
  }
}

TEST(ReplyTest, AnnouncedName) {
  struct Case {
    std::vector<std::string> lines;
    absl::string_view want;
  };
  const Case kCases[] = {
      {{"mail.example.com ESMTP Postfix"}, "mail.example.com"},
      {{"mail.example.com"}, "mail.example.com"},
      {{"mx.google.com at your service, [192.0.2.1]", "SIZE 157286400"},
       "mx.google.com"},
      {{"  mail.example.com ESMTP"}, "mail.example.com"},
      {{"\tmail.example.com\tESMTP"}, "mail.example.com"},
      {{"mail.example.com\tESMTP"}, "mail.example.com"},
      {{" \t mail.example.com \t ESMTP"}, "mail.example.com"},
      {{"[192.0.2.1] ESMTP"}, "[192.0.2.1]"},
      // Only the first line counts.
      {{"", "mail.example.com"}, ""},
      {{""}, ""},
      {{"   "}, ""},
      {{}, ""},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.lines.empty() ? "<no lines>" : c.lines[0]);
    EXPECT_EQ(MakeReply(220, c.lines).AnnouncedName(), c.want);
  }
}

TEST(ReplyTest, Equality) {
  Reply a = MakeReply(250, {"a"}, EnhancedStatusCode{2, 0, 0});
  a.wire_bytes = 7;
  Reply b = a;
  EXPECT_EQ(a, b);
  b.wire_bytes = 6;
  EXPECT_NE(a, b);
  b = a;
  b.enhanced.reset();
  EXPECT_NE(a, b);
  b = a;
  b.lines.push_back("b");
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace smtpscan::smtp
