#include "output/writer.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "output/csv_writer.h"
#include "output/ndjson_writer.h"

namespace smtpscan::output {

absl::string_view TlsModeName(TlsMode mode) {
  switch (mode) {
    case TlsMode::kNone:
      return "none";
    case TlsMode::kStartTls:
      return "starttls";
    case TlsMode::kImplicit:
      return "implicit";
  }
  return "unknown";
}

std::string ProbeKey(const ProbeResult& probe) {
  std::string key = probe.address.find(':') == std::string::npos
                        ? absl::StrCat(probe.address, ":", probe.port)
                        : absl::StrCat("[", probe.address, "]:", probe.port);
  // With TLS the server name is part of the conversation (SNI, the name
  // check, DANE): one probe per name.
  if (probe.tls_mode != TlsMode::kNone && !probe.host.empty()) {
    key = absl::StrCat(probe.host, "@", key);
  }
  return key;
}

ProbeSummary SummarizeProbes(absl::Span<const ProbeResult> probes) {
  ProbeSummary summary;
  if (probes.empty()) return summary;
  for (const ProbeResult& p : probes) {
    if (p.session.status == ScanStatus::kSuccess) return summary;
  }
  summary.status = probes.front().session.status;
  summary.status_detail = probes.front().session.status_detail;
  return summary;
}

RecordClock::RecordClock(std::function<absl::Time()> clock)
    : clock_(std::move(clock)) {}

absl::string_view RecordClock::Now() {
  return Format(clock_ ? clock_() : absl::Now());
}

absl::string_view RecordClock::Format(absl::Time t) {
  // "...SS.uuuuuuZ" -> "...SS.mmmZ": drop the last three digits.
  const absl::string_view micros = formatter_.Format(t);
  text_.assign(micros.data(), micros.size() - 4);
  text_.push_back('Z');
  return text_;
}

absl::optional<Format> ParseFormat(absl::string_view name) {
  if (name == "ndjson") return Format::kNdjson;
  if (name == "csv") return Format::kCsv;
  return absl::nullopt;
}

Format FormatForPath(absl::string_view path) {
  // A compression suffix (output/sink.h) does not change the format.
  for (absl::string_view suffix : {".gz", ".zst"}) {
    if (absl::EndsWithIgnoreCase(path, suffix)) {
      path.remove_suffix(suffix.size());
      break;
    }
  }
  return absl::EndsWithIgnoreCase(path, ".csv") ? Format::kCsv
                                                : Format::kNdjson;
}

Format ResolveFormat(absl::string_view flag, absl::string_view output_path) {
  if (flag.empty()) return FormatForPath(output_path);
  return ParseFormat(flag).value_or(Format::kNdjson);
}

std::unique_ptr<RecordWriter> MakeWriter(Format format, WriterOptions options) {
  if (format == Format::kCsv) return std::make_unique<CsvWriter>(options);
  return std::make_unique<NdjsonWriter>(options);
}

}  // namespace smtpscan::output
