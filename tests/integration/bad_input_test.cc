// Failing outputs, bad input and bad command lines, end to end (issue 8): the
// real smtpscan binary, started without a shell, must end each such run with
// a clear one-line error on standard error and the documented exit code (or,
// for a bad input line, one invalid-input record), never a crash, a hang, a
// torn record or memory that grows with the input.
//
// No network: every address is in 192.0.2.0/24, which is blocked without
// --allow-private (a record, no connection), and the runs that could meet a
// domain line name a closed loopback port as --resolver, so a line taken for
// a domain by mistake gives a DNS failure record instead of a query to the
// machine's resolver.
//
// Peak memory is ru_maxrss of the child from wait4(2). It includes what the
// forked test process had mapped when it called exec (Linux keeps the
// high-water mark across exec), so the test process keeps its own memory
// small: large inputs are written and read in chunks, never held whole.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define SMTPSCAN_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SMTPSCAN_TEST_ASAN 1
#endif
#endif

namespace smtpscan {
namespace {

using Json = nlohmann::json;

constexpr char kEhlo[] = "scanner.example.test";
// A port nothing listens on: DNS sent there fails at once, on loopback.
constexpr char kDeadResolver[] = "127.0.0.1:9";
// Lines of the runs whose output must fail several times over (each record
// of a blocked address is about 230 bytes: 20,000 make 4.5 MB of NDJSON,
// 105 KB as zstd and 190 KB as gzip frames of 64 KiB).
constexpr int kManyLines = 20'000;

#if defined(SMTPSCAN_TEST_ASAN)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "bad_input_test_", getpid(), "_",
                      name);
}

// Removes what the tests of this process left in the temporary directory.
class RemoveTempFiles : public ::testing::Environment {
 public:
  void TearDown() override {
    const std::filesystem::path prefix = TempPath("");
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator(prefix.parent_path(), ec)) {
      if (absl::StartsWith(entry.path().filename().string(),
                           prefix.filename().string())) {
        std::filesystem::remove_all(entry.path(), ec);
      }
    }
  }
};
::testing::Environment* const remove_temp_files =
    ::testing::AddGlobalTestEnvironment(new RemoveTempFiles);

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, absl::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

// The i-th (0-based) address of the blocked inputs.
std::string BlockedAddress(int64_t i) {
  return absl::StrCat("192.0.2.", i % 254 + 1);
}

// Writes `n` blocked addresses, one per line.
std::string WriteBlockedInput(absl::string_view name, int n) {
  const std::string path = TempPath(name);
  std::string text;
  for (int i = 0; i < n; ++i) absl::StrAppend(&text, BlockedAddress(i), "\n");
  WriteFile(path, text);
  return path;
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, at most
// U+10FFFF.
bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// Parses NDJSON: every line must be complete (end with LF), valid UTF-8 and
// one JSON object.
::testing::AssertionResult ParseRecords(absl::string_view text,
                                        std::vector<Json>* records) {
  if (!text.empty() && text.back() != '\n') {
    return ::testing::AssertionFailure()
           << "torn last record: "
           << absl::CHexEscape(
                  text.substr(text.rfind('\n') + 1).substr(0, 200));
  }
  size_t number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty()) continue;  // the split's empty piece after the last LF
    ++number;
    if (!IsValidUtf8(line)) {
      return ::testing::AssertionFailure()
             << "output line " << number << " is not valid UTF-8: "
             << absl::CHexEscape(line.substr(0, 300));
    }
    Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return ::testing::AssertionFailure()
             << "output line " << number << " is not a JSON object: "
             << absl::CHexEscape(line.substr(0, 300));
    }
    records->push_back(std::move(j));
  }
  return ::testing::AssertionSuccess();
}

// How a run of smtpscan is started.
struct Launch {
  std::vector<std::string> args;         // after argv[0]
  std::string stdin_path = "/dev/null";  // "": standard input closed
  std::string stdout_path = "/dev/null";
  bool close_stdout = false;  // standard output closed (`>&-`)
  // Standard output on this descriptor instead of stdout_path when >= 0
  // (the caller keeps and closes it).
  int stdout_fd = -1;
  // When set, standard input is a pipe whose write end this gets, on its
  // own thread, and must close.
  std::function<void(int)> feed = nullptr;
  // When set, standard output is a pipe whose read end this gets, on its
  // own thread, and must close.
  std::function<void(int)> drain = nullptr;
  // RLIMIT_FSIZE of the child, with SIGXFSZ ignored: a write past it fails
  // with EFBIG, as a full disk fails with ENOSPC, without needing root.
  rlim_t file_size_limit = RLIM_INFINITY;
  // Not a timed assertion: a run still going after this is a hang; it is
  // killed so that the test fails instead of blocking the suite.
  absl::Duration deadline = absl::Seconds(kAsan ? 600 : 120);
};

struct Outcome {
  int exit_code = -1;  // -1 when a signal ended it
  int signal = 0;
  bool hung = false;  // killed after Launch::deadline
  std::string err;    // everything it wrote to standard error
  int64_t max_rss_kib = 0;
  absl::Duration took;

  std::string Describe() const {
    std::string s = hung          ? "hung (killed after the deadline)"
                    : signal != 0 ? absl::StrCat("killed by signal ", signal,
                                                 " (", strsignal(signal), ")")
                                  : absl::StrCat("exit ", exit_code);
    absl::StrAppend(&s, ", stderr \"", absl::CHexEscape(err.substr(0, 2000)),
                    "\"");
    return s;
  }
};

Outcome RunSmtpscan(const Launch& launch) {
  static int runs = 0;
  // The test process must not die when a child it feeds goes away.
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> all = {SMTPSCAN_BINARY};
  all.insert(all.end(), launch.args.begin(), launch.args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string err_path = TempPath(absl::StrCat("stderr_", ++runs));
  int in_pipe[2] = {-1, -1};
  int out_pipe[2] = {-1, -1};
  Outcome o;
  // O_CLOEXEC: the child keeps only the ends it dup2s onto 0 and 1, so the
  // feeder's close is its end of input.
  if ((launch.feed && pipe2(in_pipe, O_CLOEXEC) != 0) ||
      (launch.drain && pipe2(out_pipe, O_CLOEXEC) != 0)) {
    ADD_FAILURE() << "pipe2: " << strerror(errno);
    return o;
  }
  const absl::Time start = absl::Now();
  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    const int in = launch.feed ? in_pipe[0]
                   : launch.stdin_path.empty()
                       ? 0
                       : open(launch.stdin_path.c_str(), O_RDONLY);
    const int out = launch.drain ? out_pipe[1]
                    : launch.stdout_fd >= 0
                        ? launch.stdout_fd
                        : open(launch.stdout_path.c_str(),
                               O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
        dup2(err, 2) < 0) {
      _exit(126);
    }
    if (launch.stdin_path.empty() && !launch.feed) close(0);
    if (launch.close_stdout) close(1);
    // As a shell starts it: SIGPIPE at its default (an ignored signal
    // stays ignored across exec, which would hide a missing SIG_IGN).
    signal(SIGPIPE, SIG_DFL);
    if (launch.file_size_limit != RLIM_INFINITY) {
      const struct rlimit limit = {launch.file_size_limit,
                                   launch.file_size_limit};
      if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(126);
      signal(SIGXFSZ, SIG_IGN);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    return o;
  }
  std::thread feeder, drainer;
  if (launch.feed) {
    close(in_pipe[0]);
    feeder = std::thread(launch.feed, in_pipe[1]);
  }
  if (launch.drain) {
    close(out_pipe[1]);
    drainer = std::thread(launch.drain, out_pipe[0]);
  }
  int status = 0;
  struct rusage usage {};
  for (;;) {
    const pid_t r = wait4(pid, &status, WNOHANG, &usage);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      ADD_FAILURE() << "wait4: " << strerror(errno);
      break;
    }
    if (absl::Now() - start > launch.deadline) {
      o.hung = true;
      kill(pid, SIGKILL);
      wait4(pid, &status, 0, &usage);
      break;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  o.took = absl::Now() - start;
  if (feeder.joinable()) feeder.join();
  if (drainer.joinable()) drainer.join();
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  o.max_rss_kib = usage.ru_maxrss;
  o.err = ReadAll(err_path);
  unlink(err_path.c_str());
  return o;
}

// The run ended by itself with `exit_code` and exactly one line on standard
// error, which starts with `prefix` and contains each of `parts`.
::testing::AssertionResult FailedWithOneLine(
    const Outcome& o, int exit_code, const std::vector<std::string>& parts,
    absl::string_view prefix = "smtpscan: ") {
  if (o.hung || o.signal != 0 || o.exit_code != exit_code) {
    return ::testing::AssertionFailure()
           << o.Describe() << "; want exit " << exit_code;
  }
  if (o.err.empty() || o.err.back() != '\n' ||
      std::count(o.err.begin(), o.err.end(), '\n') != 1) {
    return ::testing::AssertionFailure()
           << "standard error is not one line: " << o.Describe();
  }
  if (!absl::StartsWith(o.err, prefix)) {
    return ::testing::AssertionFailure() << "the line does not start with \""
                                         << prefix << "\": " << o.Describe();
  }
  for (const std::string& part : parts) {
    if (!absl::StrContains(o.err, part)) {
      return ::testing::AssertionFailure() << "the line does not contain \""
                                           << part << "\": " << o.Describe();
    }
  }
  return ::testing::AssertionSuccess();
}

// Arguments of a scan of `input` into `output` with nothing on standard
// error but errors.
std::vector<std::string> ScanArgs(const std::string& input,
                                  const std::string& output) {
  return {"-i", input, "-o", output, "-q", "--ehlo-name", kEhlo};
}

// Checks that `records` are the records of the blocked input from line 1
// on, in order, and fewer than all of them (the output failed before the
// end).
void ExpectBlockedPrefix(const std::vector<Json>& records) {
  EXPECT_GT(records.size(), 0u) << "no record made it before the failure";
  EXPECT_LT(records.size(), static_cast<size_t>(kManyLines))
      << "every record was written: the output did not fill up";
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(records[i].value("line", -1), static_cast<int64_t>(i + 1))
        << records[i].dump();
    ASSERT_EQ(records[i].value("status", ""), "blocked") << records[i].dump();
    ASSERT_EQ(records[i].value("input", ""),
              BlockedAddress(static_cast<int64_t>(i)));
  }
}

// --- Failing outputs --------------------------------------------------------

// /dev/full, as the -o file and as standard output, with a failure at the
// final flush (3 lines) and in the middle of the run (kManyLines lines,
// several 64 KiB batches): without -q, the summary line must not follow.
TEST(FailingOutputTest, DevFullGivesOneLineAndExit1) {
  for (int lines : {3, kManyLines}) {
    SCOPED_TRACE(absl::StrCat(lines, " lines"));
    const std::string input = WriteBlockedInput("devfull.txt", lines);
    Outcome file = RunSmtpscan(
        {.args = {"-i", input, "-o", "/dev/full", "--ehlo-name", kEhlo}});
    EXPECT_TRUE(FailedWithOneLine(
        file, 1, {"cannot write /dev/full", "No space left on device"}));
    Outcome out =
        RunSmtpscan({.args = {"-i", input, "-o", "-", "--ehlo-name", kEhlo},
                     .stdout_path = "/dev/full"});
    EXPECT_TRUE(FailedWithOneLine(
        out, 1, {"cannot write standard output", "No space left on device"}));
  }
}

// The -m document of a run whose output failed says so.
TEST(FailingOutputTest, MetadataRecordsTheFailure) {
  const std::string input = WriteBlockedInput("devfull_m.txt", kManyLines);
  const std::string metadata = TempPath("devfull_m.json");
  std::vector<std::string> args = ScanArgs(input, "/dev/full");
  args.insert(args.end(), {"-m", metadata});
  Outcome o = RunSmtpscan({.args = args});
  EXPECT_TRUE(FailedWithOneLine(o, 1, {"cannot write /dev/full"}));
  const Json m = Json::parse(ReadAll(metadata), nullptr, false);
  ASSERT_TRUE(m.is_object()) << ReadAll(metadata);
  EXPECT_EQ(m.value("exit_code", -1), 1) << m.dump();
}

// A metadata path, or an output path, that cannot be written fails the
// run at the start.
TEST(FailingOutputTest, UnwritablePathsFailAtStart) {
  const std::string input = WriteBlockedInput("unwritable.txt", 3);
  const std::string output = TempPath("unwritable.ndjson");
  std::vector<std::string> args = ScanArgs(input, output);
  args.insert(args.end(), {"-m", "/nonexistent-dir/run.json"});
  EXPECT_TRUE(FailedWithOneLine(RunSmtpscan({.args = args}), 1,
                                {"cannot write /nonexistent-dir/run.json"}));

  EXPECT_TRUE(FailedWithOneLine(
      RunSmtpscan({.args = ScanArgs(input, "/nonexistent-dir/out.ndjson")}), 1,
      {"/nonexistent-dir/out.ndjson", "No such file or directory"}));

  const std::string dir = TempPath("output_dir");
  mkdir(dir.c_str(), 0755);
  EXPECT_TRUE(FailedWithOneLine(RunSmtpscan({.args = ScanArgs(input, dir)}), 1,
                                {dir, "Is a directory"}));
  rmdir(dir.c_str());
}

// Decodes concatenated zstd frames; fails unless the data ends at the end
// of a frame.
::testing::AssertionResult DecodeZstd(const std::string& data,
                                      std::string* text) {
  ZSTD_DCtx* d = ZSTD_createDCtx();
  std::vector<char> buffer(ZSTD_DStreamOutSize());
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  size_t hint = 0;  // 0: at a frame boundary
  for (;;) {
    ZSTD_outBuffer out{buffer.data(), buffer.size(), 0};
    hint = ZSTD_decompressStream(d, &out, &in);
    if (ZSTD_isError(hint)) {
      ZSTD_freeDCtx(d);
      return ::testing::AssertionFailure()
             << "zstd: " << ZSTD_getErrorName(hint) << " at byte " << in.pos;
    }
    text->append(buffer.data(), out.pos);
    if (in.pos == in.size && out.pos < out.size) break;
  }
  ZSTD_freeDCtx(d);
  if (hint != 0) {
    return ::testing::AssertionFailure() << "zstd: the last frame is torn";
  }
  return ::testing::AssertionSuccess();
}

// Decodes concatenated gzip members; fails unless the data ends at the end
// of a member.
::testing::AssertionResult DecodeGzip(const std::string& data,
                                      std::string* text) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    return ::testing::AssertionFailure() << "inflateInit2";
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::vector<char> buffer(64 << 10);
  bool at_boundary = true;
  while (z.avail_in > 0) {
    at_boundary = false;
    z.next_out = reinterpret_cast<Bytef*>(buffer.data());
    z.avail_out = static_cast<uInt>(buffer.size());
    const int r = inflate(&z, Z_NO_FLUSH);
    text->append(buffer.data(), buffer.size() - z.avail_out);
    if (r == Z_STREAM_END) {
      at_boundary = true;
      inflateReset(&z);
    } else if (r != Z_OK) {
      inflateEnd(&z);
      return ::testing::AssertionFailure()
             << "gzip: inflate " << r << " at byte " << z.total_in;
    }
  }
  // Output still held back by inflate (the member's end not yet seen).
  for (int r = Z_OK; !at_boundary && r == Z_OK;) {
    z.next_out = reinterpret_cast<Bytef*>(buffer.data());
    z.avail_out = static_cast<uInt>(buffer.size());
    r = inflate(&z, Z_NO_FLUSH);
    text->append(buffer.data(), buffer.size() - z.avail_out);
    if (r == Z_STREAM_END) at_boundary = true;
    if (z.avail_out != 0) break;
  }
  inflateEnd(&z);
  if (!at_boundary) {
    return ::testing::AssertionFailure() << "gzip: the last member is torn";
  }
  return ::testing::AssertionSuccess();
}

// A file that fills up in the middle of the run: RLIMIT_FSIZE makes write
// fail with EFBIG once the file would pass the limit. What is in the file
// then must be complete records only (whole frames or members when
// compressed), in order from line 1, and the run must stop with one line.
struct FullFileCase {
  std::string extension;  // "", ".zst", ".gz"
  rlim_t limit;           // bytes; the output is several times larger
  std::string tool;       // decompressor for a cross-check, if installed
};

class FullFileTest : public ::testing::TestWithParam<FullFileCase> {};

TEST_P(FullFileTest, KeepsOnlyCompleteRecordsAndExits1) {
  const FullFileCase& c = GetParam();
  const std::string input = WriteBlockedInput("full.txt", kManyLines);
  const std::string output = TempPath(absl::StrCat("full.ndjson", c.extension));
  const Outcome o = RunSmtpscan(
      {.args = ScanArgs(input, output), .file_size_limit = c.limit});
  EXPECT_TRUE(
      FailedWithOneLine(o, 1, {"cannot write " + output, "File too large"}));
  const std::string data = ReadAll(output);
  EXPECT_LE(data.size(), c.limit);
  std::string text;
  if (c.extension == ".zst") {
    ASSERT_TRUE(DecodeZstd(data, &text));
  } else if (c.extension == ".gz") {
    ASSERT_TRUE(DecodeGzip(data, &text));
  } else {
    text = data;
  }
  std::cout << "[ measured ] " << c.extension << " limit " << c.limit
            << " bytes: " << data.size() << " bytes written, " << text.size()
            << " bytes of records\n";
  // The standard tool agrees: exit 0 and the same text.
  const std::string tool_path = absl::StrCat("/usr/bin/", c.tool);
  if (!c.tool.empty() && access(tool_path.c_str(), X_OK) == 0) {
    const std::string decoded = output + ".decoded";
    const std::string command =
        absl::StrCat(tool_path, " -dc < ", output, " > ", decoded, " 2>&1");
    const int status = std::system(command.c_str());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << command << ": " << ReadAll(decoded);
    EXPECT_EQ(ReadAll(decoded), text);
    unlink(decoded.c_str());
  } else if (!c.tool.empty()) {
    std::cout << "[ note ] " << tool_path
              << " not installed: checked with the library only\n";
  }
  std::vector<Json> records;
  ASSERT_TRUE(ParseRecords(text, &records));
  ExpectBlockedPrefix(records);
  unlink(output.c_str());
}

INSTANTIATE_TEST_SUITE_P(
    Compression, FullFileTest,
    ::testing::Values(FullFileCase{"", 256 << 10, ""},
                      FullFileCase{".zst", 16 << 10, "zstd"},
                      FullFileCase{".gz", 16 << 10, "gzip"}),
    [](const ::testing::TestParamInfo<FullFileCase>& p) {
      return p.param.extension.empty() ? std::string("plain")
                                       : p.param.extension.substr(1);
    });

// Standard output is a pipe whose reader is gone before the first write.
TEST(BrokenPipeTest, ReaderGoneBeforeTheStart) {
  const std::string input = WriteBlockedInput("pipe_before.txt", kManyLines);
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  close(fds[0]);
  const Outcome o =
      RunSmtpscan({.args = ScanArgs(input, "-"), .stdout_fd = fds[1]});
  close(fds[1]);
  EXPECT_TRUE(FailedWithOneLine(o, 1, {}));
  EXPECT_EQ(o.err, "smtpscan: cannot write standard output: Broken pipe\n")
      << o.Describe();
}

// The reader takes the first 100 KiB, then goes away (`smtpscan | head`).
TEST(BrokenPipeTest, ReaderGoesAwayWhileWriting) {
  const std::string input = WriteBlockedInput("pipe_during.txt", kManyLines);
  std::string got;
  const Outcome o =
      RunSmtpscan({.args = ScanArgs(input, "-"), .drain = [&](int fd) {
                     char buffer[4096];
                     while (got.size() < (100 << 10)) {
                       const ssize_t n = read(fd, buffer, sizeof(buffer));
                       if (n <= 0) break;
                       got.append(buffer, static_cast<size_t>(n));
                     }
                     close(fd);
                   }});
  EXPECT_TRUE(FailedWithOneLine(o, 1, {}));
  EXPECT_EQ(o.err, "smtpscan: cannot write standard output: Broken pipe\n")
      << o.Describe();
  // What the reader did take is the start of the records.
  ASSERT_GE(got.size(), 100u << 10);
  got.resize(got.rfind('\n') + 1);
  std::vector<Json> records;
  ASSERT_TRUE(ParseRecords(got, &records));
  ExpectBlockedPrefix(records);
}

// --- Bad input --------------------------------------------------------------

TEST(BadInputTest, DirectoryAsInput) {
  const std::string dir = TempPath("input_dir");
  mkdir(dir.c_str(), 0755);
  const std::string output = TempPath("dir.ndjson");
  const Outcome o = RunSmtpscan({.args = ScanArgs(dir, output)});
  EXPECT_TRUE(FailedWithOneLine(o, 1, {dir, "Is a directory"}));
  EXPECT_EQ(ReadAll(output), "");
  rmdir(dir.c_str());
}

// -i - with standard input closed (`<&-`) or a directory (`< /tmp`).
TEST(BadInputTest, UnreadableStandardInput) {
  const std::string dir = TempPath("stdin_dir");
  mkdir(dir.c_str(), 0755);
  for (const std::string& stdin_path : {std::string(), dir}) {
    SCOPED_TRACE(stdin_path.empty() ? "closed" : "a directory");
    const std::string output = TempPath("stdin.ndjson");
    const Outcome o =
        RunSmtpscan({.args = ScanArgs("-", output), .stdin_path = stdin_path});
    // Closed: refused before anything else takes descriptor 0 and is read
    // as input. A directory: the read fails.
    EXPECT_TRUE(FailedWithOneLine(
        o, 1,
        stdin_path.empty()
            ? std::vector<std::string>{"cannot read standard input: it is "
                                       "closed"}
            : std::vector<std::string>{"standard input: reading input",
                                       "Is a directory"}));
    EXPECT_EQ(ReadAll(output), "");
  }
  rmdir(dir.c_str());
}

TEST(BadInputTest, ClosedStandardOutput) {
  // `-o -` with descriptor 1 closed: one line, not records written to
  // whatever socket or ring took descriptor 1.
  const std::string input = TempPath("closed_stdout.txt");
  std::ofstream(input) << "192.0.2.1\n";
  const Outcome o =
      RunSmtpscan({.args = ScanArgs(input, "-"), .close_stdout = true});
  EXPECT_TRUE(
      FailedWithOneLine(o, 1, {"cannot write standard output: it is closed"}));
}

TEST(BadInputTest, MissingInput) {
  const std::string missing = TempPath("no-such-input.txt");
  const Outcome o =
      RunSmtpscan({.args = ScanArgs(missing, TempPath("missing.ndjson"))});
  EXPECT_TRUE(o.exit_code == 1 || o.exit_code == 2) << o.Describe();
  EXPECT_TRUE(FailedWithOneLine(o, o.exit_code,
                                {missing, "No such file or directory"}));
}

// Writes an input file line by line, huge lines in chunks, and remembers
// which lines must have a record and with which status.
class InputBuilder {
 public:
  explicit InputBuilder(std::string path)
      : path_(std::move(path)), out_(path_, std::ios::binary) {}

  // A line (`text` without its line end) and the status its record must
  // have: "" for none (blank or comment), "*" for any.
  void Add(absl::string_view text, std::string status,
           absl::string_view end = "\n") {
    out_.write(text.data(), static_cast<std::streamsize>(text.size()));
    out_.write(end.data(), static_cast<std::streamsize>(end.size()));
    Expect(std::move(status));
  }
  // A line of `bytes` bytes: `head`, then `unit` repeated.
  void AddHuge(absl::string_view head, absl::string_view unit, size_t bytes,
               std::string status) {
    std::string chunk;
    while (chunk.size() < (1 << 20)) chunk.append(unit.data(), unit.size());
    out_ << head;
    for (size_t done = head.size(); done < bytes;) {
      const size_t n = std::min(chunk.size(), bytes - done);
      out_.write(chunk.data(), static_cast<std::streamsize>(n));
      done += n;
    }
    out_ << "\n";
    Expect(std::move(status));
  }
  void Close() { out_.close(); }
  const std::string& path() const { return path_; }
  // Line number → status, for the lines that must have a record.
  const std::map<int64_t, std::string>& expected() const { return expected_; }

 private:
  void Expect(std::string status) {
    ++line_;
    if (!status.empty()) expected_[line_] = std::move(status);
  }

  std::string path_;
  std::ofstream out_;
  int64_t line_ = 0;
  std::map<int64_t, std::string> expected_;
};

// Runs a scan of `input` and checks one record per expected line, with its
// status, every output line valid UTF-8 JSON of bounded length; returns
// the records by line.
std::map<int64_t, Json> ScanAndCheck(const InputBuilder& input,
                                     Outcome* outcome) {
  const std::string output = TempPath("hostile.ndjson");
  std::vector<std::string> args = ScanArgs(input.path(), output);
  args.insert(args.end(), {"--resolver", kDeadResolver, "--dns-tries", "1"});
  *outcome = RunSmtpscan({.args = args});
  EXPECT_EQ(outcome->exit_code, 0) << outcome->Describe();
  EXPECT_EQ(outcome->err, "");
  const std::string text = ReadAll(output);
  unlink(output.c_str());
  std::vector<Json> records;
  EXPECT_TRUE(ParseRecords(text, &records));
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    // A too-long line's record holds an excerpt, not the line.
    EXPECT_LT(line.size(), 4096u) << absl::CHexEscape(line.substr(0, 300));
  }
  std::map<int64_t, Json> by_line;
  for (const Json& r : records) {
    const int64_t line = r.value("line", int64_t{-1});
    EXPECT_EQ(by_line.count(line), 0u) << "two records for line " << line;
    by_line[line] = r;
  }
  for (const auto& [line, status] : input.expected()) {
    auto it = by_line.find(line);
    if (it == by_line.end()) {
      ADD_FAILURE() << "no record for line " << line;
      continue;
    }
    if (status != "*") {
      EXPECT_EQ(it->second.value("status", ""), status)
          << "line " << line << ": " << it->second.dump();
    }
  }
  for (const auto& [line, record] : by_line) {
    EXPECT_EQ(input.expected().count(line), 1u)
        << "a record for line " << line
        << ", which is blank or a comment: " << record.dump();
  }
  return by_line;
}

// Peak RSS of a scan of a hostile file with 64 MiB lines: a reader that
// kept a whole line would pass it. Measured (release, x86-64): about 19
// MiB, as for a file of ten short lines.
constexpr int64_t kHostileRssCapKiB = 48 << 10;

TEST(BadInputTest, HostileLinesGetOneRecordEachInBoundedMemory) {
  InputBuilder in(TempPath("hostile.txt"));
  in.Add("192.0.2.1", "blocked");
  // 64 MiB of a 3-byte unit: the 256-byte excerpt ends inside a UTF-8
  // sequence.
  in.AddHuge("",
             "\xc3\xa9"
             "1",
             size_t{64} << 20, "invalid-input");
  in.Add("192.0.2.2", "blocked");
  in.Add(absl::string_view("192.0.2.3\0garbage", 17), "invalid-input");
  in.Add(absl::string_view("\0\0\0", 3), "invalid-input");
  in.Add(absl::string_view("192.0.2.4\0", 10), "invalid-input");
  in.Add("\xff\xfe\xfd", "invalid-input");
  in.Add(
      "b\xc3\x28"
      "d.example",
      "invalid-input");                              // invalid UTF-8
  in.Add("\xc0\xaf", "invalid-input");               // overlong '/'
  in.Add("192.0.2.7\xed\xa0\x80", "invalid-input");  // a surrogate
  in.Add("192.0.2.5", "blocked", "\r\n");            // CR-LF
  in.Add("192.0.2.6", "blocked", "\r\r\n");          // and a CR more
  in.Add("", "");
  in.Add(" \t \r", "");
  in.Add("# a comment", "");
  in.Add(absl::string_view("  # \xff\0 comment", 14), "");
  in.AddHuge("#", "x", size_t{5} << 20, "");  // a huge comment
  in.AddHuge("", std::string(1, '\0'), size_t{1} << 20, "invalid-input");
  in.AddHuge("192.0.2.8,", "a", 4097, "invalid-input");  // 1 byte too long
  in.Add(std::string(300, 'x') + ".example", "invalid-input");  // label > 63
  in.Add("192.0.2.9", "blocked", "");  // a last line without LF
  in.Close();
  Outcome o;
  const std::map<int64_t, Json> by_line = ScanAndCheck(in, &o);
  unlink(in.path().c_str());
  std::cout << "[ measured ] hostile file (69 MiB, 21 lines): peak RSS "
            << o.max_rss_kib / 1024 << " MiB, " << absl::FormatDuration(o.took)
            << "\n";
  if (by_line.count(2) == 1) {
    EXPECT_TRUE(absl::StrContains(by_line.at(2).value("status_detail", ""),
                                  "longer than"))
        << by_line.at(2).dump();
  }
  if (by_line.count(11) == 1) {
    EXPECT_EQ(by_line.at(11).value("input", ""), "192.0.2.5");
  }
  if (kAsan) {
    std::cout << "[ note ] AddressSanitizer build: peak RSS not checked "
                 "(shadow memory and quarantine)\n";
  } else {
    EXPECT_LT(o.max_rss_kib, kHostileRssCapKiB);
  }
}

// A single huge line without a line end, and files with nothing to scan.
TEST(BadInputTest, EdgeFiles) {
  {
    InputBuilder in(TempPath("one_huge.txt"));
    in.Close();
    std::ofstream out(in.path(), std::ios::binary);
    const std::string chunk(1 << 20, '9');
    for (int i = 0; i < 32; ++i) out << chunk;
    out.close();
    const std::string output = TempPath("one_huge.ndjson");
    const Outcome o = RunSmtpscan({.args = ScanArgs(in.path(), output)});
    EXPECT_EQ(o.exit_code, 0) << o.Describe();
    std::vector<Json> records;
    ASSERT_TRUE(ParseRecords(ReadAll(output), &records));
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].value("line", -1), 1);
    EXPECT_EQ(records[0].value("status", ""), "invalid-input");
    if (!kAsan) {
      EXPECT_LT(o.max_rss_kib, kHostileRssCapKiB);
    }
    unlink(in.path().c_str());
    unlink(output.c_str());
  }
  for (const char* text :
       {"", "\n\n\n", "# only\n  #comments\n\r\n \t\n", "#no line end"}) {
    SCOPED_TRACE(absl::CHexEscape(text));
    const std::string input = TempPath("empty.txt");
    WriteFile(input, text);
    const std::string output = TempPath("empty.ndjson");
    const Outcome o = RunSmtpscan({.args = ScanArgs(input, output)});
    EXPECT_EQ(o.exit_code, 0) << o.Describe();
    EXPECT_EQ(o.err, "");
    EXPECT_EQ(ReadAll(output), "");
  }
}

// A big input piped through standard input, by a thread that generates it
// (a third blocked addresses, a third bad addresses, a third neither
// address nor domain): one record per line, and peak memory that does not
// grow with the length of the input. Measured (release, 2 shared cores):
// 3,000,000 lines in 2.7 to 5.5 s, peak RSS 18.4 MiB for 300,000 lines and
// for 3,000,000; under ASan 300,000 lines take about 3 to 6 s and its
// quarantine doubles the RSS (114 to 230 MiB), so it is not compared there.
struct StreamRun {
  Outcome outcome;
  int64_t records = 0;
  std::string first_problem;  // empty when every record was as expected
};

StreamRun ScanStream(int64_t lines) {
  StreamRun run;
  auto feed = [lines](int fd) {
    std::string chunk;
    for (int64_t i = 0; i < lines; ++i) {
      switch (i % 3) {
        case 0:
          absl::StrAppend(&chunk, BlockedAddress(i), "\n");
          break;
        case 1:
          absl::StrAppend(&chunk, "192.0.2.", 256 + i % 1000, "\n");
          break;
        default:
          absl::StrAppend(&chunk, "bad!line", i % 1000, "\n");
      }
      if (chunk.size() >= (64 << 10) || i + 1 == lines) {
        for (size_t done = 0; done < chunk.size();) {
          const ssize_t n = write(fd, chunk.data() + done, chunk.size() - done);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) {  // the scan went away: its outcome tells why
            close(fd);
            return;
          }
          done += static_cast<size_t>(n);
        }
        chunk.clear();
      }
    }
    close(fd);
  };
  // Records of blocked and invalid lines are written as the lines are
  // read, in order: record k is line k.
  auto drain = [&run](int fd) {
    std::string pending;
    char buffer[64 << 10];
    auto problem = [&run](std::string what) {
      if (run.first_problem.empty()) run.first_problem = std::move(what);
    };
    for (;;) {
      const ssize_t n = read(fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buffer, static_cast<size_t>(n));
      size_t begin = 0;
      for (size_t lf; (lf = pending.find('\n', begin)) != std::string::npos;
           begin = lf + 1) {
        const absl::string_view record(pending.data() + begin, lf - begin);
        const int64_t line = ++run.records;
        const absl::string_view want_status =
            (line - 1) % 3 == 0 ? "\"status\":\"blocked\""
                                : "\"status\":\"invalid-input\"";
        if (!absl::StartsWith(record, absl::StrCat("{\"line\":", line, ",")) ||
            !absl::StrContains(record, want_status)) {
          problem(absl::StrCat("record ", line, ": ", record));
        }
        if (line % 100'000 == 1) {  // a sample parsed in full
          Json j = Json::parse(record, nullptr, false);
          if (j.is_discarded() || !IsValidUtf8(record)) {
            problem(absl::StrCat("record ", line, " is not JSON: ", record));
          }
        }
      }
      pending.erase(0, begin);
    }
    if (!pending.empty()) problem("torn last record: " + pending);
    close(fd);
  };
  run.outcome = RunSmtpscan({.args = {"-i", "-", "-o", "-", "-q", "--ehlo-name",
                                      kEhlo, "--resolver", kDeadResolver},
                             .feed = feed,
                             .drain = drain,
                             .deadline = absl::Minutes(kAsan ? 20 : 5)});
  return run;
}

TEST(BadInputTest, BigInputOnStandardInputInBoundedMemory) {
  // Under ASan a tenth: its run time is about 10 times the release one.
  const int64_t big = kAsan ? 300'000 : 3'000'000;
  const int64_t small = big / 10;
  const StreamRun a = ScanStream(small);
  const StreamRun b = ScanStream(big);
  for (const auto& [lines, run] : {std::pair(small, &a), std::pair(big, &b)}) {
    SCOPED_TRACE(absl::StrCat(lines, " lines"));
    EXPECT_EQ(run->outcome.exit_code, 0) << run->outcome.Describe();
    EXPECT_EQ(run->outcome.err, "");
    EXPECT_EQ(run->records, lines);
    EXPECT_EQ(run->first_problem, "");
    std::cout << "[ measured ] " << lines << " lines on standard input: "
              << absl::FormatDuration(
                     absl::Trunc(run->outcome.took, absl::Milliseconds(1)))
              << ", peak RSS " << run->outcome.max_rss_kib << " KiB\n";
  }
  if (kAsan) {
    std::cout << "[ note ] AddressSanitizer build: peak RSS not compared "
                 "(its quarantine keeps freed memory)\n";
    return;
  }
  // Ten times the input may not cost more than 16 MiB more.
  EXPECT_LE(b.outcome.max_rss_kib, a.outcome.max_rss_kib + (16 << 10));
  EXPECT_LT(b.outcome.max_rss_kib, kHostileRssCapKiB);
}

// --- Bad command lines ------------------------------------------------------

// A command line that must be refused: `args` with placeholders (see
// Expand), the exit code, and what the one line on standard error must
// contain (the option's long name, first).
struct CliCase {
  std::string name;
  std::vector<std::string> args;
  int exit_code = 2;
  std::vector<std::string> parts = {};
  std::string prefix = "smtpscan: ";
};

// Just the name: gtest_discover_tests puts this in the ctest name, which
// must not hold the raw CR/LF of some cases (the failure message has the
// whole command line).
std::ostream& operator<<(std::ostream& os, const CliCase& c) {
  return os << c.name;
}

// A scan of a one-address input with `extra` arguments, refused naming
// `option`. --ehlo-name is added unless `extra` has one.
CliCase Scan(std::string name, std::vector<std::string> extra,
             std::string option) {
  CliCase c{std::move(name), {"-i", "@INPUT@", "-o", "@OUT@", "-q"}};
  const bool has_ehlo = std::any_of(
      extra.begin(), extra.end(),
      [](const std::string& a) { return absl::StartsWith(a, "--ehlo-name"); });
  if (!has_ehlo) c.args.insert(c.args.end(), {"--ehlo-name", kEhlo});
  c.args.insert(c.args.end(), extra.begin(), extra.end());
  c.parts = {std::move(option)};
  return c;
}

std::vector<CliCase> CliCases() {
  std::vector<CliCase> cases = {
      // Rates.
      Scan("RateNan", {"-r", "nan"}, "--rate"),
      Scan("RateNegative", {"-r", "-1"}, "--rate"),
      Scan("RateNegativeEq", {"--rate=-1"}, "--rate"),
      Scan("RateText", {"-r", "abc"}, "--rate"),
      Scan("RateInf", {"-r", "inf"}, "--rate"),
      Scan("DnsRateNan", {"--dns-rate", "nan"}, "--dns-rate"),
      Scan("DnsRateNegative", {"--dns-rate=-5"}, "--dns-rate"),
      // Durations in the wrong order.
      Scan("BackoffMaxBelowBackoff",
           {"--backoff", "10s", "--backoff-max", "1s"}, "--backoff-max"),
      // Source addresses.
      Scan("SourceAddressNotLocal", {"--source-address", "203.0.113.9"},
           "--source-address"),
      Scan("SourceAddressNotLocal6", {"--source-address", "2001:db8::9"},
           "--source-address"),
      Scan("SourceAddressNotAnAddress", {"--source-address", "nope"},
           "--source-address"),
      Scan("SourceAddressTwoIpv4",
           {"--source-address", "127.0.0.1", "--source-address", "127.0.0.2"},
           "--source-address"),
      // Resolvers, refused even though the input has no domain line.
      Scan("ResolverFiveOctets", {"--resolver", "1.2.3.4.5"}, "--resolver"),
      Scan("ResolverPortTooBig", {"--resolver", "[::1]:99999"}, "--resolver"),
      Scan("ResolverName", {"--resolver", "dns.example"}, "--resolver"),
      Scan("ResolverUnclosedBracket", {"--resolver", "[::1"}, "--resolver"),
      // EHLO names.
      Scan("EhloNameSpace", {"--ehlo-name", "bad name.x"}, "--ehlo-name"),
      Scan("EhloNameLeadingHyphen", {"--ehlo-name=-x.y"}, "--ehlo-name"),
      Scan("EhloNameLeadingHyphenSpace", {"--ehlo-name", "-x.y"},
           "--ehlo-name"),
      Scan("EhloNameCrLf", {"--ehlo-name", "scanner.example\r\nQUIT"},
           "--ehlo-name"),
      Scan("EhloNameLf", {"--ehlo-name", "scanner.example\nRSET"},
           "--ehlo-name"),
      Scan("EhloNameUnderscore", {"--ehlo-name", "scan_ner.example"},
           "--ehlo-name"),
      // --force-ehlo-name sends odd names (an underscore, no dot) as they
      // are, but never a line break or a space.
      Scan("EhloNameCrLfForced",
           {"--ehlo-name", "scanner.example\r\nQUIT", "--force-ehlo-name"},
           "--ehlo-name"),
      Scan("EhloNameSpaceForced",
           {"--ehlo-name", "bad name.x", "--force-ehlo-name"}, "--ehlo-name"),
      Scan("EhloNameNoDot", {"--ehlo-name", "scanner"}, "--ehlo-name"),
      Scan("EhloNameBadLiteral", {"--ehlo-name", "[192.0.2]"}, "--ehlo-name"),
      // Files.
      Scan("FingerprintsBadYaml", {"--fingerprints", "@BAD_YAML@"},
           "--fingerprints"),
      Scan("FingerprintsBadRule", {"--fingerprints", "@BAD_RULE@"},
           "--fingerprints"),
      Scan("FingerprintsMissing", {"--fingerprints", "@MISSING@"},
           "--fingerprints"),
      Scan("BlocklistBadFile", {"--blocklist", "@BAD_CIDR@"}, "--blocklist"),
      Scan("BlocklistMissing", {"--blocklist", "@MISSING@"}, "--blocklist"),
      Scan("AllowlistBadFile", {"--allowlist", "@BAD_CIDR@"}, "--allowlist"),
      Scan("OptOutBadFile", {"--opt-out", "@BAD_OPT_OUT@"}, "--opt-out"),
      Scan("CaFileNotPem", {"--ca-file", "@NOT_PEM@"}, "--ca-file"),
      Scan("CaFileDirectory", {"--ca-file", "@DIR@"}, "--ca-file"),
      // Checks that were already there.
      Scan("ShardOutOfRange", {"--shard", "5/2"}, "--shard"),
      Scan("ShardText", {"--shard", "half"}, "--shard"),
      Scan("FormatUnknown", {"--format", "xml"}, "--format"),
      Scan("PortZero", {"-p", "0"}, "--ports"),
      Scan("PortTooBig", {"-p", "70000"}, "--ports"),
      Scan("PortText", {"-p", "smtp"}, "--ports"),
      Scan("PortEmpty", {"-p", ""}, "--ports"),
      Scan("ImplicitTlsPortZero", {"--implicit-tls-ports", "0"},
           "--implicit-tls-ports"),
      Scan("StartTlsUnknown", {"--starttls", "maybe"}, "--starttls"),
      Scan("ThreadsTooMany", {"--threads", "1000"}, "--threads"),
      Scan("ThreadsNegative", {"--threads=-1"}, "--threads"),
      Scan("ConcurrencyZero", {"-c", "0"}, "--concurrency"),
      Scan("ConcurrencyText", {"-c", "many"}, "--concurrency"),
      Scan("PerAddressZero", {"--per-address", "0"}, "--per-address"),
      Scan("PerProviderNegative", {"--per-provider=-1"}, "--per-provider"),
      Scan("MaxMxZero", {"--max-mx", "0"}, "--max-mx"),
      Scan("Ipv4AndIpv6Only", {"-4", "-6"}, "--ipv"),
      Scan("MtaStsPortZero", {"--mta-sts-port", "0"}, "--mta-sts-port"),
      Scan("MtaStsPortTooBig", {"--mta-sts-port", "70000"}, "--mta-sts-port"),
      Scan("DnsTriesZero", {"--dns-tries", "0"}, "--dns-tries"),
      Scan("DnsTriesTooMany", {"--dns-tries", "11"}, "--dns-tries"),
      Scan("DnsMaxInflightZero", {"--dns-max-inflight", "0"},
           "--dns-max-inflight"),
      Scan("LayoutUnknown", {"--layout", "flat"}, "--layout"),
      Scan("LayoutSplitWithCsv", {"--layout", "split", "--format", "csv"},
           "--layout"),
      {"ResumeToStandardOutput",
       {"-i", "@INPUT@", "-o", "-", "--resume", "-q", "--ehlo-name", kEhlo},
       2,
       {"--resume"}},
      Scan("UnknownOption", {"--bogus"}, "--bogus"),
      Scan("StrayPositional", {"stray-word"}, "stray-word"),
      {"InputMissing", {"-o", "@OUT@", "--ehlo-name", kEhlo}, 2, {"--input"}},
      {"InputWithoutValue", {"-i"}, 2, {"--input"}},
      // replay.
      {"ReplayMissingFile", {"replay", "@MISSING@"}, 2, {"@MISSING@"}},
      {"ReplayNoFile", {"replay"}, 2, {"transcripts"}},
      {"ReplayFormatUnknown",
       {"replay", "@TRANSCRIPT@", "--format", "xml"},
       2,
       {"--format"}},
      {"ReplayStartTlsUnknown",
       {"replay", "@TRANSCRIPT@", "--starttls", "maybe"},
       2,
       {"--starttls"}},
      {"ReplayPortText",
       {"replay", "@TRANSCRIPT@", "--port", "smtp"},
       2,
       {"--port"}},
      {"ReplayOutputFull",
       {"replay", "@TRANSCRIPT@", "-o", "/dev/full"},
       1,
       {"/dev/full"},
       "smtpscan replay: "},
      {"ReplayOutputNoDir",
       {"replay", "@TRANSCRIPT@", "-o", "/nonexistent-dir/out.ndjson"},
       1,
       {"/nonexistent-dir/out.ndjson"},
       "smtpscan replay: "},
      // fingerprint.
      {"FingerprintNoInput", {"fingerprint"}, 2, {"--input"}},
      {"FingerprintMissingInput",
       {"fingerprint", "-i", "@MISSING@"},
       1,
       {"@MISSING@"},
       "smtpscan fingerprint: "},
      {"FingerprintDirectoryInput",
       {"fingerprint", "-i", "@DIR@", "-o", "@OUT@"},
       1,
       {"@DIR@", "Is a directory"},
       "smtpscan fingerprint: "},
      {"FingerprintOutputFull",
       {"fingerprint", "-i", "@RECORDS@", "-o", "/dev/full", "-q"},
       1,
       {"/dev/full", "No space left on device"},
       "smtpscan fingerprint: "},
      {"FingerprintOutputNoDir",
       {"fingerprint", "-i", "@RECORDS@", "-o", "/nonexistent-dir/x.ndjson"},
       1,
       {"/nonexistent-dir/x.ndjson"},
       "smtpscan fingerprint: "},
      {"FingerprintBadRules",
       {"fingerprint", "-i", "@RECORDS@", "-o", "@OUT@", "--fingerprints",
        "@BAD_YAML@"},
       2,
       {"--fingerprints"},
       "smtpscan fingerprint: "},
  };
  // Every duration option: out of range (1ms to 24h) or not a duration.
  for (const char* option :
       {"--connect-timeout", "--greeting-timeout", "--reply-timeout",
        "--session-timeout", "--dns-timeout", "--mta-sts-timeout",
        "--grace-time", "--backoff", "--backoff-max"}) {
    std::vector<std::pair<std::string, std::string>> values = {
        {"25h", "TooLong"}, {"abc", "Text"}, {"-1s", "Negative"},
        {"inf", "Inf"},     {"nan", "Nan"},  {"1e300", "Huge"},
        {"1us", "TooShort"}};
    if (std::string(option) != "--backoff") values.push_back({"0", "Zero"});
    std::string base;
    for (absl::string_view word : absl::StrSplit(option + 2, '-')) {
      absl::StrAppend(&base, absl::AsciiStrToUpper(word.substr(0, 1)),
                      word.substr(1));
    }
    for (const auto& [value, suffix] : values) {
      cases.push_back(
          Scan(base + suffix, {absl::StrCat(option, "=", value)}, option));
    }
  }
  return cases;
}

class BadCommandLineTest : public ::testing::TestWithParam<CliCase> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(TempPath("cli"));
    mkdir(dir_->c_str(), 0755);
    auto file = [](absl::string_view name, absl::string_view text) {
      const std::string path = absl::StrCat(*dir_, "/", name);
      WriteFile(path, text);
      return path;
    };
    places_ = new std::map<std::string, std::string>{
        {"@INPUT@", file("input.txt", "192.0.2.1\n")},
        {"@OUT@", absl::StrCat(*dir_, "/out.ndjson")},
        {"@MISSING@", absl::StrCat(*dir_, "/no-such-file")},
        {"@DIR@", absl::StrCat(*dir_, "/a-directory")},
        {"@BAD_YAML@", file("bad.yaml", "rules: [unclosed\n  - {\n")},
        {"@BAD_RULE@",
         file("bad_rule.yaml",
              "rules:\n  - product: X\n    greeting: \"([unclosed\"\n")},
        {"@BAD_CIDR@", file("bad_cidr.txt", "192.0.2.0/24\nnot-a-cidr\n")},
        {"@BAD_OPT_OUT@",
         file("bad_opt_out.txt", "example.org\n300.1.2.3/8\n")},
        {"@NOT_PEM@", file("not.pem", "this is not a certificate\n")},
        {"@TRANSCRIPT@", absl::StrCat(SMTPSCAN_TEST_DATA_DIR,
                                      "/transcripts/exim-debian.transcript")},
        {"@RECORDS@",
         file("records.ndjson",
              "{\"line\":1,\"input\":\"192.0.2.1\",\"kind\":\"address\","
              "\"address\":\"192.0.2.1\",\"status\":\"blocked\","
              "\"status_detail\":\"reserved\",\"probes\":[]}\n")},
    };
    mkdir(places_->at("@DIR@").c_str(), 0755);
  }
  static void TearDownTestSuite() {
    for (const auto& [key, path] : *places_) {
      if (key == "@DIR@") {
        rmdir(path.c_str());
      } else if (key != "@TRANSCRIPT@") {
        unlink(path.c_str());
      }
    }
    rmdir(dir_->c_str());
    delete places_;
    delete dir_;
  }
  static std::string Expand(const std::string& text) {
    return absl::StrReplaceAll(text, *places_);
  }
  static std::string* dir_;
  static std::map<std::string, std::string>* places_;
};

std::string* BadCommandLineTest::dir_ = nullptr;
std::map<std::string, std::string>* BadCommandLineTest::places_ = nullptr;

TEST_P(BadCommandLineTest, RefusedWithOneLineNamingTheOption) {
  const CliCase& c = GetParam();
  Launch launch;
  for (const std::string& a : c.args) launch.args.push_back(Expand(a));
  std::vector<std::string> parts = {};
  for (const std::string& p : c.parts) parts.push_back(Expand(p));
  const Outcome o = RunSmtpscan(launch);
  std::cout << "[ stderr ] " << absl::CHexEscape(o.err) << "\n";
  EXPECT_TRUE(FailedWithOneLine(o, c.exit_code, parts, c.prefix))
      << "smtpscan " << absl::CHexEscape(absl::StrJoin(launch.args, " "));
}

INSTANTIATE_TEST_SUITE_P(Options, BadCommandLineTest,
                         ::testing::ValuesIn(CliCases()),
                         [](const ::testing::TestParamInfo<CliCase>& p) {
                           return p.param.name;
                         });

// Standard output that fails, for the subcommands.
TEST(SubcommandOutputTest, StandardOutputFailures) {
  const std::string transcript = absl::StrCat(
      SMTPSCAN_TEST_DATA_DIR, "/transcripts/exim-debian.transcript");
  const std::string records = TempPath("sub_records.ndjson");
  {
    std::string text;
    for (int i = 0; i < kManyLines; ++i) {
      absl::StrAppend(&text, "{\"line\":", i + 1,
                      ",\"input\":\"192.0.2.1\",\"kind\":\"address\","
                      "\"address\":\"192.0.2.1\",\"status\":\"blocked\","
                      "\"status_detail\":\"reserved\",\"probes\":[]}\n");
    }
    WriteFile(records, text);
  }
  const std::vector<std::string> replay = {"replay", transcript};
  const std::vector<std::string> fingerprint = {"fingerprint", "-i", records,
                                                "-q"};
  EXPECT_TRUE(FailedWithOneLine(
      RunSmtpscan({.args = replay, .stdout_path = "/dev/full"}), 1,
      {"standard output"}, "smtpscan replay: "));
  EXPECT_TRUE(FailedWithOneLine(
      RunSmtpscan({.args = fingerprint, .stdout_path = "/dev/full"}), 1,
      {"cannot write standard output", "No space left on device"},
      "smtpscan fingerprint: "));
  for (const auto& [args, prefix] :
       {std::pair(replay, "smtpscan replay: "),
        std::pair(fingerprint, "smtpscan fingerprint: ")}) {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    close(fds[0]);
    const Outcome o = RunSmtpscan({.args = args, .stdout_fd = fds[1]});
    close(fds[1]);
    EXPECT_TRUE(FailedWithOneLine(o, 1, {"standard output"}, prefix));
  }
  unlink(records.c_str());
}

TEST(BadInputTest, MetadataThroughASymlinkKeepsTheLink) {
  // -m writes a temporary file and renames it over the target: through a
  // symbolic link, the file it names is replaced and the link stays (a
  // device or FIFO is written in place; not tested here, as a regression
  // would replace a device node when run as root).
  const std::string input = TempPath("meta_link.txt");
  std::ofstream(input) << "192.0.2.1\n";
  const std::string real = TempPath("meta_real.json");
  const std::string link = TempPath("meta_link.json");
  std::ofstream(real) << "{}\n";
  unlink(link.c_str());
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0) << strerror(errno);
  std::vector<std::string> args = ScanArgs(input, "/dev/null");
  args.insert(args.end(), {"-m", link});
  const Outcome o = RunSmtpscan({.args = args});
  EXPECT_EQ(o.exit_code, 0) << o.Describe();
  struct stat st;
  ASSERT_EQ(lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the link was replaced by a file";
  const Json metadata = Json::parse(ReadAll(real), nullptr, false);
  ASSERT_FALSE(metadata.is_discarded()) << ReadAll(real);
  EXPECT_EQ(metadata["exit_code"], 0);
  unlink(link.c_str());
}

}  // namespace
}  // namespace smtpscan
