// Fuzz target: reading Observations back from NDJSON probe objects
// (fingerprint/observation_json.h), the path `smtpscan fingerprint` runs on
// every stored probe.
//
// The first byte picks the mode. Even: the rest is a JSON line, read with
// ObservationFromJsonText; it must never crash, an error must be one
// printable line, and a probe that reads must read the same after being
// written back by RapidJSON. Odd: the rest builds a ProbeResult (bits 1-7
// of the first byte say which replies it has; the rest, split at 0x1E,
// gives their texts, each split at 0x1F into lines), which NdjsonWriter
// writes; reading it back must give ObservationOf(probe), with text made
// valid UTF-8 as the writer makes it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fingerprint/observation.h"
#include "fingerprint/observation_json.h"
#include "output/ndjson_writer.h"
#include "output/record.h"
#include "output/text.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "smtp/ehlo.h"
#include "smtp/reply.h"

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

namespace {

using smtpscan::fingerprint::Observation;

bool Same(const Observation& a, const Observation& b) {
  return a.greeting == b.greeting && a.ehlo == b.ehlo &&
         a.ehlo_keywords == b.ehlo_keywords && a.ehlo_tls == b.ehlo_tls &&
         a.ehlo_tls_keywords == b.ehlo_tls_keywords && a.helo == b.helo &&
         a.starttls == b.starttls && a.help == b.help &&
         a.unknown == b.unknown && a.quit == b.quit &&
         a.cert_subject == b.cert_subject && a.cert_issuer == b.cert_issuer &&
         a.greeting_ms == b.greeting_ms;
}

bool HasLowerAscii(absl::string_view s) {
  for (char c : s) {
    if (c >= 'a' && c <= 'z') return true;
  }
  return false;
}

void FuzzJson(absl::string_view json) {
  const absl::StatusOr<Observation> o =
      smtpscan::fingerprint::ObservationFromJsonText(json);
  if (!o.ok()) {
    const absl::string_view m = o.status().message();
    FUZZ_CHECK(!m.empty() && m.size() < 200);
    for (char c : m) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
    return;
  }
  FUZZ_CHECK(!HasLowerAscii(o->ehlo_keywords));
  FUZZ_CHECK(!HasLowerAscii(o->ehlo_tls_keywords));
  // Written back and read again: the same observation.
  rapidjson::Document doc;
  FUZZ_CHECK(smtpscan::fingerprint::ParseJsonLine(json, &doc).ok());
  FUZZ_CHECK(doc.HasMember("greeting") == !o->greeting.empty());
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  FUZZ_CHECK(doc.Accept(writer));
  const absl::StatusOr<Observation> again =
      smtpscan::fingerprint::ObservationFromJsonText(
          absl::string_view(buffer.GetString(), buffer.GetSize()));
  FUZZ_CHECK(again.ok() && Same(*again, *o));
}

smtpscan::smtp::Reply MakeReply(int code, absl::string_view text) {
  smtpscan::smtp::Reply reply;
  reply.code = code;
  reply.lines = absl::StrSplit(text, '\x1f');
  return reply;
}

void FuzzProbe(uint8_t flags, absl::string_view rest) {
  const std::vector<absl::string_view> pieces = absl::StrSplit(rest, '\x1e');
  size_t next = 0;
  const auto text = [&]() { return pieces[next++ % pieces.size()]; };
  const auto code = [&]() { return static_cast<int>((next * 211) % 1000); };

  smtpscan::output::ProbeResult p;
  p.address = "192.0.2.1";
  p.port = 25;
  smtpscan::smtp::SessionResult& s = p.session;
  if (flags & 1) s.greeting = MakeReply(code(), text());
  if (flags & 2)
    s.ehlo = smtpscan::smtp::ParseEhloReply(MakeReply(250, text()));
  if (flags & 4) {
    s.ehlo_tls = smtpscan::smtp::ParseEhloReply(MakeReply(code(), text()));
  }
  if (flags & 8) {
    s.helo = MakeReply(code(), text());
    s.starttls = MakeReply(code(), text());
  }
  if (flags & 16) {
    s.help = MakeReply(code(), text());
    s.unknown = MakeReply(code(), text());
  }
  if (flags & 32) s.quit = MakeReply(code(), text());
  if (flags & 64) {
    auto tls = std::make_shared<smtpscan::tls::TlsFacts>();
    tls->established = true;
    smtpscan::tls::Certificate leaf;
    leaf.subject = std::string(text());
    leaf.issuer = std::string(text());
    tls->chain = {leaf, leaf};
    p.tls = tls;
  }
  const absl::string_view t = text();
  // Up to 2^48 us: OptionalDuration holds nanoseconds in an int64.
  int64_t us = 0;
  for (char c : t.substr(0, 6)) us = us * 256 + static_cast<uint8_t>(c);
  if (!t.empty() && (t[0] & 1)) us = -us;
  if (!t.empty()) s.timings.greeting = absl::Microseconds(us);

  Observation want = smtpscan::fingerprint::ObservationOf(p);
  for (std::string* f :
       {&want.greeting, &want.ehlo, &want.ehlo_keywords, &want.ehlo_tls,
        &want.ehlo_tls_keywords, &want.helo, &want.starttls, &want.help,
        &want.unknown, &want.quit, &want.cert_subject, &want.cert_issuer}) {
    std::string scratch;
    *f = std::string(smtpscan::output::ValidUtf8(*f, &scratch));
  }
  smtpscan::output::NdjsonWriter writer(smtpscan::output::WriterOptions{});
  std::string line;
  writer.WriteProbe(p, &line);
  const absl::StatusOr<Observation> got =
      smtpscan::fingerprint::ObservationFromJsonText(line);
  FUZZ_CHECK(got.ok() && Same(*got, want));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  if ((data[0] & 1) == 0) {
    FuzzJson(rest);
  } else {
    FuzzProbe(static_cast<uint8_t>(data[0] >> 1), rest);
  }
  return 0;
}
