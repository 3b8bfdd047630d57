// Turning a DNS answer (as c-ares hands it over: a status and the raw
// message) into the resolver's answer types. Separate from the resolver so
// that tests and fuzz targets can feed it any bytes: a DNS server is as
// untrusted as an SMTP server.
#ifndef SMTPSCAN_DNS_ANSWER_H_
#define SMTPSCAN_DNS_ANSWER_H_

#include <string>

#include "absl/strings/string_view.h"
#include "dns/resolver.h"

namespace smtpscan::dns {

// `status` is the c-ares status of the query (ARES_SUCCESS, ARES_ENODATA,
// ...); `abuf`/`alen` the message (may be null/0 unless ARES_SUCCESS);
// `qname` the name asked for.
MxAnswer ParseMx(int status, const unsigned char* abuf, int alen,
                 absl::string_view qname);
// family: AF_INET (A) or AF_INET6 (AAAA).
AddressAnswer ParseAddresses(int status, const unsigned char* abuf, int alen,
                             absl::string_view qname, int family);
TxtAnswer ParseTxt(int status, const unsigned char* abuf, int alen);

// The name the answer's records belong to, following its CNAME records
// from `qname` (at most 16 hops, so a loop ends): lower case, no trailing
// dot; empty when `qname` is not an alias or the message is malformed.
std::string AnswerCanonicalName(const unsigned char* abuf, int alen,
                                absl::string_view qname);

}  // namespace smtpscan::dns

#endif  // SMTPSCAN_DNS_ANSWER_H_
