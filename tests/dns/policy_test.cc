#include "dns/policy.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smtpscan::dns {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// "valid <value>", "invalid: <error>" or "none" (no record matched), so
// that one EXPECT_EQ shows the whole outcome.
std::string Outcome(const PolicyRecord& r) {
  if (r.records.empty()) {
    EXPECT_FALSE(r.valid);
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.value, "");
    return "none";
  }
  if (r.valid) {
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.records.size(), 1u);
    return absl::StrCat("valid ", r.value);
  }
  EXPECT_EQ(r.value, "");
  EXPECT_NE(r.error, "");
  EXPECT_EQ(r.error.find('\n'), std::string::npos);
  return absl::StrCat("invalid: ", r.error);
}

std::string Parse(PolicyKind kind, std::vector<std::string> txt) {
  return Outcome(ParsePolicy(kind, txt));
}

std::string Spf(const std::string& record) {
  return Parse(PolicyKind::kSpf, {record});
}
std::string Dmarc(const std::string& record) {
  return Parse(PolicyKind::kDmarc, {record});
}
std::string MtaSts(const std::string& record) {
  return Parse(PolicyKind::kMtaSts, {record});
}
std::string TlsRpt(const std::string& record) {
  return Parse(PolicyKind::kTlsRpt, {record});
}

TEST(PolicyKindTest, Names) {
  EXPECT_EQ(PolicyKindName(PolicyKind::kSpf), "spf");
  EXPECT_EQ(PolicyKindName(PolicyKind::kDmarc), "dmarc");
  EXPECT_EQ(PolicyKindName(PolicyKind::kMtaSts), "mta_sts");
  EXPECT_EQ(PolicyKindName(PolicyKind::kTlsRpt), "tls_rpt");
}

TEST(PolicyKindTest, QueryNames) {
  EXPECT_EQ(PolicyQueryName(PolicyKind::kSpf, "example.com"), "example.com");
  EXPECT_EQ(PolicyQueryName(PolicyKind::kDmarc, "example.com"),
            "_dmarc.example.com");
  EXPECT_EQ(PolicyQueryName(PolicyKind::kMtaSts, "example.com"),
            "_mta-sts.example.com");
  EXPECT_EQ(PolicyQueryName(PolicyKind::kTlsRpt, "example.com"),
            "_smtp._tls.example.com");
}

TEST(PolicyRecordsTest, NoTxtRecords) {
  for (PolicyKind kind : {PolicyKind::kSpf, PolicyKind::kDmarc,
                          PolicyKind::kMtaSts, PolicyKind::kTlsRpt}) {
    EXPECT_EQ(Parse(kind, {}), "none") << PolicyKindName(kind);
    EXPECT_EQ(Parse(kind, {""}), "none") << PolicyKindName(kind);
  }
}

TEST(PolicyRecordsTest, KeepsOnlyTheKindsRecordsRaw) {
  const std::vector<std::string> txt = {
      "google-site-verification=abc",
      "v=spf1 mx -all",
      "MS=ms12345678",
      "v=DMARC1; p=reject",
      "v=STSv1; id=1",
      "v=TLSRPTv1; rua=mailto:r@example.com",
  };
  const PolicyRecord spf = ParsePolicy(PolicyKind::kSpf, txt);
  EXPECT_THAT(spf.records, ElementsAre("v=spf1 mx -all"));
  EXPECT_EQ(Outcome(spf), "valid -all");
  const PolicyRecord dmarc = ParsePolicy(PolicyKind::kDmarc, txt);
  EXPECT_THAT(dmarc.records, ElementsAre("v=DMARC1; p=reject"));
  EXPECT_EQ(Outcome(dmarc), "valid reject");
  const PolicyRecord sts = ParsePolicy(PolicyKind::kMtaSts, txt);
  EXPECT_THAT(sts.records, ElementsAre("v=STSv1; id=1"));
  EXPECT_EQ(Outcome(sts), "valid 1");
  const PolicyRecord rpt = ParsePolicy(PolicyKind::kTlsRpt, txt);
  EXPECT_THAT(rpt.records, ElementsAre("v=TLSRPTv1; rua=mailto:r@example.com"));
  EXPECT_EQ(Outcome(rpt), "valid mailto:r@example.com");
}

TEST(PolicyRecordsTest, MoreThanOneRecordIsAnError) {
  const PolicyRecord spf =
      ParsePolicy(PolicyKind::kSpf, {"v=spf1 -all", "other", "v=spf1 ~all"});
  EXPECT_THAT(spf.records, ElementsAre("v=spf1 -all", "v=spf1 ~all"));
  EXPECT_EQ(Outcome(spf), "invalid: multiple SPF records (2)");

  EXPECT_EQ(Parse(PolicyKind::kDmarc,
                  {"v=DMARC1; p=none", "v=DMARC1; p=none", "v=DMARC1; p=x"}),
            "invalid: multiple DMARC records (3)");
  EXPECT_EQ(Parse(PolicyKind::kMtaSts, {"v=STSv1; id=1", "v=STSv1; id=2"}),
            "invalid: multiple MTA-STS records (2)");
  EXPECT_EQ(
      Parse(PolicyKind::kTlsRpt, {"v=TLSRPTv1; rua=mailto:a@example.com",
                                  "v=TLSRPTv1; rua=mailto:b@example.com"}),
      "invalid: multiple TLS-RPT records (2)");
}

TEST(SpfPolicyTest, AllQualifiers) {
  EXPECT_EQ(Spf("v=spf1 -all"), "valid -all");
  EXPECT_EQ(Spf("v=spf1 mx include:_spf.example.com ~all"), "valid ~all");
  EXPECT_EQ(Spf("v=spf1 a ?all"), "valid ?all");
  EXPECT_EQ(Spf("v=spf1 +all"), "valid +all");
  EXPECT_EQ(Spf("v=spf1 all"), "valid +all");
}

TEST(SpfPolicyTest, CaseInsensitive) {
  EXPECT_EQ(Spf("V=SPF1 MX -ALL"), "valid -all");
  EXPECT_EQ(Spf("v=Spf1 ~All"), "valid ~all");
  EXPECT_EQ(Spf("v=spf1 All"), "valid +all");
}

TEST(SpfPolicyTest, Whitespace) {
  EXPECT_EQ(Spf("v=spf1  mx   -all  "), "valid -all");
  EXPECT_EQ(Spf("v=spf1 "), "valid ");
  // RFC 7208 §4.5: the version ends at a space (SP) or the end, and the
  // record must begin with it.
  EXPECT_EQ(Spf("v=spf1\t-all"), "none");
  EXPECT_EQ(Spf(" v=spf1 -all"), "none");
  EXPECT_EQ(Spf("v= spf1 -all"), "none");
}

TEST(SpfPolicyTest, NoAllMechanism) {
  EXPECT_EQ(Spf("v=spf1"), "valid ");
  EXPECT_EQ(Spf("v=spf1 redirect=_spf.example.com"), "valid ");
  EXPECT_EQ(Spf("v=spf1 include:_spf.google.com"), "valid ");
  // Terms that merely contain "all" are not the "all" mechanism.
  EXPECT_EQ(Spf("v=spf1 include:all -allow a:all.example.com ~all:x allx"),
            "valid ");
  EXPECT_EQ(Spf("v=spf1 --all"), "valid ");
}

// RFC 7208 §5.1: "Mechanisms after 'all' will never be tested", so the
// first "all" decides.
TEST(SpfPolicyTest, FirstAllDecides) {
  EXPECT_EQ(Spf("v=spf1 -all ~all"), "valid -all");
  EXPECT_EQ(Spf("v=spf1 mx ?all redirect=_spf.example.com -all"), "valid ?all");
}

TEST(SpfPolicyTest, VersionMustMatchExactly) {
  EXPECT_EQ(Spf("v=spf10 -all"), "none");
  EXPECT_EQ(Spf("v=spf1-all"), "none");
  EXPECT_EQ(Spf("v=spf2 -all"), "none");
  EXPECT_EQ(Spf("spf2.0/pra -all"), "none");
  EXPECT_EQ(Spf("v=spf"), "none");
  EXPECT_EQ(Spf("x v=spf1 -all"), "none");
  // "v=spf10" does not count towards "multiple records" either.
  EXPECT_EQ(Parse(PolicyKind::kSpf, {"v=spf10 +all", "v=spf1 -all"}),
            "valid -all");
}

TEST(SpfPolicyTest, LongRecord) {
  std::string record = "v=spf1";
  for (int i = 0; i < 2000; ++i) absl::StrAppend(&record, " ip4:192.0.2.", i);
  record += " ~all";
  const PolicyRecord r = ParsePolicy(PolicyKind::kSpf, {record});
  EXPECT_THAT(r.records, ElementsAre(record));
  EXPECT_EQ(Outcome(r), "valid ~all");
}

TEST(DmarcPolicyTest, Policies) {
  EXPECT_EQ(Dmarc("v=DMARC1; p=none"), "valid none");
  EXPECT_EQ(Dmarc("v=DMARC1; p=quarantine; pct=50"), "valid quarantine");
  EXPECT_EQ(Dmarc("v=DMARC1; p=reject; rua=mailto:d@example.com; adkim=s"),
            "valid reject");
  EXPECT_EQ(Dmarc("v=DMARC1;p=reject;"), "valid reject");
}

TEST(DmarcPolicyTest, CaseOfTagsAndValues) {
  EXPECT_EQ(Dmarc("v=DMARC1; p=REJECT"), "valid reject");
  EXPECT_EQ(Dmarc("v=DMARC1; P=Quarantine"), "valid quarantine");
  EXPECT_EQ(Dmarc("V=DMARC1; p=none"), "valid none");
  // "DMARC1" is written in hex in the ABNF (RFC 7489 §6.4): case-sensitive.
  EXPECT_EQ(Dmarc("v=dmarc1; p=reject"), "none");
  EXPECT_EQ(Dmarc("v=Dmarc1; p=reject"), "none");
}

TEST(DmarcPolicyTest, Whitespace) {
  EXPECT_EQ(Dmarc("v = DMARC1 ; p = reject ;"), "valid reject");
  EXPECT_EQ(Dmarc("v=DMARC1\t;\tp=none\t"), "valid none");
  EXPECT_EQ(Dmarc("v=DMARC1;  sp=none ;p=quarantine  "), "valid quarantine");
  EXPECT_EQ(Dmarc(" v=DMARC1; p=reject"), "none");
}

TEST(DmarcPolicyTest, VersionMustBeFirstAndExact) {
  EXPECT_EQ(Dmarc("v=DMARC10; p=reject"), "none");
  EXPECT_EQ(Dmarc("v=DMARC1x; p=reject"), "none");
  EXPECT_EQ(Dmarc("v=DMARC2; p=reject"), "none");
  EXPECT_EQ(Dmarc("v=DMARC1 p=reject"), "none");
  EXPECT_EQ(Dmarc("p=reject; v=DMARC1"), "none");
  EXPECT_EQ(Dmarc("v=spf1 -all"), "none");
}

TEST(DmarcPolicyTest, MissingOrInvalidPolicy) {
  EXPECT_EQ(Dmarc("v=DMARC1"), "invalid: missing p= tag");
  EXPECT_EQ(Dmarc("v=DMARC1;"), "invalid: missing p= tag");
  EXPECT_EQ(Dmarc("v=DMARC1; rua=mailto:d@example.com"),
            "invalid: missing p= tag");
  // sp= is the subdomain policy, not p=.
  EXPECT_EQ(Dmarc("v=DMARC1; sp=reject"), "invalid: missing p= tag");
  EXPECT_EQ(Dmarc("v=DMARC1; p"), "invalid: invalid p= value ''");
  EXPECT_EQ(Dmarc("v=DMARC1; p="), "invalid: invalid p= value ''");
  EXPECT_EQ(Dmarc("v=DMARC1; p=block"), "invalid: invalid p= value 'block'");
  EXPECT_EQ(Dmarc("v=DMARC1; p=re ject"),
            "invalid: invalid p= value 're ject'");
  EXPECT_EQ(Dmarc("v=DMARC1; p=re\nject"),
            "invalid: invalid p= value 're\\nject'");
  EXPECT_EQ(Dmarc("v=DMARC1; p=none; p=reject"),
            "invalid: more than one p= tag");
}

TEST(DmarcPolicyTest, OtherFieldsAreIgnored) {
  EXPECT_EQ(Dmarc("v=DMARC1; junk; =x; p=reject; fo=1:d:s"), "valid reject");
}

TEST(DmarcPolicyTest, LongRecord) {
  std::string record = "v=DMARC1";
  for (int i = 0; i < 500; ++i) {
    absl::StrAppend(&record, "; x", i, "=mailto:d", i, "@example.com");
  }
  EXPECT_EQ(Dmarc(record + "; p=quarantine"), "valid quarantine");
  const std::string long_value(5000, 'q');
  EXPECT_EQ(Dmarc("v=DMARC1; p=" + long_value),
            "invalid: invalid p= value '" + long_value.substr(0, 60) + "...'");
}

TEST(MtaStsPolicyTest, Ids) {
  EXPECT_EQ(MtaSts("v=STSv1; id=20160831085700Z;"), "valid 20160831085700Z");
  EXPECT_EQ(MtaSts("v=STSv1;id=abc"), "valid abc");
  EXPECT_EQ(MtaSts("v=STSv1 ; id=abc ; ext=1"), "valid abc");
  EXPECT_EQ(MtaSts("v=STSv1; x-ext=y; id=Z9"), "valid Z9");
  const std::string id32(32, '7');
  EXPECT_EQ(MtaSts("v=STSv1; id=" + id32), "valid " + id32);
}

TEST(MtaStsPolicyTest, InvalidIds) {
  EXPECT_EQ(MtaSts("v=STSv1"), "invalid: missing id= tag");
  EXPECT_EQ(MtaSts("v=STSv1;"), "invalid: missing id= tag");
  // Field names are case-sensitive (%s"id=", RFC 8461 §3.1).
  EXPECT_EQ(MtaSts("v=STSv1; ID=abc"), "invalid: missing id= tag");
  EXPECT_EQ(MtaSts("v=STSv1; id"),
            "invalid: invalid id= value '' (1 to 32 letters and digits)");
  EXPECT_EQ(MtaSts("v=STSv1; id="),
            "invalid: invalid id= value '' (1 to 32 letters and digits)");
  EXPECT_EQ(MtaSts("v=STSv1; id=2016-08-31"),
            "invalid: invalid id= value '2016-08-31' (1 to 32 letters and "
            "digits)");
  EXPECT_EQ(MtaSts("v=STSv1; id=" + std::string(33, 'a')),
            "invalid: invalid id= value '" + std::string(33, 'a') +
                "' (1 to 32 letters and digits)");
  EXPECT_EQ(MtaSts("v=STSv1; id=a; id=b"), "invalid: more than one id= tag");
}

TEST(MtaStsPolicyTest, VersionMustBeFirstAndExact) {
  EXPECT_EQ(MtaSts("v=stsv1; id=1"), "none");
  EXPECT_EQ(MtaSts("V=STSv1; id=1"), "none");
  EXPECT_EQ(MtaSts("v=STSv10; id=1"), "none");
  EXPECT_EQ(MtaSts("v=STSv1 id=1"), "none");
  EXPECT_EQ(MtaSts("id=1; v=STSv1"), "none");
  EXPECT_EQ(MtaSts(" v=STSv1; id=1"), "none");
  EXPECT_EQ(MtaSts("v = STSv1; id=1"), "none");
}

TEST(TlsRptPolicyTest, Rua) {
  EXPECT_EQ(TlsRpt("v=TLSRPTv1; rua=mailto:tlsrpt@example.com"),
            "valid mailto:tlsrpt@example.com");
  EXPECT_EQ(TlsRpt("v=TLSRPTv1;rua=https://reporting.example.com/v1/tlsrpt"),
            "valid https://reporting.example.com/v1/tlsrpt");
  EXPECT_EQ(
      TlsRpt("v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/x;"),
      "valid mailto:a@example.com,https://r.example.com/x");
  EXPECT_EQ(TlsRpt("v=TLSRPTv1 ; rua = mailto:a@example.com , "
                   "MAILTO:b@example.com ; ext=1"),
            "valid mailto:a@example.com , MAILTO:b@example.com");
}

TEST(TlsRptPolicyTest, MissingOrInvalidRua) {
  EXPECT_EQ(TlsRpt("v=TLSRPTv1"), "invalid: missing rua= tag");
  EXPECT_EQ(TlsRpt("v=TLSRPTv1; ruf=mailto:a@example.com"),
            "invalid: missing rua= tag");
  EXPECT_EQ(TlsRpt("v=TLSRPTv1; RUA=mailto:a@example.com"),
            "invalid: missing rua= tag");
  EXPECT_EQ(TlsRpt("v=TLSRPTv1; rua="),
            "invalid: rua= URI '' is neither mailto: nor https:");
  // Found by policy_fuzz: a field name without '=' once gave an empty,
  // valid URI list.
  EXPECT_EQ(TlsRpt("v=TLSRPTv1; rua"),
            "invalid: rua= URI '' is neither mailto: nor https:");
  EXPECT_EQ(TlsRpt("v=TLSRPTv1; rua=ftp://example.com/x"),
            "invalid: rua= URI 'ftp://example.com/x' is neither mailto: nor "
            "https:");
  EXPECT_EQ(TlsRpt("v=TLSRPTv1; rua=mailto:a@example.com,"),
            "invalid: rua= URI '' is neither mailto: nor https:");
  EXPECT_EQ(TlsRpt("v=TLSRPTv1; rua=mailto:a@example.com; "
                   "rua=mailto:b@example.com"),
            "invalid: more than one rua= tag");
}

TEST(TlsRptPolicyTest, VersionMustBeFirstAndExact) {
  EXPECT_EQ(TlsRpt("v=tlsrptv1; rua=mailto:a@example.com"), "none");
  EXPECT_EQ(TlsRpt("v=TLSRPTv10; rua=mailto:a@example.com"), "none");
  EXPECT_EQ(TlsRpt("rua=mailto:a@example.com; v=TLSRPTv1"), "none");
  EXPECT_EQ(TlsRpt("v=TLSRPTv1 rua=mailto:a@example.com"), "none");
}

// Every byte value inside each kind's record: never a crash, and an error,
// when there is one, stays on one line.
TEST(PolicyRecordsTest, EveryByteValue) {
  const std::vector<std::pair<PolicyKind, std::string>> templates = {
      {PolicyKind::kSpf, "v=spf1 mx @all"},
      {PolicyKind::kDmarc, "v=DMARC1; p=@"},
      {PolicyKind::kMtaSts, "v=STSv1; id=a@"},
      {PolicyKind::kTlsRpt, "v=TLSRPTv1; rua=@"},
  };
  for (const auto& [kind, record] : templates) {
    for (int b = 0; b < 256; ++b) {
      std::string text = record;
      text[text.find('@')] = static_cast<char>(b);
      const PolicyRecord r = ParsePolicy(kind, {text});
      EXPECT_THAT(r.records, ElementsAre(text));
      EXPECT_EQ(r.error.find('\n'), std::string::npos);
      EXPECT_EQ(r.valid, r.error.empty());
      for (char c : r.error) {
        EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << b;
      }
    }
  }
  // Spot checks of the exact outcome.
  EXPECT_EQ(Spf("v=spf1 mx -all"), "valid -all");
  EXPECT_EQ(Spf(std::string("v=spf1 mx \0all", 14)), "valid ");
  EXPECT_EQ(MtaSts(std::string("v=STSv1; id=a\0", 14)),
            "invalid: invalid id= value 'a\\x00' (1 to 32 letters and "
            "digits)");
}

TEST(PolicyRecordsTest, ResultOwnsItsStrings) {
  PolicyRecord r;
  {
    std::vector<std::string> txt = {"v=DMARC1; p=Reject"};
    r = ParsePolicy(PolicyKind::kDmarc, txt);
  }
  EXPECT_THAT(r.records, ElementsAre("v=DMARC1; p=Reject"));
  EXPECT_EQ(r.value, "reject");
  EXPECT_THAT(ParsePolicy(PolicyKind::kDmarc, {}).records, IsEmpty());
}

}  // namespace
}  // namespace smtpscan::dns
