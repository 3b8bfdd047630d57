// Certificate facts with the OpenSSL 3.0 API (ENGINEERING.md §2.4).
#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "tls/channel.h"

namespace smtpscan::tls {
namespace {

std::string NameText(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  // RFC 2253 with UTF-8 kept as is (the output escapes what JSON needs).
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);  // NOLINT(runtime/int)
  std::string text(data, size > 0 ? static_cast<size_t>(size) : 0);
  BIO_free(bio);
  return text;
}

absl::Time TimeOf(const ASN1_TIME* t) {
  tm parts{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &parts) != 1) {
    return absl::InfinitePast();
  }
  return absl::FromTimeT(timegm(&parts));
}

std::string Hex(const unsigned char* data, size_t size) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(data), size));
}

void AddAltNames(X509* cert, Certificate* out) {
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return;
  const int count = sk_GENERAL_NAME_num(names);
  for (int i = 0; i < count; ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      out->dns_names.emplace_back(
          reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
          static_cast<size_t>(ASN1_STRING_length(dns)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      const int length = ASN1_STRING_length(ip);
      char text[INET6_ADDRSTRLEN] = {};
      const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : 0;
      if (family != 0 &&
          inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof(text))) {
        out->ip_addresses.emplace_back(text);
      }
    }
  }
  GENERAL_NAMES_free(names);
}

}  // namespace

Certificate DescribeCertificate(X509* cert) {
  Certificate out;
  out.subject = NameText(X509_get_subject_name(cert));
  out.issuer = NameText(X509_get_issuer_name(cert));
  AddAltNames(cert, &out);
  out.not_before = TimeOf(X509_get0_notBefore(cert));
  out.not_after = TimeOf(X509_get0_notAfter(cert));

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_size = 0;
  if (X509_digest(cert, EVP_sha256(), md, &md_size) == 1) {
    out.sha256 = Hex(md, md_size);
  }
  unsigned char* spki = nullptr;
  const int spki_size = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki);
  if (spki_size > 0) {
    size_t digest_size = 0;
    if (EVP_Digest(spki, static_cast<size_t>(spki_size), md, &md_size,
                   EVP_sha256(), nullptr) == 1) {
      digest_size = md_size;
    }
    out.spki_sha256 = Hex(md, digest_size);
    OPENSSL_free(spki);
  }
  if (EVP_PKEY* key = X509_get0_pubkey(cert); key != nullptr) {
    const char* type = EVP_PKEY_get0_type_name(key);
    out.key_type = type != nullptr ? type : "";
    out.key_bits = EVP_PKEY_get_bits(key);
  }
  const int sig_nid = X509_get_signature_nid(cert);
  if (sig_nid != NID_undef) out.signature_algorithm = OBJ_nid2ln(sig_nid);
  out.self_signed = X509_self_signed(cert, /*verify_signature=*/1) == 1;
  return out;
}

}  // namespace smtpscan::tls
