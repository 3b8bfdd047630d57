#include "dns/name.h"

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smtpscan::dns {
namespace {

using namespace std::string_literals;  // "\0"s keeps NUL bytes
using ::testing::HasSubstr;

// The parsed name as {ascii, unicode}, or the error message, so that one
// EXPECT_EQ shows everything on failure.
std::string Parse(absl::string_view text) {
  const absl::StatusOr<DomainName> name = ParseDomainName(text);
  if (!name.ok()) return absl::StrCat("error: ", name.status().message());
  return absl::StrCat(name->ascii, " | ", name->unicode);
}

// The promises a successful parse makes about its result.
void ExpectValidResult(absl::string_view input, const DomainName& name) {
  SCOPED_TRACE(absl::StrCat("input '", absl::CHexEscape(input), "'"));
  ASSERT_FALSE(name.ascii.empty());
  EXPECT_LE(name.ascii.size(), 253u);
  const std::vector<absl::string_view> labels = absl::StrSplit(name.ascii, '.');
  EXPECT_GE(labels.size(), 2u);
  for (absl::string_view label : labels) {
    ASSERT_FALSE(label.empty());
    EXPECT_LE(label.size(), 63u);
    EXPECT_NE(label.front(), '-');
    EXPECT_NE(label.back(), '-');
    for (char c : label) {
      EXPECT_TRUE(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')
          << "byte " << static_cast<int>(static_cast<unsigned char>(c));
    }
  }
  EXPECT_NE(name.unicode, name.ascii);
  EXPECT_FALSE(IsAddressLiteral(name.ascii));
  // Parsing either form again gives the same name.
  const absl::StatusOr<DomainName> again = ParseDomainName(name.ascii);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ascii, name.ascii);
  EXPECT_EQ(again->unicode, name.unicode);
  if (!name.unicode.empty()) {
    const absl::StatusOr<DomainName> from_unicode =
        ParseDomainName(name.unicode);
    ASSERT_TRUE(from_unicode.ok()) << from_unicode.status();
    EXPECT_EQ(from_unicode->ascii, name.ascii);
  }
}

// An error reason goes into one record field: a short line of printable
// ASCII, whatever the input held.
void ExpectOneLineReason(absl::string_view input, const absl::Status& status) {
  SCOPED_TRACE(absl::StrCat("input '", absl::CHexEscape(input), "'"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  const absl::string_view reason = status.message();
  EXPECT_FALSE(reason.empty());
  EXPECT_LE(reason.size(), 250u);
  for (char c : reason) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f)
        << "byte " << static_cast<int>(static_cast<unsigned char>(c))
        << " in reason: " << reason;
  }
}

TEST(DomainNameTest, PlainNames) {
  EXPECT_EQ(Parse("example.com"), "example.com | ");
  EXPECT_EQ(Parse("mail-1.example.co.uk"), "mail-1.example.co.uk | ");
  EXPECT_EQ(Parse("1e100.net"), "1e100.net | ");
  EXPECT_EQ(Parse("123.example"), "123.example | ");
  EXPECT_EQ(Parse("a.b"), "a.b | ");
  EXPECT_EQ(Parse("x1.y2.z3.example"), "x1.y2.z3.example | ");
}

TEST(DomainNameTest, LowerCasesAscii) {
  EXPECT_EQ(Parse("MX1.Example.COM"), "mx1.example.com | ");
  EXPECT_EQ(Parse("EXAMPLE.ORG."), "example.org | ");
}

TEST(DomainNameTest, RemovesOneTrailingDot) {
  EXPECT_EQ(Parse("example.com."), "example.com | ");
  EXPECT_EQ(Parse("example.com.."), "error: empty label in 'example.com..'");
  EXPECT_EQ(Parse("example.com..."), "error: empty label in 'example.com...'");
}

// Labels with '-' in the third and fourth positions are "reserved" for
// IDNA (RFC 5891 §4.2.3.1) but are ordinary host names that exist.
TEST(DomainNameTest, AcceptsReservedAsciiLabels) {
  EXPECT_EQ(Parse("r3---sn-4g5e.googlevideo.com"),
            "r3---sn-4g5e.googlevideo.com | ");
  EXPECT_EQ(Parse("ab--cd.example"), "ab--cd.example | ");
}

TEST(DomainNameTest, LabelAndNameLengthLimits) {
  const std::string label63(63, 'a');
  const std::string label64(64, 'a');
  EXPECT_EQ(Parse(label63 + ".example"), label63 + ".example | ");
  EXPECT_EQ(
      Parse(label64 + ".example"),
      "error: label longer than 63 octets: '" + label64.substr(0, 60) + "...'");

  // 4 labels: 63 + 63 + 63 + 61 octets and 3 dots = 253.
  const std::string name253 = absl::StrCat(label63, ".", label63, ".", label63,
                                           ".", std::string(61, 'b'));
  ASSERT_EQ(name253.size(), 253u);
  EXPECT_EQ(Parse(name253), name253 + " | ");
  EXPECT_EQ(Parse(name253 + "."), name253 + " | ");
  const std::string name254 = name253 + "b";
  EXPECT_EQ(Parse(name254), "error: domain name longer than 253 octets: '" +
                                name254.substr(0, 60) + "...'");
}

TEST(DomainNameTest, LengthLimitsApplyToTheALabelForm) {
  // 57 "ü" are 114 bytes of UTF-8 but a 63-octet A-label, "xn--tda" and
  // 56 "a": the limit is on the octets that go into the DNS.
  std::string u57;
  for (int i = 0; i < 57; ++i) u57 += "ü";
  const std::string a_label = "xn--tda" + std::string(56, 'a');
  ASSERT_EQ(a_label.size(), 63u);
  EXPECT_EQ(Parse(u57 + ".example"),
            absl::StrCat(a_label, ".example | ", u57, ".example"));
  EXPECT_EQ(Parse(a_label + ".example"),
            absl::StrCat(a_label, ".example | ", u57, ".example"));

  // One more makes a 64-octet A-label.
  EXPECT_THAT(Parse(u57 + "ü.example"),
              HasSubstr("...': label longer than 63 octets"));
  EXPECT_EQ(Parse(a_label + "a.example"),
            "error: label longer than 63 octets: '" +
                (a_label + "a").substr(0, 60) + "...'");
}

TEST(DomainNameTest, UnicodeToALabel) {
  EXPECT_EQ(Parse("Bücher.Example"), "xn--bcher-kva.example | bücher.example");
  EXPECT_EQ(Parse("bücher.example."), "xn--bcher-kva.example | bücher.example");
  EXPECT_EQ(Parse("mail.münchen.de"),
            "mail.xn--mnchen-3ya.de | mail.münchen.de");
  EXPECT_EQ(Parse("пример.рф"), "xn--e1afmkfd.xn--p1ai | пример.рф");
  EXPECT_EQ(Parse("ПРИМЕР.РФ"), "xn--e1afmkfd.xn--p1ai | пример.рф");
  EXPECT_EQ(Parse("日本語.jp"), "xn--wgv71a119e.jp | 日本語.jp");
}

TEST(DomainNameTest, ALabelToUnicode) {
  EXPECT_EQ(Parse("xn--bcher-kva.example"),
            "xn--bcher-kva.example | bücher.example");
  EXPECT_EQ(Parse("XN--BCHER-KVA.EXAMPLE"),
            "xn--bcher-kva.example | bücher.example");
  EXPECT_EQ(Parse("xn--e1afmkfd.xn--p1ai."),
            "xn--e1afmkfd.xn--p1ai | пример.рф");
  // A-label and U-label in one name.
  EXPECT_EQ(Parse("xn--bcher-kva.münchen.de"),
            "xn--bcher-kva.xn--mnchen-3ya.de | bücher.münchen.de");
}

// Non-transitional UTS #46 processing keeps "ß" and the final sigma, as
// IDNA2008 does; transitional processing would turn "straße" into
// "strasse".
TEST(DomainNameTest, NonTransitionalMapping) {
  EXPECT_EQ(Parse("straße.de"), "xn--strae-oqa.de | straße.de");
  EXPECT_EQ(Parse("STRASSE.de"), "strasse.de | ");
  EXPECT_EQ(Parse("xn--strae-oqa.de"), "xn--strae-oqa.de | straße.de");
  EXPECT_EQ(Parse("ς.example"), "xn--3xa.example | ς.example");
}

TEST(DomainNameTest, NormalisesAndMaps) {
  // "u" + COMBINING DIAERESIS is NFC-normalised to "ü".
  EXPECT_EQ(Parse("bu\u0308cher.example"),
            "xn--bcher-kva.example | bücher.example");
  // Full-width letters map to ASCII: no internationalised label remains.
  EXPECT_EQ(Parse("ｅｘａｍｐｌｅ.com"), "example.com | ");
  // U+3002 IDEOGRAPHIC FULL STOP separates labels like '.'.
  EXPECT_EQ(Parse("bücher。example"), "xn--bcher-kva.example | bücher.example");
  EXPECT_EQ(Parse("example.com。"), "example.com | ");
  // U+00AD SOFT HYPHEN is ignored by the mapping.
  EXPECT_EQ(Parse("ex\u00adample.com"), "example.com | ");
}

TEST(DomainNameTest, RejectsInvalidIdna) {
  EXPECT_EQ(Parse("😀.example"),
            "error: invalid label '\\xf0\\x9f\\x98\\x80': character not "
            "allowed in IDNA2008");
  // The A-label of the same emoji is checked just as strictly.
  EXPECT_EQ(Parse("xn--e28h.example"),
            "error: invalid label 'xn--e28h': character not allowed in "
            "IDNA2008");
  EXPECT_EQ(Parse("xn--ls8h.la"),
            "error: invalid label 'xn--ls8h': character not allowed in "
            "IDNA2008");
  EXPECT_EQ(Parse("xn--zz.example"),
            "error: invalid label 'xn--zz': invalid punycode");
  EXPECT_EQ(Parse("xn--.example"),
            "error: invalid label 'xn--': invalid punycode");
  // "xn--abc-" would decode to plain "abc": not a valid A-label.
  EXPECT_EQ(Parse("xn--abc-.example"),
            "error: invalid label 'xn--abc-': invalid punycode");
  // Decodes to "Ü": upper case is not a valid U-label.
  EXPECT_EQ(Parse("xn--wca.example"),
            "error: invalid label 'xn--wca': character not allowed in "
            "IDNA2008");
  // Decodes to "u" + COMBINING DIAERESIS: not NFC.
  EXPECT_EQ(Parse("xn--u-ccb.example"),
            "error: invalid label 'xn--u-ccb': not in Unicode NFC form");
  // Decodes to "a⒈", which UTS #46 would map to "a1.": a hidden dot.
  EXPECT_EQ(Parse("xn--a-ecp.ru"),
            "error: invalid label 'xn--a-ecp': character not allowed in "
            "IDNA2008");
  // Decodes to "a" NO-BREAK SPACE "b": libidn2's own A-label check lets it
  // through, the round trip (RFC 5891 §5.4) does not, since UTS #46 maps
  // U+00A0 to a space.
  EXPECT_EQ(Parse("xn--ab-1ca.example"),
            "error: invalid label 'xn--ab-1ca': A-label does not round-trip "
            "(RFC 5891 5.4)");
  EXPECT_EQ(Parse("xn--bcher-kvaxn--xn--bcher-kva.example"),
            "error: invalid label 'xn--bcher-kvaxn--xn--bcher-kva': A-label "
            "does not round-trip (RFC 5891 5.4)");
  // ZERO WIDTH JOINER outside the context where it is allowed.
  EXPECT_EQ(Parse("a\u200db.example"),
            "error: invalid label 'a\\xe2\\x80\\x8db': joiner or "
            "context-dependent character out of place");
  // A label that starts with a combining mark.
  EXPECT_EQ(Parse("\u0308a.example"),
            "error: invalid label '\\xcc\\x88a': starts with a combining mark");
  EXPECT_EQ(Parse("-ü.example"),
            "error: invalid label '-\\xc3\\xbc': starts or ends with '-'");
}

TEST(DomainNameTest, RejectsInvalidUtf8) {
  EXPECT_EQ(Parse("\xff.example"),
            "error: invalid label '\\xff': invalid UTF-8");
  EXPECT_EQ(Parse("b\xc3.example"),
            "error: invalid label 'b\\xc3': invalid UTF-8");
  // An over-long encoding of '.'.
  EXPECT_EQ(Parse("a\xc0\xae"
                  "b.example"),
            "error: invalid label 'a\\xc0\\xaeb': invalid UTF-8");
}

TEST(DomainNameTest, RejectsEmptyAndDots) {
  EXPECT_EQ(Parse(""), "error: empty domain name");
  EXPECT_EQ(Parse("."), "error: root name '.' is not a domain name");
  EXPECT_EQ(Parse(".."), "error: domain name starts with '.': '..'");
  EXPECT_EQ(Parse(".example.com"),
            "error: domain name starts with '.': '.example.com'");
  EXPECT_EQ(Parse("a..example"), "error: empty label in 'a..example'");
  EXPECT_EQ(Parse("bücher。。example"), "error: empty label");
  // A label of characters that UTS #46 ignores becomes empty.
  EXPECT_EQ(Parse("\u00ad.example.com"),
            "error: invalid label '\\xc2\\xad': maps to nothing");
  EXPECT_EQ(Parse("mail.\u00ad\ufe0f.example"),
            "error: invalid label '\\xc2\\xad\\xef\\xb8\\x8f': maps to "
            "nothing");
}

TEST(DomainNameTest, RejectsSingleLabels) {
  EXPECT_EQ(Parse("localhost"),
            "error: single label 'localhost', not a domain name");
  EXPECT_EQ(Parse("COM."), "error: single label 'com', not a domain name");
  EXPECT_EQ(Parse("bücher"),
            "error: single label 'xn--bcher-kva', not a domain name");
}

TEST(DomainNameTest, RejectsNonLdhCharacters) {
  EXPECT_EQ(Parse("_dmarc.example.com"),
            "error: invalid character '_' in label '_dmarc'");
  EXPECT_EQ(Parse("under_score.example"),
            "error: invalid character '_' in label 'under_score'");
  EXPECT_EQ(Parse("exa mple.com"),
            "error: invalid character ' ' in label 'exa mple'");
  EXPECT_EQ(Parse(" example.com"),
            "error: invalid character ' ' in label ' example'");
  EXPECT_EQ(Parse("user@example.com"),
            "error: invalid character '@' in label 'user@example'");
  EXPECT_EQ(Parse("*.example.com"),
            "error: invalid character '*' in label '*'");
  EXPECT_EQ(Parse("a\tb.example"),
            "error: invalid character '\\t' in label 'a\\tb'");
  EXPECT_EQ(Parse("a\x01.example"),
            "error: invalid character '\\x01' in label 'a\\x01'");
  EXPECT_EQ(Parse("example.com\r\n"),
            "error: invalid character '\\r' in label 'com\\r\\n'");
  // FULLWIDTH LOW LINE maps to '_', which is still not allowed.
  EXPECT_EQ(Parse("a\uff3fb.example"),
            "error: invalid character '_' in label 'a_b'");
}

TEST(DomainNameTest, RejectsHyphensAtLabelEnds) {
  EXPECT_EQ(Parse("-a.example"), "error: label '-a' starts or ends with '-'");
  EXPECT_EQ(Parse("a-.example"), "error: label 'a-' starts or ends with '-'");
  EXPECT_EQ(Parse("a.-"), "error: label '-' starts or ends with '-'");
  EXPECT_EQ(Parse("example.com-"),
            "error: label 'com-' starts or ends with '-'");
}

TEST(DomainNameTest, RejectsAddresses) {
  EXPECT_EQ(Parse("192.0.2.1"),
            "error: IP address '192.0.2.1', not a domain name");
  EXPECT_EQ(Parse("192.0.2.1."),
            "error: IP address '192.0.2.1.', not a domain name");
  EXPECT_EQ(Parse("2001:db8::1"),
            "error: IP address '2001:db8::1', not a domain name");
  EXPECT_EQ(Parse("[192.0.2.1]"),
            "error: address literal '[192.0.2.1]', not a domain name");
  EXPECT_EQ(Parse("[IPv6:2001:db8::1]"),
            "error: address literal '[IPv6:2001:db8::1]', not a domain name");
  // Not addresses for inet_pton, but no top-level domain is all digits.
  EXPECT_EQ(Parse("1.2.3"),
            "error: all-numeric top-level label in '1.2.3', not a domain name");
  EXPECT_EQ(Parse("10.0.0.256"),
            "error: all-numeric top-level label in '10.0.0.256', not a "
            "domain name");
  EXPECT_EQ(Parse("example.123"),
            "error: all-numeric top-level label in 'example.123', not a "
            "domain name");
  // Full-width digits map to an address.
  EXPECT_EQ(Parse("１９２.０.２.１"),
            "error: all-numeric top-level label in '192.0.2.1', not a domain "
            "name");
}

TEST(DomainNameTest, RejectsNulAndHugeInput) {
  EXPECT_EQ(Parse("exa\0mple.com"s), "error: NUL byte in domain name");
  EXPECT_EQ(Parse("example.com\0"s), "error: NUL byte in domain name");
  EXPECT_EQ(Parse("\0"s), "error: NUL byte in domain name");
  EXPECT_EQ(Parse(std::string(2 << 20, 'a')),
            "error: domain name longer than 1024 bytes");
  std::string huge_utf8;
  for (int i = 0; i < 100000; ++i) huge_utf8 += "ü.";
  EXPECT_EQ(Parse(huge_utf8), "error: domain name longer than 1024 bytes");
  // Just under the cap, the name is still parsed and refused for length.
  std::string near_cap;
  while (near_cap.size() < 1000) near_cap += "ü.";
  near_cap += "example";
  EXPECT_THAT(Parse(near_cap),
              HasSubstr("error: domain name longer than 253 octets"));
}

TEST(DomainNameTest, ReasonsAreShortPrintableLines) {
  const std::vector<std::string> inputs = {
      std::string(500, '\n') + ".example",
      "a\nb.example",
      std::string(200, '\xff') + ".example",
      "xn--" + std::string(300, 'z') + ".example",
      std::string(600, '_') + ".example",
      // Found by domain_name_fuzz: every byte escaped made a long reason.
      std::string(100, '\x0e') + "\u200d",
      "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀.example",
  };
  for (const std::string& input : inputs) {
    const absl::StatusOr<DomainName> name = ParseDomainName(input);
    ASSERT_FALSE(name.ok()) << absl::CHexEscape(input);
    ExpectOneLineReason(input, name.status());
  }
  // The quote is cut after 60 characters of escaped text, between escapes.
  std::string fifteen_escapes;
  for (int i = 0; i < 15; ++i) fifteen_escapes += "\\x01";
  EXPECT_EQ(
      Parse(std::string(50, '\x01') + ".example"),
      "error: invalid character '\\x01' in label '" + fifteen_escapes + "...'");
  EXPECT_EQ(Parse("it's.example"),
            "error: invalid character '\\'' in label 'it\\'s'");
}

// Every byte value in the middle, at the start and at the end of a label:
// never a crash, and accepted exactly when it is a letter, digit, '-'
// inside the label, or '.'.
TEST(DomainNameTest, EveryByteValueInALabel) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool ldh = absl::ascii_isalnum(static_cast<unsigned char>(b)) ||
                     c == '-' || c == '.';
    const std::string middle =
        absl::StrCat("a", std::string(1, c), "b.example");
    const absl::StatusOr<DomainName> name = ParseDomainName(middle);
    EXPECT_EQ(name.ok(), ldh) << "byte " << b;
    if (name.ok()) {
      EXPECT_EQ(name->ascii, absl::AsciiStrToLower(middle));
      EXPECT_EQ(name->unicode, "");
      ExpectValidResult(middle, *name);
    } else {
      ExpectOneLineReason(middle, name.status());
    }

    const std::string first = absl::StrCat(std::string(1, c), "x.example");
    const absl::StatusOr<DomainName> at_start = ParseDomainName(first);
    EXPECT_EQ(at_start.ok(), ldh && c != '-' && c != '.') << "byte " << b;
    if (!at_start.ok()) ExpectOneLineReason(first, at_start.status());

    const std::string last = absl::StrCat("example.x", std::string(1, c));
    const absl::StatusOr<DomainName> at_end = ParseDomainName(last);
    EXPECT_EQ(at_end.ok(), ldh && c != '-') << "byte " << b;
    if (at_end.ok()) ExpectValidResult(last, *at_end);
    if (!at_end.ok()) ExpectOneLineReason(last, at_end.status());
  }
}

// Random names of two to four labels, each label a few pieces that reach
// every branch: ASCII, hyphens, U-labels, A-label prefixes and A-labels,
// mapped and ignored characters, and now and then a bad piece or byte.
TEST(DomainNameTest, RandomInputsKeepTheInvariants) {
  const std::vector<std::string> good = {
      "a",    "Z",     "7",      "mail", "-",  "ü",
      "ß",    "ς",     "ｅ",     "日",   "пр", "xn--bcher-kva",
      "XN--", "1e100", "\u00ad", "B",    "q",  "bü",
  };
  const std::vector<std::string> bad = {
      "😀",   "\u0308", "\u200d", "_", " ", "\xff",   "\xc3",
      "\0"s, "。",     "..",     ":", "[", "xn--zz", std::string(64, 'x'),
  };
  std::mt19937 rng(20261121);
  auto pick = [&rng](const std::vector<std::string>& from) {
    return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
  };
  auto chance = [&rng](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
  };
  int ok = 0;
  int idn = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string input;
    const int labels = std::uniform_int_distribution<int>(2, 4)(rng);
    for (int l = 0; l < labels; ++l) {
      if (l > 0) input += '.';
      const int pieces = std::uniform_int_distribution<int>(1, 3)(rng);
      for (int p = 0; p < pieces; ++p) {
        if (chance(3)) {
          input.push_back(static_cast<char>(
              std::uniform_int_distribution<int>(0, 255)(rng)));
        } else {
          input += chance(6) ? pick(bad) : pick(good);
        }
      }
    }
    if (chance(20)) input += '.';
    const absl::StatusOr<DomainName> name = ParseDomainName(input);
    if (name.ok()) {
      ++ok;
      if (!name->unicode.empty()) ++idn;
      ExpectValidResult(input, *name);
    } else {
      ExpectOneLineReason(input, name.status());
    }
  }
  // The generator must reach both paths often enough to matter.
  EXPECT_GT(ok, 2000);
  EXPECT_GT(idn, 1000);
  EXPECT_LT(ok, 18000);
}

TEST(DomainNameTest, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string input(std::uniform_int_distribution<int>(0, 300)(rng), '\0');
    for (char& c : input) {
      c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    }
    const absl::StatusOr<DomainName> name = ParseDomainName(input);
    if (name.ok()) {
      ExpectValidResult(input, *name);
    } else {
      ExpectOneLineReason(input, name.status());
    }
  }
}

TEST(NameIsAddressLiteralTest, Addresses) {
  EXPECT_TRUE(IsAddressLiteral("192.0.2.1"));
  EXPECT_TRUE(IsAddressLiteral("127.0.60.10."));
  EXPECT_TRUE(IsAddressLiteral("0.0.0.0"));
  EXPECT_TRUE(IsAddressLiteral("255.255.255.255"));
  EXPECT_TRUE(IsAddressLiteral("::1"));
  EXPECT_TRUE(IsAddressLiteral("::"));
  EXPECT_TRUE(IsAddressLiteral("2001:db8::1"));
  EXPECT_TRUE(IsAddressLiteral("2001:DB8::1."));
  EXPECT_TRUE(IsAddressLiteral("::ffff:192.0.2.1"));
  EXPECT_TRUE(
      IsAddressLiteral("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"));
}

TEST(NameIsAddressLiteralTest, NotAddresses) {
  EXPECT_FALSE(IsAddressLiteral(""));
  EXPECT_FALSE(IsAddressLiteral("."));
  EXPECT_FALSE(IsAddressLiteral("mx.example.com"));
  EXPECT_FALSE(IsAddressLiteral("mx.example.com."));
  EXPECT_FALSE(IsAddressLiteral("1.2.3"));
  EXPECT_FALSE(IsAddressLiteral("256.1.1.1"));
  EXPECT_FALSE(IsAddressLiteral("192.0.2.1.."));
  EXPECT_FALSE(IsAddressLiteral(" 192.0.2.1"));
  EXPECT_FALSE(IsAddressLiteral("192.0.2.1 "));
  EXPECT_FALSE(IsAddressLiteral("[192.0.2.1]"));
  EXPECT_FALSE(IsAddressLiteral("[::1]"));
  EXPECT_FALSE(IsAddressLiteral("fe80::1%eth0"));
  EXPECT_FALSE(IsAddressLiteral("2001:db8::1::2"));
  EXPECT_FALSE(IsAddressLiteral("deadbeef"));
  // A NUL would make inet_pton see only "192.0.2.1".
  EXPECT_FALSE(IsAddressLiteral("192.0.2.1\0junk"s));
  EXPECT_FALSE(IsAddressLiteral("192.0.2.1\0"s));
  EXPECT_FALSE(IsAddressLiteral(std::string(100000, '1')));
  EXPECT_FALSE(
      IsAddressLiteral("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555"));
}

TEST(NameIsAddressLiteralTest, EveryByteAppended) {
  for (int b = 0; b < 256; ++b) {
    const std::string text =
        absl::StrCat("192.0.2.1", std::string(1, static_cast<char>(b)));
    // "192.0.2.10" to "192.0.2.19" are addresses too.
    EXPECT_EQ(IsAddressLiteral(text), b == '.' || (b >= '0' && b <= '9'))
        << "byte " << b;
  }
}

TEST(CanonicalNameTest, LowerCaseWithoutOneTrailingDot) {
  EXPECT_EQ(CanonicalName("MX.Example.COM."), "mx.example.com");
  EXPECT_EQ(CanonicalName("mx.example.com"), "mx.example.com");
  EXPECT_EQ(CanonicalName("a.."), "a.");
  EXPECT_EQ(CanonicalName("."), "");
  EXPECT_EQ(CanonicalName(""), "");
  // No validation: other bytes pass through.
  EXPECT_EQ(CanonicalName("Bü_cher.EXAMPLE"), "bü_cher.example");
  EXPECT_EQ(CanonicalName("A\0B."s), "a\0b"s);
}

}  // namespace
}  // namespace smtpscan::dns
