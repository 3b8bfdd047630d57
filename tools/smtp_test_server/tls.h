// The server's TLS contexts, one per TlsProfile, made once at start and
// shared by every connection of that profile (one SSL_CTX per process: an
// SSL_CTX_new per connection goes through OpenSSL 3.0's provider machinery
// and is far slower, openssl#17064).

#ifndef SMTPSCAN_TOOLS_SMTP_TEST_SERVER_TLS_H_
#define SMTPSCAN_TOOLS_SMTP_TEST_SERVER_TLS_H_

#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;

namespace smtpscan::test_server {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const;
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// The context of the `tls` and `starttls*` modes: OpenSSL's default
// protocol range (TLS 1.2 and 1.3 on Debian 12). With `cert_file` (PEM, the
// leaf first, then any intermediates) and `key_file` it serves those;
// with both empty it generates a self-signed EC P-256 certificate for
// `hostname` (CN and DNS SAN, valid from an hour ago for ten years).
// Settings that keep the server fast and small: no session tickets or
// cache, SSL_MODE_RELEASE_BUFFERS, read-ahead (one recv per batch of
// records). On failure returns null and sets `*error` to one line.
SslCtxPtr MakeModernContext(const std::string& cert_file,
                            const std::string& key_file,
                            const std::string& hostname, std::string* error);

// The context of `tls-old`: TLS 1.0 only, security level 0
// ("DEFAULT:@SECLEVEL=0"), and a self-signed RSA-1024 certificate signed
// with SHA-1, generated here.
SslCtxPtr MakeLegacyContext(const std::string& hostname, std::string* error);

}  // namespace smtpscan::test_server

#endif  // SMTPSCAN_TOOLS_SMTP_TEST_SERVER_TLS_H_
