// Fingerprinter: the rule set compiled into one RE2::Set per field.
//
// Every regular-expression condition (match and unless) on a field goes
// into that field's set, identical patterns once. Identify() runs each set
// once over its field and counts, per rule, the match conditions that hit;
// a rule matches when all did and no unless condition did. Capture groups
// (version, os) are extracted afterwards, only for the winning product's
// rules, with the condition's own RE2.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "fingerprint/fingerprint.h"
#include "fingerprint/rules.h"
#include "re2/re2.h"
#include "re2/set.h"

namespace smtpscan::fingerprint {

extern const char kBuiltinRules[];  // generated from rules/fingerprints.yaml

namespace {

// One field's set holds every pattern on that field; its program and DFA
// cache come out of this budget. RE2's default (8 MiB) is for one pattern.
constexpr int64_t kSetMaxMem = int64_t{64} << 20;

re2::StringPiece Piece(absl::string_view s) {
  return re2::StringPiece(s.data(), s.size());
}

RE2::Options PatternOptions(int64_t max_mem) {
  RE2::Options options;
  options.set_log_errors(false);  // errors are returned, and input is hostile
  options.set_max_mem(max_mem);
  return options;
}

// A condition's place in a field's set: which rule, and which kind.
struct Ref {
  uint32_t rule;
  bool unless;
};

struct FieldMatcher {
  std::unique_ptr<RE2::Set> set;               // null: no condition on it
  std::vector<std::unique_ptr<RE2>> patterns;  // by set index
  std::vector<std::vector<Ref>> refs;          // by set index
};

// A match condition with a `version` or `os` group (0: none).
struct Capture {
  uint32_t field;
  const RE2* re;
  int version_group;
  int os_group;
};

struct MsCondition {
  uint32_t rule;
  bool unless;
  MsComparison ms;
};

struct CompiledRule {
  const Rule* rule;
  uint32_t product;  // index into RuleSet::products
  Role role;
  uint32_t needed;  // match conditions, all of which must hit
  std::vector<Capture> captures;
  std::vector<std::string> fields;  // of the match conditions, for evidence
};

// Fields whose text recurs from server to server: keyword lists, and
// replies that carry no host name. A scan sees the same few texts in them
// again and again (Postfix's default keyword list, "221 2.0.0 Bye"), so
// their set matches are remembered. The others (greeting, EHLO and HELO
// replies, certificate subject) name the host.
constexpr bool IsRecurring(absl::string_view field) {
  return field == "ehlo_keywords" || field == "ehlo_tls_keywords" ||
         field == "starttls" || field == "help" || field == "unknown" ||
         field == "quit" || field == "cert_issuer";
}
constexpr std::array<bool, kFieldCount> kRecurring = [] {
  std::array<bool, kFieldCount> recurring{};
  for (size_t f = 0; f < kFieldCount; ++f) {
    recurring[f] = IsRecurring(kFieldNames[f]);
  }
  return recurring;
}();

// One remembered set match: the text, whose fingerprinter, and the hits.
struct RememberedMatch {
  uint64_t owner = 0;  // Impl::id_; 0: empty
  std::string text;
  std::vector<int> hits;
};
// Per field, direct-mapped by a hash of the text; texts up to
// kRememberBytes (at most 12 × 16 × 256 bytes of text per thread).
constexpr size_t kRememberWays = 16;
constexpr size_t kRememberBytes = 256;

// Per-thread buffers, so that Identify() allocates only what it returns.
struct Scratch {
  std::array<std::array<RememberedMatch, kRememberWays>, kFieldCount>
      remembered;
  std::vector<int> hits;
  std::vector<uint32_t> count;    // by rule: match conditions that hit
  std::vector<uint8_t> vetoed;    // by rule: an unless condition hit
  std::vector<uint32_t> matched;  // rule indices, ascending
  std::vector<double> miss;       // by product: prod(1 - confidence)
  std::vector<int64_t> first;     // by product: first matched rule or -1
  std::vector<re2::StringPiece> groups;
  std::string version, os, key;  // IdentifyShared
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

std::string Quoted(absl::string_view s) { return absl::StrCat("'", s, "'"); }

}  // namespace

class Fingerprinter::Impl {
 public:
  static absl::StatusOr<std::unique_ptr<Fingerprinter>> Compile(RuleSet set) {
    auto impl = absl::WrapUnique(new Impl(std::move(set)));
    if (absl::Status status = impl->Build(); !status.ok()) return status;
    return absl::WrapUnique(new Fingerprinter(std::move(impl)));
  }

  Identification Identify(const Observation& observation) const;
  std::shared_ptr<const Identification> IdentifyShared(
      const Observation& observation) const;
  std::vector<std::string> CheckExamples() const;
  size_t rule_count() const { return rules_.size(); }

 private:
  explicit Impl(RuleSet set) : set_(std::move(set)) {}

  // MatchField, or the hits remembered for the same text of a recurring
  // field (kRecurring).
  void MatchFieldRemembered(size_t f, absl::string_view text, Scratch& s) const;

  absl::Status Build();
  // Fills `*hits` with the set indices of field `f`'s patterns that match.
  void MatchField(size_t f, absl::string_view text,
                  std::vector<int>* hits) const;
  // The winning product and its score; product < 0 when none matched.
  struct Winner {
    int64_t product = -1;
    double score = 0;
  };
  // Runs the rules over `observation`: s.matched gets the rules that match.
  Winner Match(const Observation& observation, Scratch& s) const;
  // The version and OS hint the winner's matched rules capture.
  void ExtractVersion(const Observation& observation, const Scratch& s,
                      const Winner& w, std::string* version,
                      std::string* os) const;
  // Everything else in an Identification: evidence, fronts, product.
  void Describe(const Scratch& s, const Winner& w, Identification* out) const;
  void ExtractGroups(const CompiledRule& rule, const Observation& observation,
                     std::string* version, std::string* os) const;

  // IdentifyShared's results by what they depend on; at most kCacheEntries.
  static constexpr size_t kCacheEntries = 1024;

  const RuleSet set_;
  // Never reused, unlike an address: a remembered match names its
  // fingerprinter by it.
  const uint64_t id_ = NextId();
  static uint64_t NextId() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }
  std::vector<CompiledRule> rules_;  // parallel to set_.rules
  std::array<FieldMatcher, kFieldCount> fields_;
  std::vector<MsCondition> ms_conditions_;
  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::string,
                              std::shared_ptr<const Identification>>
      cache_ ABSL_GUARDED_BY(cache_mu_);
};

absl::Status Fingerprinter::Impl::Build() {
  std::array<std::map<std::string, int>, kFieldCount> index;
  rules_.reserve(set_.rules.size());
  for (uint32_t r = 0; r < set_.rules.size(); ++r) {
    const Rule& rule = set_.rules[r];
    CompiledRule compiled{&rule, 0, Role::kProduct, 0, {}, {}};
    for (uint32_t p = 0; p < set_.products.size(); ++p) {
      if (set_.products[p].id == rule.product) {
        compiled.product = p;
        compiled.role = set_.products[p].role;
      }
    }
    for (const bool unless : {false, true}) {
      for (const Condition& condition : unless ? rule.unless : rule.match) {
        if (!unless) {
          ++compiled.needed;
          compiled.fields.push_back(condition.field);
        }
        if (condition.is_ms()) {
          ms_conditions_.push_back({r, unless, condition.ms});
          continue;
        }
        const size_t f = static_cast<size_t>(FieldIndex(condition.field));
        FieldMatcher& field = fields_[f];
        if (field.set == nullptr) {
          field.set = std::make_unique<RE2::Set>(PatternOptions(kSetMaxMem),
                                                 RE2::UNANCHORED);
        }
        auto [it, added] = index[f].emplace(condition.pattern, 0);
        if (added) {
          std::string error;
          it->second = field.set->Add(Piece(condition.pattern), &error);
          auto re = std::make_unique<RE2>(Piece(condition.pattern),
                                          PatternOptions(kPatternMaxMem));
          if (it->second < 0 || !re->ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat(rule.source, ": rule ", rule.id, ": ",
                             unless ? "unless." : "match.", condition.field,
                             ": ", error.empty() ? re->error() : error));
          }
          field.patterns.push_back(std::move(re));
          field.refs.emplace_back();
        }
        field.refs[it->second].push_back({r, unless});
        if (unless) continue;
        const RE2& re = *field.patterns[it->second];
        const auto& names = re.NamedCapturingGroups();
        const auto version = names.find("version");
        const auto os = names.find("os");
        if (version != names.end() || os != names.end()) {
          compiled.captures.push_back(
              {static_cast<uint32_t>(f), &re,
               version == names.end() ? 0 : version->second,
               os == names.end() ? 0 : os->second});
        }
      }
    }
    rules_.push_back(std::move(compiled));
  }
  for (size_t f = 0; f < kFieldCount; ++f) {
    if (fields_[f].set != nullptr && !fields_[f].set->Compile()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "fingerprint rules: the patterns on field ", kFieldNames[f],
          " do not fit in one RE2 set (", kSetMaxMem >> 20, " MiB)"));
    }
  }
  return absl::OkStatus();
}

void Fingerprinter::Impl::MatchField(size_t f, absl::string_view text,
                                     std::vector<int>* hits) const {
  const FieldMatcher& field = fields_[f];
  RE2::Set::ErrorInfo error{RE2::Set::kNoError};
  if (field.set->Match(Piece(text), hits, &error) ||
      error.kind == RE2::Set::kNoError) {
    return;
  }
  // The set's DFA gave up (its cache is exhausted, which a long hostile
  // field can cause): ask each pattern alone. Slower, same answer.
  hits->clear();
  for (size_t i = 0; i < field.patterns.size(); ++i) {
    if (RE2::PartialMatch(Piece(text), *field.patterns[i])) {
      hits->push_back(static_cast<int>(i));
    }
  }
}

void Fingerprinter::Impl::MatchFieldRemembered(size_t f, absl::string_view text,
                                               Scratch& s) const {
  if (!kRecurring[f] || text.size() > kRememberBytes) {
    MatchField(f, text, &s.hits);
    return;
  }
  RememberedMatch& r = s.remembered[f][absl::HashOf(text) % kRememberWays];
  if (r.owner == id_ && r.text == text) {
    s.hits.assign(r.hits.begin(), r.hits.end());
    return;
  }
  MatchField(f, text, &s.hits);
  r.owner = id_;
  r.text.assign(text.data(), text.size());
  r.hits.assign(s.hits.begin(), s.hits.end());
}

Fingerprinter::Impl::Winner Fingerprinter::Impl::Match(
    const Observation& observation, Scratch& s) const {
  s.count.assign(rules_.size(), 0);
  s.vetoed.assign(rules_.size(), 0);
  for (size_t f = 0; f < kFieldCount; ++f) {
    const std::string& text = FieldText(observation, f);
    if (text.empty() || fields_[f].set == nullptr) continue;
    MatchFieldRemembered(f, text, s);
    for (const int hit : s.hits) {
      for (const Ref& ref : fields_[f].refs[hit]) {
        if (ref.unless) {
          s.vetoed[ref.rule] = 1;
        } else {
          ++s.count[ref.rule];
        }
      }
    }
  }
  for (const MsCondition& condition : ms_conditions_) {
    if (!condition.ms.Holds(observation.greeting_ms)) continue;
    if (condition.unless) {
      s.vetoed[condition.rule] = 1;
    } else {
      ++s.count[condition.rule];
    }
  }

  s.matched.clear();
  s.miss.assign(set_.products.size(), 1.0);
  s.first.assign(set_.products.size(), -1);
  for (uint32_t r = 0; r < rules_.size(); ++r) {
    if (s.vetoed[r] || s.count[r] != rules_[r].needed) continue;
    s.matched.push_back(r);
    const CompiledRule& rule = rules_[r];
    if (rule.role != Role::kProduct) continue;
    s.miss[rule.product] *= 1.0 - rule.rule->confidence;
    if (s.first[rule.product] < 0) s.first[rule.product] = r;
  }

  Winner w;
  for (size_t p = 0; p < set_.products.size(); ++p) {
    if (s.first[p] < 0) continue;
    const double score = 1.0 - s.miss[p];
    if (w.product < 0 || score > w.score ||
        (score == w.score && s.first[p] < s.first[w.product])) {
      w.product = static_cast<int64_t>(p);
      w.score = score;
    }
  }
  return w;
}

void Fingerprinter::Impl::ExtractVersion(const Observation& observation,
                                         const Scratch& s, const Winner& w,
                                         std::string* version,
                                         std::string* os) const {
  version->clear();
  os->clear();
  for (const uint32_t r : s.matched) {
    const CompiledRule& rule = rules_[r];
    if (rule.role == Role::kProduct && rule.product == w.product) {
      ExtractGroups(rule, observation, version, os);
    }
  }
}

void Fingerprinter::Impl::Describe(const Scratch& s, const Winner& w,
                                   Identification* out) const {
  out->evidence.reserve(s.matched.size());
  bool banner = false, behaviour = false;
  for (const uint32_t r : s.matched) {
    const CompiledRule& rule = rules_[r];
    const Product& product = set_.products[rule.product];
    out->evidence.push_back(
        {rule.rule->id, std::string(RoleName(rule.role)), product.id,
         std::string(BasisName(rule.rule->basis)), rule.fields});
    if (rule.role == Role::kFront) {
      if (std::find(out->fronts.begin(), out->fronts.end(), product.id) ==
          out->fronts.end()) {
        out->fronts.push_back(product.id);
      }
    } else if (rule.product == w.product) {
      (rule.rule->basis == Basis::kBanner ? banner : behaviour) = true;
    }
  }
  if (w.product < 0) {
    out->product = "unknown";
    return;
  }
  const Product& product = set_.products[w.product];
  out->product = product.id;
  out->vendor = product.vendor;
  out->confidence = w.score;
  out->basis = banner && behaviour ? "banner+behaviour"
               : banner            ? "banner"
                                   : "behaviour";
}

Identification Fingerprinter::Impl::Identify(
    const Observation& observation) const {
  Scratch& s = ThreadScratch();
  const Winner w = Match(observation, s);
  Identification out;
  ExtractVersion(observation, s, w, &out.version, &out.os);
  Describe(s, w, &out);
  return out;
}

std::shared_ptr<const Identification> Fingerprinter::Impl::IdentifyShared(
    const Observation& observation) const {
  Scratch& s = ThreadScratch();
  const Winner w = Match(observation, s);
  ExtractVersion(observation, s, w, &s.version, &s.os);
  // What the identification depends on: the rules that matched, and what
  // the winner's capture groups took from the text.
  s.key.assign(reinterpret_cast<const char*>(s.matched.data()),
               s.matched.size() * sizeof(s.matched[0]));
  for (const std::string* part : {&s.version, &s.os}) {
    const uint32_t size = static_cast<uint32_t>(part->size());
    s.key.append(reinterpret_cast<const char*>(&size), sizeof(size));
    s.key.append(*part);
  }
  {
    absl::MutexLock lock(&cache_mu_);
    if (auto it = cache_.find(s.key); it != cache_.end()) return it->second;
  }
  auto made = std::make_shared<Identification>();
  made->version = s.version;
  made->os = s.os;
  Describe(s, w, made.get());
  absl::MutexLock lock(&cache_mu_);
  if (cache_.size() < kCacheEntries) cache_.emplace(s.key, made);
  return made;
}

void Fingerprinter::Impl::ExtractGroups(const CompiledRule& rule,
                                        const Observation& observation,
                                        std::string* version,
                                        std::string* os) const {
  for (const Capture& capture : rule.captures) {
    const bool want_version = capture.version_group > 0 && version->empty();
    const bool want_os = capture.os_group > 0 && os->empty();
    if (!want_version && !want_os) continue;
    const std::string& text = FieldText(observation, capture.field);
    std::vector<re2::StringPiece>& groups = ThreadScratch().groups;
    groups.assign(std::max(capture.version_group, capture.os_group) + 1,
                  re2::StringPiece());
    if (!capture.re->Match(Piece(text), 0, text.size(), RE2::UNANCHORED,
                           groups.data(), static_cast<int>(groups.size()))) {
      continue;
    }
    if (want_version) {
      const re2::StringPiece& g = groups[capture.version_group];
      version->assign(g.data(), g.size());
    }
    if (want_os) {
      const re2::StringPiece& g = groups[capture.os_group];
      os->assign(g.data(), g.size());
    }
  }
}

std::vector<std::string> Fingerprinter::Impl::CheckExamples() const {
  std::vector<std::string> failures;
  for (const Rule& rule : set_.rules) {
    for (size_t i = 0; i < rule.examples.size(); ++i) {
      const Example& example = rule.examples[i];
      const Expectation& want = example.expect;
      const Identification got = Identify(example.observation);
      std::vector<std::string> wrong;
      const auto check = [&](absl::string_view key,
                             const std::optional<std::string>& expected,
                             const std::string& actual) {
        if (expected && *expected != actual) {
          wrong.push_back(absl::StrCat(key, ": got ", Quoted(actual), ", want ",
                                       Quoted(*expected)));
        }
      };
      check("product", want.product, got.product);
      check("vendor", want.vendor, got.vendor);
      check("version", want.version, got.version);
      check("os", want.os, got.os);
      check("basis", want.basis, got.basis);
      if (want.fronts && *want.fronts != got.fronts) {
        wrong.push_back(
            absl::StrCat("fronts: got [", absl::StrJoin(got.fronts, ", "),
                         "], want [", absl::StrJoin(*want.fronts, ", "), "]"));
      }
      if (wrong.empty()) continue;
      std::vector<std::string> matched;
      for (const Evidence& evidence : got.evidence) {
        matched.push_back(evidence.rule);
      }
      failures.push_back(absl::StrCat(
          rule.source, ": rule ", rule.id, ": examples #", i + 1, ": ",
          absl::StrJoin(wrong, "; "), " (matched: ",
          matched.empty() ? "none" : absl::StrJoin(matched, ", "), ")"));
    }
  }
  return failures;
}

absl::StatusOr<std::unique_ptr<Fingerprinter>> CompileRules(RuleSet set) {
  if (absl::Status status = ValidateRuleSet(set); !status.ok()) return status;
  return Fingerprinter::Impl::Compile(std::move(set));
}

absl::StatusOr<std::unique_ptr<Fingerprinter>> Fingerprinter::Create(
    const std::vector<Source>& extra) {
  RuleSet set = BuiltinRuleSet();
  for (const Source& source : extra) {
    if (absl::Status status = MergeRules(source.label, source.text, &set);
        !status.ok()) {
      return status;
    }
  }
  return CompileRules(std::move(set));
}

Fingerprinter::Fingerprinter(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

Fingerprinter::~Fingerprinter() = default;

Identification Fingerprinter::Identify(const Observation& observation) const {
  return impl_->Identify(observation);
}

std::shared_ptr<const Identification> Fingerprinter::IdentifyShared(
    const Observation& observation) const {
  return impl_->IdentifyShared(observation);
}

std::vector<std::string> Fingerprinter::CheckExamples() const {
  return impl_->CheckExamples();
}

size_t Fingerprinter::rule_count() const { return impl_->rule_count(); }

absl::string_view BuiltinRules() { return kBuiltinRules; }

}  // namespace smtpscan::fingerprint
