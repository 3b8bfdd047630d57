#include "output/csv_writer.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "output/text.h"

namespace smtpscan::output {
namespace {

enum Column : size_t {
  kLine,
  kInput,
  kKind,
  kDomain,
  kStatus,
  kStatusDetail,
  kMxHost,
  kMxPreference,
  kAddress,
  kPort,
  kTlsMode,
  kProbeStatus,
  kProbeStatusDetail,
  kGreetingCode,
  kGreetingText,
  kEhloCode,
  kEhloDomain,
  kEhloKeywords,
  kSizeLimit,
  kAuth,
  kStartTlsOffered,
  kHeloCode,
  kStartTlsCode,
  kTlsEstablished,
  kTlsError,
  kTlsVersion,
  kTlsCipher,
  kCertSubject,
  kCertIssuer,
  kCertNotAfter,
  kCertSha256,
  kVerifyOk,
  kHostMatch,
  kDaneVerdict,
  kProduct,
  kProductVersion,
  kFronts,
  kEhloTlsKeywords,
  kAuthTls,
  kQuitCode,
  kProtocolError,
  kAnomalyCount,
  kConnectUs,
  kGreetingUs,
  kEhloUs,
  kStartTlsUs,
  kTlsHandshakeUs,
  kEhloTlsUs,
  kTotalUs,
  kStartedAt,
  kScanId,
  kTime,
  kColumnCount,
};

constexpr std::array<absl::string_view, kColumnCount> kColumnNames = {
    "line",
    "input",
    "kind",
    "domain",
    "status",
    "status_detail",
    "mx_host",
    "mx_preference",
    "address",
    "port",
    "tls_mode",
    "probe_status",
    "probe_status_detail",
    "greeting_code",
    "greeting_text",
    "ehlo_code",
    "ehlo_domain",
    "ehlo_keywords",
    "size_limit",
    "auth",
    "starttls_offered",
    "helo_code",
    "starttls_code",
    "tls_established",
    "tls_error",
    "tls_version",
    "tls_cipher",
    "cert_subject",
    "cert_issuer",
    "cert_not_after",
    "cert_sha256",
    "verify_ok",
    "host_match",
    "dane_verdict",
    "product",
    "product_version",
    "fronts",
    "ehlo_tls_keywords",
    "auth_tls",
    "quit_code",
    "protocol_error",
    "anomaly_count",
    "connect_us",
    "greeting_us",
    "ehlo_us",
    "starttls_us",
    "tls_handshake_us",
    "ehlo_tls_us",
    "total_us",
    "started_at",
    // Added later: new columns go last, so scripts that pick columns by
    // position keep working.
    "scan_id",
    "time",
};
static_assert(kColumnNames.back() == "time");

using Row = std::array<std::string, kColumnCount>;

std::string Micros(const smtp::OptionalDuration& d) {
  return d.has_value() ? absl::StrCat(d.microseconds()) : "";
}

std::string Bool(bool b) { return b ? "true" : "false"; }

void FillProbe(const ProbeResult& p, TimestampFormatter& timestamps, Row* row) {
  const smtp::SessionResult& s = p.session;
  Row& r = *row;
  r[kAddress] = p.address;
  r[kPort] = absl::StrCat(p.port);
  r[kTlsMode] = std::string(TlsModeName(p.tls_mode));
  r[kProbeStatus] = std::string(ScanStatusName(s.status));
  r[kProbeStatusDetail] = s.status_detail;
  if (s.greeting.has_value()) {
    r[kGreetingCode] = absl::StrCat(s.greeting->code);
    r[kGreetingText] = absl::StrJoin(s.greeting->lines, "\n");
  }
  if (s.ehlo.has_value()) {
    r[kEhloCode] = absl::StrCat(s.ehlo->reply.code);
    r[kEhloDomain] = s.ehlo->domain;
    r[kEhloKeywords] = absl::StrJoin(s.ehlo->Keywords(), " ");
    if (auto size = s.ehlo->SizeLimit(); size.has_value()) {
      r[kSizeLimit] = absl::StrCat(*size);
    }
    r[kAuth] = absl::StrJoin(s.ehlo->AuthMechanisms(), " ");
    r[kStartTlsOffered] = Bool(s.ehlo->Has("STARTTLS"));
  }
  if (s.helo.has_value()) r[kHeloCode] = absl::StrCat(s.helo->code);
  if (s.starttls.has_value()) r[kStartTlsCode] = absl::StrCat(s.starttls->code);
  r[kTlsEstablished] = Bool(s.tls_established);
  r[kTlsError] = s.tls_error;
  if (p.tls != nullptr && p.tls->established) {
    const tls::TlsFacts& t = *p.tls;
    r[kTlsVersion] = t.version;
    r[kTlsCipher] = t.cipher;
    if (!t.chain.empty()) {
      const tls::Certificate& leaf = t.chain.front();
      r[kCertSubject] = leaf.subject;
      r[kCertIssuer] = leaf.issuer;
      if (leaf.not_after != absl::InfinitePast()) {
        r[kCertNotAfter] = std::string(timestamps.Format(leaf.not_after));
      }
      r[kCertSha256] = leaf.sha256;
    }
    r[kVerifyOk] = Bool(t.verified);
    if (t.host_match.has_value()) r[kHostMatch] = Bool(*t.host_match);
  }
  if (p.tls != nullptr &&
      p.tls->dane.verdict != tls::DaneVerdict::kNotChecked) {
    r[kDaneVerdict] = std::string(tls::DaneVerdictName(p.tls->dane.verdict));
  } else if (p.dane != nullptr) {
    r[kDaneVerdict] =
        std::string(tls::DaneVerdictName(tls::InitialDaneVerdict(*p.dane)));
  }
  if (p.fingerprint != nullptr) {
    r[kProduct] = p.fingerprint->product;
    r[kProductVersion] = p.fingerprint->version;
    r[kFronts] = absl::StrJoin(p.fingerprint->fronts, " ");
  }
  if (s.ehlo_tls.has_value()) {
    r[kEhloTlsKeywords] = absl::StrJoin(s.ehlo_tls->Keywords(), " ");
    r[kAuthTls] = absl::StrJoin(s.ehlo_tls->AuthMechanisms(), " ");
  }
  if (s.quit.has_value()) r[kQuitCode] = absl::StrCat(s.quit->code);
  if (s.protocol_error.has_value()) {
    r[kProtocolError] =
        std::string(smtp::ReplyErrorName(s.protocol_error->kind));
  }
  r[kAnomalyCount] = absl::StrCat(s.anomaly_count);
  r[kConnectUs] = Micros(s.timings.connect);
  r[kGreetingUs] = Micros(s.timings.greeting);
  r[kEhloUs] = Micros(s.timings.ehlo);
  r[kStartTlsUs] = Micros(s.timings.starttls);
  r[kTlsHandshakeUs] = Micros(s.timings.tls_handshake);
  r[kEhloTlsUs] = Micros(s.timings.ehlo_tls);
  r[kTotalUs] = Micros(s.timings.total);
  if (p.started_at != absl::InfinitePast()) {
    r[kStartedAt] = std::string(timestamps.Format(p.started_at));
  }
}

// The cells every row of a record starts with; "scan_id" and "time" when
// the run has an id.
Row RecordRow(uint64_t line, const std::string& input, const char* kind,
              ScanStatus status, const std::string& detail,
              const std::string& scan_id, RecordClock& clock) {
  Row r;
  r[kLine] = absl::StrCat(line);
  r[kInput] = input;
  r[kKind] = kind;
  r[kStatus] = std::string(ScanStatusName(status));
  r[kStatusDetail] = detail;
  if (!scan_id.empty()) {
    r[kScanId] = scan_id;
    r[kTime] = std::string(clock.Now());
  }
  return r;
}

void AppendRow(const Row& row, bool raw, std::string* out) {
  for (size_t i = 0; i < row.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendCsvCell(row[i], raw, out);
  }
  out->append("\r\n");  // RFC 4180 §2: records end in CRLF
}

// One row per probe on top of the record's cells `base` (one row with the
// probe cells empty when there are none); the MX preference comes from `mx`.
void AppendProbeRows(const Row& base, const std::vector<ProbeResult>& probes,
                     absl::Span<const MxHost> mx, bool raw,
                     TimestampFormatter& timestamps, std::string* out) {
  if (probes.empty()) {
    AppendRow(base, raw, out);
    return;
  }
  for (const ProbeResult& p : probes) {
    Row r = base;
    r[kMxHost] = p.host;
    for (const MxHost& host : mx) {
      if (host.name == p.host) {
        r[kMxPreference] = absl::StrCat(host.preference);
        break;
      }
    }
    FillProbe(p, timestamps, &r);
    AppendRow(r, raw, out);
  }
}

}  // namespace

absl::Span<const absl::string_view> CsvColumns() { return kColumnNames; }

void AppendCsvCell(absl::string_view cell, bool raw, std::string* out) {
  // Most cells are short ASCII: no repair, no copy.
  std::string repaired;
  absl::string_view text = cell;
  for (char c : cell) {
    if (c == '\0' || static_cast<unsigned char>(c) >= 0x80) {
      repaired = ToValidUtf8(cell);
      text = repaired;
      break;
    }
  }
  const bool neutralise =
      !raw && !text.empty() &&
      absl::string_view("=+-@\t\r").find(text[0]) != absl::string_view::npos;
  const bool quote = text.find_first_of(",\"\r\n") != absl::string_view::npos;
  if (quote) out->push_back('"');
  if (neutralise) out->push_back('\'');
  if (quote) {
    for (char c : text) {
      if (c == '"') out->push_back('"');
      out->push_back(c);
    }
    out->push_back('"');
  } else {
    out->append(text.data(), text.size());
  }
}

void CsvWriter::WriteHeader(std::string* out) {
  Row header;
  for (size_t i = 0; i < kColumnCount; ++i)
    header[i] = std::string(kColumnNames[i]);
  AppendRow(header, /*raw=*/true, out);
}

void CsvWriter::Write(const AddressRecord& record, std::string* out) {
  AppendProbeRows(RecordRow(record.line, record.input, "address", record.status,
                            record.status_detail, options_.scan_id, clock_),
                  record.probes, {}, options_.csv_raw_cells, timestamps_, out);
}

void CsvWriter::Write(const DomainRecord& record, std::string* out) {
  Row base = RecordRow(record.line, record.input, "domain", record.status,
                       record.status_detail, options_.scan_id, clock_);
  base[kDomain] = record.domain;
  AppendProbeRows(base, record.probes, record.mx, options_.csv_raw_cells,
                  timestamps_, out);
}

void CsvWriter::Write(const InvalidInputRecord& record, std::string* out) {
  const Row r =
      RecordRow(record.line, record.input, "invalid", ScanStatus::kInvalidInput,
                record.reason, options_.scan_id, clock_);
  AppendRow(r, options_.csv_raw_cells, out);
}

}  // namespace smtpscan::output
