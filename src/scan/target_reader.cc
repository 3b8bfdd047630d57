#include "scan/target_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"

namespace smtpscan::scan {

TargetReader::TargetReader(int fd, size_t max_line_bytes, size_t chunk_bytes)
    : fd_(fd),
      max_line_bytes_(std::max<size_t>(max_line_bytes, 1)),
      chunk_bytes_(std::max<size_t>(chunk_bytes, 1)),
      // A line still being read holds at most max_line_bytes_ + 1 bytes (the
      // last may be the CR of its line end); one chunk is read after it.
      buffer_(chunk_bytes_ + max_line_bytes_ + 1) {}

void TargetReader::Fill() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (buffer_.size() - end_ < chunk_bytes_) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  const size_t room = std::min(chunk_bytes_, buffer_.size() - end_);
  for (;;) {
    const ssize_t n = read(fd_, buffer_.data() + end_, room);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return;
    }
    if (n == 0) {
      eof_ = true;
      return;
    }
    if (errno != EINTR) {
      error_ = absl::ErrnoToStatus(errno, "reading input");
      return;
    }
  }
}

absl::optional<InputLine> TargetReader::Emit(const char* begin, size_t size,
                                             bool too_long) {
  const char* end = begin + size;
  if (too_long) end = begin + std::min({size, kExcerptBytes, max_line_bytes_});
  const char* first = std::find_if_not(begin, end, [](char c) {
    return absl::ascii_isspace(static_cast<unsigned char>(c));
  });
  // Blank: only whitespace. A too-long line is never known to be blank, as
  // only its excerpt is looked at.
  if (first == end && !too_long) return absl::nullopt;
  if (first != end && *first == '#') return absl::nullopt;
  InputLine line;
  line.number = line_number_;
  line.text.assign(begin, end);
  line.too_long = too_long;
  return line;
}

absl::StatusOr<absl::optional<InputLine>> TargetReader::Next() {
  for (;;) {
    if (!error_.ok()) return error_;
    char* const data = buffer_.data();
    if (skipping_) {
      // The rest of a too-long line: drop everything up to its LF.
      const void* lf = std::memchr(data + begin_, '\n', end_ - begin_);
      if (lf != nullptr) {
        begin_ = static_cast<const char*>(lf) - data + 1;
        skipping_ = false;
        ++line_number_;
        continue;
      }
      begin_ = end_ = 0;
      if (eof_) {
        skipping_ = false;
        ++line_number_;
        return absl::optional<InputLine>();
      }
      Fill();
      continue;
    }

    const char* const start = data + begin_;
    const size_t pending = end_ - begin_;
    const void* lf = std::memchr(start + scanned_, '\n', pending - scanned_);
    if (lf != nullptr) {
      size_t size = static_cast<const char*>(lf) - start;
      begin_ += size + 1;
      scanned_ = 0;
      if (size > 0 && start[size - 1] == '\r') --size;
      absl::optional<InputLine> line =
          Emit(start, size, size > max_line_bytes_);
      ++line_number_;
      if (line.has_value()) return line;
      continue;
    }
    scanned_ = pending;

    // No LF yet. The line is too long once it cannot end within the limit:
    // more than max + 1 bytes, or max + 1 whose last is not a CR (a CR there
    // could still be the start of the line's CRLF).
    if (pending > max_line_bytes_ + 1 ||
        (pending == max_line_bytes_ + 1 && start[max_line_bytes_] != '\r')) {
      absl::optional<InputLine> line = Emit(start, pending, true);
      skipping_ = true;
      begin_ = end_ = scanned_ = 0;
      if (line.has_value()) return line;
      continue;
    }

    if (eof_) {
      if (pending == 0) return absl::optional<InputLine>();
      // A last line without LF.
      size_t size = pending;
      if (start[size - 1] == '\r') --size;
      begin_ = end_ = scanned_ = 0;
      absl::optional<InputLine> line =
          Emit(start, size, size > max_line_bytes_);
      ++line_number_;
      if (line.has_value()) return line;
      continue;
    }
    Fill();
  }
}

}  // namespace smtpscan::scan
