// Fuzz target: fingerprinting on arbitrary bytes, in two modes chosen by
// the first byte.
//
// Even: an Observation. The rest is split at 0x1f into the fields in
// kFieldNames order, then greeting_ms in decimal. Identify() with the
// built-in rules must agree with a naive rule-by-rule RE2 loop and keep its
// invariants (unknown has no confidence or basis; fronts are matched fronts).
//
// Odd: a rule file. The rest is YAML; loading fails with a one-line error
// or gives rules that compile, and those run their own examples.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "fingerprint/fingerprint.h"
#include "fingerprint/rules.h"
#include "re2/re2.h"

namespace {

using smtpscan::fingerprint::CompileRules;
using smtpscan::fingerprint::Condition;
using smtpscan::fingerprint::Evidence;
using smtpscan::fingerprint::Fingerprinter;
using smtpscan::fingerprint::Identification;
using smtpscan::fingerprint::Observation;
using smtpscan::fingerprint::Rule;
using smtpscan::fingerprint::RuleSet;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Builtin {
  RuleSet set;
  std::unique_ptr<Fingerprinter> fingerprinter;
  std::map<std::string, std::unique_ptr<RE2>> patterns;
};

const Builtin& GetBuiltin() {
  static const Builtin* builtin = [] {
    auto* b = new Builtin;
    Check(smtpscan::fingerprint::MergeRules(
              "built-in", smtpscan::fingerprint::BuiltinRules(), &b->set)
              .ok());
    auto fingerprinter = CompileRules(b->set);
    Check(fingerprinter.ok());
    b->fingerprinter = std::move(*fingerprinter);
    for (const Rule& rule : b->set.rules) {
      for (const auto* conditions : {&rule.match, &rule.unless}) {
        for (const Condition& c : *conditions) {
          if (!c.is_ms() && b->patterns.count(c.pattern) == 0) {
            b->patterns.emplace(c.pattern, std::make_unique<RE2>(c.pattern));
          }
        }
      }
    }
    return b;
  }();
  return *builtin;
}

std::vector<std::string> NaiveMatch(const Builtin& b, const Observation& o) {
  const auto holds = [&](const Condition& c) {
    if (c.is_ms()) return c.ms.Holds(o.greeting_ms);
    const std::string& text = smtpscan::fingerprint::FieldText(
        o, smtpscan::fingerprint::FieldIndex(c.field));
    return !text.empty() && RE2::PartialMatch(text, *b.patterns.at(c.pattern));
  };
  std::vector<std::string> ids;
  for (const Rule& rule : b.set.rules) {
    if (std::all_of(rule.match.begin(), rule.match.end(), holds) &&
        std::none_of(rule.unless.begin(), rule.unless.end(), holds)) {
      ids.push_back(rule.id);
    }
  }
  return ids;
}

void CheckInvariants(const Identification& id) {
  if (id.product == "unknown") {
    Check(id.confidence == 0 && id.basis.empty() && id.version.empty() &&
          id.os.empty());
  } else {
    Check(id.confidence > 0 && id.confidence <= 1 && !id.basis.empty());
  }
  for (const std::string& front : id.fronts) {
    Check(std::any_of(id.evidence.begin(), id.evidence.end(),
                      [&](const Evidence& e) {
                        return e.role == "front" && e.product == front;
                      }));
  }
}

void FuzzObservation(absl::string_view input) {
  const Builtin& b = GetBuiltin();
  Observation o;
  const std::vector<absl::string_view> parts = absl::StrSplit(input, '\x1f');
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i < smtpscan::fingerprint::kFieldCount) {
      *smtpscan::fingerprint::MutableField(&o, i) = std::string(parts[i]);
    } else if (!absl::SimpleAtoi(parts[i], &o.greeting_ms)) {
      o.greeting_ms = -1;
    }
  }
  const Identification id = b.fingerprinter->Identify(o);
  CheckInvariants(id);
  std::vector<std::string> matched;
  for (const Evidence& e : id.evidence) matched.push_back(e.rule);
  Check(matched == NaiveMatch(b, o));
}

void FuzzRules(absl::string_view input) {
  RuleSet set;
  absl::Status status = smtpscan::fingerprint::MergeRules("fuzz", input, &set);
  if (!status.ok()) {
    Check(status.message().find('\n') == absl::string_view::npos);
    return;
  }
  auto fingerprinter = CompileRules(set);
  if (!fingerprinter.ok()) {
    Check(fingerprinter.status().message().find('\n') ==
          absl::string_view::npos);
    return;
  }
  (*fingerprinter)->CheckExamples();
  for (const Rule& rule : set.rules) {
    for (const auto& example : rule.examples) {
      CheckInvariants((*fingerprinter)->Identify(example.observation));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const absl::string_view input(reinterpret_cast<const char*>(data + 1),
                                size - 1);
  if (data[0] % 2 == 0) {
    FuzzObservation(input);
  } else {
    FuzzRules(input);
  }
  return 0;
}
