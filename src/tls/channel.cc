#include "tls/channel.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace smtpscan::tls {
namespace {

bool IsIpLiteral(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// OpenSSL's reason for the most recent error on this thread's queue, and
// the queue emptied (the event loop serves many connections: an error left
// behind would be blamed on the next one, SSL_get_error(3)).
std::string TakeErrorReason() {
  unsigned long last = 0;  // NOLINT(runtime/int): OpenSSL's type
  while (const unsigned long code = ERR_get_error()) last = code;  // NOLINT
  if (last == 0) return {};
  const char* reason = ERR_reason_error_string(last);
  return reason != nullptr ? reason : absl::StrCat("error ", last);
}

void LogVerifyError(X509_STORE_CTX* store, std::vector<VerifyError>* errors) {
  if (errors->size() >= TlsFacts::kMaxVerifyErrors) return;
  const int code = X509_STORE_CTX_get_error(store);
  errors->push_back(VerifyError{X509_STORE_CTX_get_error_depth(store), code,
                                X509_verify_cert_error_string(code)});
}

// Verify callback of the stand-alone PKIX check below: logs, never stops.
int LogAndContinue(int ok, X509_STORE_CTX* store) {
  if (ok == 0) {
    LogVerifyError(store,
                   static_cast<std::vector<VerifyError>*>(
                       X509_STORE_CTX_get_ex_data(store, /*app data*/ 0)));
  }
  return 1;
}

}  // namespace

Channel::Channel(const Context& context, const ChannelOptions& options) {
  SSL_CTX* ctx = context.get();
  if (ctx == nullptr) {
    state_ = State::kFailed;
    facts_.error = context.error();
    return;
  }
  ssl_ = SSL_new(ctx);
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || rbio_ == nullptr || wbio_ == nullptr) {
    BIO_free(rbio_);
    BIO_free(wbio_);
    rbio_ = wbio_ = nullptr;
    state_ = State::kFailed;
    facts_.error = "out of memory";
    ERR_clear_error();
    return;
  }
  // An empty read BIO means "retry" (WANT_READ) until FeedEof says EOF.
  BIO_set_mem_eof_return(rbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
  SSL_set_connect_state(ssl_);
  SSL_set_app_data(ssl_, this);
  SSL_set_verify(ssl_, SSL_VERIFY_NONE, &Channel::VerifyCallback);
  SSL_set_info_callback(ssl_, &Channel::InfoCallback);

  std::string name(options.server_name);
  if (!name.empty() && name.back() == '.') name.pop_back();
  absl::AsciiStrToLower(&name);
  if (!name.empty() && !IsIpLiteral(name)) {
    // RFC 6066 §3: SNI carries host names only, never an address.
    SSL_set_tlsext_host_name(ssl_, name.c_str());
    facts_.sni = name;
    check_name_ = name;
  }

  if (options.dane != nullptr) {
    facts_.dane = *options.dane;
    DaneResult& dane = facts_.dane;
    dane.verdict = InitialDaneVerdict(dane);
    if (dane.verdict == DaneVerdict::kNoTls) {
      dane.verdict = DaneVerdict::kNoUsableRecords;  // unless one is added
      if (!check_name_.empty() &&
          SSL_dane_enable(ssl_, check_name_.c_str()) > 0) {
        // RFC 7672 §3.2.3 / SSL_CTX_dane_enable(3): SMTP clients skip
        // name checks for DANE-EE(3) matches.
        SSL_dane_set_flags(ssl_, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
        for (const dns::TlsaRecord& r : dane.records) {
          if (!TlsaUsableForSmtp(r)) continue;
          if (SSL_dane_tlsa_add(
                  ssl_, r.usage, r.selector, r.mtype,
                  reinterpret_cast<const unsigned char*>(r.data.data()),
                  r.data.size()) > 0) {
            dane_enabled_ = true;
          }
        }
        // Until the handshake says otherwise, no TLS to check against.
        if (dane_enabled_) dane.verdict = DaneVerdict::kNoTls;
      }
    }
  }
  ERR_clear_error();
}

Channel::~Channel() {
  if (ssl_ != nullptr) SSL_free(ssl_);  // frees both BIOs
}

Channel::State Channel::Start() {
  if (ssl_ == nullptr || state_ != State::kHandshake) return state_;
  return Advance(nullptr);
}

Channel::State Channel::Feed(absl::string_view ciphertext,
                             std::string* plaintext) {
  if (state_ == State::kFailed || state_ == State::kClosed) return state_;
  if (!ciphertext.empty()) {
    if (state_ == State::kHandshake) facts_.bytes_received += ciphertext.size();
    BIO_write(rbio_, ciphertext.data(), static_cast<int>(ciphertext.size()));
  }
  return Advance(plaintext);
}

Channel::State Channel::FeedEof(std::string* plaintext) {
  if (state_ == State::kFailed || state_ == State::kClosed) return state_;
  BIO_set_mem_eof_return(rbio_, 0);  // empty now means EOF
  const State state = Advance(plaintext);
  if (state == State::kOpen) state_ = State::kClosed;
  return state_;
}

Channel::State Channel::Advance(std::string* plaintext) {
  if (state_ == State::kHandshake) {
    // Where the handshake stands before this step: once it fails, OpenSSL
    // names its state just "error" (ssl/ssl_stat.c).
    last_state_ = SSL_state_string_long(ssl_);
    ERR_clear_error();
    const int ret = SSL_do_handshake(ssl_);
    if (ret != 1) {
      const int error = SSL_get_error(ssl_, ret);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        return state_;
      }
      OnFailure(error);
      return state_;
    }
    OnHandshakeDone();
    state_ = State::kOpen;
  }
  if (state_ != State::kOpen || plaintext == nullptr) return state_;
  // Everything buffered: TLS 1.3 servers may also send session tickets
  // after the handshake, which read as WANT_READ with no data.
  while (true) {
    char buf[16384];
    size_t n = 0;
    ERR_clear_error();
    if (SSL_read_ex(ssl_, buf, sizeof(buf), &n) == 1) {
      plaintext->append(buf, n);
      continue;
    }
    const int error = SSL_get_error(ssl_, 0);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) break;
    if (error == SSL_ERROR_ZERO_RETURN) {
      state_ = State::kClosed;  // close_notify, or EOF (IGNORE_UNEXPECTED_EOF)
      ERR_clear_error();
      break;
    }
    facts_.error = TakeErrorReason();
    if (facts_.error.empty()) facts_.error = "record layer error";
    state_ = State::kFailed;
    break;
  }
  return state_;
}

bool Channel::Write(absl::string_view plaintext) {
  if (state_ != State::kOpen) return false;
  if (plaintext.empty()) return true;
  size_t written = 0;
  ERR_clear_error();
  if (SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written) != 1) {
    facts_.error = TakeErrorReason();
    if (facts_.error.empty()) facts_.error = "write failed";
    state_ = State::kFailed;
    return false;
  }
  return true;
}

void Channel::Shutdown() {
  if (state_ != State::kOpen && state_ != State::kClosed) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // 0: our close_notify is written, theirs not read
  ERR_clear_error();
}

void Channel::TakeCiphertext(std::string* out) {
  if (wbio_ == nullptr) return;
  char* data = nullptr;
  const long size = BIO_get_mem_data(wbio_, &data);  // NOLINT(runtime/int)
  if (size <= 0) return;
  out->append(data, static_cast<size_t>(size));
  (void)BIO_reset(wbio_);
}

TlsFacts Channel::TakeFacts() {
  if (state_ == State::kHandshake && ssl_ != nullptr &&
      facts_.failed_state.empty()) {
    facts_.failed_state = SSL_state_string_long(ssl_);
  }
  return std::move(facts_);
}

bool Channel::HasCiphertext() const {
  return wbio_ != nullptr && BIO_ctrl_pending(wbio_) > 0;
}

void Channel::OnHandshakeDone() {
  facts_.established = true;
  facts_.version = SSL_get_version(ssl_);
  if (const char* cipher = SSL_get_cipher_name(ssl_); cipher != nullptr) {
    facts_.cipher = cipher;
  }
  const int group = SSL_get_negotiated_group(ssl_);
  if (group != 0 && group != NID_undef) {
    if (const char* name = SSL_group_to_name(ssl_, group); name != nullptr) {
      facts_.group = name;
    }
  }
  EVP_PKEY* peer_key = nullptr;
  if (SSL_get_peer_tmp_key(ssl_, &peer_key) == 1 && peer_key != nullptr) {
    facts_.kx_bits = EVP_PKEY_get_bits(peer_key);
    if (facts_.group.empty()) {
      if (const char* type = EVP_PKEY_get0_type_name(peer_key)) {
        facts_.group = type;  // "DH" for finite-field DHE without a group
      }
    }
    EVP_PKEY_free(peer_key);
  }

  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_);  // leaf first
  const int count = chain != nullptr ? sk_X509_num(chain) : 0;
  for (int i = 0; i < count && facts_.chain.size() < TlsFacts::kMaxChain; ++i) {
    facts_.chain.push_back(DescribeCertificate(sk_X509_value(chain, i)));
  }

  X509* leaf = SSL_get0_peer_certificate(ssl_);
  if (leaf != nullptr && !check_name_.empty()) {
    facts_.host_match =
        X509_check_host(leaf, check_name_.data(), check_name_.size(),
                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
  }

  const long result = SSL_get_verify_result(ssl_);  // NOLINT(runtime/int)
  if (!dane_enabled_) {
    facts_.verify_code = static_cast<int>(result);
  } else {
    // The handshake verified with DANE; the PKIX facts describe the chain
    // against the trust store alone, so check it again without DANE.
    DaneResult& dane = facts_.dane;
    uint8_t usage = 0, selector = 0, mtype = 0;
    const unsigned char* data = nullptr;
    size_t size = 0;
    const int depth = SSL_get0_dane_authority(ssl_, nullptr, nullptr);
    if (depth >= 0 && SSL_get0_dane_tlsa(ssl_, &usage, &selector, &mtype, &data,
                                         &size) >= 0) {
      dane.verdict = DaneVerdict::kMatch;
      dane.matched_depth = depth;
      const absl::string_view matched(reinterpret_cast<const char*>(data),
                                      size);
      for (size_t i = 0; i < dane.records.size(); ++i) {
        const dns::TlsaRecord& r = dane.records[i];
        if (r.usage == usage && r.selector == selector && r.mtype == mtype &&
            r.data == matched) {
          dane.matched_record = static_cast<int>(i);
          break;
        }
      }
    } else {
      dane.verdict = DaneVerdict::kNoMatch;
    }
    facts_.verify_errors.clear();
    facts_.verify_code = X509_V_ERR_UNSPECIFIED;
    X509_STORE_CTX* store = X509_STORE_CTX_new();
    if (store != nullptr && leaf != nullptr &&
        X509_STORE_CTX_init(store,
                            SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl_)), leaf,
                            chain) == 1) {
      X509_STORE_CTX_set_default(store, "ssl_server");
      X509_STORE_CTX_set_ex_data(store, 0, &facts_.verify_errors);
      X509_STORE_CTX_set_verify_cb(store, LogAndContinue);
      X509_verify_cert(store);
      facts_.verify_code = X509_STORE_CTX_get_error(store);
    }
    X509_STORE_CTX_free(store);
  }
  facts_.verified = facts_.verify_code == X509_V_OK && leaf != nullptr &&
                    facts_.verify_errors.empty();
  facts_.verify_reason = X509_verify_cert_error_string(facts_.verify_code);
  ERR_clear_error();
}

void Channel::OnFailure(int ssl_error) {
  state_ = State::kFailed;
  facts_.error = TakeErrorReason();
  if (facts_.error.empty()) {
    // With SSL_OP_IGNORE_UNEXPECTED_EOF a TCP close reads as
    // SSL_ERROR_ZERO_RETURN with nothing on the error queue.
    facts_.error =
        ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_SSL ||
                ssl_error == SSL_ERROR_ZERO_RETURN
            ? "connection closed during handshake"
            : absl::StrCat("handshake failed (SSL error ", ssl_error, ")");
  }
  facts_.failed_state =
      last_state_ != nullptr ? last_state_ : SSL_state_string_long(ssl_);
}

int Channel::VerifyCallback(int ok, X509_STORE_CTX* store) {
  if (ok != 0) return 1;
  SSL* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* self = static_cast<Channel*>(SSL_get_app_data(ssl));
  // With DANE on, the handshake's verification is DANE's; its PKIX errors
  // are collected again, without DANE, once the handshake is done.
  if (self != nullptr && !self->dane_enabled_) {
    LogVerifyError(store, &self->facts_.verify_errors);
  }
  return 1;  // record, never refuse: the scanner wants to see the server
}

void Channel::InfoCallback(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_ALERT) == 0) return;
  auto* self = static_cast<Channel*>(SSL_get_app_data(ssl));
  if (self == nullptr || !self->facts_.alert.empty()) return;
  // The first alert other than close_notify: that is what ended it.
  if ((ret & 0xff) == SSL3_AD_CLOSE_NOTIFY) return;
  self->facts_.alert =
      absl::StrCat((where & SSL_CB_READ) != 0 ? "received: " : "sent: ",
                   SSL_alert_desc_string_long(ret));
}

}  // namespace smtpscan::tls
