// What a TLS handshake showed: the data model of a probe's TLS facts.
//
// Plain data, no OpenSSL types: the output writers and the domain planner
// use it without linking OpenSSL. tls/channel.h fills it.
#ifndef SMTPSCAN_TLS_FACTS_H_
#define SMTPSCAN_TLS_FACTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "dns/resolver.h"

namespace smtpscan::tls {

// One certificate as the server sent it.
struct Certificate {
  std::string subject;  // RFC 2253 form: "CN=mx.example.com,O=Example"
  std::string issuer;
  std::vector<std::string> dns_names;     // subjectAltName dNSName entries
  std::vector<std::string> ip_addresses;  // subjectAltName iPAddress, text
  absl::Time not_before = absl::InfinitePast();
  absl::Time not_after = absl::InfinitePast();
  std::string sha256;       // of the DER certificate, lower-case hex
  std::string spki_sha256;  // of the DER SubjectPublicKeyInfo (TLSA x 1 1)
  std::string key_type;     // "RSA", "EC", "ED25519", ...
  int key_bits = 0;
  std::string signature_algorithm;  // "sha256WithRSAEncryption", ...
  bool self_signed = false;  // issuer == subject and the signature checks
};

// One error the certificate verification saw (the callback is called for
// every error along the chain, not only the last one).
struct VerifyError {
  int depth = 0;       // 0 = the server's own certificate
  int code = 0;        // X509_V_ERR_*
  std::string reason;  // X509_verify_cert_error_string
  friend bool operator==(const VerifyError&, const VerifyError&) = default;
};

// RFC 7672 DANE for this (host, port).
enum class DaneVerdict : uint8_t {
  kNotChecked,        // no TLSA lookup (an address target without a name)
  kNoRecords,         // TLSA lookup found none (NXDOMAIN / NODATA)
  kLookupFailed,      // SERVFAIL, timeout, ...: DANE state unknown
  kNotAuthenticated,  // records found, but the answer lacked the AD bit
  kNoUsableRecords,   // authenticated, but no DANE-TA(2)/DANE-EE(3) record
                      // OpenSSL accepts
  kMatch,             // the chain matched a usable record
  kNoMatch,           // usable records, none matched
  kNoTls,             // usable records, but no TLS session to check them
                      // against (STARTTLS not offered, handshake failed)
};
// Stable names for the output: "not-checked", "no-records", ...
// Inline: the output writers use it without linking the TLS library.
inline absl::string_view DaneVerdictName(DaneVerdict verdict) {
  switch (verdict) {
    case DaneVerdict::kNotChecked:
      return "not-checked";
    case DaneVerdict::kNoRecords:
      return "no-records";
    case DaneVerdict::kLookupFailed:
      return "lookup-failed";
    case DaneVerdict::kNotAuthenticated:
      return "not-authenticated";
    case DaneVerdict::kNoUsableRecords:
      return "no-usable-records";
    case DaneVerdict::kMatch:
      return "match";
    case DaneVerdict::kNoMatch:
      return "no-match";
    case DaneVerdict::kNoTls:
      return "no-tls";
  }
  return "unknown";
}

struct DaneResult {
  DaneVerdict verdict = DaneVerdict::kNotChecked;
  std::string tlsa_name;       // "_25._tcp.mx.example.com"
  std::string dns_status;      // of the TLSA lookup: "NOERROR", "NXDOMAIN", ...
  bool authenticated = false;  // the TLSA answer had the AD bit
  std::vector<dns::TlsaRecord> records;
  int matched_record = -1;  // index in `records` (kMatch)
  int matched_depth = -1;   // 0 the server's certificate, >0 a trust anchor
};

// Can OpenSSL's DANE use the record for SMTP? RFC 7672 §3.1.3: PKIX-TA(0)
// and PKIX-EE(1) are unusable; a digest must have its length.
inline bool TlsaUsableForSmtp(const dns::TlsaRecord& r) {
  if ((r.usage != 2 && r.usage != 3) || r.selector > 1) return false;
  switch (r.mtype) {
    case 0:
      return !r.data.empty();
    case 1:
      return r.data.size() == 32;
    case 2:
      return r.data.size() == 64;
    default:
      return false;
  }
}

// The verdict the TLSA lookup alone gives: kNoTls when it found usable,
// authenticated records (only a handshake can turn that into kMatch or
// kNoMatch).
inline DaneVerdict InitialDaneVerdict(const DaneResult& dane) {
  if (dane.dns_status == "NXDOMAIN" || dane.dns_status == "NODATA" ||
      (dane.dns_status == "NOERROR" && dane.records.empty())) {
    return DaneVerdict::kNoRecords;
  }
  if (dane.dns_status != "NOERROR") return DaneVerdict::kLookupFailed;
  // RFC 7672 §2.2: records from an insecure answer are not used.
  if (!dane.authenticated) return DaneVerdict::kNotAuthenticated;
  for (const dns::TlsaRecord& r : dane.records) {
    if (TlsaUsableForSmtp(r)) return DaneVerdict::kNoTls;
  }
  return DaneVerdict::kNoUsableRecords;
}

// Everything about TLS on one probe. Present only when a handshake was
// attempted.
struct TlsFacts {
  bool established = false;
  std::string sni;  // server name sent; empty when none (an IP target)

  // Established handshakes.
  std::string version;  // "TLSv1.3", "TLSv1.2", "TLSv1"
  std::string cipher;   // "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-SHA"
  std::string group;    // key exchange: "x25519", "secp256r1", "ffdhe2048";
                        // empty when none (RSA key exchange)
  int kx_bits = 0;      // size of the server's ephemeral key
  std::vector<Certificate> chain;  // as sent, the server's own first

  // Verification of the chain against the trust store (PKIX), without
  // DANE and without the name: `verified` is the chain alone.
  bool verified = false;
  int verify_code = 0;                     // SSL_get_verify_result (0 = ok)
  std::string verify_reason;               // its text
  std::vector<VerifyError> verify_errors;  // every error, in order seen
  // The server's certificate is valid for the host name (RFC 6125, no
  // partial wildcards); nullopt when there was no name to check.
  absl::optional<bool> host_match;

  DaneResult dane;

  // Failed handshakes.
  std::string error;            // OpenSSL's reason: "wrong version number"
  std::string alert;            // "received: handshake failure" / "sent: ..."
  std::string failed_state;     // how far it got: SSL_state_string_long
  uint64_t bytes_received = 0;  // ciphertext bytes read before the end

  static constexpr size_t kMaxVerifyErrors = 16;
  static constexpr size_t kMaxChain = 10;  // certificates recorded
};

}  // namespace smtpscan::tls

#endif  // SMTPSCAN_TLS_FACTS_H_
