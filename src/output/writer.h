// Record writers: turn records into bytes of one output format.
//
// Writers append to a caller-owned string and never do I/O themselves, so the
// caller decides when to flush and tests compare bytes directly.
#ifndef SMTPSCAN_OUTPUT_WRITER_H_
#define SMTPSCAN_OUTPUT_WRITER_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "output/record.h"

namespace smtpscan::output {

enum class Format : uint8_t { kNdjson, kCsv };

// "ndjson" / "csv"; nullopt for anything else.
absl::optional<Format> ParseFormat(absl::string_view name);
// The format a file name implies (".csv" → CSV, otherwise NDJSON).
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
