// Where a scan's output bytes go: a file or standard output, plain or
// compressed by the file name's extension.
//
// Compressed output is a sequence of self-contained zstd frames (.zst) or
// gzip members (.gz), one per OutputSink::Write. Both formats define a
// concatenation of frames/members as one stream, so:
//   - a file cut anywhere (SIGKILL, power loss after sync) decompresses up to
//     the last complete Write; only the torn last frame is lost;
//   - `cat a.ndjson.zst b.ndjson.zst > all.ndjson.zst` is a valid merge;
//   - --resume (output/resume.h) cuts a torn frame away and appends new ones.
// Writes are whole records (the scan flushes at record boundaries, every
// 64 KiB or 250 ms), so a complete frame never ends inside a record.
#ifndef SMTPSCAN_OUTPUT_SINK_H_
#define SMTPSCAN_OUTPUT_SINK_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smtpscan::output {

enum class Compression : uint8_t { kNone, kGzip, kZstd };

// ".gz" → gzip, ".zst" → zstd (case-insensitive), anything else (and "-")
// → none.
Compression CompressionForPath(absl::string_view path);
// "none", "gzip", "zstd".
absl::string_view CompressionName(Compression compression);

// Levels used for output. With one frame per 64 KiB write, zstd level 3
// (its default) gives nearly the ratio of level 9 at a quarter of the CPU
// on scan records; see README "Compressed output" for the measurements.
inline constexpr int kZstdLevel = 3;
inline constexpr int kGzipLevel = 6;  // zlib's default

// Compresses data into self-contained frames (zstd, with content checksum)
// or members (gzip). Not thread-safe.
class FrameEncoder {
 public:
  // `level` 0 means the default for the compression (kZstdLevel,
  // kGzipLevel). REQUIRES: compression != kNone.
  static std::unique_ptr<FrameEncoder> Create(Compression compression,
                                              int level = 0);
  virtual ~FrameEncoder() = default;

  // Appends the compressed form of `data` to `out`, as part of the current
  // frame (which starts at the first Add after End, or at the first Add).
  virtual void Add(absl::string_view data, std::string* out) = 0;
  // Ends the current frame, appending its last bytes to `out`. An End with
  // no Add since the last End still writes an (empty) frame.
  virtual void End(std::string* out) = 0;

  // Add(data) and End() in one call: one complete frame. REQUIRES: no
  // frame in progress (every Add was followed by an End).
  virtual void Frame(absl::string_view data, std::string* out) {
    Add(data, out);
    End(out);
  }
};

// An output destination. Not thread-safe.
//
// Write contract: each Write(bytes) either succeeds, leaving all of `bytes`
// (as one frame when compressed) in the destination, or returns an error
// and leaves the destination as it was before that Write — except that
// when the destination is not a regular file (a pipe, a terminal) and
// write(2) accepted part of the bytes before failing, that part stays: a
// torn record (plain) or torn frame (compressed) at the very end, which a
// reader sees as the point of failure. On a regular file a partial write
// followed by an error (ENOSPC, EIO) is undone with ftruncate(2). After an
// error every later Write returns the same error without writing.
class OutputSink {
 public:
  enum class Mode : uint8_t { kTruncate, kAppend };

  // Opens `path` ("-" is standard output, which is never truncated or
  // closed) for writing, created with mode 0666 & ~umask when missing.
  // Errors read "cannot write PATH: strerror".
  static absl::StatusOr<std::unique_ptr<OutputSink>> Open(
      const std::string& path, Compression compression, Mode mode);
  // Writes to an open descriptor; `name` is used in error messages;
  // `owned` descriptors are closed by Close() or the destructor.
  static std::unique_ptr<OutputSink> FromFd(int fd, std::string name,
                                            Compression compression,
                                            bool owned);

  OutputSink(const OutputSink&) = delete;
  OutputSink& operator=(const OutputSink&) = delete;
  ~OutputSink();  // closes an owned descriptor, ignoring errors

  // Writes whole records (possibly several, possibly none: an empty Write
  // writes nothing, not even an empty frame). See the contract above.
  absl::Status Write(absl::string_view records);

  // Closes an owned descriptor and reports close(2)'s error (NFS and some
  // file systems report write-back failures only there), or the first
  // Write error. Idempotent.
  absl::Status Close();

  Compression compression() const { return compression_; }
  const std::string& name() const { return name_; }
  // Bytes given to Write and bytes written to the descriptor so far.
  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  OutputSink(int fd, std::string name, Compression compression, bool owned);
  // Writes all of `data`; on failure undoes a partial write when the
  // descriptor is a regular file, and sets status_.
  absl::Status WriteAll(absl::string_view data);
  absl::Status Error(int error);

  int fd_;
  std::string name_;  // the path, or "standard output"
  Compression compression_;
  bool owned_;
  bool regular_ = false;  // fd_ is a regular file: partial writes can be cut
  std::unique_ptr<FrameEncoder> encoder_;
  std::string frame_;  // reused buffer for the compressed bytes
  absl::Status status_;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

}  // namespace smtpscan::output

#endif  // SMTPSCAN_OUTPUT_SINK_H_
