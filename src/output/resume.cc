#include "output/resume.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "output/csv_writer.h"
#include "output/text.h"
#include "rapidjson/reader.h"

namespace smtpscan::output {

// ---------------------------------------------------------------- DoneLines

DoneLines::Chunk* DoneLines::Find(uint64_t index) const {
  if (index == last_index_) return last_chunk_;
  auto it = chunks_.find(index);
  if (it == chunks_.end()) return nullptr;
  last_index_ = index;
  last_chunk_ = it->second.get();
  return last_chunk_;
}

bool DoneLines::Insert(uint64_t line) {
  const uint64_t index = line >> kChunkBits;
  Chunk* chunk = Find(index);
  if (chunk == nullptr) {
    auto& slot = chunks_[index];
    slot = std::make_unique<Chunk>();
    chunk = slot.get();
    last_index_ = index;
    last_chunk_ = chunk;
  }
  const uint64_t bit = line & (kChunkLines - 1);
  uint64_t& word = chunk->words[bit / 64];
  const uint64_t mask = uint64_t{1} << (bit % 64);
  if ((word & mask) != 0) return false;
  word |= mask;
  ++count_;
  return true;
}

bool DoneLines::Contains(uint64_t line) const {
  const Chunk* chunk = Find(line >> kChunkBits);
  if (chunk == nullptr) return false;
  const uint64_t bit = line & (kChunkLines - 1);
  return (chunk->words[bit / 64] >> (bit % 64)) & 1;
}

void DoneLines::Merge(DoneLines& other) {
  for (auto& [index, theirs] : other.chunks_) {
    Chunk* mine = Find(index);
    if (mine == nullptr) {
      for (const uint64_t w : theirs->words) count_ += __builtin_popcountll(w);
      chunks_[index] = std::move(theirs);
      last_index_ = ~uint64_t{0};  // the table may have moved
      last_chunk_ = nullptr;
      continue;
    }
    for (size_t i = 0; i < std::size(mine->words); ++i) {
      count_ += __builtin_popcountll(theirs->words[i] & ~mine->words[i]);
      mine->words[i] |= theirs->words[i];
    }
  }
  other.Clear();
}

void DoneLines::Clear() {
  chunks_.clear();
  count_ = 0;
  last_index_ = ~uint64_t{0};
  last_chunk_ = nullptr;
}

uint64_t ResumeDigestTerm(uint64_t line, absl::string_view input) {
  std::string repaired;
  absl::string_view text = input;
  for (const char c : input) {
    if (c == '\0' || static_cast<unsigned char>(c) >= 0x80) {
      repaired = ToValidUtf8(input);
      text = repaired;
      break;
    }
  }
  if (text.size() >= 2 && text[0] == '\'' &&
      absl::string_view("=+-@\t\r").find(text[1]) != absl::string_view::npos) {
    text.remove_prefix(1);
  }
  return XXH3_64bits_withSeed(text.data(), text.size(), line);
}

namespace {

constexpr size_t kReadBytes = 1 << 20;
constexpr size_t kDecodeBytes = 256 << 10;
// A line or cell longer than this is not one smtpscan wrote: it is kept
// from growing memory and treated as unparseable.
constexpr size_t kMaxRecordBytes = 64 << 20;

// What the record parsers report, in order of `end`: a unit (a record, a
// probe record, the CSV header) that is complete and ends at decompressed
// offset `end`, which the bytes up to `decided` (>= end) showed: a CSV
// record is known complete only once the next record's first row is.
// `line` is 0 for units that name no input line.
class UnitSink {
 public:
  virtual ~UnitSink() = default;
  virtual void Accept(uint64_t end, uint64_t decided, uint64_t line,
                      absl::string_view input, bool probe) = 0;
};

class RecordParser {
 public:
  virtual ~RecordParser() = default;
  // The next bytes of the decompressed stream.
  virtual absl::Status Feed(absl::string_view data) = 0;
  // The stream ended: what is still open is torn and left unaccepted.
  virtual absl::Status Finish() = 0;
};

// ------------------------------------------------------------------ NDJSON

// SAX handler keeping the top-level "line", "input" and "kind".
struct RecordFields
    : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, RecordFields> {
  enum class Field { kOther, kLine, kInput, kKind };
  int depth = 0;
  bool object = false;  // the top-level value is an object
  Field key = Field::kOther;
  bool has_line = false;
  uint64_t line = 0;
  bool has_input = false;
  std::string input;
  std::string kind;

  bool Default() {
    key = Field::kOther;
    return depth > 0;  // a top-level scalar is not a record
  }
  bool Uint64(uint64_t v) {
    if (depth == 1 && key == Field::kLine) {
      has_line = true;
      line = v;
    }
    return Default();
  }
  bool Uint(unsigned v) { return Uint64(v); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (depth == 1 && key == Field::kInput) {
      has_input = true;
      input.assign(s, n);
    } else if (depth == 1 && key == Field::kKind) {
      kind.assign(s, n);
    }
    return Default();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    const absl::string_view k(s, n);
    key = depth != 1     ? Field::kOther
          : k == "line"  ? Field::kLine
          : k == "input" ? Field::kInput
          : k == "kind"  ? Field::kKind
                         : Field::kOther;
    return true;
  }
  bool StartObject() {
    if (depth == 0) object = true;
    ++depth;
    key = Field::kOther;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    --depth;
    return true;
  }
  bool StartArray() {
    if (depth == 0) return false;
    ++depth;
    key = Field::kOther;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth;
    return true;
  }
};

class NdjsonParser final : public RecordParser {
 public:
  NdjsonParser(const std::string& path, UnitSink* sink)
      : path_(path), sink_(sink) {}

  absl::Status Feed(absl::string_view data) override {
    while (!data.empty()) {
      const size_t nl = data.find('\n');
      const absl::string_view piece = data.substr(0, nl);
      if (!overlong_) {
        if (partial_.size() + piece.size() > kMaxRecordBytes) {
          overlong_ = true;
          partial_.resize(std::min<size_t>(partial_.size(), 64));
        } else {
          partial_.append(piece.data(), piece.size());
        }
      }
      if (nl == absl::string_view::npos) {
        offset_ += data.size();
        return absl::OkStatus();
      }
      offset_ += nl + 1;
      data.remove_prefix(nl + 1);
      if (absl::Status s = Line(); !s.ok()) return s;
      partial_.clear();
      overlong_ = false;
    }
    return absl::OkStatus();
  }

  absl::Status Finish() override {
    // A torn (no newline) or bad last line is cut. But when nothing before
    // it was a record, it must at least start like one: never cut away a
    // file that is not a smtpscan output.
    const bool torn = !partial_.empty() || overlong_;
    if (good_ == 0 && (bad_ || (torn && !LooksLikeRecordStart(partial_)))) {
      return NotRecord(bad_ ? line_number_ : line_number_ + 1);
    }
    return absl::OkStatus();
  }

 private:
  static bool LooksLikeRecordStart(absl::string_view text) {
    for (const absl::string_view start :
         {"{\"line\":", "{\"kind\":\"probe\""}) {
      if (absl::StartsWith(text, start) || absl::StartsWith(start, text)) {
        return true;
      }
    }
    return false;
  }

  absl::Status NotRecord(uint64_t number) const {
    return absl::FailedPreconditionError(absl::StrCat(
        path_, ": line ", number,
        " is not a smtpscan NDJSON record (is it the output of this "
        "command? --format must match it)"));
  }

  absl::Status Line() {
    ++line_number_;
    if (bad_) return NotRecord(line_number_ - 1);  // a bad line, not last
    RecordFields f;
    bool ok = !overlong_;
    if (ok) {
      rapidjson::Reader reader;
      rapidjson::StringStream stream(partial_.c_str());
      // A NUL inside the line would end the parse early: the trailing-bytes
      // check below sees it.
      ok = !reader.Parse<rapidjson::kParseNoFlags>(stream, f).IsError() &&
           stream.Tell() == partial_.size() && f.object;
    }
    if (ok && f.kind == "probe" && !f.has_line) {
      ++good_;
      sink_->Accept(offset_, offset_, 0, {}, /*probe=*/true);
      return absl::OkStatus();
    }
    if (!ok || !f.has_line || f.line == 0 || !f.has_input || f.kind.empty()) {
      bad_ = true;
      return absl::OkStatus();
    }
    ++good_;
    sink_->Accept(offset_, offset_, f.line, f.input, /*probe=*/false);
    return absl::OkStatus();
  }

  const std::string& path_;
  UnitSink* sink_;
  uint64_t offset_ = 0;       // decompressed bytes fed so far
  uint64_t line_number_ = 0;  // complete lines seen
  uint64_t good_ = 0;         // of which records
  bool bad_ = false;          // the last complete line is not a record
  std::string partial_;       // the line being read
  bool overlong_ = false;     // ... is over kMaxRecordBytes
};

// --------------------------------------------------------------------- CSV

std::string CsvHeaderLine() {
  return absl::StrCat(absl::StrJoin(CsvColumns(), ","), "\r\n");
}

class CsvParser final : public RecordParser {
 public:
  CsvParser(const std::string& path, UnitSink* sink)
      : path_(path), sink_(sink), header_(CsvHeaderLine()) {
    const absl::Span<const absl::string_view> columns = CsvColumns();
    line_column_ =
        std::find(columns.begin(), columns.end(), "line") - columns.begin();
    input_column_ =
        std::find(columns.begin(), columns.end(), "input") - columns.begin();
  }

  absl::Status Feed(absl::string_view data) override {
    for (const char c : data) {
      ++offset_;
      if (rows_ == 0) {
        // The header is compared byte for byte; a first row that stops
        // being its prefix is not this version's header.
        raw_header_.push_back(c);
        if (!absl::StartsWith(header_, raw_header_)) return BadHeader();
        if (c == '\n') {
          ++rows_;
          sink_->Accept(offset_, offset_, 0, {}, /*probe=*/false);
        }
        continue;
      }
      switch (state_) {
        case State::kFieldStart:
          if (c == '"') {
            state_ = State::kQuoted;
            break;
          }
          state_ = State::kUnquoted;
          [[fallthrough]];
        case State::kUnquoted:
          if (c == ',') {
            EndField();
          } else if (c == '\r') {
            state_ = State::kCr;
          } else if (c == '\n') {
            if (absl::Status s = EndRow(); !s.ok()) return s;
          } else {
            if (c == '"') row_bad_ = true;  // a quote inside a bare cell
            Append(c);
          }
          break;
        case State::kQuoted:
          if (c == '"') {
            state_ = State::kQuoteInQuoted;
          } else {
            Append(c);
          }
          break;
        case State::kQuoteInQuoted:
          if (c == '"') {
            Append(c);
            state_ = State::kQuoted;
          } else if (c == ',') {
            EndField();
          } else if (c == '\r') {
            state_ = State::kCr;
          } else if (c == '\n') {
            if (absl::Status s = EndRow(); !s.ok()) return s;
          } else {
            row_bad_ = true;
            state_ = State::kUnquoted;
          }
          break;
        case State::kCr:
          if (c == '\n') {
            if (absl::Status s = EndRow(); !s.ok()) return s;
          } else {
            row_bad_ = true;  // a bare CR: the writer quotes cells with one
            state_ = State::kUnquoted;
            Append(c);
          }
          break;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Finish() override {
    // The last group is left unaccepted: its line is scanned again. Only a
    // torn header is checked: it must be the start of this version's.
    if (good_rows_ == 0 && bad_) return NotRow(2);
    return absl::OkStatus();
  }

 private:
  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted, kCr };

  void Append(char c) {
    if (field_ != line_column_ && field_ != input_column_) return;
    if (cell_.size() >= kMaxRecordBytes) {
      row_bad_ = true;
      return;
    }
    cell_.push_back(c);
  }

  void EndField() {
    if (field_ == line_column_) line_cell_ = std::move(cell_);
    if (field_ == input_column_) input_cell_ = std::move(cell_);
    cell_.clear();
    ++field_;
    state_ = State::kFieldStart;
  }

  absl::Status BadHeader() const {
    return absl::FailedPreconditionError(absl::StrCat(
        path_,
        ": its first row is not this version's CSV header (is it the output "
        "of this command? --format must match it)"));
  }
  absl::Status NotRow(uint64_t number) const {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": row ", number,
                     " is not a smtpscan CSV row (is it the output of this "
                     "command?)"));
  }

  absl::Status EndRow() {
    EndField();
    const uint64_t end = offset_;
    const size_t fields = field_;
    field_ = 0;
    state_ = State::kFieldStart;
    const bool row_bad = row_bad_;
    row_bad_ = false;
    ++rows_;
    if (bad_) return NotRow(rows_ - 1);  // a bad row, not last
    uint64_t line = 0;
    if (row_bad || fields != CsvColumns().size() ||
        !absl::SimpleAtoi(line_cell_, &line) || line == 0) {
      bad_ = true;
      return absl::OkStatus();
    }
    ++good_rows_;
    if (group_line_ != 0 && line == group_line_) {
      group_end_ = end;
      return absl::OkStatus();
    }
    // A new record: the one before it is complete.
    if (group_line_ != 0) {
      sink_->Accept(group_end_, end, group_line_, group_input_, false);
    }
    group_line_ = line;
    group_input_ = std::move(input_cell_);
    group_end_ = end;
    return absl::OkStatus();
  }

  const std::string& path_;
  UnitSink* sink_;
  const std::string header_;
  size_t line_column_ = 0;
  size_t input_column_ = 0;
  std::string raw_header_;  // the first row's bytes (up to the header's size)
  State state_ = State::kFieldStart;
  uint64_t offset_ = 0;
  uint64_t rows_ = 0;       // complete rows, the header included
  uint64_t good_rows_ = 0;  // of which records' rows
  size_t field_ = 0;        // index of the cell being read
  std::string cell_;
  std::string line_cell_;
  std::string input_cell_;
  bool row_bad_ = false;
  bool bad_ = false;  // the last complete row is not a record's
  // The record being read: its line number (0: none yet), the input cell
  // of its first row and where its last row ends.
  uint64_t group_line_ = 0;
  std::string group_input_;
  uint64_t group_end_ = 0;
};

// ----------------------------------------------------- decompression

// Decodes frames (zstd) or members (gzip) from a stream of compressed
// bytes, saying where each ends.
class FrameDecoder {
 public:
  static std::unique_ptr<FrameDecoder> Create(Compression compression);
  virtual ~FrameDecoder() = default;
  // Decodes from `*in` (advancing it) into `out` (at most `room` bytes)
  // and returns the bytes written; sets *frame_end when a frame ended (the
  // caller must then call again with the rest of *in). An error is corrupt
  // data.
  virtual absl::StatusOr<size_t> Decode(absl::string_view* in, char* out,
                                        size_t room, bool* frame_end) = 0;
};

class ZstdDecoder final : public FrameDecoder {
 public:
  ZstdDecoder() : ctx_(ZSTD_createDCtx()) {
    if (ctx_ == nullptr) abort();
  }
  ~ZstdDecoder() override { ZSTD_freeDCtx(ctx_); }

  absl::StatusOr<size_t> Decode(absl::string_view* in, char* out, size_t room,
                                bool* frame_end) override {
    ZSTD_inBuffer i{in->data(), in->size(), 0};
    ZSTD_outBuffer o{out, room, 0};
    const size_t r = ZSTD_decompressStream(ctx_, &o, &i);
    if (ZSTD_isError(r)) {
      ZSTD_DCtx_reset(ctx_, ZSTD_reset_session_only);
      return absl::DataLossError(ZSTD_getErrorName(r));
    }
    in->remove_prefix(i.pos);
    *frame_end = r == 0;
    return o.pos;
  }

 private:
  ZSTD_DCtx* ctx_;
};

class GzipDecoder final : public FrameDecoder {
 public:
  GzipDecoder() {
    if (inflateInit2(&z_, 15 + 16) != Z_OK) abort();
  }
  ~GzipDecoder() override { inflateEnd(&z_); }

  absl::StatusOr<size_t> Decode(absl::string_view* in, char* out, size_t room,
                                bool* frame_end) override {
    z_.next_in =
        reinterpret_cast<Bytef*>(const_cast<char*>(in->data()));  // NOLINT
    z_.avail_in = static_cast<uInt>(in->size());
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(room);
    const int r = inflate(&z_, Z_NO_FLUSH);
    in->remove_prefix(in->size() - z_.avail_in);
    const size_t produced = room - z_.avail_out;
    *frame_end = r == Z_STREAM_END;
    if (*frame_end) {
      inflateReset(&z_);
    } else if (r != Z_OK && r != Z_BUF_ERROR) {
      std::string message = z_.msg != nullptr ? z_.msg : zError(r);
      inflateReset(&z_);
      return absl::DataLossError(message);
    }
    return produced;
  }

 private:
  z_stream z_{};
};

std::unique_ptr<FrameDecoder> FrameDecoder::Create(Compression compression) {
  if (compression == Compression::kZstd) {
    return std::make_unique<ZstdDecoder>();
  }
  return std::make_unique<GzipDecoder>();
}

// ------------------------------------------------------------- the repair

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", path, ": ", strerror(errno)));
}

// An uninitialised buffer (std::string would zero it on every resume).
class Buffer {
 public:
  explicit Buffer(size_t n) : data_(new char[n]), size_(n) {}
  char* data() { return data_.get(); }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_;
};

// Reads of at most kReadBytes, but no bigger than a small file needs.
size_t ReadSize(uint64_t file_size) {
  return static_cast<size_t>(
      std::clamp<uint64_t>(file_size + 1, 4096, kReadBytes));
}

bool ReadFully(int fd, uint64_t offset, char* buf, size_t n, size_t* got) {
  *got = 0;
  while (*got < n) {
    const ssize_t r = pread(fd, buf + *got, n - *got, offset + *got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (r == 0) break;
    *got += static_cast<size_t>(r);
  }
  return true;
}

bool WriteFully(int fd, uint64_t offset, const char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = pwrite(fd, buf + done, n - done, offset + done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

class Repair final : public UnitSink {
 public:
  Repair(const std::string& path, Format format, Compression compression)
      : path_(path), format_(format), compression_(compression) {
    if (format == Format::kCsv) {
      parser_ = std::make_unique<CsvParser>(path_, this);
    } else {
      parser_ = std::make_unique<NdjsonParser>(path_, this);
    }
    // Plain: every byte read is final. Compressed: only complete frames.
    if (compression_ == Compression::kNone) complete_until_ = UINT64_MAX;
  }
  ~Repair() override {
    if (fd_ >= 0) close(fd_);
  }

  absl::StatusOr<ResumeState> Run();

  void Accept(uint64_t end, uint64_t decided, uint64_t line,
              absl::string_view input, bool probe) override {
    // Final only when what decided it is in complete frames.
    if (decided <= complete_until_) {
      if (probe) ++state_.probe_records;
      if (line != 0) {
        if (state_.done.Insert(line)) {
          state_.digest += ResumeDigestTerm(line, input);
        } else {
          ++state_.duplicates;
        }
      }
      kept_ = end;
      Prune();
      return;
    }
    if (probe) ++tentative_probes_;
    if (line != 0) {
      if (!state_.done.Contains(line) && tentative_.Insert(line)) {
        tentative_digest_ += ResumeDigestTerm(line, input);
      } else {
        ++tentative_duplicates_;
      }
    }
    tentative_kept_ = end;
  }

 private:
  struct Frame {
    uint64_t compressed;    // offset in the file
    uint64_t decompressed;  // offset in the decompressed stream
  };

  absl::Status ReadPlain();
  absl::Status ReadCompressed();
  // A frame ended at (compressed, decompressed): what it held is final.
  void FrameComplete(uint64_t compressed, uint64_t decompressed);
  // Drops frames that end before the cut can fall.
  void Prune() {
    while (frames_.size() >= 2 && frames_[1].decompressed <= kept_) {
      frames_.pop_front();
    }
  }
  // Whether the file holds only zero bytes from `offset` to its end.
  absl::StatusOr<bool> ZerosFrom(uint64_t offset);
  // Cuts the file so its decompressed stream ends at kept_.
  absl::Status Cut();
  // Replaces the frame at `frame` with one holding its first `keep`
  // decompressed bytes.
  absl::Status Reencode(const Frame& frame, uint64_t keep);

  const std::string& path_;
  const Format format_;
  const Compression compression_;
  std::unique_ptr<RecordParser> parser_;
  int fd_ = -1;
  uint64_t size_ = 0;  // the file's size before the repair
  ResumeState state_;
  uint64_t decompressed_ = 0;  // bytes of the stream fed to the parser
  uint64_t kept_ = 0;          // end of the last final unit
  uint64_t complete_until_ = 0;
  // Units accepted inside the frame being read: final once it completes.
  DoneLines tentative_;
  uint64_t tentative_digest_ = 0;
  uint64_t tentative_duplicates_ = 0;
  uint64_t tentative_probes_ = 0;
  uint64_t tentative_kept_ = 0;
  // Complete frames from the one holding kept_ on, and where the last
  // complete one ends.
  std::deque<Frame> frames_;
  Frame complete_end_{0, 0};
};

absl::StatusOr<ResumeState> Repair::Run() {
  fd_ = open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) {
    if (errno == ENOENT) return ResumeState{};
    return ErrnoError("cannot open", path_);
  }
  state_.existed = true;
  struct stat st;
  if (fstat(fd_, &st) != 0) return ErrnoError("cannot read", path_);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": --resume needs a regular file"));
  }
  size_ = static_cast<uint64_t>(st.st_size);
  absl::Status read =
      compression_ == Compression::kNone ? ReadPlain() : ReadCompressed();
  if (!read.ok()) return read;
  if (absl::Status s = parser_->Finish(); !s.ok()) return s;
  if (absl::Status s = Cut(); !s.ok()) return s;
  state_.needs_header = format_ == Format::kCsv && kept_ == 0;
  return std::move(state_);
}

absl::Status Repair::ReadPlain() {
  Buffer buf(ReadSize(size_));
  for (uint64_t offset = 0;;) {
    size_t got = 0;
    if (!ReadFully(fd_, offset, buf.data(), buf.size(), &got)) {
      return ErrnoError("cannot read", path_);
    }
    if (got == 0) return absl::OkStatus();
    if (absl::Status s = parser_->Feed(absl::string_view(buf.data(), got));
        !s.ok()) {
      return s;
    }
    offset += got;
    decompressed_ = offset;
  }
}

absl::Status Repair::ReadCompressed() {
  std::unique_ptr<FrameDecoder> decoder = FrameDecoder::Create(compression_);
  Buffer in_buf(ReadSize(size_));
  Buffer out_buf(kDecodeBytes);
  uint64_t offset = 0;       // file offset of in_buf's first byte
  bool in_frame = false;     // a frame has started and not ended
  uint64_t frame_start = 0;  // its file offset
  for (;;) {
    size_t got = 0;
    if (!ReadFully(fd_, offset, in_buf.data(), in_buf.size(), &got)) {
      return ErrnoError("cannot read", path_);
    }
    if (got == 0) break;
    absl::string_view in(in_buf.data(), got);
    bool more = true;  // output may be pending even with no input left
    while (!in.empty() || (in_frame && more)) {
      const uint64_t position = offset + (got - in.size());
      if (!in_frame) {
        in_frame = true;
        frame_start = position;
      }
      bool frame_end = false;
      absl::StatusOr<size_t> n =
          decoder->Decode(&in, out_buf.data(), out_buf.size(), &frame_end);
      if (!n.ok()) {
        // Corrupt data: a torn end only if nothing but zeros follows the
        // frame's start (a file extended by a crash); else an error.
        absl::StatusOr<bool> zeros = ZerosFrom(frame_start);
        if (!zeros.ok()) return zeros.status();
        if (*zeros) return absl::OkStatus();  // in_frame: cut from there
        return absl::DataLossError(
            absl::StrCat(path_, ": corrupt ", CompressionName(compression_),
                         " data in the frame at byte ", frame_start, ": ",
                         n.status().message()));
      }
      if (*n > 0) {
        if (absl::Status s =
                parser_->Feed(absl::string_view(out_buf.data(), *n));
            !s.ok()) {
          return s;
        }
        decompressed_ += *n;
      }
      more = *n == out_buf.size();
      if (frame_end) {
        in_frame = false;
        more = false;
        FrameComplete(offset + (got - in.size()), decompressed_);
      } else if (*n == 0 && in.empty()) {
        break;  // needs more input
      }
    }
    offset += got;
  }
  return absl::OkStatus();
}

void Repair::FrameComplete(uint64_t compressed, uint64_t decompressed) {
  frames_.push_back(complete_end_);
  complete_end_ = {compressed, decompressed};
  complete_until_ = decompressed;
  if (tentative_kept_ > 0) {
    state_.done.Merge(tentative_);
    state_.digest += tentative_digest_;
    state_.duplicates += tentative_duplicates_;
    state_.probe_records += tentative_probes_;
    kept_ = std::max(kept_, tentative_kept_);
    tentative_digest_ = tentative_duplicates_ = tentative_probes_ = 0;
    tentative_kept_ = 0;
  }
  Prune();
}

absl::StatusOr<bool> Repair::ZerosFrom(uint64_t offset) {
  Buffer buf(ReadSize(size_));
  for (;;) {
    size_t got = 0;
    if (!ReadFully(fd_, offset, buf.data(), buf.size(), &got)) {
      return ErrnoError("cannot read", path_);
    }
    if (got == 0) return true;
    for (size_t i = 0; i < got; ++i) {
      if (buf.data()[i] != 0) return false;
    }
    offset += got;
  }
}

absl::Status Repair::Cut() {
  state_.cut_bytes = decompressed_ - kept_;
  uint64_t new_size = kept_;
  if (compression_ != Compression::kNone) {
    // The units of an incomplete last frame were never made final.
    new_size = complete_end_.compressed;
    if (kept_ < complete_end_.decompressed) {
      const Frame* frame = nullptr;
      for (const Frame& f : frames_) {
        if (f.decompressed <= kept_) frame = &f;
      }
      // frames_ starts at or before kept_ (Prune keeps it so).
      if (frame == nullptr) return absl::InternalError("resume: lost frame");
      if (frame->decompressed == kept_) {
        new_size = frame->compressed;
      } else {
        const Frame f = *frame;
        state_.reencoded = true;
        return Reencode(f, kept_ - f.decompressed);
      }
    }
  }
  state_.kept_bytes = new_size;
  if (new_size < size_ && ftruncate(fd_, static_cast<off_t>(new_size)) != 0) {
    return ErrnoError("cannot truncate", path_);
  }
  return absl::OkStatus();
}

absl::Status Repair::Reencode(const Frame& frame, uint64_t keep) {
  // The kept part goes to an unnamed temporary file first (it can be as big
  // as a frame another tool wrote: the whole file), then replaces the frame.
  std::string dir = path_.substr(0, path_.rfind('/') + 1);
  if (dir.empty()) dir = ".";
  int tmp = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (tmp < 0) {
    FILE* f = tmpfile();
    if (f != nullptr) {
      tmp = dup(fileno(f));
      fclose(f);
    }
  }
  if (tmp < 0) {
    return ErrnoError("cannot make a temporary file to repair", path_);
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{tmp};

  std::unique_ptr<FrameDecoder> decoder = FrameDecoder::Create(compression_);
  std::unique_ptr<FrameEncoder> encoder = FrameEncoder::Create(compression_);
  Buffer in_buf(ReadSize(size_));
  Buffer out_buf(kDecodeBytes);
  std::string encoded;
  uint64_t tmp_size = 0;
  uint64_t offset = frame.compressed;
  uint64_t left = keep;
  while (left > 0) {
    size_t got = 0;
    if (!ReadFully(fd_, offset, in_buf.data(), in_buf.size(), &got)) {
      return ErrnoError("cannot read", path_);
    }
    if (got == 0) break;  // cannot happen: the frame was complete
    absl::string_view in(in_buf.data(), got);
    bool more = true;
    while (left > 0 && (!in.empty() || more)) {
      bool frame_end = false;
      absl::StatusOr<size_t> n =
          decoder->Decode(&in, out_buf.data(), out_buf.size(), &frame_end);
      if (!n.ok()) {
        return absl::DataLossError(
            absl::StrCat(path_, ": changed while being repaired"));
      }
      const size_t use = static_cast<size_t>(std::min<uint64_t>(*n, left));
      encoder->Add(absl::string_view(out_buf.data(), use), &encoded);
      left -= use;
      more = *n == out_buf.size();
      if (encoded.size() >= kReadBytes) {
        if (!WriteFully(tmp, tmp_size, encoded.data(), encoded.size())) {
          return ErrnoError("cannot write a temporary file to repair", path_);
        }
        tmp_size += encoded.size();
        encoded.clear();
      }
      if (frame_end || (*n == 0 && in.empty())) break;
    }
    offset += got - in.size();
  }
  if (left > 0) {
    return absl::DataLossError(
        absl::StrCat(path_, ": changed while being repaired"));
  }
  encoder->End(&encoded);
  if (!WriteFully(tmp, tmp_size, encoded.data(), encoded.size())) {
    return ErrnoError("cannot write a temporary file to repair", path_);
  }
  tmp_size += encoded.size();
  // Cut, then append: a crash in between leaves a shorter file that is
  // still valid (the records of this frame would be scanned again).
  if (ftruncate(fd_, static_cast<off_t>(frame.compressed)) != 0) {
    return ErrnoError("cannot truncate", path_);
  }
  for (uint64_t done = 0; done < tmp_size;) {
    size_t got = 0;
    if (!ReadFully(tmp, done, in_buf.data(), in_buf.size(), &got) || got == 0) {
      return ErrnoError("cannot read a temporary file to repair", path_);
    }
    if (!WriteFully(fd_, frame.compressed + done, in_buf.data(), got)) {
      return ErrnoError("cannot write", path_);
    }
    done += got;
  }
  state_.kept_bytes = frame.compressed + tmp_size;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ResumeState> PrepareResume(const std::string& path,
                                          Format format,
                                          Compression compression) {
  return Repair(path, format, compression).Run();
}

}  // namespace smtpscan::output
