#include "scan/target_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smtpscan::scan {
namespace {

using ::testing::HasSubstr;

struct Line {
  uint64_t number;
  std::string text;
  bool too_long;

  bool operator==(const Line&) const = default;
  friend std::ostream& operator<<(std::ostream& os, const Line& line) {
    return os << "{" << line.number << ", \"" << absl::CHexEscape(line.text)
              << "\"" << (line.too_long ? ", too_long" : "") << "}";
  }
};

// An in-memory file holding `text`, positioned at its start.
class MemFile {
 public:
  explicit MemFile(absl::string_view text) {
    fd_ = memfd_create("target_reader_test", MFD_CLOEXEC);
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = write(fd_, text.data() + done, text.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    EXPECT_EQ(done, text.size());
    lseek(fd_, 0, SEEK_SET);
  }
  ~MemFile() { close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// Every line the reader yields for `fd`; the test fails on a read error.
std::vector<Line> ReadAll(int fd, size_t max_line, size_t chunk) {
  TargetReader reader(fd, max_line, chunk);
  std::vector<Line> lines;
  for (;;) {
    absl::StatusOr<absl::optional<InputLine>> next = reader.Next();
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok() || !next->has_value()) break;
    lines.push_back({(*next)->number, (*next)->text, (*next)->too_long});
  }
  // The end is sticky.
  absl::StatusOr<absl::optional<InputLine>> again = reader.Next();
  EXPECT_TRUE(again.ok() && !again->has_value());
  return lines;
}

std::vector<Line> ReadText(absl::string_view text, size_t max_line,
                           size_t chunk) {
  MemFile file(text);
  return ReadAll(file.fd(), max_line, chunk);
}

// The reader's contract, written the plain way: the whole text in memory.
std::vector<Line> Reference(absl::string_view text, size_t max_line) {
  std::vector<Line> lines;
  uint64_t number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t lf = text.find('\n', pos);
    absl::string_view line = text.substr(pos, lf - pos);
    pos = lf == absl::string_view::npos ? text.size() : lf + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool too_long = line.size() > max_line;
    if (too_long) {
      line = line.substr(0, std::min(max_line, TargetReader::kExcerptBytes));
    }
    const absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(line);
    if (trimmed.empty() && !too_long) continue;
    if (!trimmed.empty() && trimmed.front() == '#') continue;
    lines.push_back({number, std::string(line), too_long});
  }
  return lines;
}

// Checks the reader against Reference() for every chunk size up to
// `max_chunk` (and the default), so chunk boundaries fall everywhere:
// inside CRLF, inside lines, right before and after LF.
void ExpectEveryChunking(absl::string_view text, size_t max_line,
                         size_t max_chunk) {
  const std::vector<Line> expected = Reference(text, max_line);
  for (size_t chunk = 1; chunk <= max_chunk; ++chunk) {
    SCOPED_TRACE(absl::StrCat("chunk ", chunk));
    ASSERT_EQ(ReadText(text, max_line, chunk), expected);
  }
  ASSERT_EQ(ReadText(text, max_line, TargetReader::kDefaultChunkBytes),
            expected);
}

TEST(TargetReaderTest, CommentsBlankLinesCrlfAndLastLine) {
  const std::string text =
      "192.0.2.1\r\n"
      "\n"
      "# a comment\n"
      "  \t# indented comment\r\n"
      " \t \r\n"
      "192.0.2.2:25\n"
      " 192.0.2.3 \n"
      "\r\n"
      "192.0.2.4";
  const std::vector<Line> expected = {
      {1, "192.0.2.1", false},
      {6, "192.0.2.2:25", false},
      {7, " 192.0.2.3 ", false},
      {9, "192.0.2.4", false},
  };
  EXPECT_EQ(ReadText(text, 4096, 65536), expected);
  ExpectEveryChunking(text, 4096, 40);
}

TEST(TargetReaderTest, CarriageReturns) {
  const std::string text = "a\r\r\nb\rc\n\rd\nlast\r";
  const std::vector<Line> expected = {
      {1, "a\r", false},
      {2, "b\rc", false},
      {3, "\rd", false},
      {4, "last", false},
  };
  EXPECT_EQ(ReadText(text, 4096, 65536), expected);
  ExpectEveryChunking(text, 4096, 20);
}

TEST(TargetReaderTest, NulBytesAreKept) {
  const std::string text("1.2.3.4\0x\n\0\n", 12);
  const std::vector<Line> expected = {
      {1, std::string("1.2.3.4\0x", 9), false},
      {2, std::string("\0", 1), false},
  };
  EXPECT_EQ(ReadText(text, 4096, 65536), expected);
  ExpectEveryChunking(text, 4096, 12);
}

TEST(TargetReaderTest, EmptyInputs) {
  EXPECT_TRUE(ReadText("", 4096, 65536).empty());
  EXPECT_TRUE(ReadText("\n\n\n", 4096, 65536).empty());
  EXPECT_TRUE(ReadText("# only\n#comments", 4096, 65536).empty());
  EXPECT_TRUE(ReadText("\r", 4096, 65536).empty());
}

TEST(TargetReaderTest, OverlongLineInTheMiddleResyncs) {
  const size_t kMax = 16;
  const std::string text = absl::StrCat(
      "short\n", std::string(40, 'x'), "\nnext\r\n", std::string(17, 'y'),
      "\r\n", std::string(100, 'z'), "\n", "after\n");
  const std::vector<Line> expected = {
      {1, "short", false},
      {2, std::string(16, 'x'), true},
      {3, "next", false},
      {4, std::string(16, 'y'), true},
      {5, std::string(16, 'z'), true},
      {6, "after", false},
  };
  EXPECT_EQ(ReadText(text, kMax, 65536), expected);
  ExpectEveryChunking(text, kMax, 64);
}

TEST(TargetReaderTest, LengthLimitIsExact) {
  const size_t kMax = 8;
  const std::string at_max(kMax, 'a');
  const std::string over(kMax + 1, 'b');
  const struct {
    std::string text;
    std::vector<Line> expected;
  } kCases[] = {
      {at_max + "\n", {{1, at_max, false}}},
      {at_max + "\r\n", {{1, at_max, false}}},
      {at_max, {{1, at_max, false}}},
      {at_max + "\r", {{1, at_max, false}}},
      {over + "\n", {{1, over.substr(0, kMax), true}}},
      {over + "\r\n", {{1, over.substr(0, kMax), true}}},
      {over, {{1, over.substr(0, kMax), true}}},
      // A CR that turns out not to end the line counts.
      {at_max + "\rx\n", {{1, at_max, true}}},
      {at_max + "\r\r\n", {{1, at_max, true}}},
      {at_max + "\r\r", {{1, at_max, true}}},
      {at_max + "\n" + over + "\n" + at_max,
       {{1, at_max, false},
        {2, over.substr(0, kMax), true},
        {3, at_max, false}}},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(absl::CHexEscape(c.text));
    EXPECT_EQ(Reference(c.text, kMax), c.expected);
    ExpectEveryChunking(c.text, kMax, c.text.size() + 1);
  }
}

TEST(TargetReaderTest, OverlongExcerptIsCapped) {
  const std::string long_line = std::string(300, 'a') + std::string(4800, 'b');
  const std::string text = "1.2.3.4\n" + long_line + "\n5.6.7.8\n";
  const std::vector<Line> expected = {
      {1, "1.2.3.4", false},
      {2, std::string(256, 'a'), true},
      {3, "5.6.7.8", false},
  };
  EXPECT_EQ(ReadText(text, 4096, 65536), expected);
  EXPECT_EQ(ReadText(text, 4096, 1000), expected);
  EXPECT_EQ(ReadText(text, 4096, 7), expected);
}

TEST(TargetReaderTest, OverlongCommentIsSkipped) {
  const std::string text =
      "# " + std::string(10000, 'c') + "\n" + std::string(5000, ' ') + "\nok\n";
  const std::vector<Line> expected = {
      {2, std::string(256, ' '), true},
      {3, "ok", false},
  };
  EXPECT_EQ(ReadText(text, 4096, 65536), expected);
  EXPECT_EQ(ReadText(text, 4096, 100), expected);
}

TEST(TargetReaderTest, OneMegabyteLine) {
  std::string text = "192.0.2.1\n";
  text.append(1 << 20, 'x');
  text += "\n192.0.2.2\n";
  text.append(1 << 20, 'y');  // a last line without LF
  MemFile file(text);
  TargetReader reader(file.fd());
  std::vector<Line> lines;
  for (;;) {
    absl::StatusOr<absl::optional<InputLine>> next = reader.Next();
    ASSERT_TRUE(next.ok()) << next.status();
    if (!next->has_value()) break;
    lines.push_back({(*next)->number, (*next)->text, (*next)->too_long});
  }
  const std::vector<Line> expected = {
      {1, "192.0.2.1", false},
      {2, std::string(256, 'x'), true},
      {3, "192.0.2.2", false},
      {4, std::string(256, 'y'), true},
  };
  EXPECT_EQ(lines, expected);
  EXPECT_EQ(reader.lines_seen(), 4u);
  EXPECT_LE(reader.buffer_capacity(), TargetReader::kDefaultChunkBytes +
                                          TargetReader::kDefaultMaxLineBytes +
                                          1);
}

TEST(TargetReaderTest, LinesSeenCountsSkippedLines) {
  MemFile file("a\n#\n\nb\n\n");
  TargetReader reader(file.fd());
  ASSERT_EQ((*reader.Next())->number, 1u);
  ASSERT_EQ((*reader.Next())->number, 4u);
  ASSERT_FALSE(reader.Next()->has_value());
  EXPECT_EQ(reader.lines_seen(), 5u);
}

// Random texts over the bytes that matter, every chunking, random limits.
TEST(TargetReaderTest, RandomTextsMatchReference) {
  std::mt19937 rng(20240611);
  const char kAlphabet[] = {'a', 'b', ' ', '\t', '#', '\r', '\n', '\0'};
  for (int round = 0; round < 300; ++round) {
    const size_t size = rng() % 120;
    std::string text;
    for (size_t i = 0; i < size; ++i) {
      text += kAlphabet[rng() % sizeof(kAlphabet)];
    }
    const size_t max_line = 1 + rng() % 12;
    SCOPED_TRACE(absl::StrCat("max ", max_line, " text \"",
                              absl::CHexEscape(text), "\""));
    ExpectEveryChunking(text, max_line, 24);
  }
}

TEST(TargetReaderTest, ReadErrorIsReported) {
  const int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  TargetReader reader(fd);
  absl::StatusOr<absl::optional<InputLine>> next = reader.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_THAT(next.status().message(), HasSubstr("reading input"));
  EXPECT_THAT(next.status().message(), HasSubstr(std::strerror(EISDIR)));
  // The error is sticky.
  EXPECT_EQ(reader.Next().status(), next.status());
  close(fd);
}

TEST(TargetReaderTest, BadDescriptorIsReported) {
  TargetReader reader(-1);
  absl::StatusOr<absl::optional<InputLine>> next = reader.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_THAT(next.status().message(), HasSubstr(std::strerror(EBADF)));
}

// Writes `text` to `fd` in pieces of 1..997 bytes, then closes it.
void WriteInPieces(int fd, const std::string& text) {
  size_t done = 0;
  size_t piece = 1;
  while (done < text.size()) {
    const size_t n = std::min(piece, text.size() - done);
    const ssize_t written = write(fd, text.data() + done, n);
    if (written <= 0) break;
    done += static_cast<size_t>(written);
    piece = piece % 997 + 1;
  }
  close(fd);
}

TEST(TargetReaderTest, ReadsAPipeWrittenInPieces) {
  std::string text;
  for (int i = 0; i < 5000; ++i) {
    absl::StrAppend(&text, "192.0.2.", i % 256, i % 3 == 0 ? "\r\n" : "\n");
    if (i % 1000 == 0)
      absl::StrAppend(&text, "#", std::string(9000, 'c'), "\n");
    if (i % 700 == 0) absl::StrAppend(&text, std::string(6000, 'L'), "\n");
  }
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::thread writer(WriteInPieces, fds[1], text);
  const std::vector<Line> lines = ReadAll(fds[0], 4096, 4096);
  writer.join();
  close(fds[0]);
  EXPECT_EQ(lines, Reference(text, 4096));
  EXPECT_EQ(lines.size(), 5000u + 8u);
}

TEST(TargetReaderTest, ReadsStandardInput) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const int saved_stdin = dup(0);
  ASSERT_GE(saved_stdin, 0);
  ASSERT_EQ(dup2(fds[0], 0), 0);
  close(fds[0]);
  std::thread writer(WriteInPieces, fds[1], std::string("a\nb\n"));
  const std::vector<Line> lines = ReadAll(0, 4096, 65536);
  writer.join();
  dup2(saved_stdin, 0);
  close(saved_stdin);
  const std::vector<Line> expected = {{1, "a", false}, {2, "b", false}};
  EXPECT_EQ(lines, expected);
}

// 200 MB through a pipe: memory stays at the fixed buffer, whatever the
// stream holds (short lines, over-long lines, a huge comment).
TEST(TargetReaderTest, MemoryIsBoundedOnA200MegabyteStream) {
  constexpr size_t kTotal = 200u << 20;
  std::string block;
  for (int i = 0; i < 1000; ++i)
    absl::StrAppend(&block, "198.51.100.", i % 256, "\n");
  const size_t short_lines_per_block = 1000;
  block += std::string(300 << 10, 'L') + "\n";  // one over-long line
  block += "#" + std::string(200 << 10, 'c') + "\n";
  const size_t blocks = kTotal / block.size() + 1;

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::thread writer([fd = fds[1], &block, blocks] {
    for (size_t b = 0; b < blocks; ++b) {
      size_t done = 0;
      while (done < block.size()) {
        const ssize_t n = write(fd, block.data() + done, block.size() - done);
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
    }
    close(fd);
  });

  TargetReader reader(fds[0]);
  size_t short_lines = 0;
  size_t long_lines = 0;
  size_t max_capacity = 0;
  uint64_t last_number = 0;
  bool ok = true;
  for (;;) {
    absl::StatusOr<absl::optional<InputLine>> next = reader.Next();
    if (!next.ok() || !next->has_value()) {
      ok = next.ok();
      break;
    }
    ok = ok && (*next)->number > last_number;
    last_number = (*next)->number;
    ++((*next)->too_long ? long_lines : short_lines);
    max_capacity = std::max(max_capacity, reader.buffer_capacity());
  }
  writer.join();
  close(fds[0]);
  EXPECT_TRUE(ok);
  EXPECT_EQ(short_lines, blocks * short_lines_per_block);
  EXPECT_EQ(long_lines, blocks);
  EXPECT_EQ(reader.lines_seen(), blocks * (short_lines_per_block + 2));
  EXPECT_LT(max_capacity, 1u << 20);
}

}  // namespace
}  // namespace smtpscan::scan
