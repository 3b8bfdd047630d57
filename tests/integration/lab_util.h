// Scaffolding shared by the tests that run the real smtpscan binary against a
// tools/*_lab instance: temporary paths, shell commands, scans, and the lab's
// install/start/stop.
#ifndef SMTPSCAN_TESTS_INTEGRATION_LAB_UTIL_H_
#define SMTPSCAN_TESTS_INTEGRATION_LAB_UTIL_H_

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace smtpscan::test {

// A path in the test temp dir, unique to this process and `test_name`
// (e.g. "exim_test").
inline std::string TempPath(absl::string_view test_name,
                            absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), test_name, "_", getpid(), "_",
                      name);
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `command` in the shell with stdin from /dev/null.
inline CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* p = popen(absl::StrCat(command, " 2>&1 </dev/null").c_str(), "r");
  if (p == nullptr) return r;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct ScanResult {
  int exit_code = -1;
  std::vector<nlohmann::json> records;
  std::string stderr_text;
};

// Runs smtpscan on a targets file holding `lines`, as
// `smtpscan -i IN -o OUT <options>`.
inline ScanResult RunScan(absl::string_view test_name,
                          const std::vector<std::string>& lines,
                          absl::string_view options) {
  const std::string input = TempPath(test_name, "targets.txt");
  const std::string output = TempPath(test_name, "out.ndjson");
  const std::string errors = TempPath(test_name, "stderr.txt");
  {
    std::ofstream in(input);
    for (const std::string& l : lines) in << l << "\n";
  }
  const std::string command =
      absl::StrCat(SMTPSCAN_BINARY, " -i ", input, " -o ", output, " ", options,
                   " 2>", errors);
  ScanResult r;
  const int status = std::system(command.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream out(output);
  std::string line;
  while (std::getline(out, line)) {
    r.records.push_back(nlohmann::json::parse(line));
  }
  r.stderr_text = ReadFile(errors);
  return r;
}

// Removes the files RunScan(test_name, ...) writes.
inline void RemoveScanFiles(absl::string_view test_name) {
  for (const char* name : {"targets.txt", "out.ndjson", "stderr.txt"}) {
    std::remove(TempPath(test_name, name).c_str());
  }
}

// The EHLO keywords of an "ehlo" record, in order.
inline std::vector<std::string> Keywords(const nlohmann::json& ehlo) {
  std::vector<std::string> keywords;
  for (const nlohmann::json& e : ehlo["extensions"]) {
    keywords.push_back(e["keyword"].get<std::string>());
  }
  return keywords;
}

// Lines of `text` containing all of `parts`.
inline int CountLinesWithAll(absl::string_view text,
                             const std::vector<std::string>& parts) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    bool all = true;
    for (const std::string& p : parts) {
      all = all && absl::StrContains(line, p);
    }
    n += all ? 1 : 0;
  }
  return n;
}

// Calls `count` every 20 ms, for up to 5 s, until it returns at least `want`
// (MTAs write their logs asynchronously); returns its last answer.
inline int WaitForCount(const std::function<int()>& count, int want) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  int n = count();
  while (n < want && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    n = count();
  }
  return n;
}

// A private MTA instance run by a tools/*_lab script ("install", "start DIR
// ADDR OWNER_PID", "stop DIR", "status DIR") on a loopback address.
class Lab {
 public:
  // `address_prefix` is the loopback /16 to pick from, e.g. "127.25.".
  // With `prints_ready`, a start only counts if the script printed "ready".
  Lab(std::string script, absl::string_view test_name,
      std::string address_prefix, bool prints_ready)
      : script_(std::move(script)),
        name_(script_.substr(script_.rfind('/') + 1)),
        dir_(TempPath(test_name, "instance")),
        address_prefix_(std::move(address_prefix)),
        prints_ready_(prints_ready) {}

  // Installs the MTA and starts an instance; on failure error() says why.
  bool Start() {
    start_called_ = true;
    const CommandResult install = RunCommand(absl::StrCat(script_, " install"));
    if (install.exit_code != 0) {
      error_ = absl::StrCat(name_, " install: ", install.output);
      return false;
    }
    // Parallel test processes (ctest -j) each need their own address: pick
    // one from the pid, and the next if that one is taken.
    const int base = static_cast<int>(getpid()) % (250 * 250);
    for (int attempt = 0; attempt < 5; ++attempt) {
      const int n = (base + attempt * 7919) % (250 * 250);
      address_ = absl::StrCat(address_prefix_, 1 + n / 250, ".", 1 + n % 250);
      // Our pid: if this process dies without tearing down, the instance
      // is stopped all the same.
      const CommandResult start = RunCommand(
          absl::StrCat(script_, " start ", dir_, " ", address_, " ", getpid()));
      if (start.exit_code == 0 &&
          (!prints_ready_ || absl::StrContains(start.output, "ready"))) {
        started_ = true;
        error_.clear();
        return true;
      }
      error_ = absl::StrCat(name_, " start ", address_, ": ", start.output);
    }
    return false;
  }

  // Stops the instance (if Start() was called), expects it stopped, and
  // removes its directory.
  void Stop() {
    if (!start_called_) return;
    const CommandResult stop =
        RunCommand(absl::StrCat(script_, " stop ", dir_));
    EXPECT_EQ(stop.exit_code, 0) << stop.output;
    const CommandResult status =
        RunCommand(absl::StrCat(script_, " status ", dir_));
    EXPECT_THAT(status.output, ::testing::HasSubstr("stopped"));
    if (stop.exit_code == 0) {
      const int rc = std::system(("rm -rf " + dir_).c_str());
      (void)rc;
    }
    start_called_ = false;
    started_ = false;
  }

  const std::string& address() const { return address_; }
  const std::string& dir() const { return dir_; }
  const std::string& error() const { return error_; }
  bool started() const { return started_; }

 private:
  std::string script_;
  std::string name_;  // the script's file name, for messages
  std::string dir_;
  std::string address_prefix_;
  bool prints_ready_;
  std::string address_;
  std::string error_;
  bool start_called_ = false;
  bool started_ = false;
};

// A fixture whose suite shares one Lab, run only as root. A suite calls
// SetUpLab from SetUpTestSuite and TearDownLab from TearDownTestSuite, and
// decides in SetUp what a lab that did not start means.
class LabTest : public ::testing::Test {
 protected:
  static void SetUpLab(std::string script, absl::string_view test_name,
                       std::string address_prefix, bool prints_ready) {
    test_name_ = std::string(test_name);
    if (geteuid() != 0) return;
    lab_ = new Lab(std::move(script), test_name, std::move(address_prefix),
                   prints_ready);
    lab_->Start();
  }

  static void TearDownLab() {
    if (lab_ != nullptr) lab_->Stop();
    RemoveScanFiles(test_name_);
    delete lab_;
    lab_ = nullptr;
  }

  static std::string Target(int port = 25) {
    return absl::StrCat(lab_->address(), ":", port);
  }

  // Runs smtpscan on a targets file holding `lines`, with `extra` options.
  static ScanResult Scan(const std::vector<std::string>& lines,
                         absl::string_view ehlo_name = "scanner.example.test",
                         absl::string_view extra = "") {
    return RunScan(test_name_, lines,
                   absl::StrCat("--allow-private --ehlo-name ", ehlo_name,
                                " -r 0 ", extra));
  }

  static inline Lab* lab_ = nullptr;
  static inline std::string test_name_;
};

}  // namespace smtpscan::test

#endif  // SMTPSCAN_TESTS_INTEGRATION_LAB_UTIL_H_
