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
// TLSA (type 52, RFC 6698 §2.1), walked by hand: c-ares 1.18 has no TLSA
// parser. Takes the TLSA records of `qname`, or of the name its CNAME
// records lead to, in answer order; skips other types, other owners and
// records whose RDATA is shorter than the three fixed octets. Empty
// association data is kept (the DANE matcher finds it unusable). When
// every TLSA record of the name is malformed the status is kError.
// `authenticated` is the message's AD bit (RFC 4035 §3.2.3) for NOERROR,
// NODATA and NXDOMAIN alike (a validated NODATA proves there is no TLSA);
// false when there is no message or it is malformed (then status kError).
TlsaAnswer ParseTlsa(int status, const unsigned char* abuf, int alen,
                     absl::string_view qname);

// The c-ares status that ares_query would have reported for a message that
// ares_send delivered with ARES_SUCCESS: ares_send reports any answer whose
// ID and question match (with ARES_FLAG_NOCHECKRESP, SERVFAIL and REFUSED
// too), and only ares_query maps the RCODE and an empty answer section to a
// status (qcallback in ares_query.c, c-ares 1.18.1). ARES_EBADRESP for a
// message shorter than its header or with an RCODE above 5 (ares_query
// passes those on as success).
int SentQueryStatus(const unsigned char* abuf, int alen);

// The name the answer's records belong to, following its CNAME records
// from `qname` (at most 16 hops, so a loop ends): lower case, no trailing
// dot; empty when `qname` is not an alias or the message is malformed.
std::string AnswerCanonicalName(const unsigned char* abuf, int alen,
                                absl::string_view qname);

}  // namespace smtpscan::dns

#endif  // SMTPSCAN_DNS_ANSWER_H_
