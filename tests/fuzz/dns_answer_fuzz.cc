// Any bytes as a DNS answer to MX, A, AAAA, TXT and TLSA queries: the
// parsers (c-ares's, the CNAME walk and the hand-written TLSA walk) must
// never crash, and what they return must be well formed.
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "dns/answer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smtpscan::dns;
  const int n = static_cast<int>(size);
  const MxAnswer mx = ParseMx(0, data, n, "example.test");
  for (const MxRecord& r : mx.records) {
    for (char c : r.host) {
      if (c >= 'A' && c <= 'Z') std::abort();  // lower-cased
    }
  }
  if (mx.status == DnsStatus::kNoError && mx.records.empty()) std::abort();
  for (int family : {AF_INET, AF_INET6}) {
    const AddressAnswer a = ParseAddresses(0, data, n, "example.test", family);
    for (const Address& address : a.addresses) {
      if (address.family != family) std::abort();
    }
    if (a.status == DnsStatus::kNoError && a.addresses.empty()) std::abort();
  }
  const TxtAnswer t = ParseTxt(0, data, n);
  if (t.status != DnsStatus::kNoError && !t.records.empty()) std::abort();
  const std::string canonical = AnswerCanonicalName(data, n, "example.test");
  if (canonical == "example.test") std::abort();
  // The seeds ask for _25._tcp.mx.example.test.
  const TlsaAnswer tlsa = ParseTlsa(0, data, n, "_25._tcp.mx.example.test");
  if ((tlsa.status == DnsStatus::kNoError) == tlsa.records.empty()) {
    std::abort();  // records exactly when NOERROR
  }
  if (tlsa.status == DnsStatus::kError && tlsa.authenticated) std::abort();
  if (tlsa.authenticated && (size < 4 || (data[3] & 0x20) == 0)) std::abort();
  for (const TlsaRecord& r : tlsa.records) {
    if (r.data.size() > size) std::abort();
  }
  // What ares_send's answer becomes, then parsed with that status.
  const int status = SentQueryStatus(data, n);
  const TlsaAnswer sent =
      ParseTlsa(status, data, n, "_25._tcp.mx.example.test");
  if (status != 0 && !sent.records.empty()) std::abort();
  return 0;
}
