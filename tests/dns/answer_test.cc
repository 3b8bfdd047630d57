#include "dns/answer.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smtpscan::dns {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int kAresSuccess = 0;   // ARES_SUCCESS
constexpr int kAresNoData = 1;    // ARES_ENODATA
constexpr int kAresServFail = 3;  // ARES_ESERVFAIL
constexpr int kAresNotFound = 4;  // ARES_ENOTFOUND
constexpr int kAresNotImp = 5;    // ARES_ENOTIMP
constexpr int kAresRefused = 6;   // ARES_EREFUSED
constexpr int kAresBadResp = 10;  // ARES_EBADRESP
constexpr int kAresFormErr = 2;   // ARES_EFORMERR

// A DNS response built by hand (RFC 1035 §4.1), names uncompressed.
class Message {
 public:
  explicit Message(const std::string& qname, uint16_t qtype) {
    bytes_ = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0};
    Name(qname);
    U16(qtype);
    U16(1);
  }
  Message& Rr(const std::string& owner, uint16_t type, const std::string& rdata,
              uint16_t rr_class = 1) {
    Name(owner);
    U16(type);
    U16(rr_class);
    U16(0);
    U16(60);  // TTL
    U16(static_cast<uint16_t>(rdata.size()));
    bytes_.insert(bytes_.end(), rdata.begin(), rdata.end());
    const uint16_t answers =
        static_cast<uint16_t>((bytes_[6] << 8 | bytes_[7]) + 1);
    bytes_[6] = static_cast<uint8_t>(answers >> 8);
    bytes_[7] = static_cast<uint8_t>(answers);
    return *this;
  }
  static std::string NameBytes(const std::string& name) {
    std::string out;
    for (absl::string_view label :
         absl::StrSplit(name, '.', absl::SkipEmpty())) {
      out.push_back(static_cast<char>(label.size()));
      out.append(label.data(), label.size());
    }
    out.push_back('\0');
    return out;
  }
  static std::string MxData(uint16_t preference, const std::string& host) {
    std::string out;
    out.push_back(static_cast<char>(preference >> 8));
    out.push_back(static_cast<char>(preference));
    return out + NameBytes(host);
  }
  // TLSA RDATA (RFC 6698 §2.1): usage, selector, matching type, data.
  static std::string TlsaData(uint8_t usage, uint8_t selector, uint8_t mtype,
                              const std::string& data) {
    std::string out;
    out.push_back(static_cast<char>(usage));
    out.push_back(static_cast<char>(selector));
    out.push_back(static_cast<char>(mtype));
    return out + data;
  }
  // The header's AD bit (RFC 4035 §3.2.3).
  Message& SetAd() {
    bytes_[3] |= 0x20;
    return *this;
  }
  Message& SetRcode(uint8_t rcode) {
    bytes_[3] = static_cast<uint8_t>((bytes_[3] & 0xf0) | rcode);
    return *this;
  }
  static std::string V4(const char* text) {
    uint8_t b[4];
    inet_pton(AF_INET, text, b);
    return std::string(reinterpret_cast<char*>(b), 4);
  }
  const unsigned char* data() const { return bytes_.data(); }
  int size() const { return static_cast<int>(bytes_.size()); }
  std::vector<unsigned char>& bytes() { return bytes_; }

 private:
  void Name(const std::string& name) {
    const std::string b = NameBytes(name);
    bytes_.insert(bytes_.end(), b.begin(), b.end());
  }
  void U16(uint16_t v) {
    bytes_.push_back(static_cast<uint8_t>(v >> 8));
    bytes_.push_back(static_cast<uint8_t>(v));
  }
  std::vector<unsigned char> bytes_;
};

constexpr uint16_t kA = 1, kCname = 5, kMx = 15, kTxt = 16, kRrsig = 46,
                   kTlsa = 52;

TEST(ParseMxTest, RecordsInAnswerOrderLowerCased) {
  Message m("Example.TEST", kMx);
  m.Rr("example.test", kMx, Message::MxData(30, "MX3.example.test"))
      .Rr("example.test", kMx, Message::MxData(10, "mx1.example.test"));
  const MxAnswer a = ParseMx(kAresSuccess, m.data(), m.size(), "Example.TEST");
  EXPECT_EQ(a.status, DnsStatus::kNoError);
  ASSERT_EQ(a.records.size(), 2u);
  EXPECT_EQ(a.records[0].preference, 30);
  EXPECT_EQ(a.records[0].host, "mx3.example.test");
  EXPECT_EQ(a.records[1].host, "mx1.example.test");
  EXPECT_EQ(a.canonical, "");
}

TEST(ParseMxTest, NullMxHasAnEmptyHost) {
  Message m("example.test", kMx);
  m.Rr("example.test", kMx, Message::MxData(0, ""));
  const MxAnswer a = ParseMx(kAresSuccess, m.data(), m.size(), "example.test");
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].host, "");
}

TEST(ParseMxTest, AliasChainGivesTheCanonicalName) {
  Message m("alias.test", kMx);
  m.Rr("alias.test", kCname, Message::NameBytes("middle.test"))
      .Rr("middle.test", kCname, Message::NameBytes("Real.test"))
      .Rr("real.test", kMx, Message::MxData(10, "mx.real.test"));
  const MxAnswer a = ParseMx(kAresSuccess, m.data(), m.size(), "alias.test.");
  EXPECT_EQ(a.canonical, "real.test");
  ASSERT_EQ(a.records.size(), 1u);
}

TEST(ParseMxTest, CnameLoopEnds) {
  Message m("a.test", kMx);
  m.Rr("a.test", kCname, Message::NameBytes("b.test"))
      .Rr("b.test", kCname, Message::NameBytes("a.test"));
  const MxAnswer a = ParseMx(kAresSuccess, m.data(), m.size(), "a.test");
  EXPECT_EQ(a.status, DnsStatus::kNoData);  // no MX in the answer
  EXPECT_EQ(AnswerCanonicalName(m.data(), m.size(), "a.test"), "");
}

TEST(ParseMxTest, StatusesWithoutAMessage) {
  EXPECT_EQ(ParseMx(kAresNoData, nullptr, 0, "x.test").status,
            DnsStatus::kNoData);
  EXPECT_EQ(ParseMx(kAresNotFound, nullptr, 0, "x.test").status,
            DnsStatus::kNxDomain);
  EXPECT_EQ(ParseMx(kAresSuccess, nullptr, 0, "x.test").status,
            DnsStatus::kError);  // success without a message is malformed
}

TEST(ParseAddressesTest, AddressesAndAlias) {
  Message m("www.test", kA);
  m.Rr("www.test", kCname, Message::NameBytes("host.test"))
      .Rr("host.test", kA, Message::V4("192.0.2.1"))
      .Rr("host.test", kA, Message::V4("192.0.2.2"));
  const AddressAnswer a =
      ParseAddresses(kAresSuccess, m.data(), m.size(), "www.test", AF_INET);
  EXPECT_EQ(a.status, DnsStatus::kNoError);
  ASSERT_EQ(a.addresses.size(), 2u);
  EXPECT_EQ(a.addresses[0].bytes[3], 1);
  EXPECT_EQ(a.addresses[1].bytes[3], 2);
  EXPECT_EQ(a.addresses[0].family, AF_INET);
  EXPECT_EQ(a.canonical, "host.test");
}

TEST(ParseTxtTest, StringsOfOneRecordAreJoined) {
  Message m("example.test", kTxt);
  const std::string a(200, 'a'), b(100, 'b');
  std::string two;
  two.push_back(static_cast<char>(a.size()));
  two += a;
  two.push_back(static_cast<char>(b.size()));
  two += b;
  m.Rr("example.test", kTxt, two).Rr("example.test", kTxt, "\x05hello");
  const TxtAnswer t = ParseTxt(kAresSuccess, m.data(), m.size());
  EXPECT_EQ(t.status, DnsStatus::kNoError);
  EXPECT_THAT(t.records, ElementsAre(a + b, "hello"));
}

// A 32-byte SHA-256 value: 0x00, 0x01, ... 0x1f, offset by `first`.
std::string Digest(uint8_t first) {
  std::string out;
  for (int i = 0; i < 32; ++i) out.push_back(static_cast<char>(first + i));
  return out;
}

constexpr char kTlsaName[] = "_25._tcp.mx.example.test";

TEST(ParseTlsaTest, OneRecordWithoutAdIsNotAuthenticated) {
  Message m(kTlsaName, kTlsa);
  m.Rr(kTlsaName, kTlsa, Message::TlsaData(3, 1, 1, Digest(0)));
  const TlsaAnswer a = ParseTlsa(kAresSuccess, m.data(), m.size(), kTlsaName);
  EXPECT_EQ(a.status, DnsStatus::kNoError);
  EXPECT_FALSE(a.authenticated);
  EXPECT_THAT(a.records, ElementsAre(TlsaRecord{3, 1, 1, Digest(0)}));
  EXPECT_EQ(a.canonical, "");
}

TEST(ParseTlsaTest, TwoRecordsWithAdInAnswerOrder) {
  Message m(kTlsaName, kTlsa);
  m.SetAd()
      .Rr(kTlsaName, kTlsa, Message::TlsaData(3, 1, 1, Digest(0)))
      .Rr(kTlsaName, kTlsa, Message::TlsaData(2, 0, 2, Digest(7) + Digest(9)));
  const TlsaAnswer a = ParseTlsa(kAresSuccess, m.data(), m.size(), kTlsaName);
  EXPECT_EQ(a.status, DnsStatus::kNoError);
  EXPECT_TRUE(a.authenticated);
  EXPECT_THAT(a.records,
              ElementsAre(TlsaRecord{3, 1, 1, Digest(0)},
                          TlsaRecord{2, 0, 2, Digest(7) + Digest(9)}));
}

TEST(ParseTlsaTest, OwnerNamesCompareWithoutCaseOrTrailingDot) {
  Message m("_25._TCP.MX.example.test", kTlsa);
  m.Rr("_25._tcp.Mx.Example.Test", kTlsa,
       Message::TlsaData(3, 1, 1, Digest(0)));
  const TlsaAnswer a =
      ParseTlsa(kAresSuccess, m.data(), m.size(), "_25._TCP.MX.example.test.");
  EXPECT_EQ(a.status, DnsStatus::kNoError);
  EXPECT_EQ(a.records.size(), 1u);
}

TEST(ParseTlsaTest, CnameToTheTlsaOwner) {
  Message m(kTlsaName, kTlsa);
  m.SetAd()
      .Rr(kTlsaName, kCname, Message::NameBytes("_25._tcp.Real.test"))
      .Rr("_25._tcp.real.test", kTlsa, Message::TlsaData(3, 1, 1, Digest(1)));
  const TlsaAnswer a = ParseTlsa(kAresSuccess, m.data(), m.size(), kTlsaName);
  EXPECT_EQ(a.status, DnsStatus::kNoError);
  EXPECT_TRUE(a.authenticated);
  EXPECT_EQ(a.canonical, "_25._tcp.real.test");
  EXPECT_THAT(a.records, ElementsAre(TlsaRecord{3, 1, 1, Digest(1)}));
}

TEST(ParseTlsaTest, OnlyACnameIsNoData) {
  Message m(kTlsaName, kTlsa);
  m.Rr(kTlsaName, kCname, Message::NameBytes("_25._tcp.real.test"));
  const TlsaAnswer a = ParseTlsa(kAresSuccess, m.data(), m.size(), kTlsaName);
  EXPECT_EQ(a.status, DnsStatus::kNoData);
  EXPECT_EQ(a.canonical, "_25._tcp.real.test");
  EXPECT_THAT(a.records, IsEmpty());
}

TEST(ParseTlsaTest, OtherTypesOwnersAndClassesAreIgnored) {
  Message m(kTlsaName, kTlsa);
  m.Rr(kTlsaName, kA, Message::V4("192.0.2.1"))
      .Rr(kTlsaName, kRrsig, std::string(40, '\x01'))
      .Rr("_25._tcp.other.test", kTlsa, Message::TlsaData(3, 1, 1, Digest(5)))
      .Rr(kTlsaName, kTlsa, Message::TlsaData(3, 0, 1, Digest(2)));
  // A TLSA record of class CH (3) for the right name.
  m.Rr(kTlsaName, kTlsa, Message::TlsaData(3, 1, 1, Digest(6)), 3);
  const TlsaAnswer a = ParseTlsa(kAresSuccess, m.data(), m.size(), kTlsaName);
  EXPECT_EQ(a.status, DnsStatus::kNoError);
  EXPECT_THAT(a.records, ElementsAre(TlsaRecord{3, 0, 1, Digest(2)}));
}

TEST(ParseTlsaTest, NoTlsaRecordsIsNoData) {
  Message m(kTlsaName, kTlsa);
  m.SetAd().Rr(kTlsaName, kA, Message::V4("192.0.2.1"));
  const TlsaAnswer a = ParseTlsa(kAresSuccess, m.data(), m.size(), kTlsaName);
  EXPECT_EQ(a.status, DnsStatus::kNoData);
  EXPECT_TRUE(a.authenticated);
}

TEST(ParseTlsaTest, EmptyAssociationDataIsKept) {
  Message m(kTlsaName, kTlsa);
  m.Rr(kTlsaName, kTlsa, Message::TlsaData(3, 1, 0, ""));
  const TlsaAnswer a = ParseTlsa(kAresSuccess, m.data(), m.size(), kTlsaName);
  EXPECT_EQ(a.status, DnsStatus::kNoError);
  EXPECT_THAT(a.records, ElementsAre(TlsaRecord{3, 1, 0, ""}));
}

TEST(ParseTlsaTest, RdataShorterThanThreeOctetsIsSkipped) {
  for (const std::string& rdata :
       {std::string(), std::string("\x03"), std::string("\x03\x01")}) {
    SCOPED_TRACE(rdata.size());
    Message m(kTlsaName, kTlsa);
    m.SetAd()
        .Rr(kTlsaName, kTlsa, rdata)
        .Rr(kTlsaName, kTlsa, Message::TlsaData(3, 1, 1, Digest(3)));
    const TlsaAnswer a = ParseTlsa(kAresSuccess, m.data(), m.size(), kTlsaName);
    EXPECT_EQ(a.status, DnsStatus::kNoError);
    EXPECT_TRUE(a.authenticated);
    EXPECT_THAT(a.records, ElementsAre(TlsaRecord{3, 1, 1, Digest(3)}));
  }
}

TEST(ParseTlsaTest, OnlyMalformedRecordsIsAnError) {
  Message m(kTlsaName, kTlsa);
  m.SetAd().Rr(kTlsaName, kTlsa, "\x03\x01");
  const TlsaAnswer a = ParseTlsa(kAresSuccess, m.data(), m.size(), kTlsaName);
  EXPECT_EQ(a.status, DnsStatus::kError);
  EXPECT_FALSE(a.authenticated);
  EXPECT_THAT(a.records, IsEmpty());
}

TEST(ParseTlsaTest, RdlengthPastTheEndIsMalformed) {
  Message m(kTlsaName, kTlsa);
  m.SetAd()
      .Rr(kTlsaName, kTlsa, Message::TlsaData(3, 1, 1, Digest(0)))
      .Rr(kTlsaName, kTlsa, Message::TlsaData(3, 1, 1, Digest(4)));
  std::vector<unsigned char>& bytes = m.bytes();
  // The last record's RDLENGTH (just before its 35 octets) claims 36.
  bytes[bytes.size() - 35 - 1] = 36;
  const TlsaAnswer a = ParseTlsa(kAresSuccess, m.data(), m.size(), kTlsaName);
  EXPECT_EQ(a.status, DnsStatus::kError);
  EXPECT_FALSE(a.authenticated);
  EXPECT_THAT(a.records, IsEmpty());
}

TEST(ParseTlsaTest, EveryTruncationIsAnErrorWithoutRecords) {
  Message m(kTlsaName, kTlsa);
  m.SetAd()
      .Rr(kTlsaName, kCname, Message::NameBytes("_25._tcp.real.test"))
      .Rr("_25._tcp.real.test", kTlsa, Message::TlsaData(3, 1, 1, Digest(0)));
  const std::vector<unsigned char> whole = m.bytes();
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    SCOPED_TRACE(cut);
    const TlsaAnswer a =
        ParseTlsa(kAresSuccess, whole.data(), static_cast<int>(cut), kTlsaName);
    EXPECT_EQ(a.status, DnsStatus::kError);
    EXPECT_FALSE(a.authenticated);
    EXPECT_THAT(a.records, IsEmpty());
  }
  EXPECT_EQ(ParseTlsa(kAresSuccess, whole.data(),
                      static_cast<int>(whole.size()), kTlsaName)
                .status,
            DnsStatus::kNoError);
}

TEST(ParseTlsaTest, NegativeAnswersCarryTheAdBit) {
  Message secure(kTlsaName, kTlsa);
  secure.SetAd().SetRcode(3);
  const TlsaAnswer nx =
      ParseTlsa(kAresNotFound, secure.data(), secure.size(), kTlsaName);
  EXPECT_EQ(nx.status, DnsStatus::kNxDomain);
  EXPECT_TRUE(nx.authenticated);
  Message insecure(kTlsaName, kTlsa);
  const TlsaAnswer nodata =
      ParseTlsa(kAresNoData, insecure.data(), insecure.size(), kTlsaName);
  EXPECT_EQ(nodata.status, DnsStatus::kNoData);
  EXPECT_FALSE(nodata.authenticated);
  // SERVFAIL never counts as validated, whatever its header says.
  Message fail(kTlsaName, kTlsa);
  fail.SetAd().SetRcode(2);
  const TlsaAnswer servfail =
      ParseTlsa(kAresServFail, fail.data(), fail.size(), kTlsaName);
  EXPECT_EQ(servfail.status, DnsStatus::kServFail);
  EXPECT_FALSE(servfail.authenticated);
}

TEST(ParseTlsaTest, StatusesWithoutAMessage) {
  EXPECT_EQ(ParseTlsa(kAresNoData, nullptr, 0, kTlsaName).status,
            DnsStatus::kNoData);
  EXPECT_EQ(ParseTlsa(kAresNotFound, nullptr, 0, kTlsaName).status,
            DnsStatus::kNxDomain);
  EXPECT_EQ(ParseTlsa(kAresRefused, nullptr, 0, kTlsaName).status,
            DnsStatus::kRefused);
  EXPECT_EQ(ParseTlsa(kAresSuccess, nullptr, 0, kTlsaName).status,
            DnsStatus::kError);
}

TEST(SentQueryStatusTest, MapsTheRcodeAsAresQueryDoes) {
  Message answer(kTlsaName, kTlsa);
  answer.Rr(kTlsaName, kTlsa, Message::TlsaData(3, 1, 1, Digest(0)));
  EXPECT_EQ(SentQueryStatus(answer.data(), answer.size()), kAresSuccess);
  Message empty(kTlsaName, kTlsa);
  EXPECT_EQ(SentQueryStatus(empty.data(), empty.size()), kAresNoData);
  const std::vector<std::pair<uint8_t, int>> rcodes = {
      {1, kAresFormErr}, {2, kAresServFail}, {3, kAresNotFound},
      {4, kAresNotImp},  {5, kAresRefused},  {9, kAresBadResp}};
  for (const auto& [rcode, status] : rcodes) {
    SCOPED_TRACE(rcode);
    Message m(kTlsaName, kTlsa);
    m.SetRcode(rcode);
    EXPECT_EQ(SentQueryStatus(m.data(), m.size()), status);
  }
  EXPECT_EQ(SentQueryStatus(answer.data(), 11), kAresBadResp);
  EXPECT_EQ(SentQueryStatus(nullptr, 0), kAresBadResp);
}

TEST(AnswerParsersTest, TruncatedAndCorruptMessagesNeverCrash) {
  Message m("alias.test", kMx);
  m.Rr("alias.test", kCname, Message::NameBytes("real.test"))
      .Rr("real.test", kMx, Message::MxData(10, "mx.real.test"));
  const std::vector<unsigned char> whole = m.bytes();
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    SCOPED_TRACE(cut);
    const MxAnswer a = ParseMx(kAresSuccess, whole.data(),
                               static_cast<int>(cut), "alias.test");
    EXPECT_NE(a.status, DnsStatus::kNoError);
    EXPECT_THAT(a.records, IsEmpty());
  }
  std::mt19937 random(20261121);
  for (int i = 0; i < 20000; ++i) {
    std::vector<unsigned char> bytes = whole;
    for (int flips = 0; flips < 3; ++flips) {
      bytes[random() % bytes.size()] = static_cast<unsigned char>(random());
    }
    const int n = static_cast<int>(bytes.size());
    ParseMx(kAresSuccess, bytes.data(), n, "alias.test");
    ParseAddresses(kAresSuccess, bytes.data(), n, "alias.test", AF_INET6);
    ParseTxt(kAresSuccess, bytes.data(), n);
    AnswerCanonicalName(bytes.data(), n, "alias.test");
    ParseTlsa(kAresSuccess, bytes.data(), n, "alias.test");
  }
}

}  // namespace
}  // namespace smtpscan::dns
