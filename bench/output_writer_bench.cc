// Record serialisation throughput for NDJSON and CSV.
//
// The record is a complete Postfix conversation with STARTTLS, built by
// replaying examples/postfix.transcript through the session.
// References measured in the same run:
//   BM_ReferenceJsonDump  nlohmann::json (the most used C++ JSON library)
//                         serialising an already-built object of the same
//                         record: its serialiser alone, while our writer
//                         also walks the record;
//   BM_ReferenceCsvJoin   joining the same number of short cells with commas.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "nlohmann/json.hpp"
#include "output/csv_writer.h"
#include "output/ndjson_writer.h"
#include "smtp/transcript.h"

namespace smtpscan::output {
namespace {

// examples/postfix.transcript, read once.
std::string ReadExample() {
  const std::string path = SMTPSCAN_EXAMPLES_DIR "/postfix.transcript";
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "bench: cannot open %s\n", path.c_str());
    std::abort();
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

AddressRecord MakeRecord() {
  auto steps = smtp::ParseTranscript(ReadExample(), "bench");
  smtp::SessionConfig config;
  config.ehlo_name = "scanner.example.test";
  auto outcome = smtp::Replay(*steps, config, absl::FromUnixSeconds(1700000000),
                              absl::Milliseconds(3), "bench");
  ProbeResult probe;
  probe.address = "192.0.2.25";
  probe.port = 25;
  probe.host = "mx.example.test";
  probe.started_at = absl::FromUnixSeconds(1700000000);
  probe.session = std::move(outcome->result);
  AddressRecord record;
  record.line = 42;
  record.input = "192.0.2.25:25,mx.example.test";
  record.address = probe.address;
  record.host = probe.host;
  record.status = probe.session.status;
  record.probes.push_back(std::move(probe));
  return record;
}

// Serialises the record with WriterT again and again.
template <typename WriterT>
void BM_Write(benchmark::State& state) {
  const AddressRecord record = MakeRecord();
  WriterT writer(WriterOptions{});
  std::string out;
  for (auto _ : state) {
    out.clear();
    writer.Write(record, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_record"] = static_cast<double>(out.size());
}
BENCHMARK(BM_Write<NdjsonWriter>)->Name("BM_NdjsonWrite");
BENCHMARK(BM_Write<CsvWriter>)->Name("BM_CsvWrite");

// The same record with the run fields every record of a scan carries
// ("scan_id", and "time" read from the real clock): their cost per record.
template <typename WriterT>
void BM_WriteRunFields(benchmark::State& state) {
  const AddressRecord record = MakeRecord();
  WriterOptions options;
  options.scan_id = "0a1b2c3d";
  WriterT writer(options);
  std::string out;
  for (auto _ : state) {
    out.clear();
    writer.Write(record, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_record"] = static_cast<double>(out.size());
}
BENCHMARK(BM_WriteRunFields<NdjsonWriter>)->Name("BM_NdjsonWriteRunFields");
BENCHMARK(BM_WriteRunFields<CsvWriter>)->Name("BM_CsvWriteRunFields");

void BM_ReferenceJsonDump(benchmark::State& state) {
  const AddressRecord record = MakeRecord();
  std::string line;
  NdjsonWriter({}).Write(record, &line);
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(line);
  for (auto _ : state) {
    std::string s = j.dump(-1, ' ', false,
                           nlohmann::ordered_json::error_handler_t::replace);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReferenceJsonDump);

void BM_ReferenceCsvJoin(benchmark::State& state) {
  const std::vector<std::string> cells(CsvColumns().size(), "mx.example.test");
  for (auto _ : state) {
    std::string s = absl::StrJoin(cells, ",");
    benchmark::DoNotOptimize(s.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReferenceCsvJoin);

}  // namespace
}  // namespace smtpscan::output
