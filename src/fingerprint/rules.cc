#include "fingerprint/rules.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "re2/re2.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace smtpscan::fingerprint {
namespace {

// Aliases let a small document name the same node many times; walking it
// copies the node each time. The budget bounds what one document may
// cost, counted in bytes copied plus a few hundred per node visited (about
// what an Example costs).
constexpr int64_t kBudget = int64_t{64} << 20;
constexpr int64_t kNodeCost = 256;

constexpr absl::string_view kUnknownProduct = "unknown";

// `text` on one line: control bytes become escapes, other bytes stay.
std::string OneLine(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", byte);
    } else {
      out += c;
    }
  }
  return out;
}

bool IsId(absl::string_view id) {
  if (id.empty()) return false;
  for (char c : id) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-') {
      return false;
    }
  }
  return true;
}

// Thrown inside the parser, turned into a Status at its boundary. The
// parser is not on the data path: exceptions keep each check one line.
struct ParseError {
  std::string where;  // "rule exim-x: match.greeting"
  std::string what;
};

class DocumentParser {
 public:
  // Merges into `*out`, naming `label` as the source of what it adds.
  DocumentParser(absl::string_view label, RuleSet* out)
      : label_(label), out_(*out) {}

  void Parse(const YAML::Node& root) {
    Charge(kNodeCost);
    if (!root.IsMap()) {
      throw ParseError{"", "expected a mapping with products and/or rules"};
    }
    std::optional<YAML::Node> products, rules;
    ForEachKey(root, "", [&](const std::string& key, const YAML::Node& value) {
      if (key == "products") {
        products = value;
      } else if (key == "rules") {
        rules = value;
      } else {
        return false;
      }
      return true;
    });
    if (products) ParseProducts(*products);
    if (rules) ParseRules(*rules);
  }

 private:
  void Charge(int64_t cost) {
    budget_ -= cost;
    if (budget_ < 0) {
      throw ParseError{"", "document too large (after alias expansion)"};
    }
  }

  // Calls `f(key, value)` for each entry of map `node`; `f` returns false
  // for an unknown key. Keys must be unique strings.
  template <typename F>
  void ForEachKey(const YAML::Node& node, const std::string& where, F f) {
    if (!node.IsMap()) throw ParseError{where, "expected a mapping"};
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      Charge(kNodeCost);
      if (!it->first.IsScalar()) {
        throw ParseError{where, "keys must be strings"};
      }
      const std::string key = it->first.Scalar();
      Charge(static_cast<int64_t>(key.size()));
      if (!seen.insert(key).second) {
        throw ParseError{where, absl::StrCat("duplicate key '", key, "'")};
      }
      if (!f(key, it->second)) {
        throw ParseError{where, absl::StrCat("unknown key '", key, "'")};
      }
    }
  }

  std::string String(const YAML::Node& node, const std::string& where) {
    Charge(kNodeCost);
    if (!node.IsScalar()) throw ParseError{where, "expected a string"};
    Charge(static_cast<int64_t>(node.Scalar().size()));
    return node.Scalar();
  }

  const YAML::Node& Sequence(const YAML::Node& node, const std::string& where) {
    if (!node.IsSequence()) throw ParseError{where, "expected a list"};
    return node;
  }

  static std::string Join(const std::string& a, absl::string_view b) {
    return a.empty() ? std::string(b) : absl::StrCat(a, ": ", b);
  }

  // The value of key "id" in map `node`, checked; `fallback` names the
  // entry in errors until then ("rule #3").
  std::string Id(const YAML::Node& node, const std::string& fallback) {
    if (!node.IsMap()) throw ParseError{fallback, "expected a mapping"};
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == "id") {
        const std::string id = String(it->second, Join(fallback, "id"));
        if (!IsId(id)) {
          throw ParseError{fallback,
                           absl::StrCat("id '", id, "' is not [a-z0-9-]+")};
        }
        return id;
      }
    }
    throw ParseError{fallback, "missing id"};
  }

  void ParseProducts(const YAML::Node& node) {
    std::set<std::string> ids;
    size_t n = 0;
    for (const YAML::Node& entry : Sequence(node, "products")) {
      Charge(kNodeCost);
      const std::string id = Id(entry, absl::StrCat("product #", ++n));
      const std::string where = absl::StrCat("product ", id);
      if (id == kUnknownProduct) {
        throw ParseError{where, "the id 'unknown' is reserved"};
      }
      if (!ids.insert(id).second) throw ParseError{where, "duplicate id"};
      Product product;
      product.id = id;
      product.source = label_;
      bool has_name = false, has_role = false;
      ForEachKey(
          entry, where, [&](const std::string& key, const YAML::Node& v) {
            const std::string at = Join(where, key);
            if (key == "id") return true;  // read by Id()
            if (key == "name") {
              product.name = String(v, at);
              has_name = true;
            } else if (key == "vendor") {
              product.vendor = String(v, at);
            } else if (key == "role") {
              const std::string role = String(v, at);
              if (role == "product") {
                product.role = Role::kProduct;
              } else if (role == "front") {
                product.role = Role::kFront;
              } else {
                throw ParseError{
                    at, absl::StrCat("'", role, "' is not product or front")};
              }
              has_role = true;
            } else {
              return false;
            }
            return true;
          });
      if (!has_name) throw ParseError{where, "missing name"};
      if (!has_role) throw ParseError{where, "missing role"};
      Upsert(&out_.products, std::move(product));
    }
  }

  void ParseRules(const YAML::Node& node) {
    std::set<std::string> ids;
    size_t n = 0;
    for (const YAML::Node& entry : Sequence(node, "rules")) {
      Charge(kNodeCost);
      const std::string id = Id(entry, absl::StrCat("rule #", ++n));
      const std::string where = absl::StrCat("rule ", id);
      // Before the body: a list of aliases to one rule fails here, cheaply.
      if (!ids.insert(id).second) throw ParseError{where, "duplicate id"};
      Rule rule;
      rule.id = id;
      rule.source = label_;
      bool has_product = false, has_basis = false, has_confidence = false,
           has_match = false;
      ForEachKey(
          entry, where, [&](const std::string& key, const YAML::Node& v) {
            const std::string at = Join(where, key);
            if (key == "id") return true;  // read by Id()
            if (key == "product") {
              rule.product = String(v, at);
              has_product = true;
            } else if (key == "basis") {
              const std::string basis = String(v, at);
              if (basis == "banner") {
                rule.basis = Basis::kBanner;
              } else if (basis == "behaviour") {
                rule.basis = Basis::kBehaviour;
              } else {
                throw ParseError{
                    at,
                    absl::StrCat("'", basis, "' is not banner or behaviour")};
              }
              has_basis = true;
            } else if (key == "confidence") {
              const std::string text = String(v, at);
              double c = 0;
              if (!absl::SimpleAtod(text, &c) || std::isnan(c) || c <= 0 ||
                  c > 1) {
                throw ParseError{
                    at, absl::StrCat("'", text, "' is not a number in (0, 1]")};
              }
              rule.confidence = c;
              has_confidence = true;
            } else if (key == "match") {
              rule.match = Conditions(v, Join(where, "match"));
              has_match = true;
            } else if (key == "unless") {
              rule.unless = Conditions(v, Join(where, "unless"));
            } else if (key == "examples") {
              size_t k = 0;
              for (const YAML::Node& example : Sequence(v, at)) {
                rule.examples.push_back(
                    ParseExample(example, absl::StrCat(at, " #", ++k)));
              }
            } else {
              return false;
            }
            return true;
          });
      if (!has_product) throw ParseError{where, "missing product"};
      if (!has_basis) throw ParseError{where, "missing basis"};
      if (!has_confidence) throw ParseError{where, "missing confidence"};
      if (!has_match || rule.match.empty()) {
        throw ParseError{where, "match: needs at least one condition"};
      }
      Upsert(&out_.rules, std::move(rule));
    }
  }

  std::vector<Condition> Conditions(const YAML::Node& node,
                                    const std::string& where) {
    std::vector<Condition> conditions;
    ForEachKey(node, where, [&](const std::string& key, const YAML::Node& v) {
      const std::string at = absl::StrCat(where, ".", key);
      Condition condition;
      condition.field = key;
      condition.pattern = String(v, at);
      if (key == kGreetingMsField) {
        std::optional<MsComparison> ms = ParseMsComparison(condition.pattern);
        if (!ms) {
          throw ParseError{at, absl::StrCat("'", condition.pattern,
                                            "' is not like '>= 5000'")};
        }
        condition.ms = *ms;
      } else if (FieldIndex(key) < 0) {
        throw ParseError{where, absl::StrCat("unknown field '", key, "'")};
      } else {
        CheckPattern(condition.pattern, at);
      }
      conditions.push_back(std::move(condition));
      return true;
    });
    return conditions;
  }

  static void CheckPattern(const std::string& pattern, const std::string& at) {
    RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(kPatternMaxMem);
    const RE2 re(pattern, options);
    if (!re.ok()) throw ParseError{at, re.error()};
  }

  Example ParseExample(const YAML::Node& node, const std::string& where) {
    Example example;
    bool has_observation = false, has_expect = false;
    ForEachKey(node, where, [&](const std::string& key, const YAML::Node& v) {
      if (key == "observation") {
        example.observation = ParseObservation(v, Join(where, key));
        has_observation = true;
      } else if (key == "expect") {
        example.expect = ParseExpectation(v, Join(where, key));
        has_expect = true;
      } else {
        return false;
      }
      return true;
    });
    if (!has_observation) throw ParseError{where, "missing observation"};
    if (!has_expect) throw ParseError{where, "missing expect"};
    return example;
  }

  Observation ParseObservation(const YAML::Node& node,
                               const std::string& where) {
    Observation observation;
    ForEachKey(node, where, [&](const std::string& key, const YAML::Node& v) {
      const std::string at = absl::StrCat(where, ".", key);
      if (key == kGreetingMsField) {
        const std::string text = String(v, at);
        if (!absl::SimpleAtoi(text, &observation.greeting_ms)) {
          throw ParseError{at, absl::StrCat("'", text, "' is not an integer")};
        }
        return true;
      }
      const int index = FieldIndex(key);
      if (index < 0) return false;
      *MutableField(&observation, index) = String(v, at);
      return true;
    });
    return observation;
  }

  Expectation ParseExpectation(const YAML::Node& node,
                               const std::string& where) {
    Expectation expect;
    ForEachKey(node, where, [&](const std::string& key, const YAML::Node& v) {
      const std::string at = absl::StrCat(where, ".", key);
      if (key == "product") {
        expect.product = String(v, at);
      } else if (key == "version") {
        expect.version = String(v, at);
      } else if (key == "os") {
        expect.os = String(v, at);
      } else if (key == "vendor") {
        expect.vendor = String(v, at);
      } else if (key == "basis") {
        expect.basis = String(v, at);
        if (*expect.basis != "banner" && *expect.basis != "behaviour" &&
            *expect.basis != "banner+behaviour") {
          throw ParseError{at, absl::StrCat("'", *expect.basis,
                                            "' is not banner, behaviour or "
                                            "banner+behaviour")};
        }
      } else if (key == "fronts") {
        expect.fronts.emplace();
        for (const YAML::Node& front : Sequence(v, at)) {
          expect.fronts->push_back(String(front, at));
        }
      } else {
        return false;
      }
      return true;
    });
    return expect;
  }

  // Replaces the entry with the same id as `item` in `*list`, or appends
  // it.
  template <typename T>
  static void Upsert(std::vector<T>* list, T item) {
    for (T& old : *list) {
      if (old.id == item.id) {
        old = std::move(item);
        return;
      }
    }
    list->push_back(std::move(item));
  }

  const std::string label_;
  RuleSet& out_;
  int64_t budget_ = kBudget;
};

// Ignores every event: for counting documents.
class NullHandler : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// The number of documents in `yaml`, counting at most two. Not
// YAML::LoadAll(): in yaml-cpp 0.7 it never returns on some invalid input
// (a ',' at the top level yields empty documents forever, allocating;
// jbeder/yaml-cpp#1040, fixed upstream by #1319 in 2024).
int CountDocuments(const std::string& yaml) {
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  NullHandler handler;
  int documents = 0;
  while (documents < 2 && parser.HandleNextDocument(handler)) ++documents;
  return documents;
}

absl::Status Error(absl::string_view label, absl::string_view where,
                   absl::string_view what) {
  return absl::InvalidArgumentError(
      OneLine(where.empty() ? absl::StrCat(label, ": ", what)
                            : absl::StrCat(label, ": ", where, ": ", what)));
}

}  // namespace

int FieldIndex(absl::string_view name) {
  for (size_t i = 0; i < kFieldCount; ++i) {
    if (kFieldNames[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::string* MutableField(Observation* o, size_t index) {
  std::string* const fields[] = {
      &o->greeting,          &o->ehlo, &o->ehlo_keywords, &o->ehlo_tls,
      &o->ehlo_tls_keywords, &o->helo, &o->starttls,      &o->help,
      &o->unknown,           &o->quit, &o->cert_subject,  &o->cert_issuer};
  static_assert(sizeof(fields) / sizeof(fields[0]) == kFieldCount);
  return fields[index];
}

const std::string& FieldText(const Observation& observation, size_t index) {
  return *MutableField(const_cast<Observation*>(&observation), index);
}

absl::string_view RoleName(Role role) {
  return role == Role::kProduct ? "product" : "front";
}

absl::string_view BasisName(Basis basis) {
  return basis == Basis::kBanner ? "banner" : "behaviour";
}

bool MsComparison::Holds(int64_t ms) const {
  if (ms < 0) return false;
  switch (op) {
    case Op::kLess:
      return ms < value;
    case Op::kLessEqual:
      return ms <= value;
    case Op::kGreater:
      return ms > value;
    case Op::kGreaterEqual:
      return ms >= value;
    case Op::kEqual:
      return ms == value;
    case Op::kNotEqual:
      return ms != value;
  }
  return false;
}

std::optional<MsComparison> ParseMsComparison(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  static constexpr std::pair<absl::string_view, MsComparison::Op> kOps[] = {
      {"<=", MsComparison::Op::kLessEqual},
      {">=", MsComparison::Op::kGreaterEqual},
      {"==", MsComparison::Op::kEqual},
      {"!=", MsComparison::Op::kNotEqual},
      {"<", MsComparison::Op::kLess},
      {">", MsComparison::Op::kGreater}};
  for (const auto& [spelling, op] : kOps) {
    if (!absl::ConsumePrefix(&text, spelling)) continue;
    text = absl::StripLeadingAsciiWhitespace(text);
    MsComparison comparison;
    comparison.op = op;
    if (text.empty() || !absl::ascii_isdigit(text[0]) ||
        !absl::SimpleAtoi(text, &comparison.value)) {
      return std::nullopt;
    }
    return comparison;
  }
  return std::nullopt;
}

const Product* RuleSet::FindProduct(absl::string_view id) const {
  for (const Product& product : products) {
    if (product.id == id) return &product;
  }
  return nullptr;
}

absl::Status MergeRules(absl::string_view label, absl::string_view text,
                        RuleSet* set, DocumentCheck documents) {
  RuleSet merged = *set;
  try {
    const std::string yaml(text);
    DocumentParser parser(label, &merged);
    parser.Parse(YAML::Load(yaml));
    if (documents == DocumentCheck::kCheck && CountDocuments(yaml) > 1) {
      return Error(label, "", "expected one YAML document, found more");
    }
  } catch (const ParseError& e) {
    return Error(label, e.where, e.what);
  } catch (const YAML::Exception& e) {
    const std::string where =
        e.mark.is_null() ? std::string()
                         : absl::StrFormat("line %d, column %d",
                                           e.mark.line + 1, e.mark.column + 1);
    return Error(label, where, e.msg);
  } catch (const std::exception& e) {
    return Error(label, "", e.what());
  }
  *set = std::move(merged);
  return absl::OkStatus();
}

absl::Status ValidateRuleSet(const RuleSet& set) {
  for (const Rule& rule : set.rules) {
    const std::string where = absl::StrCat("rule ", rule.id);
    if (set.FindProduct(rule.product) == nullptr) {
      return Error(
          rule.source, where,
          absl::StrCat("product: '", rule.product, "' is not in products"));
    }
    for (size_t i = 0; i < rule.examples.size(); ++i) {
      const Expectation& expect = rule.examples[i].expect;
      const std::string at = absl::StrCat("examples #", i + 1, ": expect");
      if (expect.product && *expect.product != kUnknownProduct &&
          set.FindProduct(*expect.product) == nullptr) {
        return Error(rule.source, where,
                     absl::StrCat(at, ".product: '", *expect.product,
                                  "' is not in products"));
      }
      if (!expect.fronts) continue;
      for (const std::string& front : *expect.fronts) {
        const Product* product = set.FindProduct(front);
        if (product == nullptr || product->role != Role::kFront) {
          return Error(rule.source, where,
                       absl::StrCat(at, ".fronts: '", front,
                                    "' is not a front in products"));
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace smtpscan::fingerprint
