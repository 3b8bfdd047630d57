// Record writers: turn records into bytes of one output format.
//
// Writers append to a caller-owned string and never do I/O themselves, so the
// caller decides when to flush and tests compare bytes directly.
#ifndef SMTPSCAN_OUTPUT_WRITER_H_
#define SMTPSCAN_OUTPUT_WRITER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "output/record.h"
#include "output/text.h"

namespace smtpscan::output {

enum class Format : uint8_t { kNdjson, kCsv };

// "ndjson" / "csv"; nullopt for anything else.
absl::optional<Format> ParseFormat(absl::string_view name);
// The format a file name implies (".csv" → CSV, otherwise NDJSON), after
// dropping a compression suffix: "x.csv.gz" and "x.csv.zst" are CSV.
Format FormatForPath(absl::string_view path);

// The format of a --format value ("ndjson", "csv"), or when it is empty the
// one `output_path` implies. REQUIRES: `flag` is empty or a valid name.
Format ResolveFormat(absl::string_view flag, absl::string_view output_path);

struct WriterOptions {
  // NDJSON: add "greeting_raw_b64", the greeting's exact bytes in base64.
  bool greeting_raw = false;
  // CSV: write cells exactly as received, without neutralising a leading
  // = + - @ TAB or CR (which spreadsheets would run as a formula).
  bool csv_raw_cells = false;
  // NDJSON, --layout split: a domain record's probes are references
  // ({"key", "host", "status", "status_detail"}) to probe records written
  // once each by WriteProbe, instead of full copies.
  bool split_probes = false;
  // The run's id. When set, every record (probe records of the split
  // layout too) carries "scan_id" and "time", when the record was written
  // (RecordClock): in NDJSON right after "kind", in CSV as the last two
  // columns (empty cells when unset). A scan always sets it; replay and
  // tests leave it empty and get the same bytes on every run.
  std::string scan_id;
  // The clock of "time"; empty: absl::Now. Tests fix it.
  std::function<absl::Time()> clock;
};

// The "time" of records: RFC 3339 UTC with milliseconds,
// "2026-11-21T13:57:00.069Z" (rounded down). The date and time of day come
// from a TimestampFormatter, formatted once per second, so a record pays for
// one clock read and a few byte copies. Not thread-safe.
class RecordClock {
 public:
  // `clock` empty: absl::Now.
  explicit RecordClock(std::function<absl::Time()> clock);

  // The clock's time now; the view is valid until the next call.
  absl::string_view Now();
  // `t` in the same format; the view is valid until the next call.
  absl::string_view Format(absl::Time t);

 private:
  std::function<absl::Time()> clock_;
  TimestampFormatter formatter_;
  std::string text_;
};

class RecordWriter {
 public:
  virtual ~RecordWriter() = default;

  // What the output starts with (CSV's header line); may append nothing.
  virtual void WriteHeader(std::string* out) = 0;

  // Appends one record (NDJSON: one line; CSV: one row per probe, or one
  // row when there are none).
  virtual void Write(const AddressRecord& record, std::string* out) = 0;
  virtual void Write(const DomainRecord& record, std::string* out) = 0;
  virtual void Write(const InvalidInputRecord& record, std::string* out) = 0;
  // With split_probes: one probe's own record, {"kind":"probe","key":...}.
  // Writers without a split layout (CSV) write nothing.
  virtual void WriteProbe(const ProbeResult& probe, std::string* out) = 0;
};

std::unique_ptr<RecordWriter> MakeWriter(Format format, WriterOptions options);

}  // namespace smtpscan::output

#endif  // SMTPSCAN_OUTPUT_WRITER_H_
