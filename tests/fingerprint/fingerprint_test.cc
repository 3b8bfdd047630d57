// Fingerprinter on rule sets written here (without the built-in rules, so
// that these tests do not move when rules/fingerprints.yaml does): loading
// and its errors, overrides, matching against a naive reference, scoring,
// captures, fronts, evidence and hostile input.
#include "fingerprint/fingerprint.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "fingerprint/rules.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re2/re2.h"

namespace smtpscan::fingerprint {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr char kProducts[] = R"(
products:
  - {id: postfix, name: Postfix, vendor: Postfix project, role: product}
  - {id: exim, name: Exim, vendor: University of Cambridge, role: product}
  - {id: sendmail, name: Sendmail, vendor: Proofpoint, role: product}
  - {id: postscreen, name: postscreen, vendor: Postfix project, role: front}
  - {id: gateway, name: Some gateway, role: front}
)";

// A Fingerprinter for kProducts plus `rules` (a "rules:" list).
std::unique_ptr<Fingerprinter> Make(const std::string& rules) {
  RuleSet set;
  const absl::Status status =
      MergeRules("test.yaml", absl::StrCat(kProducts, rules), &set);
  EXPECT_TRUE(status.ok()) << status;
  auto fingerprinter = CompileRules(std::move(set));
  EXPECT_TRUE(fingerprinter.ok()) << fingerprinter.status();
  return fingerprinter.ok() ? std::move(*fingerprinter) : nullptr;
}

// The error loading kProducts plus `rules`, or "ok".
std::string LoadError(const std::string& rules, bool with_products = true) {
  RuleSet set;
  absl::Status status =
      MergeRules("test.yaml",
                 with_products ? absl::StrCat(kProducts, rules) : rules, &set);
  if (status.ok()) status = CompileRules(std::move(set)).status();
  if (status.ok()) return "ok";
  EXPECT_EQ(status.message().find('\n'), absl::string_view::npos) << status;
  return std::string(status.message());
}

// A rule list entry with one match condition and an example-free body.
std::string RuleYaml(const std::string& id, const std::string& product,
                     const std::string& body,
                     const std::string& basis = "banner",
                     const std::string& confidence = "0.9") {
  return absl::StrCat("  - id: ", id, "\n    product: ", product,
                      "\n    basis: ", basis, "\n    confidence: ", confidence,
                      "\n", body);
}

Observation Greeting(const std::string& greeting) {
  Observation o;
  o.greeting = greeting;
  return o;
}

std::vector<std::string> RuleIds(const Identification& id) {
  std::vector<std::string> ids;
  for (const Evidence& e : id.evidence) ids.push_back(e.rule);
  return ids;
}

// ---- Loading and validation ----

TEST(LoadTest, ValidFileLoads) {
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n", RuleYaml("r1", "postfix",
                                     "    match: {greeting: 'Postfix'}\n"))),
            "ok");
}

TEST(LoadTest, BadRegexNamesFileRuleAndField) {
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n", RuleYaml("exim-x", "exim",
                                     "    match: {greeting: 'Exim (4'}\n"))),
            "test.yaml: rule exim-x: match.greeting: missing ): Exim (4");
  EXPECT_THAT(LoadError(absl::StrCat("rules:\n",
                                     RuleYaml("r", "exim",
                                              "    match: {greeting: x}\n"
                                              "    unless: {ehlo: '[a-'}\n"))),
              StartsWith("test.yaml: rule r: unless.ehlo: missing ]"));
}

TEST(LoadTest, ErrorsAreOneLineEvenWhenThePatternIsNot) {
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n",
                RuleYaml("r", "exim", "    match: {greeting: \"a\\n(b\"}\n"))),
            "test.yaml: rule r: match.greeting: missing ): a\\n(b");
}

TEST(LoadTest, UnknownField) {
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n", RuleYaml("r", "exim", "    match: {banner: x}\n"))),
            "test.yaml: rule r: match: unknown field 'banner'");
}

TEST(LoadTest, UnknownKeysAnywhere) {
  EXPECT_EQ(LoadError("colour: red\n"), "test.yaml: unknown key 'colour'");
  EXPECT_EQ(
      LoadError(absl::StrCat(
          "rules:\n",
          RuleYaml("r", "exim", "    match: {greeting: x}\n    note: hi\n"))),
      "test.yaml: rule r: unknown key 'note'");
  EXPECT_EQ(
      LoadError("products:\n  - {id: a, name: A, role: product, colour: 1}\n",
                false),
      "test.yaml: product a: unknown key 'colour'");
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n", RuleYaml("r", "exim",
                                     "    match: {greeting: x}\n"
                                     "    examples:\n"
                                     "      - observation: {greeting: x}\n"
                                     "        expect: {product: exim}\n"
                                     "        comment: no\n"))),
            "test.yaml: rule r: examples #1: unknown key 'comment'");
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n", RuleYaml("r", "exim",
                                     "    match: {greeting: x}\n"
                                     "    examples:\n"
                                     "      - observation: {banner: x}\n"
                                     "        expect: {product: exim}\n"))),
            "test.yaml: rule r: examples #1: observation: unknown key "
            "'banner'");
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n", RuleYaml("r", "exim",
                                     "    match: {greeting: x}\n"
                                     "    examples:\n"
                                     "      - observation: {greeting: x}\n"
                                     "        expect: {confidence: 1}\n"))),
            "test.yaml: rule r: examples #1: expect: unknown key "
            "'confidence'");
}

TEST(LoadTest, MissingProduct) {
  EXPECT_EQ(
      LoadError(absl::StrCat(
          "rules:\n", RuleYaml("r", "qmail", "    match: {greeting: x}\n"))),
      "test.yaml: rule r: product: 'qmail' is not in products");
  EXPECT_EQ(LoadError("rules:\n  - id: r\n    basis: banner\n"
                      "    confidence: 1\n    match: {greeting: x}\n"),
            "test.yaml: rule r: missing product");
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n", RuleYaml("r", "exim",
                                     "    match: {greeting: x}\n"
                                     "    examples:\n"
                                     "      - observation: {greeting: x}\n"
                                     "        expect: {product: qmail}\n"))),
            "test.yaml: rule r: examples #1: expect.product: 'qmail' is not "
            "in products");
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n", RuleYaml("r", "exim",
                                     "    match: {greeting: x}\n"
                                     "    examples:\n"
                                     "      - observation: {greeting: x}\n"
                                     "        expect: {fronts: [exim]}\n"))),
            "test.yaml: rule r: examples #1: expect.fronts: 'exim' is not a "
            "front in products");
}

TEST(LoadTest, ConfidenceOutOfRange) {
  for (const char* bad : {"0", "-0.5", "1.01", "abc", "nan", "inf", "''"}) {
    EXPECT_THAT(
        LoadError(absl::StrCat(
            "rules:\n", RuleYaml("r", "exim", "    match: {greeting: x}\n",
                                 "banner", bad))),
        StartsWith("test.yaml: rule r: confidence: "))
        << bad;
  }
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n", RuleYaml("r", "exim", "    match: {greeting: x}\n",
                                     "banner", "1"))),
            "ok");
}

TEST(LoadTest, DuplicateIds) {
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n", RuleYaml("r", "exim", "    match: {greeting: x}\n"),
                RuleYaml("r", "exim", "    match: {greeting: y}\n"))),
            "test.yaml: rule r: duplicate id");
  EXPECT_EQ(LoadError("products:\n"
                      "  - {id: a, name: A, role: product}\n"
                      "  - {id: a, name: B, role: product}\n",
                      false),
            "test.yaml: product a: duplicate id");
}

TEST(LoadTest, OtherMistakes) {
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n",
                RuleYaml("Bad_Id", "exim", "    match: {greeting: x}\n"))),
            "test.yaml: rule #1: id 'Bad_Id' is not [a-z0-9-]+");
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n",
                RuleYaml("r", "exim", "    match: {greeting: x}\n", "guess"))),
            "test.yaml: rule r: basis: 'guess' is not banner or behaviour");
  EXPECT_EQ(LoadError(absl::StrCat("rules:\n",
                                   RuleYaml("r", "exim", "    match: {}\n"))),
            "test.yaml: rule r: match: needs at least one condition");
  EXPECT_EQ(LoadError(absl::StrCat(
                "rules:\n",
                RuleYaml("r", "exim", "    match: {greeting_ms: 5000}\n"))),
            "test.yaml: rule r: match.greeting_ms: '5000' is not like '>= "
            "5000'");
  EXPECT_EQ(
      LoadError(absl::StrCat(
          "rules:\n", RuleYaml("r", "exim", "    match: {greeting: [x]}\n"))),
      "test.yaml: rule r: match.greeting: expected a string");
  EXPECT_EQ(LoadError("products:\n  - {id: unknown, name: U, role: product}\n",
                      false),
            "test.yaml: product unknown: the id 'unknown' is reserved");
  EXPECT_EQ(LoadError("products:\n  - {id: a, name: A, role: back}\n", false),
            "test.yaml: product a: role: 'back' is not product or front");
  EXPECT_EQ(LoadError("- 1\n", false),
            "test.yaml: expected a mapping with products and/or rules");
  EXPECT_EQ(LoadError("rules: []\n---\nrules: []\n", false),
            "test.yaml: expected one YAML document, found more");
  EXPECT_THAT(LoadError("rules: [\n", false), StartsWith("test.yaml: line "));
  EXPECT_EQ(LoadError("rules: []\nrules: []\n", false),
            "test.yaml: duplicate key 'rules'");
}

TEST(LoadTest, HostileYaml) {
  // yaml-cpp 0.7's LoadAll() loops forever on these, allocating.
  EXPECT_EQ(LoadError(",", false),
            "test.yaml: expected a mapping with products and/or rules");
  EXPECT_THAT(LoadError("rules: []\n,\n", false), StartsWith("test.yaml: "));
  EXPECT_THAT(LoadError(std::string(3000, '[') + std::string(3000, ']'), false),
              StartsWith("test.yaml: "));
  EXPECT_EQ(LoadError("", false),
            "test.yaml: expected a mapping with products and/or rules");
  // A pattern over RE2's budget for one pattern is an error, not memory.
  EXPECT_THAT(
      LoadError(absl::StrCat(
          "rules:\n",
          RuleYaml("big", "exim", "    match: {greeting: '\\pL{200}'}\n"))),
      StartsWith("test.yaml: rule big: match.greeting: pattern too large"));
  // Aliases cannot multiply a small document into a large one.
  std::string aliases = absl::StrCat(
      "rules:\n  - id: r\n    examples:\n      - &a {observation: {greeting: ",
      std::string(1000, 'x'), "}, expect: {}}\n");
  for (int i = 0; i < 100000; ++i) absl::StrAppend(&aliases, "      - *a\n");
  EXPECT_EQ(LoadError(aliases, false),
            "test.yaml: document too large (after alias expansion)");
}

TEST(LoadTest, CreateNamesTheExtraSource) {
  const auto result = Fingerprinter::Create(
      {{"--fingerprints my.yaml",
        absl::StrCat("rules:\n", RuleYaml("exim-x", "postfix",
                                          "    match: {greeting: '(x'}\n"))}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            "--fingerprints my.yaml: rule exim-x: match.greeting: missing ): "
            "(x");
}

// ---- Overrides ----

TEST(OverrideTest, SameIdReplacesInPlace) {
  RuleSet set;
  ASSERT_TRUE(
      MergeRules(
          "a.yaml",
          absl::StrCat(
              kProducts, "rules:\n",
              RuleYaml("one", "postfix", "    match: {greeting: one}\n"),
              RuleYaml("two", "exim", "    match: {greeting: two}\n"),
              RuleYaml("three", "sendmail", "    match: {greeting: three}\n")),
          &set)
          .ok());
  ASSERT_TRUE(
      MergeRules(
          "b.yaml",
          absl::StrCat("products:\n"
                       "  - {id: exim, name: Exim, vendor: Someone else,"
                       " role: product}\n"
                       "  - {id: qmail, name: qmail, role: product}\n"
                       "rules:\n",
                       RuleYaml("one", "qmail", "    match: {greeting: 1}\n"),
                       RuleYaml("four", "exim", "    match: {greeting: 4}\n")),
          &set)
          .ok());
  std::vector<std::string> ids;
  for (const auto& rule : set.rules) ids.push_back(rule.id + "@" + rule.source);
  EXPECT_THAT(ids, ElementsAre("one@b.yaml", "two@a.yaml", "three@a.yaml",
                               "four@b.yaml"));
  std::vector<std::string> products;
  for (const auto& p : set.products) products.push_back(p.id + "@" + p.source);
  EXPECT_THAT(products, ElementsAre("postfix@a.yaml", "exim@b.yaml",
                                    "sendmail@a.yaml", "postscreen@a.yaml",
                                    "gateway@a.yaml", "qmail@b.yaml"));

  auto fingerprinter = CompileRules(set);
  ASSERT_TRUE(fingerprinter.ok()) << fingerprinter.status();
  EXPECT_EQ((*fingerprinter)->Identify(Greeting("220 one")).product, "unknown");
  EXPECT_EQ((*fingerprinter)->Identify(Greeting("220 1")).product, "qmail");
  const Identification exim = (*fingerprinter)->Identify(Greeting("220 two"));
  EXPECT_EQ(exim.product, "exim");
  EXPECT_EQ(exim.vendor, "Someone else");
}

TEST(OverrideTest, FailedMergeLeavesTheSetUnchanged) {
  RuleSet set;
  ASSERT_TRUE(MergeRules("a.yaml",
                         absl::StrCat(kProducts, "rules:\n",
                                      RuleYaml("one", "postfix",
                                               "    match: {greeting: one}\n")),
                         &set)
                  .ok());
  EXPECT_FALSE(
      MergeRules(
          "b.yaml",
          absl::StrCat("rules:\n",
                       RuleYaml("one", "exim", "    match: {greeting: x}\n"),
                       RuleYaml("two", "exim", "    match: {greeting: '('}\n")),
          &set)
          .ok());
  ASSERT_EQ(set.rules.size(), 1u);
  EXPECT_EQ(set.rules[0].product, "postfix");
}

TEST(OverrideTest, CreateOverridesABuiltinRule) {
  RuleSet builtin;
  ASSERT_TRUE(MergeRules("built-in", BuiltinRules(), &builtin).ok());
  ASSERT_FALSE(builtin.rules.empty());
  const std::string id = builtin.rules[0].id;
  const auto result = Fingerprinter::Create(
      {{"extra.yaml",
        absl::StrCat("products:\n"
                     "  - {id: zz-test, name: ZZ, vendor: ZZ Inc, role: "
                     "product}\n"
                     "rules:\n",
                     RuleYaml(id, "zz-test",
                              "    match: {greeting: '^220 \\S+ ZZTESTMTA'}\n"),
                     RuleYaml("zz-extra", "zz-test",
                              "    match: {ehlo: 'ZZTESTEHLO'}\n"))}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*result)->rule_count(), builtin.rules.size() + 1);
  const Identification got =
      (*result)->Identify(Greeting("220 mx.example ZZTESTMTA ready"));
  EXPECT_EQ(got.product, "zz-test");
  EXPECT_EQ(got.vendor, "ZZ Inc");
  EXPECT_THAT(RuleIds(got), ElementsAre(id));
}

// ---- Matching ----

constexpr char kDifferentialRules[] = R"(rules:
  - id: postfix-banner
    product: postfix
    basis: banner
    confidence: 0.9
    match: {greeting: '^220 \S+ ESMTP Postfix(?: \((?P<os>[^)]*)\))?'}
  - id: postfix-ehlo
    product: postfix
    basis: behaviour
    confidence: 0.4
    match: {ehlo_keywords: '\bETRN\b', ehlo: '(?m)^250 DSN$'}
    unless: {greeting: 'Exim'}
  - id: exim-banner
    product: exim
    basis: banner
    confidence: 0.9
    match: {greeting: 'Exim (?P<version>\d+\.\d+)'}
  - id: exim-help
    product: exim
    basis: behaviour
    confidence: 0.3
    match: {help: '(?i)exim'}
  - id: sendmail-banner
    product: sendmail
    basis: banner
    confidence: 0.9
    match: {greeting: 'Sendmail (?P<version>[\d.]+)/[\d.]+'}
    unless: {greeting: '(?m)^220-'}
  - id: any-220
    product: sendmail
    basis: behaviour
    confidence: 0.01
    match: {greeting: '^220'}
    unless: {ehlo_keywords: 'SIZE', greeting_ms: '> 3000'}
  - id: slow
    product: postscreen
    basis: behaviour
    confidence: 0.5
    match: {greeting_ms: '>= 5000', greeting: '(?m)^220-'}
  - id: gw
    product: gateway
    basis: banner
    confidence: 0.5
    match: {greeting: 'Postfix', ehlo_tls: 'x{2,}|\xff|\x00'}
  - id: nul
    product: exim
    basis: behaviour
    confidence: 0.2
    match: {quit: '\x00\d'}
  - id: dot
    product: postfix
    basis: behaviour
    confidence: 0.2
    match: {unknown: '^.{3}$', cert_subject: 'CN=[^,]*\.example'}
  - id: byte
    product: sendmail
    basis: behaviour
    confidence: 0.2
    match: {cert_issuer: '\C\C\C', helo: '(?s)a.b'}
)";

// Rules read back from the YAML, matched one by one with RE2::PartialMatch.
std::vector<std::string> NaiveMatch(const RuleSet& set, const Observation& o) {
  const auto holds = [&](const Condition& c) {
    if (c.is_ms()) return c.ms.Holds(o.greeting_ms);
    const std::string& text = FieldText(o, FieldIndex(c.field));
    // Compiled once per pattern: the tests call this thousands of times.
    static auto& cache = *new std::map<std::string, std::unique_ptr<RE2>>;
    std::unique_ptr<RE2>& re = cache[c.pattern];
    if (re == nullptr) re = std::make_unique<RE2>(c.pattern);
    return !text.empty() && RE2::PartialMatch(text, *re);
  };
  std::vector<std::string> ids;
  for (const Rule& rule : set.rules) {
    if (std::all_of(rule.match.begin(), rule.match.end(), holds) &&
        std::none_of(rule.unless.begin(), rule.unless.end(), holds)) {
      ids.push_back(rule.id);
    }
  }
  return ids;
}

// Random observations assembled from pieces the rules look for, random
// bytes (NUL, invalid UTF-8) and line breaks.
Observation RandomObservation(std::mt19937* rng) {
  static const std::vector<std::string> kPieces = {"220 ",
                                                   "220-",
                                                   "250 ",
                                                   "250-",
                                                   "mx.example.com ",
                                                   "ESMTP ",
                                                   "Postfix",
                                                   " (Debian)",
                                                   "Exim 4.96",
                                                   "exim",
                                                   "EXIM",
                                                   "Sendmail 8.15.2/8.15.2",
                                                   "DSN",
                                                   "ETRN",
                                                   "SIZE",
                                                   "PIPELINING",
                                                   "\n",
                                                   "\r\n",
                                                   "x",
                                                   "xx",
                                                   "a",
                                                   "b",
                                                   "CN=mx.example",
                                                   ",O=x",
                                                   " ",
                                                   std::string(1, '\0'),
                                                   "\xff",
                                                   "\xc3\xa9",
                                                   "\xe2\x82",
                                                   "7"};
  // Whole values that satisfy a condition, so that every rule matches
  // now and then; pieces then extend or spoil them.
  static const std::vector<std::string> kTemplates = {
      "220 mx.example.com ESMTP Postfix (Debian)",
      "220 mx ESMTP Postfix",
      "250-mx\n250 DSN",
      "250 DSN",
      "PIPELINING ETRN SIZE",
      "ETRN",
      "abc",
      "CN=mail.example,O=x",
      "a\nb",
      "220-mx\n220 Exim 4.96"};
  const auto text = [&]() {
    std::string s;
    if ((*rng)() % 2 == 0) s = kTemplates[(*rng)() % kTemplates.size()];
    const int n =
        (*rng)() % 2 == 0 ? 0 : std::uniform_int_distribution<int>(0, 6)(*rng);
    for (int i = 0; i < n; ++i) {
      if ((*rng)() % 8 == 0) {
        s += static_cast<char>((*rng)() % 256);
      } else {
        s += kPieces[(*rng)() % kPieces.size()];
      }
    }
    return s;
  };
  Observation o;
  for (size_t f = 0; f < kFieldCount; ++f) *MutableField(&o, f) = text();
  if ((*rng)() % 3 == 0) {
    o.greeting_ms = -1;
  } else {
    o.greeting_ms = std::uniform_int_distribution<int64_t>(0, 8000)(*rng);
  }
  return o;
}

// kProducts and kDifferentialRules merged into `*set` and compiled; null
// when either step fails.
std::unique_ptr<Fingerprinter> CompileDifferential(RuleSet* set) {
  if (!MergeRules("test.yaml", absl::StrCat(kProducts, kDifferentialRules), set)
           .ok()) {
    return nullptr;
  }
  auto fingerprinter = CompileRules(*set);
  return fingerprinter.ok() ? *std::move(fingerprinter) : nullptr;
}

TEST(MatchTest, SetsAgreeWithANaiveLoop) {
  RuleSet set;
  const std::unique_ptr<Fingerprinter> fingerprinter =
      CompileDifferential(&set);
  ASSERT_NE(fingerprinter, nullptr);
  std::mt19937 rng(12345);
  std::map<std::string, int> matches;
  for (int i = 0; i < 20000; ++i) {
    const Observation o = RandomObservation(&rng);
    const std::vector<std::string> want = NaiveMatch(set, o);
    ASSERT_EQ(RuleIds(fingerprinter->Identify(o)), want)
        << "greeting=" << o.greeting << " ehlo=" << o.ehlo
        << " keywords=" << o.ehlo_keywords << " ms=" << o.greeting_ms;
    for (const std::string& id : want) ++matches[id];
  }
  // The test exercises every rule's matches, not only misses.
  for (const Rule& rule : set.rules) {
    EXPECT_GT(matches[rule.id], 20) << rule.id;
  }
}

// IdentifyShared gives what Identify gives, field by field, and the same
// object again for an observation that matches the same rules with the
// same captures.
TEST(MatchTest, IdentifySharedAgreesWithIdentify) {
  RuleSet set;
  const std::unique_ptr<Fingerprinter> fingerprinter =
      CompileDifferential(&set);
  ASSERT_NE(fingerprinter, nullptr);
  const Fingerprinter& fp = *fingerprinter;
  std::mt19937 rng(777);
  for (int i = 0; i < 5000; ++i) {
    const Observation o = RandomObservation(&rng);
    const Identification want = fp.Identify(o);
    const std::shared_ptr<const Identification> got = fp.IdentifyShared(o);
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(got->product, want.product);
    EXPECT_EQ(got->vendor, want.vendor);
    EXPECT_EQ(got->version, want.version);
    EXPECT_EQ(got->os, want.os);
    EXPECT_EQ(got->fronts, want.fronts);
    EXPECT_EQ(got->confidence, want.confidence);
    EXPECT_EQ(got->basis, want.basis);
    ASSERT_EQ(RuleIds(*got), RuleIds(want)) << "greeting=" << o.greeting;
    for (size_t e = 0; e < want.evidence.size(); ++e) {
      EXPECT_EQ(got->evidence[e].role, want.evidence[e].role);
      EXPECT_EQ(got->evidence[e].product, want.evidence[e].product);
      EXPECT_EQ(got->evidence[e].basis, want.evidence[e].basis);
      EXPECT_EQ(got->evidence[e].fields, want.evidence[e].fields);
    }
    EXPECT_EQ(fp.IdentifyShared(o), got);  // reused, not rebuilt
  }
}

// Set matches of recurring fields (the reply to QUIT here) are remembered
// per thread: never across fingerprinters with other rules, even one made
// where a destroyed one was.
TEST(MatchTest, RememberedMatchesBelongToTheirFingerprinter) {
  Observation o = Greeting("220 mx.example.com ESMTP");
  o.quit = "221 2.0.0 Bye";
  auto a = Make(absl::StrCat(
      "rules:\n", RuleYaml("a", "postfix", "    match: {quit: Bye}\n")));
  auto b = Make(absl::StrCat(
      "rules:\n", RuleYaml("b", "exim", "    match: {quit: Bye}\n")));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(a->Identify(o).product, "postfix");
    EXPECT_EQ(b->Identify(o).product, "exim");
    EXPECT_EQ(a->IdentifyShared(o)->product, "postfix");
  }
  a.reset();
  auto c = Make(absl::StrCat(
      "rules:\n", RuleYaml("c", "sendmail", "    match: {quit: Goodbye}\n")));
  EXPECT_EQ(c->Identify(o).product, "unknown");
  o.quit = "221 Goodbye";
  EXPECT_EQ(c->Identify(o).product, "sendmail");
  EXPECT_EQ(b->Identify(o).product, "unknown");
}

TEST(MatchTest, AllConditionsMustHold) {
  auto fp = Make(absl::StrCat(
      "rules:\n",
      RuleYaml("r", "postfix",
               "    match: {greeting: Postfix, ehlo_keywords: ETRN}\n")));
  Observation o = Greeting("220 x ESMTP Postfix");
  EXPECT_EQ(fp->Identify(o).product, "unknown");
  o.ehlo_keywords = "PIPELINING ETRN";
  EXPECT_EQ(fp->Identify(o).product, "postfix");
}

TEST(MatchTest, SearchSemanticsAndMultiLineFields) {
  auto fp = Make(absl::StrCat(
      "rules:\n",
      RuleYaml("anywhere", "postfix", "    match: {ehlo: 'CHUNKING'}\n"),
      RuleYaml("anchored", "exim", "    match: {ehlo: '^CHUNKING'}\n"),
      RuleYaml("line", "sendmail",
               "    match: {ehlo: '(?m)^250 CHUNKING$'}\n")));
  Observation o;
  o.ehlo = "250 mx\n250 CHUNKING";
  EXPECT_THAT(RuleIds(fp->Identify(o)), ElementsAre("anywhere", "line"));
}

TEST(MatchTest, Unless) {
  auto fp = Make(absl::StrCat(
      "rules:\n",
      RuleYaml("r", "postfix",
               "    match: {greeting: Postfix}\n"
               "    unless: {ehlo_keywords: XEXCH50, help: 'not postfix'}\n")));
  Observation o = Greeting("220 x ESMTP Postfix");
  EXPECT_EQ(fp->Identify(o).product, "postfix");
  o.ehlo_keywords = "SIZE XEXCH50";
  EXPECT_EQ(fp->Identify(o).product, "unknown");
  o.ehlo_keywords = "SIZE";
  o.help = "214 this is not postfix";
  EXPECT_EQ(fp->Identify(o).product, "unknown");
}

TEST(MatchTest, SharedPatternsCountForEveryRule) {
  // The same pattern on one field is one set entry used by three rules,
  // as a match condition and as an unless condition.
  auto fp = Make(absl::StrCat(
      "rules:\n", RuleYaml("a", "postfix", "    match: {greeting: Postfix}\n"),
      RuleYaml("b", "postscreen", "    match: {greeting: Postfix}\n"),
      RuleYaml(
          "c", "exim",
          "    match: {greeting: '220'}\n    unless: {greeting: Postfix}\n")));
  EXPECT_THAT(RuleIds(fp->Identify(Greeting("220 Postfix"))),
              ElementsAre("a", "b"));
  EXPECT_THAT(RuleIds(fp->Identify(Greeting("220 Exim"))), ElementsAre("c"));
}

TEST(MatchTest, EmptyFieldsNeverMatch) {
  auto fp = Make(absl::StrCat(
      "rules:\n", RuleYaml("a", "postfix", "    match: {help: '^$'}\n"),
      RuleYaml("b", "exim",
               "    match: {greeting: 'x'}\n    unless: {help: ''}\n")));
  const Identification got = fp->Identify(Greeting("x"));
  EXPECT_THAT(RuleIds(got), ElementsAre("b"));
}

TEST(MatchTest, GreetingMs) {
  auto fp = Make(absl::StrCat(
      "rules:\n",
      RuleYaml("lt", "postfix", "    match: {greeting_ms: '< 100'}\n"),
      RuleYaml("le", "postfix", "    match: {greeting_ms: '<=100'}\n"),
      RuleYaml("gt", "postfix", "    match: {greeting_ms: '> 5000'}\n"),
      RuleYaml("ge", "postfix", "    match: {greeting_ms: ' >= 5000 '}\n"),
      RuleYaml("eq", "postfix", "    match: {greeting_ms: '== 0'}\n"),
      RuleYaml("ne", "postfix", "    match: {greeting_ms: '!= 0'}\n"),
      RuleYaml(
          "fast-unless", "exim",
          "    match: {greeting: x}\n    unless: {greeting_ms: '< 10'}\n")));
  const auto at = [&](int64_t ms) {
    Observation o;
    o.greeting_ms = ms;
    o.greeting = "x";
    return RuleIds(fp->Identify(o));
  };
  EXPECT_THAT(at(-1), ElementsAre("fast-unless"));
  EXPECT_THAT(at(0), ElementsAre("lt", "le", "eq"));
  EXPECT_THAT(at(99), ElementsAre("lt", "le", "ne", "fast-unless"));
  EXPECT_THAT(at(100), ElementsAre("le", "ne", "fast-unless"));
  EXPECT_THAT(at(101), ElementsAre("ne", "fast-unless"));
  EXPECT_THAT(at(5000), ElementsAre("ge", "ne", "fast-unless"));
  EXPECT_THAT(at(5001), ElementsAre("gt", "ge", "ne", "fast-unless"));
}

TEST(MatchTest, ParseMsComparison) {
  EXPECT_FALSE(ParseMsComparison("5000"));
  EXPECT_FALSE(ParseMsComparison(">= "));
  EXPECT_FALSE(ParseMsComparison(">= -5"));
  EXPECT_FALSE(ParseMsComparison(">= 5s"));
  EXPECT_FALSE(ParseMsComparison("=> 5"));
  EXPECT_FALSE(ParseMsComparison("<= 99999999999999999999999"));
  ASSERT_TRUE(ParseMsComparison("<=5"));
  EXPECT_EQ(ParseMsComparison("<=5")->op, MsComparison::Op::kLessEqual);
  EXPECT_EQ(ParseMsComparison("<=5")->value, 5);
}

// ---- Identification ----

TEST(IdentifyTest, VersionAndOsCaptures) {
  auto fp = Make(absl::StrCat(
      "rules:\n",
      RuleYaml(
          "banner", "exim",
          "    match: {greeting: 'Exim (?P<version>[\\d.]+)(?: (?P<os>\\w+))?'}"
          "\n"),
      RuleYaml("ehlo", "exim",
               "    match: {ehlo: 'exim-(?P<version>\\S+) on (?P<os>\\w+)'}\n",
               "behaviour", "0.2"),
      RuleYaml("loser", "postfix",
               "    match: {help: 'Postfix (?P<version>\\S+)'}\n", "banner",
               "0.1")));
  Observation o = Greeting("220 mx ESMTP Exim 4.96 Ubuntu");
  Identification got = fp->Identify(o);
  EXPECT_EQ(got.version, "4.96");
  EXPECT_EQ(got.os, "Ubuntu");

  // First non-empty in file order: the os comes from the second rule when
  // the first has none.
  o.greeting = "220 mx ESMTP Exim 4.97";
  o.ehlo = "250-mx\n250 exim-4.98 on Debian";
  o.help = "214 Postfix 3.7";
  got = fp->Identify(o);
  EXPECT_EQ(got.product, "exim");
  EXPECT_EQ(got.version, "4.97");
  EXPECT_EQ(got.os, "Debian");

  // Only the winner's rules give version and os.
  o.greeting = "220 mx ESMTP";
  o.ehlo = "";
  got = fp->Identify(o);
  EXPECT_EQ(got.product, "postfix");
  EXPECT_EQ(got.version, "3.7");
  o.help = "";
  o.ehlo = "250 exim-4.98 on Debian";
  o.cert_subject = "Postfix 9";
  got = fp->Identify(o);
  EXPECT_EQ(got.version, "4.98");
}

TEST(IdentifyTest, ScoresCombineAndTheHighestWins) {
  auto fp = Make(absl::StrCat(
      "rules:\n",
      RuleYaml("exim", "exim", "    match: {greeting: E}\n", "banner", "0.7"),
      RuleYaml("postfix-a", "postfix", "    match: {greeting: A}\n", "banner",
               "0.5"),
      RuleYaml("postfix-b", "postfix", "    match: {ehlo: B}\n", "behaviour",
               "0.5")));
  Observation o = Greeting("220 E A");
  Identification got = fp->Identify(o);
  EXPECT_EQ(got.product, "exim");
  EXPECT_DOUBLE_EQ(got.confidence, 0.7);
  o.ehlo = "250 B";
  got = fp->Identify(o);
  EXPECT_EQ(got.product, "postfix");
  EXPECT_DOUBLE_EQ(got.confidence, 0.75);  // 1 - 0.5 * 0.5
  EXPECT_EQ(got.basis, "banner+behaviour");
  EXPECT_EQ(got.vendor, "Postfix project");
}

TEST(IdentifyTest, TiesGoToTheEarliestRule) {
  const std::string rules = absl::StrCat(
      "rules:\n",
      RuleYaml("sendmail", "sendmail", "    match: {ehlo: S}\n", "banner",
               "0.75"),
      RuleYaml("postfix-a", "postfix", "    match: {greeting: A}\n", "banner",
               "0.5"),
      RuleYaml("postfix-b", "postfix", "    match: {ehlo: B}\n", "behaviour",
               "0.5"),
      RuleYaml("exim", "exim", "    match: {greeting: E}\n", "banner", "0.5"));
  auto fp = Make(rules);
  Observation o = Greeting("220 A E");
  o.ehlo = "250 S B";
  EXPECT_EQ(fp->Identify(o).product, "sendmail");
  o.ehlo = "250 B";
  EXPECT_EQ(fp->Identify(o).product, "postfix");
  o.greeting = "220 E A";  // order in the text does not matter
  o.ehlo = "";
  EXPECT_EQ(fp->Identify(o).product, "postfix");
}

TEST(IdentifyTest, Basis) {
  auto fp = Make(absl::StrCat(
      "rules:\n",
      RuleYaml("a", "postfix", "    match: {greeting: A}\n", "banner"),
      RuleYaml("b", "postfix", "    match: {ehlo: B}\n", "behaviour"),
      RuleYaml("f", "gateway", "    match: {help: F}\n", "banner")));
  Observation o;
  o.greeting = "A";
  EXPECT_EQ(fp->Identify(o).basis, "banner");
  o.greeting = "";
  o.ehlo = "B";
  EXPECT_EQ(fp->Identify(o).basis, "behaviour");
  o.greeting = "A";
  EXPECT_EQ(fp->Identify(o).basis, "banner+behaviour");
  // A front's basis is not the product's.
  o = Observation();
  o.ehlo = "B";
  o.help = "F";
  EXPECT_EQ(fp->Identify(o).basis, "behaviour");
}

TEST(IdentifyTest, NoMatchIsUnknown) {
  auto fp = Make(absl::StrCat(
      "rules:\n",
      RuleYaml("a", "postfix", "    match: {greeting: Postfix}\n")));
  const Identification got = fp->Identify(Greeting("220 hello"));
  EXPECT_EQ(got.product, "unknown");
  EXPECT_EQ(got.vendor, "");
  EXPECT_EQ(got.version, "");
  EXPECT_EQ(got.os, "");
  EXPECT_EQ(got.basis, "");
  EXPECT_EQ(got.confidence, 0);
  EXPECT_THAT(got.fronts, IsEmpty());
  EXPECT_THAT(got.evidence, IsEmpty());
  EXPECT_EQ(fp->Identify(Observation()).product, "unknown");
}

TEST(IdentifyTest, Fronts) {
  auto fp = Make(absl::StrCat(
      "rules:\n", RuleYaml("gw", "gateway", "    match: {ehlo: GW}\n"),
      RuleYaml("ps-slow", "postscreen",
               "    match: {greeting_ms: '>= 5000'}\n"),
      RuleYaml("ps-multi", "postscreen",
               "    match: {greeting: '(?m)^220-'}\n"),
      RuleYaml("postfix", "postfix", "    match: {greeting: Postfix}\n",
               "banner", "0.2")));
  Observation o = Greeting("220-mx\n220 Postfix");
  o.greeting_ms = 6000;
  o.ehlo = "250 GW";
  Identification got = fp->Identify(o);
  EXPECT_EQ(got.product, "postfix");  // fronts never win the product
  EXPECT_DOUBLE_EQ(got.confidence, 0.2);
  EXPECT_THAT(got.fronts, ElementsAre("gateway", "postscreen"));

  o.greeting = "220-mx\n220 ready";
  got = fp->Identify(o);
  EXPECT_EQ(got.product, "unknown");
  EXPECT_EQ(got.confidence, 0);
  EXPECT_THAT(got.fronts, ElementsAre("gateway", "postscreen"));
  EXPECT_THAT(RuleIds(got), ElementsAre("gw", "ps-slow", "ps-multi"));
}

TEST(IdentifyTest, Evidence) {
  auto fp = Make(absl::StrCat(
      "rules:\n",
      RuleYaml("ps", "postscreen",
               "    match: {greeting_ms: '>= 5000', greeting: '^220-'}\n"
               "    unless: {ehlo: nothing}\n",
               "behaviour"),
      RuleYaml("pf", "postfix",
               "    match: {ehlo_keywords: ETRN, greeting: Postfix}\n"),
      RuleYaml("ex", "exim", "    match: {greeting: Exim}\n")));
  Observation o = Greeting("220-mx\n220 ESMTP Postfix");
  o.greeting_ms = 5000;
  o.ehlo_keywords = "ETRN";
  const Identification got = fp->Identify(o);
  ASSERT_EQ(got.evidence.size(), 2u);
  EXPECT_EQ(got.evidence[0].rule, "ps");
  EXPECT_EQ(got.evidence[0].role, "front");
  EXPECT_EQ(got.evidence[0].product, "postscreen");
  EXPECT_EQ(got.evidence[0].basis, "behaviour");
  EXPECT_THAT(got.evidence[0].fields, ElementsAre("greeting_ms", "greeting"));
  EXPECT_EQ(got.evidence[1].rule, "pf");
  EXPECT_EQ(got.evidence[1].role, "product");
  EXPECT_EQ(got.evidence[1].product, "postfix");
  EXPECT_EQ(got.evidence[1].basis, "banner");
  EXPECT_THAT(got.evidence[1].fields, ElementsAre("ehlo_keywords", "greeting"));
}

// ---- Examples ----

TEST(ExamplesTest, CheckExamplesReportsEachFailure) {
  auto fp = Make(absl::StrCat(
      "rules:\n",
      RuleYaml(
          "pf", "postfix",
          "    match: {greeting: 'Postfix(?: \\((?P<os>[^)]+)\\))?'}\n"
          "    examples:\n"
          "      - observation: {greeting: '220 mx ESMTP Postfix (Debian)'}\n"
          "        expect: {product: postfix, os: Debian, basis: banner,\n"
          "                 vendor: Postfix project, fronts: []}\n"
          "      - observation: {greeting: '220 mx ESMTP Postfix'}\n"
          "        expect: {product: exim, version: '3.7'}\n"
          "      - observation: {greeting: '220 mx', greeting_ms: 6000}\n"
          "        expect: {product: unknown, fronts: [postscreen]}\n"),
      RuleYaml("ps", "postscreen",
               "    match: {greeting_ms: '> 5000'}\n"
               "    examples:\n"
               "      - observation: {greeting: '220 mx', greeting_ms: 6000}\n"
               "        expect: {fronts: [postscreen], product: unknown}\n")));
  EXPECT_THAT(
      fp->CheckExamples(),
      ElementsAre("test.yaml: rule pf: examples #2: product: got 'postfix', "
                  "want 'exim'; version: got '', want '3.7' (matched: pf)"));
}

// ---- Hostile input ----

TEST(HostileTest, LongBanner) {
  RuleSet set;
  ASSERT_TRUE(
      MergeRules("test.yaml", absl::StrCat(kProducts, kDifferentialRules), &set)
          .ok());
  auto fp = CompileRules(set);
  ASSERT_TRUE(fp.ok());
  std::mt19937 rng(7);
  Observation o;
  o.greeting = "220 mx.example.com ESMTP Postfix (";
  while (o.greeting.size() < (1u << 20)) {
    o.greeting += static_cast<char>(rng() % 256);
  }
  o.greeting += ") Exim 4.96";
  for (size_t f = 1; f < kFieldCount; ++f) *MutableField(&o, f) = o.greeting;
  const auto start = std::chrono::steady_clock::now();
  const Identification got = (*fp)->Identify(o);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_THAT(RuleIds(got), NaiveMatch(set, o));
  EXPECT_THAT(RuleIds(got), testing::Contains("exim-banner"));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST(HostileTest, NulBytesAndInvalidUtf8) {
  auto fp = Make(absl::StrCat(
      "rules:\n",
      RuleYaml("nul", "postfix",
               "    match: {greeting: '^220 \\x00(?P<version>[^ ]*) '}\n"),
      RuleYaml("dot", "exim", "    match: {ehlo: '^250 (?P<version>.+)$'}\n"),
      RuleYaml("bytes", "sendmail",
               "    match: {help: '(?P<version>\\C+)'}\n")));
  // NUL is a character like any other.
  Observation o = Greeting(std::string("220 \0a\0b x", 9));
  Identification got = fp->Identify(o);
  EXPECT_EQ(got.product, "postfix");
  EXPECT_EQ(got.version, std::string("a\0b", 3));
  // Patterns are UTF-8: a character class does not match a byte that is
  // not UTF-8, so the rule fails rather than misreads.
  o.greeting = std::string("220 \0\xff\xfe x", 9);
  EXPECT_EQ(fp->Identify(o).product, "unknown");

  o = Observation();
  o.ehlo = "250 \xc3\xa9t\xc3";  // é, then a truncated sequence
  got = fp->Identify(o);
  EXPECT_EQ(got.product, "unknown");  // '.' does not match invalid UTF-8
  o.ehlo = "250 \xc3\xa9t";
  EXPECT_EQ(fp->Identify(o).version, "\xc3\xa9t");
  o = Observation();
  o.help = std::string("\x80\0\xff", 3);
  EXPECT_EQ(fp->Identify(o).version, std::string("\x80\0\xff", 3));
}

TEST(HostileTest, ConcurrentIdentify) {
  RuleSet set;
  ASSERT_TRUE(
      MergeRules("test.yaml", absl::StrCat(kProducts, kDifferentialRules), &set)
          .ok());
  auto fp = CompileRules(set);
  ASSERT_TRUE(fp.ok());
  std::vector<Observation> observations;
  std::vector<std::vector<std::string>> want;
  std::mt19937 rng(99);
  for (int i = 0; i < 500; ++i) {
    observations.push_back(RandomObservation(&rng));
    want.push_back(NaiveMatch(set, observations.back()));
  }
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (size_t i = 0; i < observations.size(); ++i) {
          failures[t] += RuleIds((*fp)->Identify(observations[i])) != want[i];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_THAT(failures, ElementsAre(0, 0, 0, 0));
}

}  // namespace
}  // namespace smtpscan::fingerprint
