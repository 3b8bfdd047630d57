// Streaming reader of the input file: one line at a time, bounded memory.
//
// Reads a file descriptor in chunks and yields its lines with their 1-based
// line numbers. It never holds more than one chunk plus one maximal line, so
// memory does not grow with the file (DESIGN.md principle 4). Line handling:
//
//   - a line ends at LF; a CR right before the LF (or before the end of the
//     input, for a last line without LF) is removed, any other CR is kept;
//   - a last line without LF is a line;
//   - blank lines (only ASCII whitespace) and comment lines (the first
//     non-whitespace byte is '#') are skipped, but still counted;
//   - NUL and other bytes are kept as they are (the target parser rejects
//     them with a reason);
//   - a line longer than `max_line_bytes` (not counting its line end) is
//     yielded as soon as that is known, as an InputLine with too_long set and
//     only its first min(kExcerptBytes, max_line_bytes) bytes; the rest of it
//     is read and dropped without buffering, and reading resumes after its
//     LF. A too-long line whose excerpt is a comment is skipped like any
//     comment.
//
// Which lines are yielded, and their contents, depend only on the bytes,
// never on how read(2) or the chunk size split them.
#ifndef SMTPSCAN_SCAN_TARGET_READER_H_
#define SMTPSCAN_SCAN_TARGET_READER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/optional.h"

namespace smtpscan::scan {

struct InputLine {
  uint64_t number = 0;  // 1-based line number in the input
  // The line without its line end; for a too-long line, its first bytes.
  std::string text;
  bool too_long = false;  // the line was over the reader's max_line_bytes
};

class TargetReader {
 public:
  static constexpr size_t kDefaultMaxLineBytes = 4096;
  static constexpr size_t kDefaultChunkBytes = 64 << 10;
  static constexpr size_t kExcerptBytes = 256;  // kept of a too-long line

  // Reads from `fd` (0 for standard input), which must be open for reading
  // and blocking; the reader does not own or close it. `max_line_bytes` and
  // `chunk_bytes` are raised to 1 if 0. The buffer, allocated here, holds
  // chunk_bytes + max_line_bytes + 1 bytes and never grows.
  explicit TargetReader(int fd, size_t max_line_bytes = kDefaultMaxLineBytes,
                        size_t chunk_bytes = kDefaultChunkBytes);

  TargetReader(const TargetReader&) = delete;
  TargetReader& operator=(const TargetReader&) = delete;

  // The next line, nullopt at the end of the input, or the read(2) error
  // (an absl::Status from errno, e.g. "reading input: Is a directory").
  // After the end or an error every call returns the same again. Interrupted
  // reads (EINTR) are retried.
  absl::StatusOr<absl::optional<InputLine>> Next();

  // Lines consumed so far, including skipped and partly read ones.
  uint64_t lines_seen() const { return line_number_ - 1; }

  // Bytes the reader has allocated for its buffer (for memory-bound tests).
  size_t buffer_capacity() const { return buffer_.capacity(); }

 private:
  // Reads up to chunk_bytes_ more bytes after end_, moving the unconsumed
  // bytes to the front first when the tail lacks room. Sets eof_ on end of
  // input, error_ on failure.
  void Fill();
  // Makes the line [begin, begin + size) (CR already removed) a result, or
  // nullopt when it is blank or a comment.
  absl::optional<InputLine> Emit(const char* begin, size_t size, bool too_long);

  const int fd_;
  const size_t max_line_bytes_;
  const size_t chunk_bytes_;
  std::vector<char> buffer_;
  size_t begin_ = 0;          // first unconsumed byte in buffer_
  size_t end_ = 0;            // one past the last byte read into buffer_
  size_t scanned_ = 0;        // bytes from begin_ known to contain no LF
  uint64_t line_number_ = 1;  // number of the line being read
  bool skipping_ = false;     // dropping the rest of a too-long line
  bool eof_ = false;
  absl::Status error_;
};

}  // namespace smtpscan::scan

#endif  // SMTPSCAN_SCAN_TARGET_READER_H_
