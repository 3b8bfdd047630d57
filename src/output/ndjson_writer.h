// NDJSON: one JSON object per record, one record per line.
#ifndef SMTPSCAN_OUTPUT_NDJSON_WRITER_H_
#define SMTPSCAN_OUTPUT_NDJSON_WRITER_H_

#include <string>

#include "nlohmann/json.hpp"
#include "output/writer.h"

namespace smtpscan::output {

// Builds objects with nlohmann::json (keys in insertion order, so the output
// reads in conversation order) and serialises them with invalid UTF-8
// replaced by U+FFFD and control characters escaped: whatever bytes a server
// sends, every line is valid JSON.
class NdjsonWriter final : public RecordWriter {
 public:
  explicit NdjsonWriter(WriterOptions options) : options_(options) {}

  void WriteHeader(std::string*) override {}
  void Write(const AddressRecord& record, std::string* out) override;
  void Write(const DomainRecord& record, std::string* out) override;
  void Write(const InvalidInputRecord& record, std::string* out) override;

  // The object one probe becomes (also the body of an address record).
  nlohmann::ordered_json ProbeJson(const ProbeResult& probe) const;

 private:
  // Adds the probe's fields to the object `*out`.
  void AppendProbeFields(const ProbeResult& probe,
                         nlohmann::ordered_json* out) const;

  WriterOptions options_;
};

}  // namespace smtpscan::output

#endif  // SMTPSCAN_OUTPUT_NDJSON_WRITER_H_
