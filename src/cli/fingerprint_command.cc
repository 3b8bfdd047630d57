#include "cli/fingerprint_command.h"

#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "cli/app.h"
#include "fingerprint/fingerprint.h"
#include "fingerprint/observation_json.h"
#include "output/ndjson_writer.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace smtpscan::cli {
namespace {

using rapidjson::Value;

constexpr absl::string_view kName = "smtpscan fingerprint";
// Output is written in chunks of about this size.
constexpr size_t kFlushBytes = size_t{1} << 20;

bool StringIs(const Value& value, absl::string_view name) {
  return absl::string_view(value.GetString(), value.GetStringLength()) == name;
}

// A server-controlled string for a one-line message: escaped, shortened.
std::string Quoted(const Value& v) {
  constexpr size_t kMax = 40;
  const absl::string_view s(v.GetString(), v.GetStringLength());
  std::string text = absl::CHexEscape(s.substr(0, kMax));
  if (s.size() > kMax) text += "...";
  return absl::StrCat("\"", text, "\"");
}

// Rewrites records one at a time: parses a line into a document and writes
// it back member by member, splicing in new "fingerprint" objects.
class Reidentifier {
 public:
  // `fingerprinter` must outlive this object.
  explicit Reidentifier(const fingerprint::Fingerprinter* fingerprinter)
      : fingerprinter_(*fingerprinter),
        ndjson_(output::WriterOptions{}),
        json_(buffer_) {}

  // Appends the rewritten `line` (without a line end) to `*out`. On error
  // appends nothing and counts nothing.
  absl::Status Rewrite(absl::string_view line, std::string* out) {
    // A document per line: its memory pool only grows while it lives.
    rapidjson::Document doc;
    if (absl::Status s = fingerprint::ParseJsonLine(line, &doc); !s.ok()) {
      return s;
    }
    buffer_.Clear();
    json_.Reset(buffer_);
    line_probes_ = 0;
    line_changed_ = 0;
    if (absl::Status s = WriteRecord(doc); !s.ok()) return s;
    out->append(buffer_.GetString(), buffer_.GetSize());
    probes_ += line_probes_;
    changed_ += line_changed_;
    return absl::OkStatus();
  }

  // Probes identified, and of those, how many name another product than
  // the fingerprint they had (or had none).
  uint64_t probes() const { return probes_; }
  uint64_t changed() const { return changed_; }

 private:
  absl::Status WriteRecord(const Value& record) {
    if (!record.IsObject()) {
      return absl::InvalidArgumentError("not a JSON object");
    }
    const auto kind = record.FindMember("kind");
    if (kind == record.MemberEnd() || !kind->value.IsString()) {
      return absl::InvalidArgumentError("no \"kind\" string");
    }
    if (StringIs(kind->value, "probe")) return WriteProbe(record, "");
    if (StringIs(kind->value, "invalid")) {
      record.Accept(json_);
      return absl::OkStatus();
    }
    if (!StringIs(kind->value, "address") && !StringIs(kind->value, "domain")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown record kind ", Quoted(kind->value)));
    }
    const auto probes = record.FindMember("probes");
    if (probes == record.MemberEnd() || !probes->value.IsArray()) {
      return absl::InvalidArgumentError("no \"probes\" array");
    }
    json_.StartObject();
    for (const auto& m : record.GetObject()) {
      json_.Key(m.name.GetString(), m.name.GetStringLength());
      if (&m.value != &probes->value) {
        m.value.Accept(json_);
        continue;
      }
      json_.StartArray();
      for (rapidjson::SizeType i = 0; i < m.value.Size(); ++i) {
        const Value& probe = m.value[i];
        // Split layout: a domain's probes are references by "key" to
        // probe records of their own, which are rewritten there.
        if (probe.IsObject() && probe.HasMember("key")) {
          probe.Accept(json_);
          continue;
        }
        absl::Status s = WriteProbe(probe, absl::StrCat("probes[", i, "]: "));
        if (!s.ok()) return s;
      }
      json_.EndArray();
    }
    json_.EndObject();
    return absl::OkStatus();
  }

  // `where` prefixes error messages.
  absl::Status WriteProbe(const Value& probe, absl::string_view where) {
    absl::StatusOr<fingerprint::Observation> observation =
        fingerprint::ObservationFromJson(probe);
    if (!observation.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, observation.status().message()));
    }
    // The writer always writes "timings_us"; "fingerprint" goes before it.
    const auto timings = probe.FindMember("timings_us");
    if (timings == probe.MemberEnd() || !timings->value.IsObject()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "no \"timings_us\" object"));
    }
    const auto old = probe.FindMember("fingerprint");
    // As a scan does (cli/scan_command.cc): no greeting, no identification.
    std::string fingerprint;
    if (!observation->greeting.empty()) {
      const fingerprint::Identification id =
          fingerprinter_.Identify(*observation);
      fingerprint = ndjson_.FingerprintJson(id);
      ++line_probes_;
      const bool same = old != probe.MemberEnd() && old->value.IsObject() &&
                        old->value.HasMember("product") &&
                        old->value["product"].IsString() &&
                        StringIs(old->value["product"], id.product);
      if (!same) ++line_changed_;
    }
    json_.StartObject();
    for (auto m = probe.MemberBegin(); m != probe.MemberEnd(); ++m) {
      if (m == old) {
        if (!fingerprint.empty()) WriteFingerprint(fingerprint);
        continue;
      }
      if (m == timings && old == probe.MemberEnd() && !fingerprint.empty()) {
        WriteFingerprint(fingerprint);
      }
      json_.Key(m->name.GetString(), m->name.GetStringLength());
      m->value.Accept(json_);
    }
    json_.EndObject();
    return absl::OkStatus();
  }

  void WriteFingerprint(const std::string& object) {
    json_.Key("fingerprint");
    json_.RawValue(object.data(), object.size(), rapidjson::kObjectType);
  }

  const fingerprint::Fingerprinter& fingerprinter_;
  output::NdjsonWriter ndjson_;  // for FingerprintJson
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> json_;
  uint64_t probes_ = 0;
  uint64_t changed_ = 0;
  uint64_t line_probes_ = 0;  // of the line being rewritten
  uint64_t line_changed_ = 0;
};

struct FileCloser {
  void operator()(FILE* f) const {
    if (f != stdin && f != stdout) std::fclose(f);
  }
};
using File = std::unique_ptr<FILE, FileCloser>;

// Writes `*pending` out and clears it; false (with errno) on failure.
bool Drain(FILE* out, std::string* pending) {
  const size_t n = std::fwrite(pending->data(), 1, pending->size(), out);
  const bool ok = n == pending->size();
  pending->clear();
  return ok;
}

// Frees getline()'s buffer.
struct LineBuffer {
  char* data = nullptr;
  size_t capacity = 0;
  ~LineBuffer() { std::free(data); }
};

}  // namespace

CLI::App* AddFingerprintCommand(CLI::App* app, FingerprintOptions* o) {
  CLI::App* cmd = app->add_subcommand(
      "fingerprint",
      "Identify the servers of stored NDJSON results again with the current "
      "rules, without any network: every probe's \"fingerprint\" is "
      "replaced, every other field is kept as it was.");
  cmd->add_option("-i,--input", o->input,
                  "NDJSON written by smtpscan, - for standard input")
      ->required();
  cmd->add_option("-o,--output", o->output, "Output file, - for stdout")
      ->capture_default_str();
  cmd->add_option("--fingerprints", o->fingerprints,
                  "YAML file of fingerprint rules that add to or override "
                  "the built-in ones (repeatable)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("-q,--quiet", o->quiet, "No summary line on stderr");
  cmd->footer(
      "\nReads one record per line and writes one per line, in order. A "
      "probe without\na greeting gets no fingerprint, as in a scan. A line "
      "that cannot be read (not\nJSON, not a record, a probe without the "
      "fields it needs) is reported on\nstderr as \"smtpscan fingerprint: "
      "line N: reason\" and copied unchanged.\n\n"
      "Exit codes: 0 every line was read, 1 some line could not be read or "
      "the\ninput or output failed, 2 usage error (a bad --fingerprints "
      "file).");
  return cmd;
}

int RunFingerprint(const FingerprintOptions& o) {
  auto fingerprinter =
      fingerprint::Fingerprinter::CreateFromFiles(o.fingerprints);
  if (!fingerprinter.ok()) {
    std::cerr << kName << ": --fingerprints "
              << fingerprinter.status().message() << "\n";
    return kExitUsage;
  }

  for (const auto& [name, fd, verb] :
       {std::tuple(o.input, 0, "read standard input"),
        std::tuple(o.output, 1, "write standard output")}) {
    if (name == "-" && StandardStreamWasClosed(fd)) {
      std::cerr << kName << ": cannot " << verb << ": it is closed\n";
      return kExitFailure;
    }
  }
  File in(o.input == "-" ? stdin : std::fopen(o.input.c_str(), "rb"));
  if (in == nullptr) {
    std::cerr << kName << ": cannot open " << o.input << ": "
              << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  std::error_code ec;
  if (o.input != "-" && o.output != "-" &&
      std::filesystem::equivalent(o.input, o.output, ec)) {
    std::cerr << kName << ": -o names the input file " << o.input
              << " (see smtpscan fingerprint --help)\n";
    return kExitUsage;
  }
  const std::string out_name = o.output == "-" ? "standard output" : o.output;
  File out(o.output == "-" ? stdout : std::fopen(o.output.c_str(), "wb"));
  if (out == nullptr) {
    std::cerr << kName << ": cannot open " << o.output << ": "
              << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  const auto write_failed = [&] {
    std::cerr << kName << ": cannot write " << out_name << ": "
              << std::strerror(errno) << "\n";
    return kExitFailure;
  };

  Reidentifier reidentifier(fingerprinter->get());
  std::string pending;
  LineBuffer line;
  uint64_t line_number = 0;
  uint64_t failed = 0;
  ssize_t n;
  while ((n = getline(&line.data, &line.capacity, in.get())) >= 0) {
    ++line_number;
    absl::string_view text(line.data, static_cast<size_t>(n));
    if (absl::ConsumeSuffix(&text, "\n")) {
      absl::ConsumeSuffix(&text, "\r");
    }
    if (absl::Status s = reidentifier.Rewrite(text, &pending); !s.ok()) {
      ++failed;
      std::cerr << kName << ": line " << line_number << ": " << s.message()
                << "\n";
      pending.append(line.data, static_cast<size_t>(n));
      if (pending.back() != '\n') pending.push_back('\n');
    } else {
      pending.push_back('\n');
    }
    if (pending.size() >= kFlushBytes && !Drain(out.get(), &pending)) {
      return write_failed();
    }
  }
  if (std::ferror(in.get())) {
    std::cerr << kName << ": cannot read " << o.input << ": "
              << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  if (!Drain(out.get(), &pending) || std::fflush(out.get()) != 0) {
    return write_failed();
  }
  if (o.output != "-" && std::fclose(out.release()) != 0) {
    return write_failed();
  }
  if (!o.quiet) {
    std::cerr << kName << ": " << line_number << " records, "
              << reidentifier.probes() << " probes identified ("
              << reidentifier.changed() << " with another product), " << failed
              << " lines failed\n";
  }
  return failed == 0 ? kExitOk : kExitFailure;
}

}  // namespace smtpscan::cli
