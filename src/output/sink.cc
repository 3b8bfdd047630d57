#include "output/sink.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace smtpscan::output {
namespace {

class ZstdEncoder final : public FrameEncoder {
 public:
  explicit ZstdEncoder(int level) : ctx_(ZSTD_createCCtx()) {
    if (ctx_ == nullptr) abort();
    ZSTD_CCtx_setParameter(ctx_, ZSTD_c_compressionLevel, level);
    // A reader can tell a damaged frame from a good one.
    ZSTD_CCtx_setParameter(ctx_, ZSTD_c_checksumFlag, 1);
  }
  ~ZstdEncoder() override { ZSTD_freeCCtx(ctx_); }

  void Add(absl::string_view data, std::string* out) override {
    Run(data, ZSTD_e_continue, out);
  }
  void End(std::string* out) override { Run({}, ZSTD_e_end, out); }

  // One pass, with the content size in the frame header.
  void Frame(absl::string_view data, std::string* out) override {
    const size_t old = out->size();
    out->resize(old + ZSTD_compressBound(data.size()));
    const size_t n = ZSTD_compress2(ctx_, out->data() + old, out->size() - old,
                                    data.data(), data.size());
    // Only misuse or a failed allocation can make zstd fail here.
    if (ZSTD_isError(n)) abort();
    out->resize(old + n);
  }

 private:
  void Run(absl::string_view data, ZSTD_EndDirective mode, std::string* out) {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    for (;;) {
      const size_t room = std::max<size_t>(
          ZSTD_compressBound(data.size() - in.pos), ZSTD_CStreamOutSize());
      const size_t old = out->size();
      out->resize(old + room);
      ZSTD_outBuffer o{out->data() + old, room, 0};
      const size_t left = ZSTD_compressStream2(ctx_, &o, &in, mode);
      out->resize(old + o.pos);
      if (ZSTD_isError(left)) abort();
      if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0) return;
    }
  }

  ZSTD_CCtx* ctx_;
};

class GzipEncoder final : public FrameEncoder {
 public:
  explicit GzipEncoder(int level) {
    // windowBits 15 + 16: a gzip member (RFC 1952), not a zlib stream.
    if (deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
      abort();
    }
  }
  ~GzipEncoder() override { deflateEnd(&z_); }

  void Add(absl::string_view data, std::string* out) override {
    Run(data, Z_NO_FLUSH, out);
  }
  void End(std::string* out) override {
    Run({}, Z_FINISH, out);
    deflateReset(&z_);
  }

 private:
  void Run(absl::string_view data, int flush, std::string* out) {
    z_.next_in =
        reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));  // NOLINT
    z_.avail_in = static_cast<uInt>(data.size());
    for (;;) {
      const size_t room = std::max<size_t>(
          deflateBound(&z_, static_cast<uLong>(data.size())), 4096);
      const size_t old = out->size();
      out->resize(old + room);
      z_.next_out = reinterpret_cast<Bytef*>(out->data() + old);
      z_.avail_out = static_cast<uInt>(room);
      const int r = deflate(&z_, flush);
      out->resize(old + room - z_.avail_out);
      if (r == Z_STREAM_ERROR) abort();
      if (flush == Z_FINISH ? r == Z_STREAM_END : z_.avail_in == 0) return;
    }
  }

  z_stream z_{};
};

}  // namespace

Compression CompressionForPath(absl::string_view path) {
  if (absl::EndsWithIgnoreCase(path, ".gz")) return Compression::kGzip;
  if (absl::EndsWithIgnoreCase(path, ".zst")) return Compression::kZstd;
  return Compression::kNone;
}

absl::string_view CompressionName(Compression compression) {
  switch (compression) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

std::unique_ptr<FrameEncoder> FrameEncoder::Create(Compression compression,
                                                   int level) {
  switch (compression) {
    case Compression::kZstd:
      return std::make_unique<ZstdEncoder>(level == 0 ? kZstdLevel : level);
    case Compression::kGzip:
      return std::make_unique<GzipEncoder>(level == 0 ? kGzipLevel : level);
    case Compression::kNone:
      break;
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<OutputSink>> OutputSink::Open(
    const std::string& path, Compression compression, Mode mode) {
  if (path == "-") {
    return FromFd(1, "standard output", compression, /*owned=*/false);
  }
  // Not O_TRUNC: the file is truncated only once this run holds the lock,
  // so a second smtpscan started on the output of a running one (or two
  // --resume runs of one file) fails instead of interleaving records.
  const int flags =
      O_WRONLY | O_CREAT | O_CLOEXEC | (mode == Mode::kAppend ? O_APPEND : 0);
  const int fd = open(path.c_str(), flags, 0666);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot write ", path, ": ", strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat(
          "cannot write ", path, ": ",
          err == EWOULDBLOCK ? "another smtpscan is writing it (locked)"
                             : strerror(err)));
    }
    if (mode == Mode::kTruncate && st.st_size > 0 && ftruncate(fd, 0) != 0) {
      const int err = errno;
      close(fd);
      return absl::UnavailableError(
          absl::StrCat("cannot write ", path, ": ", strerror(err)));
    }
  }
  return FromFd(fd, path, compression, /*owned=*/true);
}

std::unique_ptr<OutputSink> OutputSink::FromFd(int fd, std::string name,
                                               Compression compression,
                                               bool owned) {
  return std::unique_ptr<OutputSink>(
      new OutputSink(fd, std::move(name), compression, owned));
}

OutputSink::OutputSink(int fd, std::string name, Compression compression,
                       bool owned)
    : fd_(fd),
      name_(std::move(name)),
      compression_(compression),
      owned_(owned) {
  struct stat st;
  regular_ = fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
  if (compression_ != Compression::kNone) {
    encoder_ = FrameEncoder::Create(compression_);
  }
}

OutputSink::~OutputSink() {
  if (owned_ && fd_ >= 0) close(fd_);
}

absl::Status OutputSink::Error(int error) {
  status_ = absl::DataLossError(
      absl::StrCat("cannot write ", name_, ": ", strerror(error)));
  return status_;
}

absl::Status OutputSink::Write(absl::string_view records) {
  if (!status_.ok()) return status_;
  if (fd_ < 0) return Error(EBADF);
  if (records.empty()) return absl::OkStatus();
  bytes_in_ += records.size();
  if (encoder_ == nullptr) return WriteAll(records);
  frame_.clear();
  encoder_->Frame(records, &frame_);
  return WriteAll(frame_);
}

absl::Status OutputSink::WriteAll(absl::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd_, data.data() + done, data.size() - done);
    if (n >= 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // A non-blocking standard output (inherited): wait until writable.
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, -1) >= 0 || errno == EINTR) continue;
    }
    const int error = errno;
    if (done > 0 && regular_) {
      // Cut the part of this write that made it (O_APPEND or not, it is the
      // file's last `done` bytes), so the file ends at a record boundary.
      struct stat st;
      if (fstat(fd_, &st) == 0 && static_cast<uint64_t>(st.st_size) >= done &&
          ftruncate(fd_, st.st_size - static_cast<off_t>(done)) == 0) {
        lseek(fd_, st.st_size - static_cast<off_t>(done), SEEK_SET);
        done = 0;
      }
    }
    bytes_out_ += done;
    return Error(error);
  }
  bytes_out_ += done;
  return absl::OkStatus();
}

absl::Status OutputSink::Close() {
  if (owned_ && fd_ >= 0) {
    const int r = close(fd_);
    fd_ = -1;
    if (r != 0 && status_.ok()) return Error(errno);
  }
  fd_ = -1;
  return status_;
}

}  // namespace smtpscan::output
