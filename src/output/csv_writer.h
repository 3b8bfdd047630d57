// CSV: one row per probe with a fixed header (RFC 4180).
#ifndef SMTPSCAN_OUTPUT_CSV_WRITER_H_
#define SMTPSCAN_OUTPUT_CSV_WRITER_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "output/text.h"
#include "output/writer.h"

namespace smtpscan::output {

// The header, in order. README.md documents each column.
absl::Span<const absl::string_view> CsvColumns();

// Appends one RFC 4180 cell: valid UTF-8 (see ToValidUtf8), quoted when it
// holds a comma, quote, CR or LF, with quotes doubled. Unless `raw`, a cell
// starting with = + - @ TAB or CR gets a leading apostrophe so that a
// spreadsheet shows it as text instead of running it as a formula (OWASP,
// "CSV Injection"). Quoting is simple enough to write here; Debian's only
// C CSV library (libcsv, last released 2013) quotes every cell.
void AppendCsvCell(absl::string_view cell, bool raw, std::string* out);

class CsvWriter final : public RecordWriter {
 public:
  explicit CsvWriter(WriterOptions options)
      : options_(options), clock_(options_.clock) {}

  void WriteHeader(std::string* out) override;
  void Write(const AddressRecord& record, std::string* out) override;
  void Write(const DomainRecord& record, std::string* out) override;
  void Write(const InvalidInputRecord& record, std::string* out) override;
  void WriteProbe(const ProbeResult&, std::string*) override {}

 private:
  WriterOptions options_;
  TimestampFormatter timestamps_;
  RecordClock clock_;  // "time"; its own formatter (see NdjsonWriter)
};

}  // namespace smtpscan::output

#endif  // SMTPSCAN_OUTPUT_CSV_WRITER_H_
