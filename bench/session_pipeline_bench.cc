// The user-space work smtpscan does per conversation, without the network:
// what bench/e2e measures end to end, taken apart so that each step can be
// timed on a shared machine without the kernel's noise.
//
// The conversation is the one bench/e2e has with tools/smtp_test_server's
// `fast` mode: greeting, EHLO with two extensions, QUIT, the server's close.
//   BM_PipelineSession    the session state machine fed those bytes
//   BM_PipelineIdentify   fingerprinting the probe (FillObservation +
//                         IdentifyShared)
//   BM_PipelineWrite      the NDJSON record
//   BM_PipelineWhole      all three, plus moving the result into a record,
//                         as Scan::Finished does
// Reference measured in the same run:
//   BM_ReferenceLineScan  what bench/e2e/reference_client.cc does with the
//                         same bytes: find line ends, look at 4 bytes.
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "fingerprint/fingerprint.h"
#include "fingerprint/observation.h"
#include "output/ndjson_writer.h"
#include "output/record.h"
#include "smtp/session.h"

namespace smtpscan {
namespace {

constexpr absl::string_view kGreeting = "220 127.1.1.1 ESMTP\r\n";
constexpr absl::string_view kEhlo =
    "250-127.1.1.1\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
constexpr absl::string_view kQuit = "221 Bye\r\n";

smtp::SessionConfig Config() {
  smtp::SessionConfig config;
  config.ehlo_name = "bench.example.test";
  config.starttls = smtp::StartTlsPolicy::kNever;
  return config;
}

// One whole conversation; returns its result.
smtp::SessionResult Converse(const smtp::SessionConfig* config) {
  absl::Time t = absl::FromUnixSeconds(1700000000);
  const absl::Duration step = absl::Microseconds(150);
  smtp::Session session(config);
  session.Start(t);
  session.OnConnected(t += step);
  session.OnBytes(kGreeting, t += step);
  session.OnBytes(kEhlo, t += step);
  session.OnBytes(kQuit, t += step);
  session.OnEof(t += step);
  return session.TakeResult();
}

output::AddressRecord RecordOf(smtp::SessionResult result) {
  output::AddressRecord record;
  record.line = 17;
  record.input = "127.1.1.17:25";
  record.address = "127.1.1.17";
  record.probes.resize(1);
  output::ProbeResult& probe = record.probes[0];
  probe.address = record.address;
  probe.port = 25;
  probe.tls_mode = output::TlsMode::kNone;
  probe.started_at = absl::FromUnixSeconds(1700000000);
  probe.session = std::move(result);
  record.status = probe.session.status;
  return record;
}

std::unique_ptr<fingerprint::Fingerprinter> Fingerprinter() {
  auto fp = fingerprint::Fingerprinter::Create();
  if (!fp.ok()) std::abort();
  return *std::move(fp);
}

void BM_PipelineSession(benchmark::State& state) {
  const smtp::SessionConfig config = Config();
  for (auto _ : state) {
    smtp::SessionResult result = Converse(&config);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PipelineSession);

void BM_PipelineIdentify(benchmark::State& state) {
  const smtp::SessionConfig config = Config();
  const output::AddressRecord record = RecordOf(Converse(&config));
  const auto fp = Fingerprinter();
  fingerprint::Observation observation;
  for (auto _ : state) {
    fingerprint::FillObservation(record.probes[0], &observation);
    auto id = fp->IdentifyShared(observation);
    benchmark::DoNotOptimize(id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PipelineIdentify);

void BM_PipelineWrite(benchmark::State& state) {
  const smtp::SessionConfig config = Config();
  output::AddressRecord record = RecordOf(Converse(&config));
  const auto fp = Fingerprinter();
  record.probes[0].fingerprint =
      fp->IdentifyShared(fingerprint::ObservationOf(record.probes[0]));
  output::NdjsonWriter writer(output::WriterOptions{});
  std::string out;
  for (auto _ : state) {
    out.clear();
    writer.Write(record, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_record"] = static_cast<double>(out.size());
}
BENCHMARK(BM_PipelineWrite);

void BM_PipelineWhole(benchmark::State& state) {
  const smtp::SessionConfig config = Config();
  const auto fp = Fingerprinter();
  output::NdjsonWriter writer(output::WriterOptions{});
  fingerprint::Observation observation;
  std::string out;
  for (auto _ : state) {
    output::AddressRecord record = RecordOf(Converse(&config));
    fingerprint::FillObservation(record.probes[0], &observation);
    record.probes[0].fingerprint = fp->IdentifyShared(observation);
    out.clear();
    writer.Write(record, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PipelineWhole);

// The reference client's Scan(): for each of the three replies, find the
// line ends and compare the final line's first three bytes.
void BM_ReferenceLineScan(benchmark::State& state) {
  for (auto _ : state) {
    int complete = 0;
    for (absl::string_view reply : {kGreeting, kEhlo, kQuit}) {
      char prefix[4];
      size_t prefix_len = 0;
      for (char ch : reply) {
        if (ch != '\n') {
          if (prefix_len < 4) prefix[prefix_len++] = ch;
          continue;
        }
        const bool final_line = prefix_len < 4 || prefix[3] != '-';
        const bool code_ok = prefix_len >= 3 && prefix[0] == '2';
        prefix_len = 0;
        if (final_line && code_ok) ++complete;
      }
    }
    benchmark::DoNotOptimize(complete);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReferenceLineScan);

}  // namespace
}  // namespace smtpscan
