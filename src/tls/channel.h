// A sans-I/O TLS client channel: one OpenSSL SSL over two memory BIOs
// (ENGINEERING.md §2.1). The caller moves ciphertext between the channel
// and the socket; the channel turns it into plaintext for the SMTP session
// and back. It never sees a socket or a clock.
//
//   Channel ch(context, {.server_name = "mx.example.com"});
//   ch.Start();                         // ClientHello is now pending
//   send(ch.TakeCiphertext());
//   on bytes:  state = ch.Feed(bytes, &plaintext);  send(ch.TakeCiphertext());
//              kOpen after kHandshake: the handshake just finished
//   to send:   ch.Write("EHLO ...\r\n"); send(ch.TakeCiphertext());
//   on EOF:    state = ch.FeedEof(&plaintext);
//   facts:     ch.facts() (final once the state left kHandshake)
//
// Always send what TakeCiphertext returns after every call, failures
// included: OpenSSL writes alerts even when a call fails.
#ifndef SMTPSCAN_TLS_CHANNEL_H_
#define SMTPSCAN_TLS_CHANNEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "dns/resolver.h"
#include "tls/context.h"
#include "tls/facts.h"

typedef struct ssl_st SSL;
typedef struct bio_st BIO;
typedef struct x509_st X509;
typedef struct x509_store_ctx_st X509_STORE_CTX;

namespace smtpscan::tls {

struct ChannelOptions {
  // The MX (or input) host name: sent as SNI and checked against the
  // certificate. Lower-cased and a trailing dot stripped; an IP literal or
  // an empty name sends no SNI, checks no name and cannot use DANE.
  absl::string_view server_name;
  // DANE (RFC 7672). The TLSA lookup of this (host, port); nullptr when
  // DANE is not checked. Only an authenticated NOERROR answer with usable
  // records turns on OpenSSL's DANE verification; the verdict is in
  // facts().dane either way.
  const DaneResult* dane = nullptr;
};

class Channel {
 public:
  enum class State : uint8_t {
    kHandshake,  // in progress
    kOpen,       // established: plaintext flows
    kFailed,     // the handshake or the record layer failed (facts().error)
    kClosed,     // the server closed the TLS stream (close_notify or EOF)
  };

  // REQUIRES: `context` outlives the channel.
  Channel(const Context& context, const ChannelOptions& options);
  ~Channel();  // frees the SSL at once (its buffers are most of the memory)

  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Begins the handshake: the ClientHello is then in TakeCiphertext.
  State Start();

  // Ciphertext from the server. Advances the handshake; once open, appends
  // any decrypted application data to *plaintext.
  State Feed(absl::string_view ciphertext, std::string* plaintext);
  // The server closed TCP. Appends any last plaintext.
  State FeedEof(std::string* plaintext);

  // Encrypts application data. REQUIRES: state() == kOpen. Returns false
  // (and the state becomes kFailed) when OpenSSL refuses.
  bool Write(absl::string_view plaintext);

  // Sends close_notify (the ciphertext is then in TakeCiphertext): the
  // polite end of a TLS conversation after QUIT, which some servers (Exim)
  // wait for before closing. Does nothing unless the channel is open.
  void Shutdown();

  // Appends the ciphertext OpenSSL has produced to *out (a ClientHello, a
  // record, an alert) and empties its buffer.
  void TakeCiphertext(std::string* out);
  bool HasCiphertext() const;

  State state() const { return state_; }
  // Final for the handshake once state() != kHandshake.
  const TlsFacts& facts() const { return facts_; }
  // The facts, for a channel that may still be mid-handshake (a
  // deadline passed): then failed_state says how far it got.
  TlsFacts TakeFacts();

 private:
  State Advance(std::string* plaintext);
  void OnHandshakeDone();
  void OnFailure(int ssl_error);
  static int VerifyCallback(int ok, X509_STORE_CTX* store);
  static void InfoCallback(const SSL* ssl, int where, int ret);

  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  State state_ = State::kHandshake;
  bool dane_enabled_ = false;
  const char* last_state_ = nullptr;  // a static string of OpenSSL's
  std::string check_name_;            // for the host match; empty: none
  TlsFacts facts_;
};

// The certificate facts of one X509 (tls/certificate.cc).
Certificate DescribeCertificate(X509* cert);

}  // namespace smtpscan::tls

#endif  // SMTPSCAN_TLS_CHANNEL_H_
