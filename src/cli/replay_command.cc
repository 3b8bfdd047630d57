#include "cli/replay_command.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/app.h"
#include "output/sink.h"
#include "output/writer.h"
#include "smtp/transcript.h"

namespace smtpscan::cli {
namespace {

// Each transcript step advances the replay clock by this much, so a replay
// is deterministic; its timings are synthetic and say so in README.md.
constexpr absl::Duration kStepTime = absl::Milliseconds(1);

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return text.str();
}

smtp::StartTlsPolicy ToPolicy(const std::string& name) {
  if (name == "always") return smtp::StartTlsPolicy::kAlways;
  if (name == "never") return smtp::StartTlsPolicy::kNever;
  return smtp::StartTlsPolicy::kAuto;
}

}  // namespace

CLI::App* AddReplayCommand(CLI::App* app, ReplayOptions* o) {
  CLI::App* cmd = app->add_subcommand(
      "replay",
      "Run recorded SMTP conversations (transcript files) through the session "
      "state machine and write one record per transcript, without any "
      "network.");
  cmd->add_option("transcripts", o->transcripts, "Transcript files")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", o->output, "Output file, - for stdout")
      ->capture_default_str();
  cmd->add_option("--format", o->format,
                  "ndjson or csv (default: from the output file's extension)")
      ->check(CLI::IsMember({"ndjson", "csv"}));
  cmd->add_option("--ehlo-name", o->ehlo_name, "Name sent with EHLO/HELO")
      ->capture_default_str();
  cmd->add_option("--starttls", o->starttls, "auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  cmd->add_flag("--implicit-tls", o->implicit_tls,
                "The conversation starts inside TLS (port 465)");
  cmd->add_option("--address", o->address, "Address to record for the server");
  cmd->add_option("--port", o->port, "Port to record")->capture_default_str();
  cmd->add_option("--host", o->host, "Host name to record for the server");
  cmd->add_flag("--greeting-raw", o->greeting_raw,
                "NDJSON: add the greeting's exact bytes as base64");
  cmd->add_flag(
      "--csv-raw-cells", o->csv_raw_cells,
      "CSV: do not neutralise cells that a spreadsheet would run as formulas");
  return cmd;
}

int RunReplay(const ReplayOptions& o) {
  const output::Format format = output::ResolveFormat(o.format, o.output);
  output::WriterOptions writer_options;
  writer_options.greeting_raw = o.greeting_raw;
  writer_options.csv_raw_cells = o.csv_raw_cells;
  std::unique_ptr<output::RecordWriter> writer =
      output::MakeWriter(format, writer_options);

  smtp::SessionConfig config;
  config.ehlo_name = o.ehlo_name;
  config.starttls = ToPolicy(o.starttls);
  config.implicit_tls = o.implicit_tls;

  std::string out;
  writer->WriteHeader(&out);
  uint64_t line = 0;
  for (const std::string& path : o.transcripts) {
    ++line;
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) {
      std::cerr << "smtpscan replay: " << text.status().message() << "\n";
      return kExitFailure;
    }
    auto steps = smtp::ParseTranscript(*text, path);
    const absl::Time start = absl::Now();
    absl::StatusOr<smtp::ReplayOutcome> outcome =
        steps.ok() ? smtp::Replay(*steps, config, start, kStepTime, path)
                   : absl::StatusOr<smtp::ReplayOutcome>(steps.status());
    if (!outcome.ok()) {
      std::cerr << "smtpscan replay: " << outcome.status().message() << "\n";
      return kExitFailure;
    }
    output::ProbeResult probe;
    probe.address = o.address;
    probe.port = o.port;
    probe.host = o.host;
    probe.tls_mode = o.implicit_tls ? output::TlsMode::kImplicit
                     : config.starttls == smtp::StartTlsPolicy::kNever
                         ? output::TlsMode::kNone
                         : output::TlsMode::kStartTls;
    probe.started_at = start;
    probe.session = std::move(outcome->result);
    // One transcript is one line of input with one probe.
    output::AddressRecord record;
    record.line = line;
    record.input = path;
    record.address = o.address;
    record.host = o.host;
    record.probes.push_back(std::move(probe));
    output::ProbeSummary summary = output::SummarizeProbes(record.probes);
    record.status = summary.status;
    record.status_detail = std::move(summary.status_detail);
    writer->Write(record, &out);
  }

  // The scan's sink: the same one-line errors ("cannot write standard
  // output: Broken pipe"), compression by extension, and a lock.
  if (o.output == "-" && StandardStreamWasClosed(1)) {
    std::cerr << "smtpscan replay: cannot write standard output: it is "
                 "closed\n";
    return kExitFailure;
  }
  auto sink =
      output::OutputSink::Open(o.output, output::CompressionForPath(o.output),
                               output::OutputSink::Mode::kTruncate);
  absl::Status written = sink.ok() ? (*sink)->Write(out) : sink.status();
  if (written.ok()) written = (*sink)->Close();
  if (!written.ok()) {
    std::cerr << "smtpscan replay: " << written.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace smtpscan::cli
