#include "dns/answer.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <random>
#include <string>
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
constexpr int kAresNotFound = 4;  // ARES_ENOTFOUND

// A DNS response built by hand (RFC 1035 §4.1), names uncompressed.
class Message {
 public:
  explicit Message(const std::string& qname, uint16_t qtype) {
    bytes_ = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0};
    Name(qname);
    U16(qtype);
    U16(1);
  }
  Message& Rr(const std::string& owner, uint16_t type,
              const std::string& rdata) {
    Name(owner);
    U16(type);
    U16(1);
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

constexpr uint16_t kA = 1, kCname = 5, kMx = 15, kTxt = 16;

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
  }
}

}  // namespace
}  // namespace smtpscan::dns
