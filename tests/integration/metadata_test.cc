// The real smtpscan binary: -m/--metadata, and the run fields of records.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/test_server.h"
#include "nlohmann/json.hpp"

namespace smtpscan {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "metadata_it_", getpid(), "_",
                      name);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<Json> ReadRecords(const std::string& path) {
  std::vector<Json> records;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) records.push_back(Json::parse(line));
  return records;
}

// Starts smtpscan with `args` (argv[0] is added), standard error to
// `stderr_path`; returns its pid.
pid_t Spawn(const std::vector<std::string>& args,
            const std::string& stderr_path) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int err =
        open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(err, 2);
    const int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    std::vector<std::string> all = {SMTPSCAN_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class MetadataTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new test::TestServer(
        {"127.0.3.1:0=fast", "127.0.3.2:0=greet554", "127.0.3.3:0=idle"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ok()); }
  static std::string Target(const std::string& mode) {
    return server_->Of(mode).at(0).str();
  }
  static test::TestServer* server_;
};

test::TestServer* MetadataTest::server_ = nullptr;

TEST_F(MetadataTest, DocumentMatchesTheRecords) {
  const std::string input = TempPath("targets.txt");
  const std::string output = TempPath("out.ndjson");
  const std::string metadata = TempPath("run.json");
  const std::string errors = TempPath("stderr.txt");
  {
    std::ofstream in(input);
    in << "# a comment\n";
    for (int i = 0; i < 5; ++i) in << Target("fast") << "\n";
    in << Target("greet554") << "\n" << Target("greet554") << "\n";
    in << "not a target!\n";
  }
  const std::vector<std::string> args = {"-i",
                                         input,
                                         "-o",
                                         output,
                                         "-m",
                                         metadata,
                                         "--ehlo-name",
                                         "scanner.example.test",
                                         "--allow-private",
                                         "-r",
                                         "0",
                                         "--starttls",
                                         "never"};
  const absl::Time before = absl::Now();
  ASSERT_EQ(Wait(Spawn(args, errors)), 0) << ReadAll(errors);
  const absl::Time after = absl::Now();

  const Json m = Json::parse(ReadAll(metadata));
  const std::vector<Json> records = ReadRecords(output);
  ASSERT_EQ(records.size(), 8u);
  const std::string id = m["scan_id"];
  EXPECT_THAT(id, MatchesRegex("[0-9a-f]{8}"));
  absl::Time start, end;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, m["start"].get<std::string>(),
                              &start, &error));
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, m["end"].get<std::string>(),
                              &end, &error));
  EXPECT_GE(start, absl::FromUnixMillis(absl::ToUnixMillis(before)));
  EXPECT_LE(end, after);
  for (const Json& r : records) {
    EXPECT_EQ(r["scan_id"], id) << r.dump();
    absl::Time t;
    ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full,
                                r["time"].get<std::string>(), &t, &error))
        << r.dump();
    EXPECT_GE(t, start);
    EXPECT_LE(t, end);
  }
  EXPECT_EQ(m["interrupted"], false);
  EXPECT_EQ(m["exit_code"], 0);
  std::vector<std::string> command_line = {SMTPSCAN_BINARY};
  command_line.insert(command_line.end(), args.begin(), args.end());
  EXPECT_EQ(m["command_line"], Json(command_line));
  EXPECT_EQ(m["options"]["metadata"], metadata);
  EXPECT_EQ(m["options"]["concurrency"], 1000);
  EXPECT_EQ(m["options"]["rate"], 0.0);
  EXPECT_EQ(m["options"]["allow-private"], true);
  EXPECT_EQ(m["options"]["probe"], false);
  EXPECT_TRUE(m["options"]["format"].is_null());
  EXPECT_EQ(m["options"]["source-address"], Json::array());
  EXPECT_EQ(m["ehlo_name"], "scanner.example.test");
  EXPECT_TRUE(m["resolvers"].is_array());
  EXPECT_TRUE(m["shard"].is_null());
  EXPECT_TRUE(m["dns"].is_null());  // no domain line
  EXPECT_EQ(m["input_lines"], 9);
  EXPECT_EQ(m["records"], 8);
  EXPECT_EQ(m["records_by_status"]["success"], 5);
  EXPECT_EQ(m["records_by_status"]["greeting-rejected"], 2);
  EXPECT_EQ(m["records_by_status"]["invalid-input"], 1);
  uint64_t sum = 0;
  for (const auto& [status, n] : m["records_by_status"].items()) {
    sum += n.get<uint64_t>();
  }
  EXPECT_EQ(sum, 8u);
  // Conversations by the port of each listener.
  std::map<std::string, Json> want;
  want[std::to_string(server_->Of("fast").at(0).port)]["success"] = 5;
  want[std::to_string(server_->Of("greet554").at(0).port)]
      ["greeting-rejected"] = 2;
  EXPECT_EQ(m["probes_by_port"], Json(want));
}

TEST_F(MetadataTest, UnwritablePathFailsBeforeScanning) {
  const std::string input = TempPath("one.txt");
  std::ofstream(input) << Target("fast") << "\n";
  const std::string errors = TempPath("stderr_unwritable.txt");
  const int code = Wait(Spawn({"-i", input, "-o", TempPath("unwritable.ndjson"),
                               "-m", "/nonexistent-dir/run.json", "--ehlo-name",
                               "scanner.example.test", "--allow-private"},
                              errors));
  EXPECT_EQ(code, 1);
  const std::string text = ReadAll(errors);
  EXPECT_THAT(text, HasSubstr("cannot write /nonexistent-dir/run.json"));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
}

TEST_F(MetadataTest, InterruptedRunWritesItsDocument) {
  const std::string input = TempPath("interrupt.txt");
  const std::string output = TempPath("interrupt.ndjson");
  const std::string metadata = TempPath("interrupt.json");
  {
    std::ofstream in(input);
    in << Target("fast") << "\n";
    for (int i = 0; i < 3; ++i) in << Target("idle") << "\n";
  }
  const std::string errors = TempPath("stderr_interrupt.txt");
  const pid_t pid =
      Spawn({"-i", input, "-o", output, "-m", metadata, "--ehlo-name",
             "scanner.example.test", "--allow-private", "-r", "0", "--starttls",
             "never", "--greeting-timeout", "60s", "--grace-time", "100ms"},
            errors);
  // The fast target's record is out (written within 250 ms): the scan's
  // loop runs, its signal handlers are in place, and the idle targets
  // hold it for a minute.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (ReadAll(output).find('\n') == std::string::npos &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const Json running = Json::parse(ReadAll(metadata));
  EXPECT_TRUE(running["end"].is_null());
  EXPECT_TRUE(running["exit_code"].is_null());
  kill(pid, SIGINT);
  EXPECT_EQ(Wait(pid), 130) << ReadAll(errors);
  const Json m = Json::parse(ReadAll(metadata));
  EXPECT_EQ(m["interrupted"], true);
  EXPECT_EQ(m["exit_code"], 130);
  EXPECT_FALSE(m["end"].is_null());
  EXPECT_EQ(m["scan_id"], running["scan_id"]);
  EXPECT_EQ(m["records"], ReadRecords(output).size());
}

}  // namespace
}  // namespace smtpscan
