// Fingerprint matching throughput: Identify() with the built-in rules.
//
// The corpus is every example observation of the built-in rules plus
// variants of each (another host name, another date, EHLO keywords dropped
// or reordered, another greeting delay) and neutral servers no rule names,
// at least 1,000 observations in all, cycled through in a fixed order.
// Reference measured in the same run:
//   BM_FingerprintReferenceNaive  the same rules matched one by one with
//                                 RE2::PartialMatch (patterns compiled
//                                 once), giving only the list of matched
//                                 rules: what the RE2 sets replace.
// BM_FingerprintCreate is the start-up cost: building and compiling the
// built-in rules. BM_FingerprintParseBuiltin is what reading their YAML
// would add (the generated BuiltinRuleSet() replaced it).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "benchmark/benchmark.h"
#include "fingerprint/fingerprint.h"
#include "fingerprint/rules.h"
#include "re2/re2.h"

namespace smtpscan::fingerprint {
namespace {

constexpr size_t kMinCorpus = 1000;

RuleSet BuiltinSet() {
  RuleSet set;
  if (absl::Status status = MergeRules("built-in", BuiltinRules(), &set);
      !status.ok()) {
    std::fprintf(stderr, "bench: %s\n", status.ToString().c_str());
    std::abort();
  }
  return set;
}

std::string RandomHost(std::mt19937* rng) {
  static const char* const kWords[] = {"mx",  "mail", "smtp", "in",  "relay",
                                       "mx1", "edge", "gw",   "mta", "inbound"};
  static const char* const kDomains[] = {"example.com",        "example.net",
                                         "example.org",        "corp.example",
                                         "mail.example.co.uk", "example.de"};
  return absl::StrCat(kWords[(*rng)() % 10], (*rng)() % 100, ".",
                      kDomains[(*rng)() % 6]);
}

std::string RandomDate(std::mt19937* rng) {
  static const char* const kDays[] = {"Mon", "Tue", "Wed", "Thu",
                                      "Fri", "Sat", "Sun"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr",
                                        "May", "Jun", "Jul", "Aug",
                                        "Sep", "Oct", "Nov", "Dec"};
  char time[16];
  std::snprintf(time, sizeof(time), "%02u:%02u:%02u",
                static_cast<unsigned>((*rng)() % 24),
                static_cast<unsigned>((*rng)() % 60),
                static_cast<unsigned>((*rng)() % 60));
  return absl::StrCat(kDays[(*rng)() % 7], ", ", 1 + (*rng)() % 28, " ",
                      kMonths[(*rng)() % 12], " ", 2020 + (*rng)() % 6, " ",
                      time, " +0000");
}

// `o` with another host name, date, keyword list and delay.
Observation Variant(const Observation& o, std::mt19937* rng) {
  static const RE2 kHost(R"(\A\d{3}[ -]([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+))");
  static const RE2 kDate(
      R"([A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4})");
  Observation v = o;
  std::string host;
  if (RE2::PartialMatch(o.greeting, kHost, &host)) {
    const std::string replacement = RandomHost(rng);
    for (size_t f = 0; f < kFieldCount; ++f) {
      std::string* field = MutableField(&v, f);
      *field = absl::StrReplaceAll(*field, {{host, replacement}});
    }
  }
  RE2::GlobalReplace(&v.greeting, kDate, RandomDate(rng));
  if (!v.ehlo_keywords.empty()) {
    std::vector<std::string> keywords = absl::StrSplit(v.ehlo_keywords, ' ');
    std::vector<std::string> lines = absl::StrSplit(v.ehlo, '\n');
    if ((*rng)() % 2 == 0 && keywords.size() > 2) {
      // Drop an optional keyword, and its line.
      const std::string dropped = keywords[(*rng)() % keywords.size()];
      keywords.erase(std::find(keywords.begin(), keywords.end(), dropped));
      lines.erase(
          std::remove_if(lines.begin() + 1, lines.end(),
                         [&](const std::string& line) {
                           return absl::StartsWith(
                               line.substr(std::min<size_t>(4, line.size())),
                               dropped);
                         }),
          lines.end());
    }
    if ((*rng)() % 4 == 0 && lines.size() > 2) {
      std::shuffle(keywords.begin(), keywords.end(), *rng);
      std::shuffle(lines.begin() + 1, lines.end(), *rng);
    }
    v.ehlo_keywords = absl::StrJoin(keywords, " ");
    v.ehlo = absl::StrJoin(lines, "\n");
  }
  if (v.greeting_ms >= 0) {
    v.greeting_ms = std::max<int64_t>(
        0, v.greeting_ms + static_cast<int64_t>((*rng)() % 400) - 200);
  }
  return v;
}

// A server no rule should name.
Observation Neutral(std::mt19937* rng) {
  const std::string host = RandomHost(rng);
  Observation o;
  o.greeting = absl::StrCat("220 ", host, " ESMTP ready");
  o.ehlo = absl::StrCat("250 ", host,
                        "\n250 SIZE 35882577\n250 8BITMIME\n250 STARTTLS");
  o.ehlo_keywords = "SIZE 8BITMIME STARTTLS";
  o.quit = "221 Bye";
  o.greeting_ms = (*rng)() % 300;
  return o;
}

const std::vector<Observation>& Corpus() {
  static const std::vector<Observation>* corpus = [] {
    std::vector<Observation> examples;
    for (const Rule& rule : BuiltinSet().rules) {
      for (const Example& example : rule.examples) {
        examples.push_back(example.observation);
      }
    }
    std::mt19937 rng(2024);
    auto* out = new std::vector<Observation>(examples);
    const size_t per_example =
        examples.empty() ? 0 : 4 + kMinCorpus / examples.size();
    for (const Observation& example : examples) {
      for (size_t i = 0; i < per_example; ++i) {
        out->push_back(Variant(example, &rng));
      }
    }
    const size_t neutral = std::max(kMinCorpus, out->size()) / 5;
    for (size_t i = 0; i < neutral; ++i) out->push_back(Neutral(&rng));
    std::shuffle(out->begin(), out->end(), rng);
    return out;
  }();
  return *corpus;
}

// Identifies the corpus over and over with `identify(fingerprinter,
// observation)`, which returns whether it named a product.
template <typename IdentifyFn>
void IdentifyCorpus(benchmark::State& state, IdentifyFn identify) {
  const auto fingerprinter = Fingerprinter::Create();
  if (!fingerprinter.ok()) {
    state.SkipWithError(fingerprinter.status().ToString().c_str());
    return;
  }
  const std::vector<Observation>& corpus = Corpus();
  size_t i = 0, identified = 0;
  for (auto _ : state) {
    identified += identify(**fingerprinter, corpus[i]);
    if (++i == corpus.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["corpus"] = static_cast<double>(corpus.size());
  state.counters["rules"] = static_cast<double>((*fingerprinter)->rule_count());
  state.counters["identified"] =
      static_cast<double>(identified) / static_cast<double>(state.iterations());
}

void BM_FingerprintIdentify(benchmark::State& state) {
  IdentifyCorpus(state, [](const Fingerprinter& fp, const Observation& o) {
    const Identification id = fp.Identify(o);
    benchmark::DoNotOptimize(id.evidence.data());
    return id.product != "unknown";
  });
}
BENCHMARK(BM_FingerprintIdentify);

// What a scan calls: the same corpus through IdentifyShared, which reuses
// one Identification per distinct (rules matched, version, os).
void BM_FingerprintIdentifyShared(benchmark::State& state) {
  IdentifyCorpus(state, [](const Fingerprinter& fp, const Observation& o) {
    const std::shared_ptr<const Identification> id = fp.IdentifyShared(o);
    benchmark::DoNotOptimize(id.get());
    return id->product != "unknown";
  });
}
BENCHMARK(BM_FingerprintIdentifyShared);

// Each rule's conditions in order, each pattern compiled once.
class NaiveMatcher {
 public:
  explicit NaiveMatcher(const RuleSet& set) : set_(set) {
    for (const Rule& rule : set_.rules) {
      for (const auto* conditions : {&rule.match, &rule.unless}) {
        for (const Condition& c : *conditions) {
          if (!c.is_ms() && compiled_.count(c.pattern) == 0) {
            compiled_.emplace(c.pattern, std::make_unique<RE2>(c.pattern));
          }
        }
      }
    }
  }

  size_t Match(const Observation& o, std::vector<const Rule*>* out) const {
    out->clear();
    const auto holds = [&](const Condition& c) {
      if (c.is_ms()) return c.ms.Holds(o.greeting_ms);
      const std::string& text = FieldText(o, FieldIndex(c.field));
      return !text.empty() && RE2::PartialMatch(text, *compiled_.at(c.pattern));
    };
    for (const Rule& rule : set_.rules) {
      if (std::all_of(rule.match.begin(), rule.match.end(), holds) &&
          std::none_of(rule.unless.begin(), rule.unless.end(), holds)) {
        out->push_back(&rule);
      }
    }
    return out->size();
  }

 private:
  const RuleSet& set_;
  std::map<std::string, std::unique_ptr<RE2>> compiled_;
};

void BM_FingerprintReferenceNaive(benchmark::State& state) {
  const RuleSet set = BuiltinSet();
  const NaiveMatcher matcher(set);
  const std::vector<Observation>& corpus = Corpus();
  std::vector<const Rule*> matched;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(matcher.Match(corpus[i], &matched));
    if (++i == corpus.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FingerprintReferenceNaive);

void BM_FingerprintCreate(benchmark::State& state) {
  for (auto _ : state) {
    auto fingerprinter = Fingerprinter::Create();
    benchmark::DoNotOptimize(fingerprinter.ok());
  }
}
BENCHMARK(BM_FingerprintCreate)->Unit(benchmark::kMillisecond);

// The part of BM_FingerprintCreate that reads the rule file's YAML.
void BM_FingerprintParseBuiltin(benchmark::State& state) {
  for (auto _ : state) {
    RuleSet set;
    benchmark::DoNotOptimize(MergeRules("built-in", BuiltinRules(), &set,
                                        DocumentCheck::kKnownSingle)
                                 .ok());
  }
}
BENCHMARK(BM_FingerprintParseBuiltin)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace smtpscan::fingerprint
