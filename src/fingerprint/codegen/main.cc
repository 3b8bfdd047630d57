// fingerprint_codegen: turns the built-in rule file into C++ at build time.
//
//   fingerprint_codegen rules/fingerprints.yaml builtin_ruleset.cc
//
// The output defines BuiltinRuleSet() (fingerprint/rules.h): the RuleSet
// that MergeRules gives for the file, built by plain assignments. Reading
// the YAML was three quarters of the start-up's rule loading (8.5 of
// 11.2 ms, BM_FingerprintParseBuiltin against BM_FingerprintCreate), paid
// on every run for a file fixed at build time. The file is checked here
// as MergeRules and ValidateRuleSet check any rule file: a bad built-in
// rule fails the build with the same one-line error. builtin_rules_test
// checks that the generated set equals the parsed one.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "fingerprint/fingerprint.h"
#include "fingerprint/rules.h"

namespace smtpscan::fingerprint {
namespace {

// A C++ string literal of `s`: CEscape gives fixed three-digit octal
// escapes, so no escape runs into the character after it.
std::string Literal(absl::string_view s) {
  return absl::StrCat("\"", absl::CEscape(s), "\"");
}

std::string OpName(MsComparison::Op op) {
  switch (op) {
    case MsComparison::Op::kLess:
      return "kLess";
    case MsComparison::Op::kLessEqual:
      return "kLessEqual";
    case MsComparison::Op::kGreater:
      return "kGreater";
    case MsComparison::Op::kGreaterEqual:
      return "kGreaterEqual";
    case MsComparison::Op::kEqual:
      return "kEqual";
    case MsComparison::Op::kNotEqual:
      return "kNotEqual";
  }
  return "kEqual";
}

void AppendConditions(absl::string_view list,
                      const std::vector<Condition>& conditions,
                      std::string* out) {
  for (const Condition& c : conditions) {
    absl::StrAppend(out, "  r.", list, ".push_back({", Literal(c.field), ", ",
                    Literal(c.pattern),
                    ", {MsComparison::Op::", OpName(c.ms.op), ", ", c.ms.value,
                    "}});\n");
  }
}

void AppendOptional(absl::string_view name,
                    const std::optional<std::string>& value, std::string* out) {
  if (value)
    absl::StrAppend(out, "    e.expect.", name, " = ", Literal(*value), ";\n");
}

void AppendExample(const Example& example, std::string* out) {
  absl::StrAppend(out, "  {\n    Example& e = r.examples.emplace_back();\n");
  const Observation& o = example.observation;
  for (size_t f = 0; f < kFieldCount; ++f) {
    const std::string& text = FieldText(o, f);
    if (text.empty()) continue;
    absl::StrAppend(out, "    e.observation.", kFieldNames[f], " = ",
                    Literal(text), ";\n");
  }
  if (o.greeting_ms != -1) {
    absl::StrAppend(out, "    e.observation.greeting_ms = ", o.greeting_ms,
                    ";\n");
  }
  const Expectation& x = example.expect;
  AppendOptional("product", x.product, out);
  AppendOptional("version", x.version, out);
  AppendOptional("os", x.os, out);
  AppendOptional("basis", x.basis, out);
  AppendOptional("vendor", x.vendor, out);
  if (x.fronts) {
    absl::StrAppend(out, "    e.expect.fronts.emplace();\n");
    for (const std::string& front : *x.fronts) {
      absl::StrAppend(out, "    e.expect.fronts->push_back(", Literal(front),
                      ");\n");
    }
  }
  absl::StrAppend(out, "  }\n");
}

// One function per rule keeps each function small for the compiler.
std::string RuleSetToCpp(const RuleSet& set, absl::string_view input) {
  std::string out = absl::StrCat(
      "// Generated from ", input,
      " by fingerprint_codegen (src/fingerprint/codegen). Do not edit.\n"
      "#include \"fingerprint/rules.h\"\n\n"
      "namespace smtpscan::fingerprint {\nnamespace {\n\n");
  for (size_t i = 0; i < set.rules.size(); ++i) {
    const Rule& rule = set.rules[i];
    absl::StrAppend(&out, "void Rule", i, "(Rule& r) {\n");
    absl::StrAppend(&out, "  r.id = ", Literal(rule.id), ";\n");
    absl::StrAppend(&out, "  r.product = ", Literal(rule.product), ";\n");
    absl::StrAppend(&out, "  r.basis = Basis::",
                    rule.basis == Basis::kBanner ? "kBanner" : "kBehaviour",
                    ";\n");
    // %.17g gives back the same double.
    absl::StrAppend(&out, "  r.confidence = ",
                    absl::StrFormat("%.17g", rule.confidence), ";\n");
    AppendConditions("match", rule.match, &out);
    AppendConditions("unless", rule.unless, &out);
    for (const Example& example : rule.examples) AppendExample(example, &out);
    absl::StrAppend(&out, "  r.source = ", Literal(rule.source), ";\n}\n\n");
  }
  absl::StrAppend(&out, "}  // namespace\n\nRuleSet BuiltinRuleSet() {\n",
                  "  RuleSet set;\n  set.products = {\n");
  for (const Product& p : set.products) {
    absl::StrAppend(&out, "      {", Literal(p.id), ", ", Literal(p.name), ", ",
                    Literal(p.vendor), ", Role::",
                    p.role == Role::kProduct ? "kProduct" : "kFront", ", ",
                    Literal(p.source), "},\n");
  }
  absl::StrAppend(&out, "  };\n  set.rules.resize(", set.rules.size(), ");\n");
  for (size_t i = 0; i < set.rules.size(); ++i) {
    absl::StrAppend(&out, "  Rule", i, "(set.rules[", i, "]);\n");
  }
  absl::StrAppend(
      &out, "  return set;\n}\n\n}  // namespace smtpscan::fingerprint\n");
  return out;
}

int Main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fingerprint_codegen RULES.yaml OUTPUT.cc\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    std::fprintf(stderr, "fingerprint_codegen: cannot read %s\n", argv[1]);
    return 1;
  }
  RuleSet set;
  absl::Status status = MergeRules("built-in", text, &set);
  if (status.ok()) status = ValidateRuleSet(set);
  if (!status.ok()) {
    std::fprintf(stderr, "fingerprint_codegen: %s: %s\n", argv[1],
                 std::string(status.message()).c_str());
    return 1;
  }
  const std::string cpp = RuleSetToCpp(set, argv[1]);
  std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
  out << cpp;
  out.close();
  if (!out) {
    std::fprintf(stderr, "fingerprint_codegen: cannot write %s\n", argv[2]);
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace smtpscan::fingerprint

int main(int argc, char** argv) {
  return smtpscan::fingerprint::Main(argc, argv);
}
