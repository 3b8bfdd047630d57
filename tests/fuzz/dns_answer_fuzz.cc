// Any bytes as a DNS answer to MX, A, AAAA and TXT queries: the parsers
// (c-ares's and the CNAME walk) must never crash, and what they return must
// be well formed.
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
  return 0;
}
