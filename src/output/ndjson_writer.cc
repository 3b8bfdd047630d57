#include "output/ndjson_writer.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
// Not RAPIDJSON_SSE2: the SIMD string loop of Debian 12's RapidJSON writes
// bytes 0x1A..0x1F unescaped (it compares against 0x19), which is invalid
// JSON. EveryByteValueInEveryServerField caught it.
#include "absl/time/time.h"
#include "output/text.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace smtpscan::output {
namespace {

// What follows the backslash for each byte JSON needs escaped, 0 for the
// others: RapidJSON 1.1.0's Writer table (writer.h), so that the output is
// byte for byte the one its Writer::String gave. 'u' is \u00XX.
constexpr std::array<char, 256> kJsonEscape = [] {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 'u';
  t['\b'] = 'b';
  t['\t'] = 't';
  t['\n'] = 'n';
  t['\f'] = 'f';
  t['\r'] = 'r';
  t['"'] = '"';
  t['\\'] = '\\';
  return t;
}();

}  // namespace

// One record at a time: Begin(), fields, End(). Distinct method names per
// value type on purpose: an overload set taking both absl::string_view and
// bool would send string literals to bool.
struct NdjsonWriter::Stream {
  explicit Stream(const WriterOptions& options)
      : scan_id(options.scan_id), clock(options.clock) {}

  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> json{buffer};
  std::string scratch;  // for strings that need UTF-8 repair
  TimestampFormatter timestamps;
  const std::string scan_id;  // empty: no run fields
  // Its own formatter: "time" is now, started_at seconds earlier, and one
  // formatter would reformat the date on almost every call.
  RecordClock clock;

  void Begin(uint64_t line, absl::string_view input, absl::string_view kind) {
    buffer.Clear();
    json.Reset(buffer);
    json.StartObject();
    Uint("line", line);
    Str("input", input);
    Str("kind", kind);
    RunFields();
  }

  // "scan_id" and "time" (WriterOptions::scan_id), after "kind".
  void RunFields() {
    if (scan_id.empty()) return;
    Str("scan_id", scan_id);
    Str("time", clock.Now());
  }

  void End(std::string* out) {
    json.EndObject();
    out->append(buffer.GetString(), buffer.GetSize());
    out->push_back('\n');
  }

  // Keys are literals of this file, ASCII letters, digits and '_': neither
  // repair nor escapes. A key that comes from a record goes to DataKey.
  void Key(absl::string_view key) {
    assert(std::all_of(key.begin(), key.end(), [](char c) {
      return absl::ascii_isalnum(c) || c == '_';
    }));
    json.RawValue("", 0, rapidjson::kStringType);
    char* out = buffer.Push(key.size() + 2);
    *out++ = '"';
    std::memcpy(out, key.data(), key.size());
    out[key.size()] = '"';
  }
  void String(absl::string_view value) { Quoted(ValidUtf8(value, &scratch)); }
  // A key held in a record (a policy's kind): repaired and escaped like a
  // value; the writer's RawValue in Quoted puts the ':' after it.
  void DataKey(absl::string_view key) { String(key); }

  // `s` (valid UTF-8) as a JSON string, escaped byte for byte as
  // RapidJSON's Writer::String escapes, but written straight into the
  // buffer with runs of ordinary bytes copied at once: strings are most of
  // a record, and the Writer's byte-by-byte loop was a third of the time to
  // write one (bench/session_pipeline_bench.cc). The empty RawValue gives
  // the writer its comma or colon and its count of values, as String would.
  void Quoted(absl::string_view s) {
    json.RawValue("", 0, rapidjson::kStringType);
    const size_t most = 2 + 6 * s.size();
    char* const start = buffer.Push(most);
    char* out = start;
    *out++ = '"';
    size_t copied = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      const char escape = kJsonEscape[c];
      if (escape == 0) continue;
      if (i > copied) {
        std::memcpy(out, s.data() + copied, i - copied);
        out += i - copied;
      }
      copied = i + 1;
      *out++ = '\\';
      *out++ = escape;
      if (escape == 'u') {
        static constexpr char kHex[] = "0123456789ABCDEF";
        *out++ = '0';
        *out++ = '0';
        *out++ = kHex[c >> 4];
        *out++ = kHex[c & 0xf];
      }
    }
    if (s.size() > copied) {
      std::memcpy(out, s.data() + copied, s.size() - copied);
      out += s.size() - copied;
    }
    *out++ = '"';
    buffer.Pop(static_cast<size_t>(start + most - out));
  }
  void Str(absl::string_view key, absl::string_view value) {
    Key(key);
    String(value);
  }
  void Uint(absl::string_view key, uint64_t value) {
    Key(key);
    json.Uint64(value);
  }
  void Int(absl::string_view key, int64_t value) {
    Key(key);
    json.Int64(value);
  }
  void Bool(absl::string_view key, bool value) {
    Key(key);
    json.Bool(value);
  }
  void Strings(absl::string_view key, const std::vector<std::string>& values) {
    Key(key);
    json.StartArray();
    for (const std::string& v : values) String(v);
    json.EndArray();
  }

  void ReplyFields(const smtp::Reply& reply) {
    Int("code", reply.code);
    if (reply.enhanced.has_value()) Str("enhanced", reply.enhanced->ToString());
    Strings("lines", reply.lines);
  }

  void Reply(absl::string_view key, const smtp::Reply& reply) {
    Key(key);
    json.StartObject();
    ReplyFields(reply);
    json.EndObject();
  }

  void Ehlo(absl::string_view key, const smtp::EhloReply& ehlo) {
    Key(key);
    json.StartObject();
    ReplyFields(ehlo.reply);
    Str("domain", ehlo.domain);
    Str("greet", ehlo.greet);
    Key("extensions");
    json.StartArray();
    for (const smtp::Extension& ext : ehlo.extensions) {
      json.StartObject();
      Str("keyword", ext.keyword);
      if (!ext.params.empty()) Strings("params", ext.params);
      if (ext.legacy_equals) Bool("legacy_equals", true);
      json.EndObject();
    }
    json.EndArray();
    Bool("starttls", ehlo.Has("STARTTLS"));
    if (auto size = ehlo.SizeLimit(); size.has_value()) {
      Uint("size_limit", *size);
    }
    if (auto auth = ehlo.AuthMechanisms(); !auth.empty()) Strings("auth", auth);
    json.EndObject();
  }

  void Micros(absl::string_view key, const smtp::OptionalDuration& d) {
    if (d.has_value()) Int(key, d.microseconds());
  }

  void Timings(const smtp::Timings& t) {
    Key("timings_us");
    json.StartObject();
    Micros("connect", t.connect);
    Micros("tls_handshake", t.tls_handshake);
    Micros("greeting", t.greeting);
    Micros("ehlo", t.ehlo);
    Micros("helo", t.helo);
    Micros("starttls", t.starttls);
    Micros("ehlo_tls", t.ehlo_tls);
    Micros("helo_tls", t.helo_tls);
    Micros("quit", t.quit);
    Micros("total", t.total);
    json.EndObject();
  }

  void ProbeFields(const ProbeResult& p, const WriterOptions& options) {
    const smtp::SessionResult& s = p.session;
    Str("address", p.address);
    Uint("port", p.port);
    if (!p.host.empty()) Str("host", p.host);
    Str("tls_mode", TlsModeName(p.tls_mode));
    Str("status", ScanStatusName(s.status));
    if (!s.status_detail.empty()) Str("status_detail", s.status_detail);
    if (p.started_at != absl::InfinitePast()) {
      Str("started_at", timestamps.Format(p.started_at));
    }
    if (s.greeting.has_value()) {
      Key("greeting");
      json.StartObject();
      ReplyFields(*s.greeting);
      Str("host", s.greeting->AnnouncedName());
      json.EndObject();
    }
    if (options.greeting_raw && !s.greeting_raw.empty()) {
      Str("greeting_raw_b64", absl::Base64Escape(s.greeting_raw));
    }
    if (s.ehlo.has_value()) Ehlo("ehlo", *s.ehlo);
    if (s.helo.has_value()) Reply("helo", *s.helo);
    if (s.starttls.has_value()) Reply("starttls", *s.starttls);
    Bool("tls_established", s.tls_established);
    if (!s.tls_error.empty()) Str("tls_error", s.tls_error);
    if (p.tls != nullptr) Tls(*p.tls);
    if (p.tls != nullptr &&
        p.tls->dane.verdict != tls::DaneVerdict::kNotChecked) {
      Dane(p.tls->dane);
    } else if (p.dane != nullptr) {
      tls::DaneResult dane = *p.dane;
      dane.verdict = tls::InitialDaneVerdict(dane);
      Dane(dane);
    }
    if (s.ehlo_tls.has_value()) Ehlo("ehlo_tls", *s.ehlo_tls);
    if (s.helo_tls.has_value()) Reply("helo_tls", *s.helo_tls);
    if (s.help.has_value()) Reply("help", *s.help);
    if (s.unknown.has_value()) Reply("unknown", *s.unknown);
    if (s.quit.has_value()) Reply("quit", *s.quit);
    if (s.protocol_error.has_value()) {
      const smtp::ReplyParseError& e = *s.protocol_error;
      Key("protocol_error");
      json.StartObject();
      Str("kind", smtp::ReplyErrorName(e.kind));
      Uint("offset", e.offset);
      Str("excerpt", e.excerpt);
      Str("excerpt_b64", absl::Base64Escape(e.excerpt));
      json.EndObject();
    }
    if (s.anomaly_count > 0) {
      Key("anomalies");
      json.StartArray();
      for (const smtp::Anomaly& a : s.anomalies) {
        json.StartObject();
        Str("kind", smtp::AnomalyKindName(a.kind));
        Str("phase", smtp::PhaseName(a.phase));
        Uint("size", a.size);
        Str("excerpt", a.excerpt);
        json.EndObject();
      }
      json.EndArray();
      Uint("anomaly_count", s.anomaly_count);
    }
    if (p.fingerprint != nullptr) Fingerprint(*p.fingerprint);
    Timings(s.timings);
    Uint("bytes_received", s.bytes_received);
    Uint("bytes_sent", s.bytes_sent);
  }

  void Fingerprint(const fingerprint::Identification& id) {
    Key("fingerprint");
    json.StartObject();
    Str("product", id.product);
    if (!id.vendor.empty()) Str("vendor", id.vendor);
    if (!id.version.empty()) Str("version", id.version);
    if (!id.os.empty()) Str("os", id.os);
    Strings("fronts", id.fronts);
    Key("confidence");
    json.Double(std::round(id.confidence * 1000) / 1000);  // 3 decimals
    if (!id.basis.empty()) Str("basis", id.basis);
    Key("evidence");
    json.StartArray();
    for (const fingerprint::Evidence& e : id.evidence) {
      json.StartObject();
      Str("rule", e.rule);
      Str("role", e.role);
      Str("product", e.product);
      Str("basis", e.basis);
      Strings("fields", e.fields);
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
  }

  void Time(absl::string_view key, absl::Time t) {
    if (t != absl::InfinitePast()) Str(key, timestamps.Format(t));
  }

  void Certificate(const tls::Certificate& c) {
    json.StartObject();
    Str("subject", c.subject);
    Str("issuer", c.issuer);
    Strings("dns_names", c.dns_names);
    if (!c.ip_addresses.empty()) Strings("ip_addresses", c.ip_addresses);
    Time("not_before", c.not_before);
    Time("not_after", c.not_after);
    Str("sha256", c.sha256);
    Str("spki_sha256", c.spki_sha256);
    Str("key_type", c.key_type);
    Int("key_bits", c.key_bits);
    Str("signature_algorithm", c.signature_algorithm);
    Bool("self_signed", c.self_signed);
    json.EndObject();
  }

  void Tls(const tls::TlsFacts& t) {
    Key("tls");
    json.StartObject();
    Bool("established", t.established);
    if (!t.sni.empty()) Str("sni", t.sni);
    if (t.established) {
      Str("version", t.version);
      Str("cipher", t.cipher);
      if (!t.group.empty()) Str("group", t.group);
      if (t.kx_bits > 0) Int("kx_bits", t.kx_bits);
      Key("chain");
      json.StartArray();
      for (const tls::Certificate& c : t.chain) Certificate(c);
      json.EndArray();
      Key("verify");
      json.StartObject();
      Bool("ok", t.verified);
      Int("code", t.verify_code);
      Str("reason", t.verify_reason);
      Key("errors");
      json.StartArray();
      for (const tls::VerifyError& e : t.verify_errors) {
        json.StartObject();
        Int("depth", e.depth);
        Int("code", e.code);
        Str("reason", e.reason);
        json.EndObject();
      }
      json.EndArray();
      json.EndObject();
      if (t.host_match.has_value()) Bool("host_match", *t.host_match);
    }
    if (!t.error.empty()) Str("error", t.error);
    if (!t.alert.empty()) Str("alert", t.alert);
    if (!t.failed_state.empty()) Str("failed_state", t.failed_state);
    if (!t.established) Uint("bytes_received", t.bytes_received);
    json.EndObject();
  }

  void Dane(const tls::DaneResult& d) {
    Key("dane");
    json.StartObject();
    Str("verdict", tls::DaneVerdictName(d.verdict));
    Str("tlsa_name", d.tlsa_name);
    Str("dns_status", d.dns_status);
    Bool("authenticated", d.authenticated);
    Key("records");
    json.StartArray();
    for (const dns::TlsaRecord& r : d.records) {
      json.StartObject();
      Uint("usage", r.usage);
      Uint("selector", r.selector);
      Uint("mtype", r.mtype);
      Str("data", absl::BytesToHexString(r.data));
      json.EndObject();
    }
    json.EndArray();
    if (d.matched_record >= 0) Int("matched_record", d.matched_record);
    if (d.matched_depth >= 0) Int("matched_depth", d.matched_depth);
    json.EndObject();
  }

  // "probes": one object per probe, the same in every kind of record.
  void Probes(const std::vector<ProbeResult>& probes,
              const WriterOptions& options) {
    Key("probes");
    json.StartArray();
    for (const ProbeResult& p : probes) {
      json.StartObject();
      ProbeFields(p, options);
      json.EndObject();
    }
    json.EndArray();
  }
};

NdjsonWriter::NdjsonWriter(WriterOptions options)
    : options_(options), stream_(std::make_unique<Stream>(options_)) {}

NdjsonWriter::~NdjsonWriter() = default;

void NdjsonWriter::Write(const AddressRecord& record, std::string* out) {
  Stream& s = *stream_;
  s.Begin(record.line, record.input, "address");
  s.Str("address", record.address);
  if (!record.host.empty()) s.Str("host", record.host);
  s.Str("status", ScanStatusName(record.status));
  if (!record.status_detail.empty()) {
    s.Str("status_detail", record.status_detail);
  }
  s.Probes(record.probes, options_);
  s.End(out);
}

void NdjsonWriter::Write(const DomainRecord& record, std::string* out) {
  Stream& s = *stream_;
  s.Begin(record.line, record.input, "domain");
  s.Str("domain", record.domain);
  if (!record.domain_unicode.empty()) {
    s.Str("domain_unicode", record.domain_unicode);
  }
  s.Str("status", ScanStatusName(record.status));
  if (!record.status_detail.empty())
    s.Str("status_detail", record.status_detail);
  s.Key("dns");
  s.json.StartObject();
  if (!record.mx_dns_status.empty()) s.Str("mx_status", record.mx_dns_status);
  if (!record.mx_canonical.empty()) s.Str("cname", record.mx_canonical);
  s.Bool("null_mx", record.null_mx);
  s.Bool("implicit_mx", record.implicit_mx);
  s.Key("mx");
  s.json.StartArray();
  for (const MxHost& host : record.mx) {
    s.json.StartObject();
    s.Str("name", host.name);
    s.Uint("preference", host.preference);
    if (!host.invalid.empty()) s.Str("invalid", host.invalid);
    if (!host.a_status.empty()) s.Str("a_status", host.a_status);
    if (!host.aaaa_status.empty()) s.Str("aaaa_status", host.aaaa_status);
    s.Strings("addresses", host.addresses);
    if (host.via_cname) {
      s.Bool("via_cname", true);
      s.Str("canonical", host.canonical);
    }
    if (host.mta_sts_match.has_value()) {
      s.Bool("mta_sts_match", *host.mta_sts_match);
    }
    s.json.EndObject();
  }
  s.json.EndArray();
  if (record.mx_discarded > 0) s.Uint("mx_discarded", record.mx_discarded);
  s.json.EndObject();
  if (!record.policies.empty()) {
    s.Key("policy");
    s.json.StartObject();
    for (const PolicyResult& p : record.policies) {
      s.DataKey(p.kind);
      s.json.StartObject();
      s.Str("name", p.name);
      s.Str("dns_status", p.dns_status);
      s.Strings("records", p.records);
      s.Bool("valid", p.valid);
      if (!p.error.empty()) s.Str("error", p.error);
      if (!p.value.empty()) s.Str("value", p.value);
      s.json.EndObject();
    }
    s.json.EndObject();
  }
  if (record.mta_sts.has_value()) {
    const MtaStsResult& m = *record.mta_sts;
    s.Key("mta_sts");
    s.json.StartObject();
    s.Str("id", m.id);
    s.Str("url", m.url);
    s.Str("fetch_status", m.fetch_status);
    if (m.http_status != 0) s.Int("http_status", m.http_status);
    if (!m.fetch_error.empty()) s.Str("fetch_error", m.fetch_error);
    s.Int("fetch_us", absl::ToInt64Microseconds(m.took));
    s.Bool("valid", m.valid);
    if (!m.policy_error.empty()) s.Str("policy_error", m.policy_error);
    if (m.valid) {
      s.Str("version", m.version);
      s.Str("mode", m.mode);
      s.Strings("mx", m.mx);
      s.Int("max_age", m.max_age);
    }
    s.json.EndObject();
  }
  if (options_.split_probes) {
    s.Key("probes");
    s.json.StartArray();
    for (const ProbeResult& p : record.probes) {
      s.json.StartObject();
      s.Str("key", ProbeKey(p));
      if (!p.host.empty()) s.Str("host", p.host);
      s.Str("status", ScanStatusName(p.session.status));
      if (!p.session.status_detail.empty()) {
        s.Str("status_detail", p.session.status_detail);
      }
      s.json.EndObject();
    }
    s.json.EndArray();
  } else {
    s.Probes(record.probes, options_);
  }
  s.End(out);
}

void NdjsonWriter::WriteProbe(const ProbeResult& probe, std::string* out) {
  Stream& s = *stream_;
  s.buffer.Clear();
  s.json.Reset(s.buffer);
  s.json.StartObject();
  s.Str("kind", "probe");
  s.RunFields();
  s.Str("key", ProbeKey(probe));
  s.ProbeFields(probe, options_);
  s.End(out);
}

std::string NdjsonWriter::FingerprintJson(
    const fingerprint::Identification& id) {
  Stream& s = *stream_;
  s.buffer.Clear();
  s.json.Reset(s.buffer);
  s.json.StartObject();
  s.Fingerprint(id);  // writes the key and the object
  s.json.EndObject();
  // {"fingerprint":{...}} -> {...}
  const absl::string_view all(s.buffer.GetString(), s.buffer.GetSize());
  constexpr absl::string_view kPrefix = "{\"fingerprint\":";
  return std::string(
      all.substr(kPrefix.size(), all.size() - kPrefix.size() - 1));
}

void NdjsonWriter::Write(const InvalidInputRecord& record, std::string* out) {
  Stream& s = *stream_;
  s.Begin(record.line, record.input, "invalid");
  s.Str("status", ScanStatusName(ScanStatus::kInvalidInput));
  s.Str("status_detail", record.reason);
  s.End(out);
}

}  // namespace smtpscan::output
