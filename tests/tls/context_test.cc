// tls::Context: the trust store deferred to the first handshake loads where it
// is first needed, and is the store a synchronous load gives.
#include "tls/context.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <memory>

#include "gtest/gtest.h"

namespace smtpscan::tls {
namespace {

ContextOptions Deferred() {
  ContextOptions o;
  o.load_when_needed = true;
  return o;
}

ContextOptions SharingWith(const Context* donor) {
  ContextOptions o;
  o.share_trust_of = donor;
  return o;
}

int StoreSize(SSL_CTX* ctx) {
  return sk_X509_OBJECT_num(
      X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx)));
}

TEST(ContextTest, DeferredTrustEqualsTheLoadAtCreation) {
  auto sync = Context::Create({});
  ASSERT_TRUE(sync.ok()) << sync.status();
  auto background = Context::Create(Deferred());
  ASSERT_TRUE(background.ok()) << background.status();
  // Whatever the machine's store holds (none without ca-certificates), the
  // background load holds the same once get() has waited for it.
  EXPECT_EQ(StoreSize((*background)->get()), StoreSize((*sync)->get()));
  EXPECT_TRUE((*background)->TrustStatus().ok());
  EXPECT_TRUE((*sync)->TrustStatus().ok());
}

TEST(ContextTest, SharingADeferredStoreSharesTheOneLoad) {
  auto donor = Context::Create(Deferred());
  ASSERT_TRUE(donor.ok()) << donor.status();
  // Created before the donor loaded: the worker makes the one load.
  auto worker = Context::Create(SharingWith(donor->get()));
  ASSERT_TRUE(worker.ok()) << worker.status();
  SSL_CTX* w = (*worker)->get();
  SSL_CTX* d = (*donor)->get();
  EXPECT_EQ(SSL_CTX_get_cert_store(w), SSL_CTX_get_cert_store(d));
  // And one created after the donor's store is attached.
  auto late = Context::Create(SharingWith(donor->get()));
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(SSL_CTX_get_cert_store((*late)->get()), SSL_CTX_get_cert_store(d));
  EXPECT_TRUE((*worker)->TrustStatus().ok());
}

TEST(ContextTest, AContextNeverUsedStillEndsCleanly) {
  // Never loaded, the store is never read; the last owner frees it.
  for (int i = 0; i < 3; ++i) {
    auto c = Context::Create(Deferred());
    ASSERT_TRUE(c.ok()) << c.status();
  }
}

TEST(ContextTest, CaFileIsLoadedAtOnceAndNamedInErrors) {
  ContextOptions o = Deferred();
  o.ca_file = "/nonexistent/ca.pem";
  auto missing = Context::Create(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "--ca-file /nonexistent/ca.pem: cannot read it");
}

}  // namespace
}  // namespace smtpscan::tls
