// Naming the server software from a whole SMTP conversation.
//
// Rules are data (rules/fingerprints.yaml, compiled into the binary;
// --fingerprints FILE adds or overrides rules; syntax in README.md,
// "Fingerprint rules"). Each rule has one or more conditions, each a
// regular expression over one field of an Observation; a rule matches when
// all its conditions match. Matching goes through one RE2::Set per field,
// so its cost does not grow with the number of rules, and RE2 is linear
// in the input: a hostile banner cannot make it explode.
//
// Rules come in two roles: "product" rules vote for the software that
// answers (the highest total confidence wins), "front" rules name what
// stands in front of it (a proxy, postscreen, a filtering gateway). Named
// capture groups `version` and `os` fill those fields.
#ifndef SMTPSCAN_FINGERPRINT_FINGERPRINT_H_
#define SMTPSCAN_FINGERPRINT_FINGERPRINT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smtpscan::fingerprint {

// What a probe showed, as text fields rules match against. Replies are
// written "CODE text" per line, lines joined with "\n" (for example
// "250-mx.example.com\n250 SIZE 10240000" becomes
// "250 mx.example.com\n250 SIZE 10240000"). Empty: not observed.
struct Observation {
  std::string greeting;           // the greeting reply, all lines
  std::string ehlo;               // the EHLO reply, all lines
  std::string ehlo_keywords;      // EHLO keywords in order, upper case,
                                  // space-separated: "PIPELINING SIZE ..."
  std::string ehlo_tls;           // the EHLO reply inside TLS
  std::string ehlo_tls_keywords;  // its keywords, as ehlo_keywords
  std::string helo;               // the HELO reply (when EHLO was refused)
  std::string starttls;           // the reply to STARTTLS
  std::string help;               // the reply to HELP (--probe)
  std::string unknown;            // the reply to an unknown command (--probe)
  std::string quit;               // the reply to QUIT
  std::string cert_subject;       // the server certificate's subject
  std::string cert_issuer;        // and issuer (RFC 2253)
  int64_t greeting_ms = -1;       // connect (or TLS up) to greeting; -1 unknown

  bool operator==(const Observation&) const = default;
};

// The fields by name, as rules and evidence spell them.
inline constexpr absl::string_view kFieldNames[] = {
    "greeting",          "ehlo", "ehlo_keywords", "ehlo_tls",
    "ehlo_tls_keywords", "helo", "starttls",      "help",
    "unknown",           "quit", "cert_subject",  "cert_issuer"};

// One matched rule.
struct Evidence {
  std::string rule;     // rule id
  std::string role;     // "product" or "front"
  std::string product;  // the product or front id it names
  std::string basis;    // "banner" (what the server says about itself) or
                        // "behaviour" (how it talks)
  std::vector<std::string> fields;  // the fields its conditions matched
};

struct Identification {
  std::string product;  // stable lowercase id ("postfix"); "unknown"
  std::string vendor;   // from the product table
  std::string version;  // when shown
  std::string os;       // an OS hint when shown ("Debian", "Ubuntu")
  std::vector<std::string> fronts;  // ids of what stands in front
  double confidence = 0;            // 0..1 for the product
  // "banner", "behaviour" or "banner+behaviour": what the product
  // identification rests on.
  std::string basis;
  std::vector<Evidence> evidence;  // every matched rule, product and front
};

class Fingerprinter {
 public:
  // The built-in rules plus the YAML documents in `extra` (the contents of
  // --fingerprints files), in order: a rule whose id exists replaces it, a
  // product entry likewise. Fails with a one-line reason naming the file
  // label, the rule and what is wrong (bad regex, unknown field, ...).
  struct Source {
    std::string label;  // "built-in" or the file name, for errors
    std::string text;   // YAML
  };
  static absl::StatusOr<std::unique_ptr<Fingerprinter>> Create(
      const std::vector<Source>& extra = {});
  // Create() with the contents of the files at `paths` (--fingerprints), in
  // order. An unreadable file fails as "--fingerprints PATH: cannot read it".
  static absl::StatusOr<std::unique_ptr<Fingerprinter>> CreateFromFiles(
      const std::vector<std::string>& paths);
  ~Fingerprinter();

  Identification Identify(const Observation& observation) const;

  // Identify(), shared: observations that match the same rules and give
  // the same version and OS hint get one immutable Identification (the
  // first 1,024 distinct ones are kept for reuse). A scan identifies every
  // probe, and most servers differ only in text no rule captures, so this saves
  // building the evidence again for each. Thread-safe.
  std::shared_ptr<const Identification> IdentifyShared(
      const Observation& observation) const;

  // Every rule's examples: an observation and the expected identification.
  // Returns one line per example that does not give what it expects (empty:
  // all pass). The test suite runs this on the built-in rules.
  std::vector<std::string> CheckExamples() const;

  size_t rule_count() const;

  class Impl;

 private:
  explicit Fingerprinter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The built-in rule file's text (compiled in from rules/fingerprints.yaml).
absl::string_view BuiltinRules();

}  // namespace smtpscan::fingerprint

#endif  // SMTPSCAN_FINGERPRINT_FINGERPRINT_H_
