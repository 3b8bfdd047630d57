// The TLS modes of tools/smtp_test_server, checked with a small blocking
// OpenSSL client in the test (no smtpscan involved): what each mode says,
// in plaintext and inside TLS, and how each hostile one fails.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "integration/test_server.h"

namespace smtpscan::test {
namespace {

struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

// A client context as OpenSSL ships it (security level 2 on Debian 12), or
// a scanner-like one (level 0, every version) with `legacy`.
CtxPtr ClientContext(bool legacy) {
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (legacy) {
    SSL_CTX_set_security_level(ctx.get(), 0);
    SSL_CTX_set_min_proto_version(ctx.get(), 0);
    SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0");
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  return ctx;
}

// One blocking connection (2 s timeouts) that reads SMTP replies from the
// socket or, after Handshake(), from TLS.
class Client {
 public:
  explicit Client(const TestServer::Endpoint& endpoint) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{2, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(endpoint.port));
    inet_pton(AF_INET, endpoint.address.c_str(), &addr.sin_addr);
    connected_ =
        connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() {
    SSL_free(ssl_);
    close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  SSL* ssl() const { return ssl_; }
  const std::string& buffered() const { return buf_; }
  void Discard() { buf_.clear(); }

  // Runs the client handshake over the socket. True when it completed.
  bool Handshake(SSL_CTX* ctx) {
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    ERR_clear_error();
    bool ok = SSL_connect(ssl_) == 1;
    ERR_clear_error();
    return ok;
  }

  bool Send(const std::string& data) {
    if (ssl_ != nullptr) {
      return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) ==
             static_cast<int>(data.size());
    }
    return send(fd_, data.data(), data.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(data.size());
  }

  // Reads until a whole reply (its "DDD " line) is buffered, and returns it
  // with its line ends; "" when the connection ends or times out first.
  std::string Reply() {
    for (;;) {
      size_t start = 0;
      for (size_t nl; (nl = buf_.find('\n', start)) != std::string::npos;
           start = nl + 1) {
        if (nl - start >= 4 && buf_[start + 3] == ' ') {
          std::string reply = buf_.substr(0, nl + 1);
          buf_.erase(0, nl + 1);
          return reply;
        }
      }
      if (!ReadSome()) return "";
    }
  }

  // Appends what one read returns; false on EOF, error or timeout.
  bool ReadSome() {
    char chunk[4096];
    int n = ssl_ != nullptr
                ? SSL_read(ssl_, chunk, sizeof(chunk))
                : static_cast<int>(recv(fd_, chunk, sizeof(chunk), 0));
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  // Reads plaintext to EOF. Returns what came; `*reset` tells whether the
  // end was a reset rather than a FIN.
  std::string ReadToEof(bool* reset) {
    *reset = false;
    for (;;) {
      char chunk[4096];
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
        continue;
      }
      *reset = n < 0 && errno == ECONNRESET;
      return buf_;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  SSL* ssl_ = nullptr;
  std::string buf_;
};

class TlsServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new TestServer(
        {"127.0.0.1:0=tls", "127.0.0.1:0=starttls", "127.0.0.1:0=tls-garbage",
         "127.0.0.1:0=starttls-close", "127.0.0.1:0=starttls-refuse",
         "127.0.0.1:0=starttls-inject", "127.0.0.1:0=tls-stall",
         "127.0.0.1:0=tls-old"},
        60);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ok()); }

  static TestServer::Endpoint Of(const std::string& mode) {
    return server_->Of(mode).at(0);
  }

  // Greeting and a plaintext EHLO, as every starttls mode starts.
  static void PlainEhlo(Client& c) {
    EXPECT_EQ(c.Reply(), "220 mx.test.invalid ESMTP\r\n");
    ASSERT_TRUE(c.Send("EHLO client.test\r\n"));
    EXPECT_EQ(c.Reply(),
              "250-mx.test.invalid\r\n250-PIPELINING\r\n250-STARTTLS\r\n"
              "250 8BITMIME\r\n");
  }

  static TestServer* server_;
};

TestServer* TlsServerTest::server_ = nullptr;

TEST_F(TlsServerTest, ImplicitTlsThenFastDialogue) {
  Client c(Of("tls"));
  ASSERT_TRUE(c.connected());
  CtxPtr ctx = ClientContext(false);
  ASSERT_TRUE(c.Handshake(ctx.get()));
  EXPECT_STREQ(SSL_get_version(c.ssl()), "TLSv1.3");
  // The generated certificate: self-signed EC P-256 for --hostname.
  X509* cert = SSL_get0_peer_certificate(c.ssl());
  ASSERT_NE(cert, nullptr);
  EXPECT_STREQ(EVP_PKEY_get0_type_name(X509_get0_pubkey(cert)), "EC");
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(cert)), 256);
  EXPECT_EQ(X509_check_host(cert, "mx.test.invalid", 0, 0, nullptr), 1);
  EXPECT_EQ(SSL_get_verify_result(c.ssl()),
            X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);

  EXPECT_EQ(c.Reply(), "220 mx.test.invalid ESMTP\r\n");
  ASSERT_TRUE(c.Send("EHLO client.test\r\n"));
  EXPECT_EQ(c.Reply(),
            "250-mx.test.invalid\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  ASSERT_TRUE(c.Send("QUIT\r\n"));
  EXPECT_EQ(c.Reply(), "221 Bye\r\n");
  // Then close_notify: a clean TLS end.
  char byte;
  EXPECT_EQ(SSL_read(c.ssl(), &byte, 1), 0);
  EXPECT_EQ(SSL_get_error(c.ssl(), 0), SSL_ERROR_ZERO_RETURN);
}

TEST_F(TlsServerTest, StarttlsThenEhloInsideTls) {
  Client c(Of("starttls"));
  ASSERT_TRUE(c.connected());
  PlainEhlo(c);
  ASSERT_TRUE(c.Send("STARTTLS\r\n"));
  EXPECT_EQ(c.Reply(), "220 2.0.0 Ready to start TLS\r\n");
  CtxPtr ctx = ClientContext(false);
  ASSERT_TRUE(c.Handshake(ctx.get()));
  ASSERT_TRUE(c.Send("EHLO client.test\r\n"));
  EXPECT_EQ(c.Reply(),
            "250-mx.test.invalid\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n"
            "250 8BITMIME\r\n");
  ASSERT_TRUE(c.Send("STARTTLS\r\n"));
  EXPECT_EQ(c.Reply(), "554 5.5.1 Error: TLS already active\r\n");
  ASSERT_TRUE(c.Send("QUIT\r\n"));
  EXPECT_EQ(c.Reply(), "221 Bye\r\n");
}

TEST_F(TlsServerTest, StarttlsDropsCommandsPipelinedBeforeTheHandshake) {
  Client c(Of("starttls"));
  ASSERT_TRUE(c.connected());
  PlainEhlo(c);
  ASSERT_TRUE(c.Send("STARTTLS\r\nNOOP\r\n"));
  EXPECT_EQ(c.Reply(), "220 2.0.0 Ready to start TLS\r\n");
  CtxPtr ctx = ClientContext(false);
  ASSERT_TRUE(c.Handshake(ctx.get()));
  ASSERT_TRUE(c.Send("QUIT\r\n"));
  // The NOOP was dropped, not answered inside TLS.
  EXPECT_EQ(c.Reply(), "221 Bye\r\n");
}

TEST_F(TlsServerTest, TlsGarbageAnswersTheClientHelloWithHttp) {
  {
    Client c(Of("tls-garbage"));
    ASSERT_TRUE(c.connected());
    CtxPtr ctx = ClientContext(true);
    EXPECT_FALSE(c.Handshake(ctx.get()));
  }
  Client c(Of("tls-garbage"));
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(std::string("\x16\x03\x01\x00\x05hello", 10)));
  bool reset = true;
  EXPECT_EQ(c.ReadToEof(&reset), "HTTP/1.1 400 Bad Request\r\n\r\n");
  EXPECT_FALSE(reset);
}

TEST_F(TlsServerTest, StarttlsCloseClosesAfterThe220) {
  Client c(Of("starttls-close"));
  ASSERT_TRUE(c.connected());
  PlainEhlo(c);
  ASSERT_TRUE(c.Send("STARTTLS\r\n"));
  bool reset = true;
  EXPECT_EQ(c.ReadToEof(&reset), "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_FALSE(reset);
}

TEST_F(TlsServerTest, StarttlsRefuseAnswers454AndGoesOn) {
  Client c(Of("starttls-refuse"));
  ASSERT_TRUE(c.connected());
  PlainEhlo(c);
  ASSERT_TRUE(c.Send("STARTTLS\r\n"));
  EXPECT_EQ(c.Reply(), "454 4.7.0 TLS not available due to local problem\r\n");
  ASSERT_TRUE(c.Send("QUIT\r\n"));
  EXPECT_EQ(c.Reply(), "221 Bye\r\n");
}

TEST_F(TlsServerTest, StarttlsInjectSendsAPlaintextReplyAfterThe220) {
  Client c(Of("starttls-inject"));
  ASSERT_TRUE(c.connected());
  PlainEhlo(c);
  ASSERT_TRUE(c.Send("STARTTLS\r\n"));
  EXPECT_EQ(c.Reply(), "220 2.0.0 Ready to start TLS\r\n");
  // Both lines leave in one write; wait until the second is here too.
  while (c.buffered().size() < 14 && c.ReadSome()) {
  }
  EXPECT_EQ(c.buffered(), "250 injected\r\n");
  // A client that drops those bytes (never feeding them to TLS) goes on.
  c.Discard();
  CtxPtr ctx = ClientContext(false);
  ASSERT_TRUE(c.Handshake(ctx.get()));
  ASSERT_TRUE(c.Send("EHLO client.test\r\n"));
  EXPECT_EQ(c.Reply(),
            "250-mx.test.invalid\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n"
            "250 8BITMIME\r\n");
}

TEST_F(TlsServerTest, TlsStallNeverAnswersTheClientHello) {
  Client c(Of("tls-stall"));
  ASSERT_TRUE(c.connected());
  timeval tv{0, 500 * 1000};
  setsockopt(c.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  CtxPtr ctx = ClientContext(false);
  SSL* ssl = SSL_new(ctx.get());
  SSL_set_fd(ssl, c.fd());
  ERR_clear_error();
  int r = SSL_connect(ssl);
  EXPECT_EQ(r, -1);
  EXPECT_EQ(SSL_get_error(ssl, r), SSL_ERROR_WANT_READ);  // the timeout
  ERR_clear_error();
  SSL_free(ssl);
  // Still open: no FIN, no reset.
  char byte;
  ssize_t n = recv(c.fd(), &byte, 1, 0);
  EXPECT_EQ(n, -1);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
}

TEST_F(TlsServerTest, TlsOldIsTls10WithRsa1024Sha1) {
  {
    Client c(Of("tls-old"));
    ASSERT_TRUE(c.connected());
    CtxPtr ctx = ClientContext(false);  // Debian's defaults refuse it
    EXPECT_FALSE(c.Handshake(ctx.get()));
  }
  Client c(Of("tls-old"));
  ASSERT_TRUE(c.connected());
  CtxPtr ctx = ClientContext(true);
  ASSERT_TRUE(c.Handshake(ctx.get()));
  EXPECT_STREQ(SSL_get_version(c.ssl()), "TLSv1");
  X509* cert = SSL_get0_peer_certificate(c.ssl());
  ASSERT_NE(cert, nullptr);
  EXPECT_STREQ(EVP_PKEY_get0_type_name(X509_get0_pubkey(cert)), "RSA");
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(cert)), 1024);
  EXPECT_EQ(X509_get_signature_nid(cert), NID_sha1WithRSAEncryption);
  EXPECT_EQ(c.Reply(), "220 mx.test.invalid ESMTP\r\n");
  ASSERT_TRUE(c.Send("QUIT\r\n"));
  EXPECT_EQ(c.Reply(), "221 Bye\r\n");
}

}  // namespace
}  // namespace smtpscan::test
