// Realistic records for the writer tests, and byte strings that try to break
// them.
//
// The replies are built the way the session builds them (smtp::Reply plus
// smtp::ParseEhloReply), so the writers see the same shapes as in a scan: a
// Postfix server with STARTTLS, a refused connection, an HTTP server on port
// 25, a domain with two MX hosts.
#ifndef SMTPSCAN_TESTS_OUTPUT_RECORD_FIXTURES_H_
#define SMTPSCAN_TESTS_OUTPUT_RECORD_FIXTURES_H_

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "output/record.h"
#include "scan/scan_status.h"
#include "smtp/ehlo.h"
#include "smtp/reply.h"
#include "smtp/reply_parser.h"
#include "smtp/session.h"
#include "smtp/test_support.h"

namespace smtpscan::output::fixtures {

// 2024-05-06T07:08:09.012345Z.
inline absl::Time ExampleStart() {
  return absl::FromUnixMicros(int64_t{1714979289} * 1000000 + 12345);
}

using smtp::test::MakeReply;

inline smtp::EhloReply MakeEhlo(std::vector<std::string> lines) {
  return smtp::ParseEhloReply(MakeReply(250, std::move(lines)));
}

// A Postfix conversation with STARTTLS, as examples/postfix.transcript.
inline ProbeResult PostfixProbe() {
  ProbeResult p;
  p.address = "192.0.2.25";
  p.port = 25;
  p.host = "mx1.example.com";
  p.tls_mode = TlsMode::kStartTls;
  p.started_at = ExampleStart();
  smtp::SessionResult& s = p.session;
  s.status = ScanStatus::kSuccess;
  s.greeting = MakeReply(220, {"mx1.example.com ESMTP Postfix (Debian/GNU)"});
  s.greeting_raw = "220 mx1.example.com ESMTP Postfix (Debian/GNU)\r\n";
  s.ehlo = MakeEhlo({"mx1.example.com", "PIPELINING", "SIZE 10240000", "VRFY",
                     "ETRN", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME",
                     "DSN", "SMTPUTF8", "CHUNKING"});
  s.starttls = MakeReply(220, {"2.0.0 Ready to start TLS"},
                         smtp::EnhancedStatusCode{2, 0, 0});
  s.tls_established = true;
  s.ehlo_tls = MakeEhlo({"mx1.example.com", "PIPELINING", "SIZE 10240000",
                         "AUTH PLAIN LOGIN", "AUTH=LOGIN PLAIN", "8BITMIME"});
  s.quit = MakeReply(221, {"2.0.0 Bye"}, smtp::EnhancedStatusCode{2, 0, 0});
  s.timings.connect = absl::Microseconds(1500);
  s.timings.greeting = absl::Microseconds(2500);
  s.timings.ehlo = absl::Microseconds(800);
  s.timings.starttls = absl::Microseconds(700);
  s.timings.tls_handshake = absl::Microseconds(12000);
  s.timings.ehlo_tls = absl::Microseconds(900);
  s.timings.quit = absl::Microseconds(600);
  s.timings.total = absl::Microseconds(19000);
  s.bytes_received = 433;
  s.bytes_sent = 62;
  return p;
}

// TCP RST in answer to SYN: nothing but a status and two timings.
inline ProbeResult RefusedProbe() {
  ProbeResult p;
  p.address = "2001:db8::25";
  p.port = 25;
  p.host = "mx2.example.com";
  p.tls_mode = TlsMode::kStartTls;
  p.started_at = ExampleStart() + absl::Seconds(1);
  p.session.status = ScanStatus::kConnectionRefused;
  p.session.status_detail = "ECONNREFUSED";
  p.session.timings.total = absl::Microseconds(300);
  return p;
}

// An HTTP server on port 25 that also talked before its turn.
inline ProbeResult HttpProbe() {
  ProbeResult p;
  p.address = "198.51.100.7";
  p.port = 587;
  p.tls_mode = TlsMode::kNone;
  p.session.status = ScanStatus::kProtocolError;
  p.session.status_detail = "http";
  smtp::ReplyParseError error;
  error.kind = smtp::ReplyError::kHttp;
  error.offset = 17;
  error.excerpt = "HTTP/1.1 400 Bad Request";
  p.session.protocol_error = error;
  smtp::Anomaly anomaly;
  anomaly.kind = smtp::Anomaly::Kind::kUnexpectedData;
  anomaly.phase = smtp::Phase::kGreeting;
  anomaly.size = 5;
  anomaly.excerpt = "junk!";
  p.session.anomalies.push_back(anomaly);
  anomaly.kind = smtp::Anomaly::Kind::kDataAfterStartTls;
  anomaly.phase = smtp::Phase::kStartTls;
  anomaly.size = 100;
  anomaly.excerpt = "250 injected";
  p.session.anomalies.push_back(anomaly);
  p.session.anomaly_count = 11;  // more than were recorded
  p.session.timings.connect = absl::Microseconds(42);
  p.session.bytes_received = 41;
  return p;
}

// An address record of one line holding `probes`, its address, host and
// status taken from them as a scan would.
inline AddressRecord AddressRecordOf(uint64_t line, std::string input,
                                     std::vector<ProbeResult> probes) {
  AddressRecord r;
  r.line = line;
  r.input = std::move(input);
  if (!probes.empty()) {
    r.address = probes.front().address;
    r.host = probes.front().host;
  }
  ProbeSummary summary = SummarizeProbes(probes);
  r.status = summary.status;
  r.status_detail = std::move(summary.status_detail);
  r.probes = std::move(probes);
  return r;
}

inline AddressRecord PostfixAddressRecord() {
  return AddressRecordOf(7, "192.0.2.25:25,mx1.example.com", {PostfixProbe()});
}

// "192.0.2.25,mx1.example.com" scanned with -p 25,465,587: refused on 25,
// the Postfix conversation on 465 (implicit TLS) and an HTTP server on 587.
inline AddressRecord MultiPortAddressRecord() {
  ProbeResult refused = RefusedProbe();
  refused.address = "192.0.2.25";
  refused.host = "mx1.example.com";
  ProbeResult postfix = PostfixProbe();
  postfix.port = 465;
  postfix.tls_mode = TlsMode::kImplicit;
  postfix.session.starttls.reset();
  ProbeResult http = HttpProbe();
  http.address = "192.0.2.25";
  http.host = "mx1.example.com";
  return AddressRecordOf(8, "192.0.2.25,mx1.example.com",
                         {refused, postfix, http});
}

// bücher.example: two MX hosts, three probes (one failed), one MX not probed.
inline DomainRecord ExampleDomainRecord() {
  DomainRecord r;
  r.line = 3;
  r.input = "bücher.example";
  r.domain = "xn--bcher-kva.example";
  r.domain_unicode = "bücher.example";
  r.status = ScanStatus::kSuccess;
  r.mx_dns_status = "NOERROR";
  MxHost mx1;
  mx1.name = "mx1.example.com";
  mx1.preference = 10;
  mx1.a_status = "NOERROR";
  mx1.addresses = {"192.0.2.25"};
  MxHost mx2;
  mx2.name = "mx2.example.com";
  mx2.preference = 20;
  mx2.a_status = "NOERROR";
  mx2.addresses = {"2001:db8::25"};
  mx2.via_cname = true;
  mx2.canonical = "mail.example.net";
  MxHost mx3;
  mx3.name = "mx3.example.com";
  mx3.preference = 30;
  mx3.a_status = "NXDOMAIN";
  r.mx = {mx1, mx2, mx3};
  r.probes = {PostfixProbe(), RefusedProbe()};
  return r;
}

inline DomainRecord NullMxDomainRecord() {
  DomainRecord r;
  r.line = 4;
  r.input = "nomail.example";
  r.domain = "nomail.example";
  r.status = ScanStatus::kNullMx;
  r.mx_dns_status = "NOERROR";
  r.null_mx = true;
  return r;
}

inline InvalidInputRecord ExampleInvalidRecord() {
  InvalidInputRecord r;
  r.line = 9;
  r.input = "not an address, \"quoted\"";
  r.reason = "neither an address nor a domain";
  return r;
}

// Every byte value once, 0x00 to 0xFF.
inline std::string AllBytes() {
  std::string s;
  for (int b = 0; b < 256; ++b) s.push_back(static_cast<char>(b));
  return s;
}

// Text that breaks naive writers: quotes, backslashes, separators, line ends,
// U+2028, a NUL, escapes, invalid UTF-8 of several kinds, formula starters.
inline std::string HostileText() {
  return std::string("=cmd|' /C calc'!A0 \"q\" \\n \\ , ; \r\n\t") +
         "\xE2\x80\xA8 \xE2\x80\xA9 " + std::string(1, '\0') + " \x1b[31m" +
         "\x80 \xE2\x82 \xC0\xAF \xED\xA0\x80 \xFF \xF4\x90\x80\x80 \x7f" +
         "\\u0000 </script> \xF0\x9F\x98\x80";
}

// `n` random strings of random bytes (0..max_len long), reproducibly.
inline std::vector<std::string> RandomByteStrings(int n, size_t max_len,
                                                  uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> length(0, max_len);
  // Half the strings draw from a few "interesting" bytes so that invalid
  // multi-byte sequences next to valid ones are common.
  static constexpr char kInteresting[] =
      "\x00\x0a\x0d\"\\,=\x80\xbf\xc0\xc2\xe2\xed"
      "\xf0\xf4\xff\x7f aZ";
  const std::string interesting(kInteresting, sizeof(kInteresting) - 1);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string s(length(rng), '\0');
    const bool from_interesting = i % 2 == 0;
    for (char& c : s) {
      c = from_interesting ? interesting[rng() % interesting.size()]
                           : static_cast<char>(rng() & 0xFF);
    }
    out.push_back(std::move(s));
  }
  return out;
}

// A probe whose every server-controlled string holds `bytes`.
inline ProbeResult HostileProbe(const std::string& bytes) {
  ProbeResult p = PostfixProbe();
  smtp::SessionResult& s = p.session;
  p.host = bytes;
  s.status_detail = bytes;
  s.greeting = MakeReply(220, {bytes, "second " + bytes});
  s.greeting_raw = "220-" + bytes + "\r\n220 second " + bytes + "\r\n";
  smtp::EhloReply ehlo = MakeEhlo({"mx.example.com", "PIPELINING"});
  ehlo.domain = bytes;
  ehlo.greet = bytes;
  ehlo.reply.lines.push_back(bytes);
  ehlo.extensions.push_back(
      smtp::Extension{"X-" + bytes, {bytes, bytes}, true});
  ehlo.extensions.push_back(smtp::Extension{"AUTH", {bytes}, false});
  s.ehlo = ehlo;
  s.ehlo_tls = ehlo;
  s.helo = MakeReply(250, {bytes});
  s.tls_error = bytes;
  smtp::ReplyParseError error;
  error.kind = smtp::ReplyError::kBinary;
  error.excerpt = bytes;
  s.protocol_error = error;
  smtp::Anomaly anomaly;
  anomaly.excerpt = bytes;
  anomaly.size = bytes.size();
  s.anomalies = {anomaly};
  s.anomaly_count = 1;
  return p;
}

// True when `s` is well-formed UTF-8 (RFC 3629: shortest form, no
// surrogates, nothing above U+10FFFF). Written here rather than borrowed so
// that it checks the writers independently of the libraries they use.
inline bool IsStrictUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (b0 < 0x80) {
      ++i;
      continue;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
      cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      cp = b0 & 0x0F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      cp = b0 & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;
    if (cp > 0x10FFFF) return false;
    i += len;
  }
  return true;
}

// The ASCII bytes of `s` other than NUL, in order: what any lossless-for-ASCII
// repair of invalid UTF-8 must keep.
inline std::string AsciiWithoutNul(absl::string_view s) {
  std::string out;
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b != 0 && b < 0x80) out.push_back(c);
  }
  return out;
}

}  // namespace smtpscan::output::fixtures

#endif  // SMTPSCAN_TESTS_OUTPUT_RECORD_FIXTURES_H_
