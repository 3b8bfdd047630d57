#include "dns/answer.h"

#include <ares.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"

namespace smtpscan::dns {
namespace {

constexpr int kTypeCname = 5;
constexpr int kTypeTlsa = 52;
constexpr int kClassIn = 1;
constexpr unsigned char kFlagAd = 0x20;  // in the header's fourth octet

std::string Lower(absl::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return absl::AsciiStrToLower(name);
}

DnsStatus StatusOf(int ares_status) {
  switch (ares_status) {
    case ARES_SUCCESS:
      return DnsStatus::kNoError;
    case ARES_ENODATA:
      return DnsStatus::kNoData;
    case ARES_ENOTFOUND:
      return DnsStatus::kNxDomain;
    case ARES_ESERVFAIL:
      return DnsStatus::kServFail;
    case ARES_EREFUSED:
      return DnsStatus::kRefused;
    case ARES_ETIMEOUT:
      return DnsStatus::kTimeout;
    default:
      return DnsStatus::kError;
  }
}

// A name in a DNS message at `p`, expanded by c-ares (which checks the
// compression pointers). False when malformed.
bool ExpandName(const unsigned char* p, const unsigned char* abuf, int alen,
                std::string* name, long* length) {
  char* expanded = nullptr;
  if (ares_expand_name(p, abuf, alen, &expanded, length) != ARES_SUCCESS) {
    return false;
  }
  *name = Lower(expanded);
  ares_free_string(expanded);
  return true;
}

}  // namespace

absl::string_view DnsStatusName(DnsStatus status) {
  switch (status) {
    case DnsStatus::kNoError:
      return "NOERROR";
    case DnsStatus::kNoData:
      return "NODATA";
    case DnsStatus::kNxDomain:
      return "NXDOMAIN";
    case DnsStatus::kServFail:
      return "SERVFAIL";
    case DnsStatus::kRefused:
      return "REFUSED";
    case DnsStatus::kTimeout:
      return "TIMEOUT";
    case DnsStatus::kError:
      return "ERROR";
  }
  return "ERROR";
}

// The name an answer's records belong to, following its CNAME records from
// `qname`: empty when there are none (the name is not an alias). c-ares 1.18
// has no parser that reports aliases for MX or TXT, so the answer section is
// walked here (header: RFC 1035 §4.1.1; resource records: §4.1.3).
std::string AnswerCanonicalName(const unsigned char* abuf, int alen,
                                absl::string_view qname) {
  if (abuf == nullptr || alen < 12) return "";
  const unsigned char* const end = abuf + alen;
  const int questions = (abuf[4] << 8) | abuf[5];
  const int answers = (abuf[6] << 8) | abuf[7];
  const unsigned char* p = abuf + 12;
  std::string name;
  long length = 0;
  for (int i = 0; i < questions; ++i) {
    if (!ExpandName(p, abuf, alen, &name, &length)) return "";
    p += length;
    if (end - p < 4) return "";
    p += 4;  // type, class
  }
  absl::flat_hash_map<std::string, std::string> aliases;
  for (int i = 0; i < answers; ++i) {
    std::string owner;
    if (!ExpandName(p, abuf, alen, &owner, &length)) return "";
    p += length;
    if (end - p < 10) return "";
    const int type = (p[0] << 8) | p[1];
    const int rdlength = (p[8] << 8) | p[9];
    p += 10;
    if (end - p < rdlength) return "";
    if (type == kTypeCname) {
      std::string target;
      if (!ExpandName(p, abuf, alen, &target, &length)) return "";
      aliases.emplace(std::move(owner), std::move(target));
    }
    p += rdlength;
  }
  const std::string start = Lower(qname);
  std::string current = start;
  for (int hops = 0; hops < 16; ++hops) {  // a loop of aliases ends here
    auto it = aliases.find(current);
    if (it == aliases.end()) break;
    current = it->second;
  }
  return current == start ? "" : current;
}

MxAnswer ParseMx(int status, const unsigned char* abuf, int alen,
                 absl::string_view qname) {
  MxAnswer answer;
  answer.status = StatusOf(status);
  if (status != ARES_SUCCESS) return answer;
  ares_mx_reply* mx = nullptr;
  const int parsed = ares_parse_mx_reply(abuf, alen, &mx);
  if (parsed != ARES_SUCCESS) {
    answer.status =
        parsed == ARES_ENODATA ? DnsStatus::kNoData : DnsStatus::kError;
    return answer;
  }
  for (const ares_mx_reply* r = mx; r != nullptr; r = r->next) {
    answer.records.push_back({r->priority, Lower(r->host)});
  }
  ares_free_data(mx);
  // c-ares reports success for an answer holding only CNAME records.
  if (answer.records.empty()) answer.status = DnsStatus::kNoData;
  answer.canonical = AnswerCanonicalName(abuf, alen, qname);
  return answer;
}

AddressAnswer ParseAddresses(int status, const unsigned char* abuf, int alen,
                             absl::string_view qname, int family) {
  AddressAnswer answer;
  answer.status = StatusOf(status);
  if (status != ARES_SUCCESS) return answer;
  hostent* host = nullptr;
  const int parsed =
      family == AF_INET
          ? ares_parse_a_reply(abuf, alen, &host, nullptr, nullptr)
          : ares_parse_aaaa_reply(abuf, alen, &host, nullptr, nullptr);
  if (parsed != ARES_SUCCESS) {
    answer.status =
        parsed == ARES_ENODATA ? DnsStatus::kNoData : DnsStatus::kError;
    return answer;
  }
  const size_t size = family == AF_INET ? 4 : 16;
  for (char** a = host->h_addr_list; a != nullptr && *a != nullptr; ++a) {
    Address address;
    address.family = family;
    std::copy_n(reinterpret_cast<const uint8_t*>(*a), size, address.bytes);
    answer.addresses.push_back(address);
  }
  ares_free_hostent(host);
  if (answer.addresses.empty()) answer.status = DnsStatus::kNoData;
  answer.canonical = AnswerCanonicalName(abuf, alen, qname);
  return answer;
}

TxtAnswer ParseTxt(int status, const unsigned char* abuf, int alen) {
  TxtAnswer answer;
  answer.status = StatusOf(status);
  if (status != ARES_SUCCESS) return answer;
  ares_txt_ext* txt = nullptr;
  const int parsed = ares_parse_txt_reply_ext(abuf, alen, &txt);
  if (parsed != ARES_SUCCESS) {
    answer.status =
        parsed == ARES_ENODATA ? DnsStatus::kNoData : DnsStatus::kError;
    return answer;
  }
  // A record of several strings (a long SPF record) arrives as several
  // chunks; record_start marks the first chunk of each record.
  for (const ares_txt_ext* t = txt; t != nullptr; t = t->next) {
    if (t->record_start || answer.records.empty())
      answer.records.emplace_back();
    answer.records.back().append(reinterpret_cast<const char*>(t->txt),
                                 t->length);
  }
  ares_free_data(txt);
  if (answer.records.empty()) answer.status = DnsStatus::kNoData;
  return answer;
}

TlsaAnswer ParseTlsa(int status, const unsigned char* abuf, int alen,
                     absl::string_view qname) {
  TlsaAnswer answer;
  answer.status = StatusOf(status);
  if (abuf == nullptr || alen < 12) {
    if (status == ARES_SUCCESS) answer.status = DnsStatus::kError;
    return answer;
  }
  const bool ad = (abuf[3] & kFlagAd) != 0;
  if (answer.status == DnsStatus::kNoData ||
      answer.status == DnsStatus::kNxDomain) {
    answer.authenticated = ad;
  }
  if (status != ARES_SUCCESS) return answer;
  // The message is walked as in AnswerCanonicalName (RFC 1035 §4.1.1,
  // §4.1.3); a name that does not expand or a length past the end makes
  // the whole message malformed: nothing of it is used.
  const TlsaAnswer malformed;  // kError, not authenticated, no records
  const unsigned char* const end = abuf + alen;
  const int questions = (abuf[4] << 8) | abuf[5];
  const int answers = (abuf[6] << 8) | abuf[7];
  const unsigned char* p = abuf + 12;
  std::string name;
  long length = 0;
  for (int i = 0; i < questions; ++i) {
    if (!ExpandName(p, abuf, alen, &name, &length)) return malformed;
    p += length;
    if (end - p < 4) return malformed;
    p += 4;  // type, class
  }
  answer.canonical = AnswerCanonicalName(abuf, alen, qname);
  const std::string owner_wanted =
      answer.canonical.empty() ? Lower(qname) : answer.canonical;
  bool seen = false;  // a TLSA record of the name, well formed or not
  for (int i = 0; i < answers; ++i) {
    std::string owner;
    if (!ExpandName(p, abuf, alen, &owner, &length)) return malformed;
    p += length;
    if (end - p < 10) return malformed;
    const int type = (p[0] << 8) | p[1];
    const int rr_class = (p[2] << 8) | p[3];
    const int rdlength = (p[8] << 8) | p[9];
    p += 10;
    if (end - p < rdlength) return malformed;
    if (type == kTypeTlsa && rr_class == kClassIn && owner == owner_wanted) {
      seen = true;
      // Usage, selector and matching type, then the association data.
      if (rdlength >= 3) {
        answer.records.push_back(
            {p[0], p[1], p[2],
             std::string(reinterpret_cast<const char*>(p + 3),
                         static_cast<size_t>(rdlength - 3))});
      }
    }
    p += rdlength;
  }
  if (answer.records.empty() && seen) {
    answer.status = DnsStatus::kError;
    return answer;
  }
  // c-ares reports success for an answer holding only CNAME records.
  answer.status =
      answer.records.empty() ? DnsStatus::kNoData : DnsStatus::kNoError;
  answer.authenticated = ad;
  return answer;
}

int SentQueryStatus(const unsigned char* abuf, int alen) {
  if (abuf == nullptr || alen < 12) return ARES_EBADRESP;
  const int rcode = abuf[3] & 0x0f;
  const int answers = (abuf[6] << 8) | abuf[7];
  switch (rcode) {
    case 0:
      return answers > 0 ? ARES_SUCCESS : ARES_ENODATA;
    case 1:
      return ARES_EFORMERR;
    case 2:
      return ARES_ESERVFAIL;
    case 3:
      return ARES_ENOTFOUND;
    case 4:
      return ARES_ENOTIMP;
    case 5:
      return ARES_EREFUSED;
    default:
      // ares_query passes other RCODEs on as success; an answer the
      // walk would then trust is safer reported as malformed.
      return ARES_EBADRESP;
  }
}

}  // namespace smtpscan::dns
