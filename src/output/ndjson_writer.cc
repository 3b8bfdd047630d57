#include "output/ndjson_writer.h"

#include "absl/strings/escaping.h"
#include "absl/time/time.h"

namespace smtpscan::output {
namespace {

using Json = nlohmann::ordered_json;

void Append(const Json& j, std::string* out) {
  out->append(
      j.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace));
  out->push_back('\n');
}

Json ReplyJson(const smtp::Reply& reply) {
  Json j;
  j["code"] = reply.code;
  if (reply.enhanced.has_value()) j["enhanced"] = reply.enhanced->ToString();
  j["lines"] = reply.lines;
  return j;
}

Json EhloJson(const smtp::EhloReply& ehlo) {
  Json j = ReplyJson(ehlo.reply);
  j["domain"] = ehlo.domain;
  j["greet"] = ehlo.greet;
  Json extensions = Json::array();
  for (const smtp::Extension& ext : ehlo.extensions) {
    Json e;
    e["keyword"] = ext.keyword;
    if (!ext.params.empty()) e["params"] = ext.params;
    if (ext.legacy_equals) e["legacy_equals"] = true;
    extensions.push_back(std::move(e));
  }
  j["extensions"] = std::move(extensions);
  j["starttls"] = ehlo.Has("STARTTLS");
  if (auto size = ehlo.SizeLimit(); size.has_value()) j["size_limit"] = *size;
  if (auto auth = ehlo.AuthMechanisms(); !auth.empty()) j["auth"] = auth;
  return j;
}

void PutDuration(Json* j, const char* key,
                 const absl::optional<absl::Duration>& d) {
  if (d.has_value()) (*j)[key] = absl::ToInt64Microseconds(*d);
}

Json TimingsJson(const smtp::Timings& t) {
  Json j = Json::object();
  PutDuration(&j, "connect", t.connect);
  PutDuration(&j, "tls_handshake", t.tls_handshake);
  PutDuration(&j, "greeting", t.greeting);
  PutDuration(&j, "ehlo", t.ehlo);
  PutDuration(&j, "helo", t.helo);
  PutDuration(&j, "starttls", t.starttls);
  PutDuration(&j, "ehlo_tls", t.ehlo_tls);
  PutDuration(&j, "helo_tls", t.helo_tls);
  PutDuration(&j, "quit", t.quit);
  PutDuration(&j, "total", t.total);
  return j;
}

// Every record starts with these three keys.
Json RecordStart(uint64_t line, const std::string& input, const char* kind) {
  Json j;
  j["line"] = line;
  j["input"] = input;
  j["kind"] = kind;
  return j;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

}  // namespace

Json NdjsonWriter::ProbeJson(const ProbeResult& p) const {
  Json j = Json::object();
  AppendProbeFields(p, &j);
  return j;
}

void NdjsonWriter::AppendProbeFields(const ProbeResult& p, Json* out) const {
  const smtp::SessionResult& s = p.session;
  Json& j = *out;
  j["address"] = p.address;
  j["port"] = p.port;
  if (!p.host.empty()) j["host"] = p.host;
  j["tls_mode"] = TlsModeName(p.tls_mode);
  j["status"] = ScanStatusName(s.status);
  if (!s.status_detail.empty()) j["status_detail"] = s.status_detail;
  if (p.started_at != absl::InfinitePast())
    j["started_at"] = Rfc3339(p.started_at);
  if (s.greeting.has_value()) {
    Json g = ReplyJson(*s.greeting);
    g["host"] = s.greeting->AnnouncedName();
    j["greeting"] = std::move(g);
  }
  if (options_.greeting_raw && !s.greeting_raw.empty()) {
    j["greeting_raw_b64"] = absl::Base64Escape(s.greeting_raw);
  }
  if (s.ehlo.has_value()) j["ehlo"] = EhloJson(*s.ehlo);
  if (s.helo.has_value()) j["helo"] = ReplyJson(*s.helo);
  if (s.starttls.has_value()) j["starttls"] = ReplyJson(*s.starttls);
  j["tls_established"] = s.tls_established;
  if (!s.tls_error.empty()) j["tls_error"] = s.tls_error;
  if (s.ehlo_tls.has_value()) j["ehlo_tls"] = EhloJson(*s.ehlo_tls);
  if (s.helo_tls.has_value()) j["helo_tls"] = ReplyJson(*s.helo_tls);
  if (s.quit.has_value()) j["quit"] = ReplyJson(*s.quit);
  if (s.protocol_error.has_value()) {
    const smtp::ReplyParseError& e = *s.protocol_error;
    j["protocol_error"] = {
        {"kind", smtp::ReplyErrorName(e.kind)},
        {"offset", e.offset},
        {"excerpt", e.excerpt},
        {"excerpt_b64", absl::Base64Escape(e.excerpt)},
    };
  }
  if (s.anomaly_count > 0) {
    Json list = Json::array();
    for (const smtp::Anomaly& a : s.anomalies) {
      list.push_back({
          {"kind", smtp::AnomalyKindName(a.kind)},
          {"phase", smtp::PhaseName(a.phase)},
          {"size", a.size},
          {"excerpt", a.excerpt},
      });
    }
    j["anomalies"] = std::move(list);
    j["anomaly_count"] = s.anomaly_count;
  }
  j["timings_us"] = TimingsJson(s.timings);
  j["bytes_received"] = s.bytes_received;
  j["bytes_sent"] = s.bytes_sent;
}

void NdjsonWriter::Write(const AddressRecord& record, std::string* out) {
  Json j = RecordStart(record.line, record.input, "address");
  AppendProbeFields(record.probe, &j);
  Append(j, out);
}

void NdjsonWriter::Write(const DomainRecord& record, std::string* out) {
  Json j = RecordStart(record.line, record.input, "domain");
  j["domain"] = record.domain;
  if (!record.domain_unicode.empty())
    j["domain_unicode"] = record.domain_unicode;
  j["status"] = ScanStatusName(record.status);
  if (!record.status_detail.empty()) j["status_detail"] = record.status_detail;
  Json dns;
  if (!record.mx_dns_status.empty()) dns["mx_status"] = record.mx_dns_status;
  dns["null_mx"] = record.null_mx;
  dns["implicit_mx"] = record.implicit_mx;
  Json mx = Json::array();
  for (const MxHost& host : record.mx) {
    Json h;
    h["name"] = host.name;
    h["preference"] = host.preference;
    if (!host.dns_status.empty()) h["dns_status"] = host.dns_status;
    h["addresses"] = host.addresses;
    if (host.via_cname) h["via_cname"] = true;
    mx.push_back(std::move(h));
  }
  dns["mx"] = std::move(mx);
  j["dns"] = std::move(dns);
  Json probes = Json::array();
  for (const ProbeResult& p : record.probes) probes.push_back(ProbeJson(p));
  j["probes"] = std::move(probes);
  Append(j, out);
}

void NdjsonWriter::Write(const InvalidInputRecord& record, std::string* out) {
  Json j = RecordStart(record.line, record.input, "invalid");
  j["status"] = ScanStatusName(ScanStatus::kInvalidInput);
  j["status_detail"] = record.reason;
  Append(j, out);
}

}  // namespace smtpscan::output
