// The built-in rules (rules/fingerprints.yaml): they load, every example
// gives what it expects, and the table is consistent.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "fingerprint/fingerprint.h"
#include "fingerprint/rules.h"
#include "gtest/gtest.h"

namespace smtpscan::fingerprint {
namespace {

RuleSet BuiltinSet() {
  RuleSet set;
  const absl::Status status = MergeRules("built-in", BuiltinRules(), &set);
  EXPECT_TRUE(status.ok()) << status;
  return set;
}

TEST(BuiltinRulesTest, Load) {
  const auto fingerprinter = Fingerprinter::Create();
  ASSERT_TRUE(fingerprinter.ok()) << fingerprinter.status();
  EXPECT_GT((*fingerprinter)->rule_count(), 0u);
  EXPECT_EQ((*fingerprinter)->rule_count(), BuiltinSet().rules.size());
}

// Fingerprinter::Create takes the built-in rules from code generated at
// build time (fingerprint_codegen): it must be what reading the file gives.
TEST(BuiltinRulesTest, GeneratedSetEqualsTheParsedFile) {
  const RuleSet parsed = BuiltinSet();
  const RuleSet generated = BuiltinRuleSet();
  ASSERT_EQ(generated.products.size(), parsed.products.size());
  for (size_t i = 0; i < parsed.products.size(); ++i) {
    EXPECT_TRUE(generated.products[i] == parsed.products[i])
        << "product " << parsed.products[i].id;
  }
  ASSERT_EQ(generated.rules.size(), parsed.rules.size());
  for (size_t i = 0; i < parsed.rules.size(); ++i) {
    const Rule& want = parsed.rules[i];
    const Rule& got = generated.rules[i];
    EXPECT_TRUE(got == want) << "rule " << want.id;
    // Where they differ, for the message above.
    EXPECT_TRUE(got.match == want.match) << "rule " << want.id;
    EXPECT_TRUE(got.examples == want.examples) << "rule " << want.id;
  }
  EXPECT_TRUE(generated == parsed);
}

// The built-in rules are one YAML document (the generator reads them with
// DocumentCheck::kCheck; tests and benchmarks with kKnownSingle).
TEST(BuiltinRulesTest, IsOneDocument) {
  RuleSet checked;
  ASSERT_TRUE(
      MergeRules("built-in", BuiltinRules(), &checked, DocumentCheck::kCheck)
          .ok());
  RuleSet unchecked;
  ASSERT_TRUE(MergeRules("built-in", BuiltinRules(), &unchecked,
                         DocumentCheck::kKnownSingle)
                  .ok());
  EXPECT_EQ(checked.rules.size(), unchecked.rules.size());
  EXPECT_EQ(checked.products.size(), unchecked.products.size());
  // What kKnownSingle gives up: a second document goes unnoticed.
  RuleSet two;
  EXPECT_FALSE(MergeRules("two", "rules: []\n---\nrules: []\n", &two,
                          DocumentCheck::kCheck)
                   .ok());
  EXPECT_TRUE(MergeRules("two", "rules: []\n---\nrules: []\n", &two,
                         DocumentCheck::kKnownSingle)
                  .ok());
}

TEST(BuiltinRulesTest, EveryExamplePasses) {
  const auto fingerprinter = Fingerprinter::Create();
  ASSERT_TRUE(fingerprinter.ok()) << fingerprinter.status();
  const std::vector<std::string> failures = (*fingerprinter)->CheckExamples();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failing examples:\n"
                                << absl::StrJoin(failures, "\n");
}

TEST(BuiltinRulesTest, EveryRuleHasAnExampleAndAKnownProduct) {
  const RuleSet set = BuiltinSet();
  std::vector<std::string> problems;
  for (const Rule& rule : set.rules) {
    if (rule.examples.empty()) {
      problems.push_back("rule " + rule.id + ": no examples");
    }
    if (set.FindProduct(rule.product) == nullptr) {
      problems.push_back("rule " + rule.id + ": unknown product " +
                         rule.product);
    }
  }
  EXPECT_TRUE(problems.empty()) << absl::StrJoin(problems, "\n");
}

TEST(BuiltinRulesTest, IdsAreUnique) {
  const RuleSet set = BuiltinSet();
  std::set<std::string> rules, products;
  for (const Rule& rule : set.rules) {
    EXPECT_TRUE(rules.insert(rule.id).second) << "rule " << rule.id;
  }
  for (const Product& product : set.products) {
    EXPECT_TRUE(products.insert(product.id).second) << "product " << product.id;
  }
}

}  // namespace
}  // namespace smtpscan::fingerprint
