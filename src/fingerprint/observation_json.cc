#include "fingerprint/observation_json.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "fingerprint/observation.h"
#include "rapidjson/error/en.h"

namespace smtpscan::fingerprint {
namespace {

using rapidjson::Value;

absl::Status WrongType(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, " is not ", what));
}

absl::Status Missing(absl::string_view path, absl::string_view member) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, " has no \"", member, "\""));
}

std::string StringOf(const Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

// `object[name]` when present; nullptr when absent.
const Value* Find(const Value& object, const char* name) {
  const auto it = object.FindMember(name);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// `object[name]` (at `path`), which must be present.
absl::StatusOr<const Value*> Require(const Value& object,
                                     absl::string_view path, const char* name) {
  const Value* v = Find(object, name);
  if (v == nullptr) return Missing(path, name);
  return v;
}

// A reply object's text as ReplyText writes it.
absl::StatusOr<std::string> ReplyOf(const Value& reply,
                                    absl::string_view path) {
  if (!reply.IsObject()) return WrongType(path, "an object");
  absl::StatusOr<const Value*> code = Require(reply, path, "code");
  if (!code.ok()) return code.status();
  if (!(*code)->IsInt()) {
    return WrongType(absl::StrCat(path, ".code"), "an integer");
  }
  absl::StatusOr<const Value*> lines = Require(reply, path, "lines");
  if (!lines.ok()) return lines.status();
  if (!(*lines)->IsArray()) {
    return WrongType(absl::StrCat(path, ".lines"), "an array");
  }
  std::vector<std::string> texts;
  texts.reserve((*lines)->Size());
  for (rapidjson::SizeType i = 0; i < (*lines)->Size(); ++i) {
    const Value& line = (**lines)[i];
    if (!line.IsString()) {
      return WrongType(absl::StrCat(path, ".lines[", i, "]"), "a string");
    }
    texts.push_back(StringOf(line));
  }
  return ReplyText((*code)->GetInt(), texts);
}

// The reply `name` of `probe` into `*text`; empty when absent.
absl::Status ReadReply(const Value& probe, const char* name,
                       std::string* text) {
  const Value* reply = Find(probe, name);
  if (reply == nullptr) return absl::OkStatus();
  absl::StatusOr<std::string> t = ReplyOf(*reply, name);
  if (!t.ok()) return t.status();
  *text = *std::move(t);
  return absl::OkStatus();
}

// An EHLO reply `name` of `probe`: its text and its keywords.
absl::Status ReadEhlo(const Value& probe, const char* name, std::string* text,
                      std::string* keywords) {
  const Value* ehlo = Find(probe, name);
  if (ehlo == nullptr) return absl::OkStatus();
  absl::StatusOr<std::string> t = ReplyOf(*ehlo, name);
  if (!t.ok()) return t.status();
  absl::StatusOr<const Value*> extensions = Require(*ehlo, name, "extensions");
  if (!extensions.ok()) return extensions.status();
  if (!(*extensions)->IsArray()) {
    return WrongType(absl::StrCat(name, ".extensions"), "an array");
  }
  std::vector<std::string> words;
  words.reserve((*extensions)->Size());
  for (rapidjson::SizeType i = 0; i < (*extensions)->Size(); ++i) {
    const Value& ext = (**extensions)[i];
    const std::string path = absl::StrCat(name, ".extensions[", i, "]");
    if (!ext.IsObject()) return WrongType(path, "an object");
    absl::StatusOr<const Value*> keyword = Require(ext, path, "keyword");
    if (!keyword.ok()) return keyword.status();
    if (!(*keyword)->IsString()) {
      return WrongType(absl::StrCat(path, ".keyword"), "a string");
    }
    words.push_back(StringOf(**keyword));
  }
  *text = *std::move(t);
  *keywords = KeywordText(words);
  return absl::OkStatus();
}

// tls.chain[0]'s subject and issuer.
absl::Status ReadCertificate(const Value& probe, Observation* o) {
  const Value* tls = Find(probe, "tls");
  if (tls == nullptr) return absl::OkStatus();
  if (!tls->IsObject()) return WrongType("tls", "an object");
  const Value* chain = Find(*tls, "chain");
  if (chain == nullptr) return absl::OkStatus();  // not established
  if (!chain->IsArray()) return WrongType("tls.chain", "an array");
  if (chain->Empty()) return absl::OkStatus();
  const Value& leaf = (*chain)[0];
  if (!leaf.IsObject()) return WrongType("tls.chain[0]", "an object");
  absl::StatusOr<const Value*> subject =
      Require(leaf, "tls.chain[0]", "subject");
  if (!subject.ok()) return subject.status();
  if (!(*subject)->IsString()) {
    return WrongType("tls.chain[0].subject", "a string");
  }
  absl::StatusOr<const Value*> issuer = Require(leaf, "tls.chain[0]", "issuer");
  if (!issuer.ok()) return issuer.status();
  if (!(*issuer)->IsString()) {
    return WrongType("tls.chain[0].issuer", "a string");
  }
  o->cert_subject = StringOf(**subject);
  o->cert_issuer = StringOf(**issuer);
  return absl::OkStatus();
}

absl::Status ReadGreetingTime(const Value& probe, Observation* o) {
  const Value* timings = Find(probe, "timings_us");
  if (timings == nullptr) return absl::OkStatus();
  if (!timings->IsObject()) return WrongType("timings_us", "an object");
  const Value* greeting = Find(*timings, "greeting");
  if (greeting == nullptr) return absl::OkStatus();
  if (!greeting->IsInt64()) {
    return WrongType("timings_us.greeting", "an integer");
  }
  o->greeting_ms = greeting->GetInt64() / 1000;  // as ObservationOf
  return absl::OkStatus();
}

bool IsNumberByte(char c) {
  return absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-' ||
         c == '+' || c == '.' || c == 'e' || c == 'E';
}

// The length of the JSON number -?0(\.0+)?[eE][+-]?[0-9]+ (a zero with an
// exponent) that `t` starts with, or 0 when it starts with none.
size_t ZeroWithExponentPrefix(absl::string_view t) {
  const size_t size = t.size();
  absl::ConsumePrefix(&t, "-");
  if (!absl::ConsumePrefix(&t, "0")) return 0;
  if (absl::ConsumePrefix(&t, ".")) {
    if (!absl::ConsumePrefix(&t, "0")) return 0;
    while (absl::ConsumePrefix(&t, "0")) {
    }
  }
  if (!absl::ConsumePrefix(&t, "e") && !absl::ConsumePrefix(&t, "E")) {
    return 0;
  }
  if (!absl::ConsumePrefix(&t, "+")) absl::ConsumePrefix(&t, "-");
  size_t digits = 0;
  while (digits < t.size() &&
         absl::ascii_isdigit(static_cast<unsigned char>(t[digits]))) {
    ++digits;
  }
  if (digits == 0) return 0;
  return size - t.size() + digits;
}

// True when RapidJSON 1.1.0's full-precision path would overflow on the
// number `t`: StrtodDiyFp takes significant digits while they fit in 64
// bits, and digits starting 18446744073709551615 (2^64-1) followed by a
// digit of 5 or more round up to 2^64, which wraps to a zero significand
// (UBSan: __builtin_clzll(0); then a wrong value). Found by
// ndjson_reader_fuzz.
bool OverflowsFullPrecision(absl::string_view t) {
  std::string digits;
  for (char c : t) {
    if (c == 'e' || c == 'E') break;
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) continue;
    if (digits.empty() && c == '0') continue;  // leading zeros
    digits.push_back(c);
    if (digits.size() > 20) break;
  }
  return digits.size() > 20 &&
         absl::StartsWith(digits, "18446744073709551615") && digits[20] >= '5';
}

}  // namespace

absl::StatusOr<Observation> ObservationFromJson(const Value& probe) {
  if (!probe.IsObject()) return WrongType("the probe", "an object");
  Observation o;
  for (absl::Status s :
       {ReadReply(probe, "greeting", &o.greeting),
        ReadEhlo(probe, "ehlo", &o.ehlo, &o.ehlo_keywords),
        ReadEhlo(probe, "ehlo_tls", &o.ehlo_tls, &o.ehlo_tls_keywords),
        ReadReply(probe, "helo", &o.helo),
        ReadReply(probe, "starttls", &o.starttls),
        ReadReply(probe, "help", &o.help),
        ReadReply(probe, "unknown", &o.unknown),
        ReadReply(probe, "quit", &o.quit), ReadCertificate(probe, &o),
        ReadGreetingTime(probe, &o)}) {
    if (!s.ok()) return s;
  }
  return o;
}

absl::Status ParseJsonLine(absl::string_view line, rapidjson::Document* doc) {
  // One pass over the bytes before any recursion: the depth, and zeros with
  // an exponent. Exact for valid JSON; for invalid JSON the parser fails
  // whatever this finds.
  int depth = 0;
  bool in_string = false;
  bool full_precision = true;  // see OverflowsFullPrecision
  std::string fixed;  // `line` with such zeros rewritten, when it has any
  size_t copied = 0;  // bytes of `line` already in `fixed`
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return absl::InvalidArgumentError(
            absl::StrCat("nested deeper than ", kMaxJsonDepth));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == '-' || absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      // RapidJSON 1.1.0 misreads a zero written with an exponent under
      // kParseFullPrecisionFlag ("0e200" gives 7.8e56: StrtodDiyFp
      // normalises a zero significand with __builtin_clzll(0)). Such a
      // number becomes "0.0" ("-0.0"), the same number, before parsing.
      size_t end = i;
      while (end < line.size() && IsNumberByte(line[end])) ++end;
      if (OverflowsFullPrecision(line.substr(i, end - i))) {
        full_precision = false;
      }
      const size_t zero = ZeroWithExponentPrefix(line.substr(i, end - i));
      if (zero > 0 && i + zero < end) {
        // More number bytes after a whole number: never valid JSON.
        return absl::InvalidArgumentError(
            absl::StrCat("not JSON: Invalid number. (offset ", i, ")"));
      }
      if (zero > 0) {
        absl::StrAppend(&fixed, line.substr(copied, i - copied),
                        c == '-' ? "-0.0" : "0.0");
        copied = end;
      }
      i = end - 1;
    }
  }
  if (copied > 0) {
    absl::StrAppend(&fixed, line.substr(copied));
    line = fixed;
  }
  // Full precision keeps every number as written when `smtpscan
  // fingerprint` writes the record back; a number it would overflow on
  // (more than 20 significant digits: never exact in a double anyway) makes
  // the line use the ordinary, nearest-but-one-ULP conversion.
  if (full_precision) {
    doc->Parse<rapidjson::kParseFullPrecisionFlag>(line.data(), line.size());
  } else {
    doc->Parse(line.data(), line.size());
  }
  if (doc->HasParseError()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not JSON: ", rapidjson::GetParseError_En(doc->GetParseError()),
        " (offset ", doc->GetErrorOffset(), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Observation> ObservationFromJsonText(absl::string_view json) {
  rapidjson::Document doc;
  if (absl::Status s = ParseJsonLine(json, &doc); !s.ok()) return s;
  return ObservationFromJson(doc);
}

}  // namespace smtpscan::fingerprint
