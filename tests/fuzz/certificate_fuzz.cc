// Any bytes as a server's DER certificate: what OpenSSL parses out of it
// (names with any bytes, alternative names of every type, odd times and
// keys) goes through DescribeCertificate and both output writers. Nothing
// may crash, the digests are well formed, and every NDJSON line the
// certificate ends up in is valid JSON in valid UTF-8.
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "output/record.h"
#include "output/writer.h"
#include "rapidjson/document.h"
#include "scan/target.h"
#include "tls/channel.h"
#include "tls/facts.h"

namespace {

bool IsLowerHex(absl::string_view s, size_t size) {
  if (s.size() != size) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smtpscan;
  const unsigned char* p = data;
  X509* x509 = d2i_X509(nullptr, &p, static_cast<long>(size));  // NOLINT
  if (x509 == nullptr) return 0;
  const tls::Certificate cert = tls::DescribeCertificate(x509);
  X509_free(x509);

  if (!IsLowerHex(cert.sha256, 64)) std::abort();
  if (!cert.spki_sha256.empty() && !IsLowerHex(cert.spki_sha256, 64)) {
    std::abort();
  }
  for (const std::string& ip : cert.ip_addresses) {
    if (!scan::ParseIpAddress(ip).has_value()) std::abort();
  }

  auto facts = std::make_shared<tls::TlsFacts>();
  facts->chain.push_back(cert);
  output::ProbeResult probe;
  probe.address = "192.0.2.1";
  probe.port = 25;
  probe.tls = facts;
  output::AddressRecord record;
  record.line = 1;
  record.input = "192.0.2.1";
  record.address = "192.0.2.1";
  record.probes.push_back(std::move(probe));
  for (output::Format format :
       {output::Format::kNdjson, output::Format::kCsv}) {
    std::string out;
    output::MakeWriter(format, {})->Write(record, &out);
    if (out.empty() || out.back() != '\n') std::abort();
    if (format != output::Format::kNdjson) continue;
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(out.data(),
                                                     out.size() - 1);
    if (doc.HasParseError() || !doc.IsObject()) std::abort();
  }
  return 0;
}
