#include "output/metadata.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace smtpscan::output {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using Json = nlohmann::ordered_json;

std::vector<std::string> Keys(const Json& j) {
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  return keys;
}

RunMetadata Example() {
  RunMetadata m;
  m.scan_id = "0a1b2c3d";
  m.version = "0.1.0";
  m.start = absl::FromUnixMillis(1715000000123);
  m.end = m.start + absl::Milliseconds(61500);
  m.exit_code = 0;
  m.command_line = {"smtpscan", "-i", "domains.txt", "-m", "run.json"};
  m.options = {{"input", std::string("domains.txt")},
               {"format", absl::monostate()},
               {"concurrency", int64_t{1000}},
               {"rate", 2.5},
               {"probe", false},
               {"resolver", std::vector<std::string>{"192.0.2.53"}}};
  m.ehlo_name = "scanner.example.org";
  m.source_addresses = {"192.0.2.7"};
  m.resolvers = {"192.0.2.53:53"};
  m.input_lines = 12;
  m.records = 10;
  m.records_by_status[static_cast<int>(ScanStatus::kSuccess)] = 7;
  m.records_by_status[static_cast<int>(ScanStatus::kDnsError)] = 2;
  m.records_by_status[static_cast<int>(ScanStatus::kInvalidInput)] = 1;
  m.probes_by_port[587][static_cast<int>(ScanStatus::kConnectionRefused)] = 3;
  m.probes_by_port[25][static_cast<int>(ScanStatus::kSuccess)] = 9;
  m.probes_by_port[25][static_cast<int>(ScanStatus::kGreetingTimeout)] = 1;
  m.dns = RunMetadata::Dns{40, 39, 1};
  return m;
}

Json Parse(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << text;
  return j;
}

TEST(NewScanIdTest, EightLowercaseHexDigits) {
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    const std::string id = NewScanId();
    EXPECT_THAT(id, MatchesRegex("[0-9a-f]{8}"));
    ids.insert(id);
  }
  // 200 draws of 32 bits: a repeat has probability ~5e-6.
  EXPECT_GE(ids.size(), 199u);
}

TEST(FormatMetadataTimeTest, Rfc3339UtcMilliseconds) {
  EXPECT_EQ(FormatMetadataTime(absl::FromUnixMicros(1715000000123999)),
            "2024-05-06T12:53:20.123Z");
}

TEST(FormatMetadataTest, MembersInDocumentedOrder) {
  const Json j = Parse(FormatMetadata(Example()));
  EXPECT_THAT(Keys(j),
              ElementsAre("scan_id", "version", "start", "end", "duration_s",
                          "interrupted", "exit_code", "command_line", "options",
                          "ehlo_name", "source_addresses", "resolvers", "shard",
                          "input_lines", "records", "probe_records",
                          "records_by_status", "probes_by_port", "dns"));
}

TEST(FormatMetadataTest, Values) {
  const Json j = Parse(FormatMetadata(Example()));
  EXPECT_EQ(j["scan_id"], "0a1b2c3d");
  EXPECT_EQ(j["version"], "0.1.0");
  EXPECT_EQ(j["start"], "2024-05-06T12:53:20.123Z");
  EXPECT_EQ(j["end"], "2024-05-06T12:54:21.623Z");
  EXPECT_EQ(j["duration_s"], 61.5);
  EXPECT_EQ(j["interrupted"], false);
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_EQ(j["command_line"],
            Json({"smtpscan", "-i", "domains.txt", "-m", "run.json"}));
  EXPECT_EQ(j["options"].dump(),
            R"({"input":"domains.txt","format":null,"concurrency":1000,)"
            R"("rate":2.5,"probe":false,"resolver":["192.0.2.53"]})");
  EXPECT_EQ(j["ehlo_name"], "scanner.example.org");
  EXPECT_EQ(j["source_addresses"], Json({"192.0.2.7"}));
  EXPECT_EQ(j["resolvers"], Json({"192.0.2.53:53"}));
  EXPECT_TRUE(j["shard"].is_null());
  EXPECT_EQ(j["input_lines"], 12);
  EXPECT_EQ(j["records"], 10);
  EXPECT_EQ(j["probe_records"], 0);
  EXPECT_EQ(j["dns"].dump(), R"({"queries":40,"answered":39,"timeouts":1})");
}

TEST(FormatMetadataTest, EveryStatusCountedPerRecordOnlySeenOnesPerPort) {
  const Json j = Parse(FormatMetadata(Example()));
  const Json& by_status = j["records_by_status"];
  ASSERT_EQ(by_status.size(), static_cast<size_t>(kScanStatusCount));
  uint64_t sum = 0;
  for (int i = 0; i < kScanStatusCount; ++i) {
    const std::string name(ScanStatusName(static_cast<ScanStatus>(i)));
    ASSERT_TRUE(by_status.contains(name)) << name;
    sum += by_status[name].get<uint64_t>();
  }
  EXPECT_EQ(sum, 10u);
  EXPECT_EQ(by_status["success"], 7);
  EXPECT_EQ(by_status["blocked"], 0);
  // Ports in numeric order, statuses in enum order, zeros left out.
  EXPECT_EQ(j["probes_by_port"].dump(),
            R"({"25":{"success":9,"greeting-timeout":1},)"
            R"("587":{"connection-refused":3}})");
}

TEST(FormatMetadataTest, RunningScanHasNullEnd) {
  RunMetadata m = Example();
  m.end = absl::InfinitePast();
  m.dns.reset();
  const Json j = Parse(FormatMetadata(m));
  EXPECT_TRUE(j["end"].is_null());
  EXPECT_TRUE(j["duration_s"].is_null());
  EXPECT_TRUE(j["exit_code"].is_null());
  EXPECT_TRUE(j["dns"].is_null());
  EXPECT_EQ(j["start"], "2024-05-06T12:53:20.123Z");
}

TEST(FormatMetadataTest, InterruptedWithShard) {
  RunMetadata m = Example();
  m.interrupted = true;
  m.exit_code = 130;
  m.shard = RunMetadata::Shard{2, 7};
  const Json j = Parse(FormatMetadata(m));
  EXPECT_EQ(j["interrupted"], true);
  EXPECT_EQ(j["exit_code"], 130);
  EXPECT_EQ(j["shard"].dump(), R"({"index":2,"count":7})");
}

TEST(FormatMetadataTest, PrettyPrintedWithTwoSpacesAndFinalNewline) {
  const std::string text = FormatMetadata(Example());
  EXPECT_EQ(text.rfind("{\n  \"scan_id\": \"0a1b2c3d\",\n", 0), 0u) << text;
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.substr(text.size() - 3), "\n}\n");
}

TEST(FormatMetadataTest, ArgumentBytesBecomeValidUtf8) {
  RunMetadata m = Example();
  m.command_line = {"smtpscan", std::string("-i\xff\0x", 5)};
  const Json j = Parse(FormatMetadata(m));
  EXPECT_EQ(j["command_line"][1], std::string("-i\xEF\xBF\xBD\0x", 7));
}

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "metadata_test_", getpid(), "_",
                      name);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(WriteMetadataFileTest, WritesAndReplacesWholeDocuments) {
  const std::string path = TempPath("run.json");
  RunMetadata m = Example();
  m.end = absl::InfinitePast();
  ASSERT_TRUE(WriteMetadataFile(path, m).ok());
  EXPECT_EQ(ReadAll(path), FormatMetadata(m));
  m.end = m.start + absl::Seconds(1);
  ASSERT_TRUE(WriteMetadataFile(path, m).ok());
  EXPECT_EQ(ReadAll(path), FormatMetadata(m));
  // No temporary file is left beside it.
  struct stat st;
  EXPECT_NE(stat(absl::StrCat(path, ".tmp.", getpid()).c_str(), &st), 0);
  unlink(path.c_str());
}

TEST(WriteMetadataFileTest, ReplacesByRenameNotInPlace) {
  // A reader holding the old file keeps reading the old document: the new
  // one is a new file renamed over the name.
  const std::string path = TempPath("rename.json");
  RunMetadata m = Example();
  ASSERT_TRUE(WriteMetadataFile(path, m).ok());
  std::ifstream old_reader(path, std::ios::binary);
  struct stat before;
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  m.records = 11;
  ASSERT_TRUE(WriteMetadataFile(path, m).ok());
  struct stat after;
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);
  const std::string old_text(std::istreambuf_iterator<char>(old_reader), {});
  EXPECT_EQ(Parse(old_text)["records"], 10);
  EXPECT_EQ(Parse(ReadAll(path))["records"], 11);
  unlink(path.c_str());
}

TEST(WriteMetadataFileTest, UnwritableDirectoryIsAnError) {
  const absl::Status s =
      WriteMetadataFile("/nonexistent-dir/run.json", Example());
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("cannot write /nonexistent-dir/run.json: "));
}

}  // namespace
}  // namespace smtpscan::output
