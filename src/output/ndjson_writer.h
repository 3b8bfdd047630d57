// NDJSON: one JSON object per record, one record per line.
#ifndef SMTPSCAN_OUTPUT_NDJSON_WRITER_H_
#define SMTPSCAN_OUTPUT_NDJSON_WRITER_H_

#include <memory>
#include <string>

#include "output/writer.h"

namespace smtpscan::output {

// Streams each record through RapidJSON's Writer: no document tree is
// built, so a record costs a few microseconds and no allocation once the
// buffers have grown. Keys come in conversation order. Every string is made
// valid UTF-8 first (invalid sequences become U+FFFD) and the Writer escapes
// quotes, backslashes and control characters, so whatever bytes a server
// sends, every line is valid JSON.
//
// Not thread-safe: use one writer per thread.
class NdjsonWriter final : public RecordWriter {
 public:
  explicit NdjsonWriter(WriterOptions options);
  ~NdjsonWriter() override;

  NdjsonWriter(const NdjsonWriter&) = delete;
  NdjsonWriter& operator=(const NdjsonWriter&) = delete;

  void WriteHeader(std::string*) override {}
  void Write(const AddressRecord& record, std::string* out) override;
  void Write(const DomainRecord& record, std::string* out) override;
  void Write(const InvalidInputRecord& record, std::string* out) override;
  void WriteProbe(const ProbeResult& probe, std::string* out) override;

  // The "fingerprint" object of a probe exactly as Write puts it in a
  // record (`smtpscan fingerprint` splices it into stored records).
  std::string FingerprintJson(const fingerprint::Identification& id);

 private:
  struct Stream;  // RapidJSON state, kept out of this header
  WriterOptions options_;
  std::unique_ptr<Stream> stream_;
};

}  // namespace smtpscan::output

#endif  // SMTPSCAN_OUTPUT_NDJSON_WRITER_H_
