// --resume end to end: the real binary, killed (SIGKILL) or interrupted
// (SIGINT) at random points several times and resumed each time, must end
// with exactly the records of an uninterrupted run: one per input line, none
// lost, none twice, each with the same status.
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/lab_util.h"
#include "integration/test_server.h"
#include "nlohmann/json.hpp"

namespace smtpscan {
namespace {

using Json = nlohmann::json;

constexpr absl::string_view kTestName = "resume_test";
constexpr int kLines = 2000;

std::string Path(absl::string_view name) {
  return test::TempPath(kTestName, name);
}

// Removes this process's temporary files when the tests are done.
class RemoveTempFiles : public ::testing::Environment {
 public:
  void TearDown() override {
    glob_t g{};
    if (glob(test::TempPath(kTestName, "*").c_str(), 0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) unlink(g.gl_pathv[i]);
    }
    globfree(&g);
  }
};
const ::testing::Environment* const kRemoveTempFiles =
    ::testing::AddGlobalTestEnvironment(new RemoveTempFiles);

// The output's records as line -> statuses (a list, so that a line with
// two records shows). Compressed outputs are decoded with libzstd directly;
// any byte after the last complete record fails the test.
std::map<int, std::vector<std::string>> Records(const std::string& path) {
  std::string text = test::ReadFile(path);
  if (absl::EndsWith(path, ".zst")) {
    std::string plain;
    ZSTD_DStream* d = ZSTD_createDStream();
    ZSTD_inBuffer in{text.data(), text.size(), 0};
    size_t r = 0;
    while (in.pos < in.size) {
      char buf[1 << 16];
      ZSTD_outBuffer out{buf, sizeof(buf), 0};
      r = ZSTD_decompressStream(d, &out, &in);
      if (ZSTD_isError(r)) {
        ADD_FAILURE() << path << ": " << ZSTD_getErrorName(r);
        break;
      }
      plain.append(buf, out.pos);
    }
    ZSTD_freeDStream(d);
    EXPECT_EQ(r, 0u) << path << " ends inside a frame";
    text = std::move(plain);
  }
  std::map<int, std::vector<std::string>> records;
  EXPECT_TRUE(text.empty() || text.back() == '\n') << path << ": torn end";
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty()) continue;
    const Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      ADD_FAILURE() << path << ": not JSON: " << line;
      continue;
    }
    records[j["line"].get<int>()].push_back(j["status"].get<std::string>());
  }
  return records;
}

class ResumeTest : public ::testing::TestWithParam<const char*> {
 protected:
  static void SetUpTestSuite() {
    // Several listeners per mode (each on its own loopback address): the
    // slow ones keep connections open so that kills land mid-run.
    std::vector<std::string> listeners;
    for (int i = 1; i <= 6; ++i) {
      listeners.push_back(absl::StrCat("127.0.71.", i, ":0=fast"));
    }
    for (int i = 1; i <= 3; ++i) {
      listeners.push_back(absl::StrCat("127.0.72.", i, ":0=delay:300"));
    }
    listeners.push_back("127.0.73.1:0=idle");
    listeners.push_back("127.0.73.2:0=idle");
    listeners.push_back("127.0.74.1:0=http");
    server_ = new test::TestServer(listeners, /*max_seconds=*/300);
    if (!server_->ok()) return;
    // A few thousand lines, reproducibly mixed, with the status each must
    // get: fast and delayed servers succeed, idle ones time out, HTTP is a
    // protocol error, a closed port refuses, and some lines are no target.
    std::mt19937 rng(7);
    std::ofstream in(Path("targets.txt"));
    for (int line = 1; line <= kLines; ++line) {
      const int roll = static_cast<int>(rng() % 100);
      std::string target;
      if (roll < 70) {
        target = server_->Of("fast").at(rng() % 6).str();
      } else if (roll < 85) {
        target = server_->Of("delay:300").at(rng() % 3).str();
      } else if (roll < 87) {
        target = server_->Of("idle").at(rng() % 2).str();
      } else if (roll < 93) {
        target = server_->Of("http").at(0).str();
      } else if (roll < 97) {
        target = absl::StrCat("127.0.75.", 1 + rng() % 50, ":1");
      } else if (roll < 99) {
        in << "not a target " << line << "\n";
        continue;
      } else {
        in << (line % 2 == 0 ? "# a comment\n" : "\n");  // no record
        continue;
      }
      in << target << (rng() % 2 == 0 ? ",mx.example.test" : "") << "\n";
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ok()); }

  // The scan's command line, output to `output`.
  static std::vector<std::string> Args(const std::string& output, bool resume) {
    std::vector<std::string> args = {
        SMTPSCAN_BINARY, "-i", Path("targets.txt"), "-o", output,
        "--allow-private", "--ehlo-name", "scanner.example.test", "--starttls",
        "never", "-q",
        // A rate limit spreads the run over a few seconds; the idle
        // servers' lines wait out the greeting timeout, long enough that a
        // busy machine does not make the fast servers miss it.
        "-r", "800", "-c", "200", "--per-address", "50", "--greeting-timeout",
        "2s", "--reply-timeout", "3s", "--backoff", "0", "--grace-time",
        "500ms"};
    if (resume) args.push_back("--resume");
    return args;
  }

  // Starts smtpscan; standard error goes to `errors`.
  static pid_t Start(const std::vector<std::string>& args,
                     const std::string& errors) {
    const pid_t pid = fork();
    if (pid == 0) {
      const int fd = open(errors.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) dup2(fd, 2);
      std::vector<char*> argv;
      for (const std::string& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    return pid;
  }

  static int Wait(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
  }

  static test::TestServer* server_;
};

test::TestServer* ResumeTest::server_ = nullptr;

TEST_P(ResumeTest, KilledAndResumedEqualsUninterrupted) {
  const std::string extension = GetParam();
  const std::string errors = Path("stderr.txt");
  unlink(errors.c_str());

  // The reference: one uninterrupted run.
  const std::string reference = Path("reference" + extension);
  unlink(reference.c_str());
  const int status = Wait(Start(Args(reference, false), errors));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << test::ReadFile(errors);
  const std::map<int, std::vector<std::string>> want = Records(reference);
  // All lines but about 1% blank or comment ones.
  ASSERT_GT(want.size(), kLines * 98 / 100);
  for (const auto& [line, statuses] : want) {
    ASSERT_EQ(statuses.size(), 1u) << "line " << line;
  }

  // The same scan, interrupted five times at random points, resumed each
  // time. The seed is printed so that a failure can be replayed.
  const unsigned seed =
      getenv("RESUME_TEST_SEED") != nullptr
          ? static_cast<unsigned>(atoi(getenv("RESUME_TEST_SEED")))
          : std::random_device()();
  SCOPED_TRACE(absl::StrCat("RESUME_TEST_SEED=", seed));
  std::mt19937 rng(seed);
  const std::string output = Path("resumed" + extension);
  unlink(output.c_str());
  int interrupted = 0;
  for (int round = 0; round < 5; ++round) {
    const pid_t pid = Start(Args(output, true), errors);
    // Anywhere from reading the old output to the end of the run.
    usleep(static_cast<useconds_t>(50'000 + rng() % 1'500'000));
    const int signal = rng() % 2 == 0 ? SIGKILL : SIGINT;
    kill(pid, signal);
    const int s = Wait(pid);
    SCOPED_TRACE(absl::StrCat("round ", round, " signal ", signal));
    if (WIFSIGNALED(s)) {
      // SIGKILL, or SIGINT before the handler was installed.
      EXPECT_EQ(WTERMSIG(s), signal);
      ++interrupted;
    } else {
      // Finished before the signal, or stopped gracefully on SIGINT
      // (130), or on SIGINT during the repair, which runs first.
      ASSERT_TRUE(WIFEXITED(s));
      EXPECT_THAT(WEXITSTATUS(s), ::testing::AnyOf(0, 130))
          << test::ReadFile(errors);
      if (WEXITSTATUS(s) == 130) ++interrupted;
    }
  }
  EXPECT_GT(interrupted, 0) << "no round was interrupted: nothing tested";
  unlink(errors.c_str());
  const int last = Wait(Start(Args(output, true), errors));
  const std::string stderr_text = test::ReadFile(errors);
  ASSERT_TRUE(WIFEXITED(last) && WEXITSTATUS(last) == 0) << stderr_text;

  const std::map<int, std::vector<std::string>> got = Records(output);
  EXPECT_EQ(got.size(), want.size());
  for (const auto& [line, statuses] : got) {
    EXPECT_EQ(statuses.size(), 1u)
        << "line " << line << " has " << statuses.size() << " records";
    auto it = want.find(line);
    if (it == want.end()) {
      ADD_FAILURE() << "line " << line << " has no record in the reference";
      continue;
    }
    EXPECT_EQ(statuses.front(), it->second.front()) << "line " << line;
  }
  for (const auto& [line, statuses] : want) {
    EXPECT_EQ(got.count(line), 1u) << "line " << line << " was lost";
  }
}

std::string OutputName(const ::testing::TestParamInfo<const char*>& info) {
  return absl::EndsWith(info.param, ".zst") ? "zstd" : "plain";
}

INSTANTIATE_TEST_SUITE_P(Outputs, ResumeTest,
                         ::testing::Values(".ndjson", ".ndjson.zst"),
                         OutputName);

}  // namespace
}  // namespace smtpscan
