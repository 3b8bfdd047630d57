// The fingerprint rule file as data: parsing, merging and validation.
//
// Internal to fingerprint/: Fingerprinter compiles a RuleSet into RE2 sets;
// tests and the benchmark read it to check the built-in rules and to build
// a naive reference matcher. Everything here is plain data: no RE2 types
// (patterns are checked with RE2 while loading, and compiled again by the
// matcher).
#ifndef SMTPSCAN_FINGERPRINT_RULES_H_
#define SMTPSCAN_FINGERPRINT_RULES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fingerprint/fingerprint.h"

namespace smtpscan::fingerprint {

inline constexpr size_t kFieldCount =
    sizeof(kFieldNames) / sizeof(kFieldNames[0]);

// RE2's memory budget for one pattern (program and DFA cache): a pattern
// that needs more is an error. Real patterns need a few KiB; RE2's default
// (8 MiB) would let a rule file hold gigabytes.
inline constexpr int64_t kPatternMaxMem = int64_t{1} << 20;

// The special field compared as an integer against Observation::greeting_ms.
inline constexpr absl::string_view kGreetingMsField = "greeting_ms";

// Index of `name` in kFieldNames, or -1 (also for "greeting_ms").
int FieldIndex(absl::string_view name);

// The text of field `index` (an index into kFieldNames) of `observation`.
// REQUIRES: 0 <= index < kFieldCount.
const std::string& FieldText(const Observation& observation, size_t index);
std::string* MutableField(Observation* observation, size_t index);

enum class Role { kProduct, kFront };
enum class Basis { kBanner, kBehaviour };

absl::string_view RoleName(Role role);     // "product", "front"
absl::string_view BasisName(Basis basis);  // "banner", "behaviour"

// A `greeting_ms` condition: "<op> <integer>", op one of < <= > >= == !=.
struct MsComparison {
  enum class Op {
    kLess,
    kLessEqual,
    kGreater,
    kGreaterEqual,
    kEqual,
    kNotEqual
  };
  Op op = Op::kEqual;
  int64_t value = 0;

  // False when `ms` is negative (unknown).
  bool Holds(int64_t ms) const;

  bool operator==(const MsComparison&) const = default;
};

// Parses "<op> <integer>" (spaces optional around both); nullopt if bad.
std::optional<MsComparison> ParseMsComparison(absl::string_view text);

// One condition: a regular expression over one field, or a comparison
// when `field` is "greeting_ms". A regular expression never matches an
// empty (unobserved) field.
struct Condition {
  std::string field;
  std::string pattern;  // RE2 syntax, or the comparison text
  MsComparison ms;      // when field == "greeting_ms"

  bool is_ms() const { return field == kGreetingMsField; }

  bool operator==(const Condition&) const = default;
};

struct Product {
  std::string id;  // [a-z0-9-]+, never "unknown"
  std::string name;
  std::string vendor;
  Role role = Role::kProduct;
  std::string source;  // label of the source that defined it

  bool operator==(const Product&) const = default;
};

// What an example expects; only the keys given are compared.
struct Expectation {
  std::optional<std::string> product;  // a product id or "unknown"
  std::optional<std::string> version;
  std::optional<std::string> os;
  std::optional<std::vector<std::string>> fronts;
  std::optional<std::string> basis;
  std::optional<std::string> vendor;

  bool operator==(const Expectation&) const = default;
};

struct Example {
  Observation observation;
  Expectation expect;

  bool operator==(const Example&) const = default;
};

struct Rule {
  std::string id;       // [a-z0-9-]+, unique
  std::string product;  // a Product id
  Basis basis = Basis::kBanner;
  double confidence = 0;          // (0, 1]
  std::vector<Condition> match;   // all must hold (at least one)
  std::vector<Condition> unless;  // none may hold
  std::vector<Example> examples;
  std::string source;  // label of the source that defined it

  bool operator==(const Rule&) const = default;
};

struct RuleSet {
  std::vector<Product> products;  // in file order
  std::vector<Rule> rules;        // in file order

  // nullptr when no product has this id.
  const Product* FindProduct(absl::string_view id) const;

  bool operator==(const RuleSet&) const = default;
};

// Parses `text` (one YAML document) and merges it into `*set`: a product or
// rule whose id is already in `*set` replaces it in place; new ones are
// appended. On error `*set` is unchanged and the status (InvalidArgument)
// is one line: "<label>: rule <id>: <where>: <what>".
//
// `documents` says whether to check that `text` holds no second document,
// which costs a second parse: kCheck for anything read at run time;
// kKnownSingle where the built-in rules are read again (tests and
// benchmarks), which the generator has checked.
enum class DocumentCheck { kCheck, kKnownSingle };
absl::Status MergeRules(absl::string_view label, absl::string_view text,
                        RuleSet* set,
                        DocumentCheck documents = DocumentCheck::kCheck);

// The built-in rules (rules/fingerprints.yaml) as MergeRules reads them,
// made by code generated at build time (src/fingerprint/codegen): no YAML
// is read at start-up. builtin_rules_test checks that the two are equal.
RuleSet BuiltinRuleSet();

// Checks what only the merged set can tell: every rule's product and every
// example's expected product and fronts exist. Same error form.
absl::Status ValidateRuleSet(const RuleSet& set);

// A Fingerprinter for exactly `set` (validated first; no built-in rules):
// Fingerprinter::Create merges the sources and calls this. Tests use it to
// run rules of their own without the built-in ones.
absl::StatusOr<std::unique_ptr<Fingerprinter>> CompileRules(RuleSet set);

}  // namespace smtpscan::fingerprint

#endif  // SMTPSCAN_FINGERPRINT_RULES_H_
