// Starts tools/smtp_test_server on loopback for a test and stops it after.
#ifndef SMTPSCAN_TESTS_INTEGRATION_TEST_SERVER_H_
#define SMTPSCAN_TESTS_INTEGRATION_TEST_SERVER_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace smtpscan::test {

class TestServer {
 public:
  // Starts the server with one listener per "ADDR:PORT=MODE" and waits for
  // its "ready" line. ok() tells whether that worked.
  explicit TestServer(const std::vector<std::string>& listeners,
                      int max_seconds = 120) {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      close(out[0]);
      close(out[1]);
      std::vector<std::string> args = {SMTP_TEST_SERVER};
      for (const std::string& l : listeners) {
        args.push_back("--listen");
        args.push_back(l);
      }
      args.push_back("--max-seconds");
      args.push_back(std::to_string(max_seconds));
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    char line[512];
    while (f != nullptr && fgets(line, sizeof(line), f) != nullptr) {
      absl::string_view l = absl::StripAsciiWhitespace(line);
      if (l == "ready") {
        ready_ = true;
        break;
      }
      // "listening 127.0.0.1:34567 postfix"
      std::vector<absl::string_view> parts = absl::StrSplit(l, ' ');
      if (parts.size() == 3 && parts[0] == "listening") {
        const size_t colon = parts[1].rfind(':');
        int port = 0;
        if (colon != absl::string_view::npos &&
            absl::SimpleAtoi(parts[1].substr(colon + 1), &port)) {
          endpoints_[std::string(parts[2])].push_back(
              {std::string(parts[1].substr(0, colon)), port});
        }
      }
    }
    if (f != nullptr) fclose(f);
  }

  ~TestServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

  bool ok() const { return ready_; }

  struct Endpoint {
    std::string address;
    int port;
    std::string str() const { return address + ":" + std::to_string(port); }
  };
  // The listeners of `mode`, in the order given.
  const std::vector<Endpoint>& Of(const std::string& mode) {
    return endpoints_[mode];
  }

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
  std::map<std::string, std::vector<Endpoint>> endpoints_;
};

}  // namespace smtpscan::test

#endif  // SMTPSCAN_TESTS_INTEGRATION_TEST_SERVER_H_
