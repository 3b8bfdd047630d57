#include "smtp/ehlo.h"

#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "smtp/reply.h"
#include "smtp/reply_parser.h"
#include "smtp/test_support.h"

namespace smtpscan::smtp {

// gtest printer, so that a mismatch shows the extension.
void PrintTo(const Extension& ext, std::ostream* os) {
  *os << "{" << ext.keyword << " [";
  for (size_t i = 0; i < ext.params.size(); ++i) {
    *os << (i ? ", " : "") << ext.params[i];
  }
  *os << "]" << (ext.legacy_equals ? " legacy" : "") << "}";
}

namespace {

using test::MakeReply;

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A 250 EHLO reply whose first line is "mx.example.com" and whose further
// lines are `extension_lines`.
EhloReply Ehlo(std::vector<std::string> extension_lines) {
  std::vector<std::string> lines = {"mx.example.com"};
  for (std::string& l : extension_lines) lines.push_back(std::move(l));
  return ParseEhloReply(MakeReply(250, std::move(lines)));
}

Extension Ext(std::string keyword, std::vector<std::string> params = {},
              bool legacy_equals = false) {
  return Extension{std::move(keyword), std::move(params), legacy_equals};
}

struct ProductCase {
  std::string name;
  std::vector<std::string> lines;  // the reply's text lines
  std::string domain;
  std::string greet;
  std::vector<Extension> extensions;
  absl::optional<uint64_t> size_limit;
  std::vector<std::string> auth;
};

TEST(ParseEhloReplyTest, Products) {
  const ProductCase kCases[] = {
      {.name = "Postfix",
       .lines = {"mail.example.com", "PIPELINING", "SIZE 10240000", "VRFY",
                 "ETRN", "STARTTLS", "AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN",
                 "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8",
                 "CHUNKING"},
       .domain = "mail.example.com",
       .greet = "",
       .extensions = {Ext("PIPELINING"), Ext("SIZE", {"10240000"}), Ext("VRFY"),
                      Ext("ETRN"), Ext("STARTTLS"),
                      Ext("AUTH", {"PLAIN", "LOGIN"}),
                      Ext("AUTH", {"PLAIN", "LOGIN"}, true),
                      Ext("ENHANCEDSTATUSCODES"), Ext("8BITMIME"), Ext("DSN"),
                      Ext("SMTPUTF8"), Ext("CHUNKING")},
       .size_limit = 10240000,
       .auth = {"PLAIN", "LOGIN"}},
      {.name = "Exim",
       .lines = {"mail.example.com Hello client.example [192.0.2.1]",
                 "SIZE 52428800", "8BITMIME", "PIPELINING", "PIPE_CONNECT",
                 "CHUNKING", "STARTTLS", "PRDR", "HELP"},
       .domain = "mail.example.com",
       .greet = "Hello client.example [192.0.2.1]",
       .extensions = {Ext("SIZE", {"52428800"}), Ext("8BITMIME"),
                      Ext("PIPELINING"), Ext("PIPE_CONNECT"), Ext("CHUNKING"),
                      Ext("STARTTLS"), Ext("PRDR"), Ext("HELP")},
       .size_limit = 52428800,
       .auth = {}},
      {.name = "Sendmail",
       .lines = {"mail.example.com Hello client [192.0.2.1], pleased to meet "
                 "you",
                 "ENHANCEDSTATUSCODES", "EXPN", "VERB", "8BITMIME", "SIZE",
                 "DSN", "ETRN", "DELIVERBY", "HELP"},
       .domain = "mail.example.com",
       .greet = "Hello client [192.0.2.1], pleased to meet you",
       .extensions = {Ext("ENHANCEDSTATUSCODES"), Ext("EXPN"), Ext("VERB"),
                      Ext("8BITMIME"), Ext("SIZE"), Ext("DSN"), Ext("ETRN"),
                      Ext("DELIVERBY"), Ext("HELP")},
       .size_limit = absl::nullopt,  // SIZE without a number
       .auth = {}},
      {.name = "Exchange",
       .lines = {"mail.contoso.com Hello [192.0.2.1]", "SIZE 37748736",
                 "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS",
                 "X-ANONYMOUSTLS", "AUTH NTLM", "X-EXPS GSSAPI NTLM",
                 "8BITMIME", "BINARYMIME", "CHUNKING", "XRDST"},
       .domain = "mail.contoso.com",
       .greet = "Hello [192.0.2.1]",
       .extensions = {Ext("SIZE", {"37748736"}), Ext("PIPELINING"), Ext("DSN"),
                      Ext("ENHANCEDSTATUSCODES"), Ext("STARTTLS"),
                      Ext("X-ANONYMOUSTLS"), Ext("AUTH", {"NTLM"}),
                      Ext("X-EXPS", {"GSSAPI", "NTLM"}), Ext("8BITMIME"),
                      Ext("BINARYMIME"), Ext("CHUNKING"), Ext("XRDST")},
       .size_limit = 37748736,
       .auth = {"NTLM"}},  // X-EXPS is not AUTH
      {.name = "Gmail",
       .lines = {"mx.google.com at your service, [192.0.2.1]", "SIZE 157286400",
                 "8BITMIME", "STARTTLS", "ENHANCEDSTATUSCODES", "PIPELINING",
                 "CHUNKING", "SMTPUTF8"},
       .domain = "mx.google.com",
       .greet = "at your service, [192.0.2.1]",
       .extensions = {Ext("SIZE", {"157286400"}), Ext("8BITMIME"),
                      Ext("STARTTLS"), Ext("ENHANCEDSTATUSCODES"),
                      Ext("PIPELINING"), Ext("CHUNKING"), Ext("SMTPUTF8")},
       .size_limit = 157286400,
       .auth = {}},
  };
  for (const ProductCase& c : kCases) {
    SCOPED_TRACE(c.name);
    const Reply reply = MakeReply(250, c.lines);
    const EhloReply ehlo = ParseEhloReply(reply);
    EXPECT_EQ(ehlo.reply, reply);
    EXPECT_EQ(ehlo.domain, c.domain);
    EXPECT_EQ(ehlo.greet, c.greet);
    EXPECT_EQ(ehlo.extensions, c.extensions);
    EXPECT_EQ(ehlo.SizeLimit(), c.size_limit);
    EXPECT_EQ(ehlo.AuthMechanisms(), c.auth);
    std::vector<std::string> keywords;
    for (const Extension& ext : c.extensions) keywords.push_back(ext.keyword);
    EXPECT_EQ(ehlo.Keywords(), keywords);  // all already upper-case
    for (const Extension& ext : c.extensions) {
      EXPECT_TRUE(ehlo.Has(ext.keyword)) << ext.keyword;
    }
    EXPECT_FALSE(ehlo.Has("XCLIENT"));
  }
}

TEST(ParseEhloReplyTest, FromTheWire) {
  ReplyParser parser;
  const ReplyParser::Step step = parser.Parse(
      "250-mail.example.com Hello client.example [192.0.2.1]\r\n"
      "250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n"
      "250-PIPE_CONNECT\r\n250-CHUNKING\r\n250-STARTTLS\r\n250-PRDR\r\n"
      "250 HELP\r\n");
  ASSERT_EQ(step.result, ReplyParser::Result::kReply);
  const EhloReply ehlo = ParseEhloReply(parser.TakeReply());
  EXPECT_EQ(ehlo.domain, "mail.example.com");
  EXPECT_EQ(ehlo.greet, "Hello client.example [192.0.2.1]");
  EXPECT_THAT(ehlo.Keywords(),
              ElementsAre("SIZE", "8BITMIME", "PIPELINING", "PIPE_CONNECT",
                          "CHUNKING", "STARTTLS", "PRDR", "HELP"));
  EXPECT_EQ(ehlo.SizeLimit(), 52428800u);
}

TEST(ParseEhloReplyTest, DomainAndGreet) {
  struct Case {
    Reply reply;
    std::string domain;
    std::string greet;
  };
  const Case kCases[] = {
      {MakeReply(250, {"mx.example.com"}), "mx.example.com", ""},
      {MakeReply(250, {"mx.example.com Hello"}), "mx.example.com", "Hello"},
      {MakeReply(250, {"mx.example.com\tHello there"}), "mx.example.com",
       "Hello there"},
      {MakeReply(250, {"  mx.example.com   Hello  there  "}), "mx.example.com",
       "Hello  there"},
      {MakeReply(250, {"[192.0.2.25]"}), "[192.0.2.25]", ""},
      {MakeReply(250, {""}), "", ""},
      {MakeReply(250, {}), "", ""},
      // The enhanced status code is not the name.
      {MakeReply(250, {"2.0.0 mx.example.com Hello"},
                 EnhancedStatusCode{2, 0, 0}),
       "mx.example.com", "Hello"},
      // 421 starts with the server's name (RFC 5321 §3.8); other refusals
      // with an error message, which is not taken for a name.
      {MakeReply(421, {"mx.example.com Service not available, closing "
                       "transmission channel"}),
       "mx.example.com", "Service not available, closing transmission channel"},
      {MakeReply(502, {"5.5.2 Error: command not recognized"},
                 EnhancedStatusCode{5, 5, 2}),
       "", ""},
      {MakeReply(501, {"Syntactically invalid EHLO argument(s)"}), "", ""},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.reply.lines.empty() ? "<no lines>" : c.reply.lines[0]);
    const EhloReply ehlo = ParseEhloReply(c.reply);
    EXPECT_EQ(ehlo.domain, c.domain);
    EXPECT_EQ(ehlo.greet, c.greet);
  }
}

TEST(ParseEhloReplyTest, NonPositiveReplyHasNoExtensions) {
  for (int code : {421, 502, 550, 554}) {
    SCOPED_TRACE(code);
    const EhloReply ehlo =
        ParseEhloReply(MakeReply(code, {"mx.example.com no thanks", "SIZE 1000",
                                        "STARTTLS", "AUTH PLAIN"}));
    EXPECT_EQ(ehlo.domain, code == 421 ? "mx.example.com" : "");
    EXPECT_EQ(ehlo.greet, code == 421 ? "no thanks" : "");
    EXPECT_THAT(ehlo.extensions, IsEmpty());
    EXPECT_FALSE(ehlo.Has("STARTTLS"));
    EXPECT_EQ(ehlo.SizeLimit(), absl::nullopt);
    EXPECT_THAT(ehlo.AuthMechanisms(), IsEmpty());
    EXPECT_THAT(ehlo.Keywords(), IsEmpty());
  }
}

TEST(ParseEhloReplyTest, HeloReplyHasNoExtensions) {
  const EhloReply ehlo =
      ParseEhloReply(MakeReply(250, {"mx.example.com Hello client"}));
  EXPECT_EQ(ehlo.domain, "mx.example.com");
  EXPECT_THAT(ehlo.extensions, IsEmpty());
}

TEST(ParseEhloReplyTest, ParamsSplitOnSpacesAndTabs) {
  const EhloReply ehlo =
      Ehlo({"AUTH\tPLAIN\t LOGIN", "SIZE  1000", "8BITMIME ", "\tDSN",
            "X-EXPS GSSAPI NTLM", "XCLIENT NAME ADDR PROTO HELO"});
  EXPECT_THAT(ehlo.extensions,
              ElementsAre(Ext("AUTH", {"PLAIN", "LOGIN"}),
                          Ext("SIZE", {"1000"}), Ext("8BITMIME"), Ext("DSN"),
                          Ext("X-EXPS", {"GSSAPI", "NTLM"}),
                          Ext("XCLIENT", {"NAME", "ADDR", "PROTO", "HELO"})));
}

TEST(ParseEhloReplyTest, EmptyExtensionLinesAreSkipped) {
  const EhloReply ehlo = Ehlo({"", "PIPELINING", "   ", "\t", "8BITMIME", ""});
  EXPECT_THAT(ehlo.Keywords(), ElementsAre("PIPELINING", "8BITMIME"));
}

TEST(ParseEhloReplyTest, SpellingAndOrderPreserved) {
  const EhloReply ehlo =
      Ehlo({"starttls", "Pipelining", "SIZE 1000", "8bitmime", "X-Custom a"});
  EXPECT_THAT(
      ehlo.extensions,
      ElementsAre(Ext("starttls"), Ext("Pipelining"), Ext("SIZE", {"1000"}),
                  Ext("8bitmime"), Ext("X-Custom", {"a"})));
  EXPECT_THAT(ehlo.Keywords(), ElementsAre("STARTTLS", "PIPELINING", "SIZE",
                                           "8BITMIME", "X-CUSTOM"));
}

TEST(ParseEhloReplyTest, KeywordsKeepDuplicates) {
  const EhloReply ehlo = Ehlo({"AUTH PLAIN", "SIZE", "auth=LOGIN"});
  EXPECT_THAT(ehlo.Keywords(), ElementsAre("AUTH", "SIZE", "AUTH"));
}

TEST(EhloReplyTest, FindIgnoresCase) {
  const EhloReply ehlo = Ehlo({"starttls", "SIZE 100", "size 200", "Chunking"});
  for (const char* keyword : {"STARTTLS", "starttls", "StartTLS"}) {
    SCOPED_TRACE(keyword);
    const Extension* ext = ehlo.Find(keyword);
    ASSERT_NE(ext, nullptr);
    EXPECT_EQ(ext->keyword, "starttls");  // as sent
    EXPECT_TRUE(ehlo.Has(keyword));
  }
  EXPECT_TRUE(ehlo.Has("CHUNKING"));
  // The first of several.
  ASSERT_NE(ehlo.Find("Size"), nullptr);
  EXPECT_THAT(ehlo.Find("Size")->params, ElementsAre("100"));
  // Whole keywords only.
  EXPECT_FALSE(ehlo.Has("START"));
  EXPECT_FALSE(ehlo.Has("STARTTLSX"));
  EXPECT_FALSE(ehlo.Has(""));
  EXPECT_EQ(ehlo.Find("8BITMIME"), nullptr);
  // The first line is the name, not an extension.
  EXPECT_FALSE(ehlo.Has("mx.example.com"));
}

TEST(EhloReplyTest, SizeLimit) {
  struct Case {
    std::vector<std::string> lines;
    absl::optional<uint64_t> want;
  };
  const Case kCases[] = {
      {{"SIZE 52428800"}, 52428800},
      {{"SIZE 0"}, 0},  // RFC 1870: no fixed maximum
      {{"SIZE"}, absl::nullopt},
      {{"SIZE abc"}, absl::nullopt},
      {{"SIZE 12abc"}, absl::nullopt},
      {{"SIZE -1"}, absl::nullopt},
      {{"SIZE 1.5"}, absl::nullopt},
      {{"SIZE 99999999999999999999999"}, absl::nullopt},
      {{"SIZE 18446744073709551615"}, std::numeric_limits<uint64_t>::max()},
      {{"size 1000"}, 1000},
      {{"SIZE\t1000"}, 1000},
      {{"PIPELINING", "SIZE 1000", "8BITMIME"}, 1000},
      {{"PIPELINING"}, absl::nullopt},
      {{}, absl::nullopt},
      {{"SIZES 1000"}, absl::nullopt},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.lines.empty() ? "<none>" : absl::StrCat(c.lines[0], "..."));
    EXPECT_EQ(Ehlo(c.lines).SizeLimit(), c.want);
  }
}

TEST(EhloReplyTest, LegacyAuthEquals) {
  struct Case {
    std::string line;
    Extension want;
  };
  const Case kCases[] = {
      {"AUTH=LOGIN PLAIN", Ext("AUTH", {"LOGIN", "PLAIN"}, true)},
      {"AUTH=LOGIN", Ext("AUTH", {"LOGIN"}, true)},
      {"AUTH=", Ext("AUTH", {}, true)},
      {"auth=login", Ext("auth", {"login"}, true)},
      {"AUTH PLAIN LOGIN", Ext("AUTH", {"PLAIN", "LOGIN"}, false)},
      {"AUTH", Ext("AUTH", {}, false)},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.line);
    EXPECT_THAT(Ehlo({c.line}).extensions, ElementsAre(c.want));
  }
}

TEST(EhloReplyTest, AuthMechanisms) {
  struct Case {
    std::vector<std::string> lines;
    std::vector<std::string> want;
  };
  const Case kCases[] = {
      {{"AUTH PLAIN LOGIN", "AUTH=LOGIN PLAIN"}, {"PLAIN", "LOGIN"}},
      {{"AUTH=LOGIN PLAIN", "AUTH PLAIN LOGIN CRAM-MD5"},
       {"LOGIN", "PLAIN", "CRAM-MD5"}},
      {{"auth plain login", "AUTH=Login xoauth2"},
       {"PLAIN", "LOGIN", "XOAUTH2"}},
      {{"AUTH PLAIN PLAIN plain"}, {"PLAIN"}},
      {{"AUTH\tGSSAPI\tNTLM"}, {"GSSAPI", "NTLM"}},
      {{"AUTH NTLM", "X-EXPS GSSAPI NTLM"}, {"NTLM"}},
      {{"AUTH GSSAPI", "SIZE 100", "AUTH=LOGIN"}, {"GSSAPI", "LOGIN"}},
      {{"AUTH"}, {}},
      {{"AUTH="}, {}},
      {{"PIPELINING"}, {}},
      {{}, {}},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.lines.empty() ? "<none>" : c.lines[0]);
    EXPECT_EQ(Ehlo(c.lines).AuthMechanisms(), c.want);
  }
}

}  // namespace
}  // namespace smtpscan::smtp
