// Small helpers for the tests that run smtpscan against a tools/*_lab
// instance serving TLS: a throwaway CA made with tools/test_ca, the SHA-256
// of a certificate file, an environment variable set for a while, and the
// probe of a record on one port.
#ifndef SMTPSCAN_TESTS_INTEGRATION_TLS_LAB_UTIL_H_
#define SMTPSCAN_TESTS_INTEGRATION_TLS_LAB_UTIL_H_

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "integration/lab_util.h"
#include "nlohmann/json.hpp"

namespace smtpscan::test {

// Makes a CA and a server certificate for `host` in `dir` with
// tools/test_ca (`test_ca_path`): dir/ca.crt, and dir/server.key,
// dir/server.crt, dir/server.chain.pem (the certificate then the CA), the
// layout the labs take as LAB_TLS_DIR. Returns an empty string, or what went
// wrong.
inline std::string MakeServerCertificate(absl::string_view test_ca_path,
                                         const std::string& dir,
                                         absl::string_view host) {
  const CommandResult init =
      RunCommand(absl::StrCat(test_ca_path, " init ", dir));
  if (init.exit_code != 0) return absl::StrCat("test_ca init: ", init.output);
  const CommandResult issue =
      RunCommand(absl::StrCat(test_ca_path, " issue ", dir, " server ", host));
  if (issue.exit_code != 0) {
    return absl::StrCat("test_ca issue: ", issue.output);
  }
  return "";
}

// The SHA-256 of the DER form of the first certificate in the PEM file
// `path`, in lower-case hex; empty when it cannot be read.
inline std::string CertificateSha256(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return "";
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) return "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  const bool ok = X509_digest(cert, EVP_sha256(), md, &size) == 1;
  X509_free(cert);
  if (!ok) return "";
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), size));
}

// Sets environment variable `name` to `value` for its lifetime (child
// processes such as the lab scripts inherit it), then unsets it.
// REQUIRES: no other thread reads or writes the environment meanwhile.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value)
      : name_(std::move(name)) {
    setenv(name_.c_str(), value.c_str(), /*overwrite=*/1);
  }
  ~ScopedEnv() { unsetenv(name_.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
};

// The probe of `record` on `port`, or null when it has none.
inline const nlohmann::json* ProbeOnPort(const nlohmann::json& record,
                                         int port) {
  if (!record.contains("probes")) return nullptr;
  for (const nlohmann::json& p : record["probes"]) {
    if (p.value("port", 0) == port) return &p;
  }
  return nullptr;
}

// The "auth" mechanisms of an "ehlo" object (empty when it has none).
inline std::vector<std::string> AuthMechanisms(const nlohmann::json& ehlo) {
  if (!ehlo.contains("auth")) return {};
  return ehlo["auth"].get<std::vector<std::string>>();
}

}  // namespace smtpscan::test

#endif  // SMTPSCAN_TESTS_INTEGRATION_TLS_LAB_UTIL_H_
