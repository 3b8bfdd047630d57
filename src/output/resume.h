// --resume: which input lines an interrupted run's output already has, and
// repairing that output's end so new records can be appended.
//
// PrepareResume reads the output once, streaming (1 MiB reads; memory grows
// only with the set of done lines and the longest record), collects the
// input line numbers that have a complete record, and truncates the file
// right after the last complete record:
//   - NDJSON: one record per line, `{"line":N,"input":"...","kind":...}`.
//     Records of "kind":"probe" (--layout split) carry no line number; they
//     are kept but name no line. A last line without its newline, or one
//     that does not parse, is torn and cut; a line that does not parse
//     anywhere else is an error (the file is not a smtpscan NDJSON output).
//   - CSV: the header row (exactly this version's columns), then rows whose
//     first cells are `line` and `input`. One record is one row per probe,
//     rows of one record being adjacent; since the last record may be
//     missing rows, the rows of the last line number are always cut too
//     (that line is scanned again).
//   - .zst / .gz: the decompressed stream is read as above. Only complete
//     frames (members) count: the records of an incomplete last frame, or of
//     trailing zero bytes, are cut. When the cut falls inside a complete
//     frame (CSV's last record, a torn line inside a frame some other tool
//     wrote), the frame's kept part is compressed again as a new frame.
//     Corrupt data followed by more non-zero bytes is an error, not a cut.
//
// The digest ties the output to its input. For one input line
//   ResumeDigestTerm(number, text) =
//       XXH3_64bits_withSeed(C(text), size of C(text), seed = number)
// where `text` is the line as the target reader yields it (InputLine::text:
// no line end; for a too-long line, its excerpt) and C(text) is text with
// each invalid UTF-8 sequence and each NUL replaced by U+FFFD, and one
// leading "'" removed when the next byte is one of = + - @ TAB CR (undoing
// the CSV writer's formula neutralisation, so --csv-raw-cells does not
// matter). The digest of a set of lines is the sum of their terms modulo
// 2^64. PrepareResume computes it from each done record's "input" (the
// record of that line's first row for CSV); the scan recomputes it from the
// input lines it skips, and the two must match at the end of the input.
#ifndef SMTPSCAN_OUTPUT_RESUME_H_
#define SMTPSCAN_OUTPUT_RESUME_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "output/sink.h"
#include "output/writer.h"

namespace smtpscan::output {

// A set of input line numbers (1-based) as a bitmap in 64 Ki-line chunks
// (8 KiB each) allocated as lines arrive: 100 M consecutive lines cost
// 12.5 MB, and a stray large number costs one chunk, not a huge array.
class DoneLines {
 public:
  DoneLines() = default;
  DoneLines(DoneLines&&) = default;
  DoneLines& operator=(DoneLines&&) = default;

  // Adds `line`; false when it was already there.
  bool Insert(uint64_t line);
  bool Contains(uint64_t line) const;
  // Adds every line of `other` (which is left empty).
  void Merge(DoneLines& other);
  void Clear();

  uint64_t count() const { return count_; }
  // Bytes of bitmap held (not counting the chunk table).
  size_t memory_bytes() const { return chunks_.size() * sizeof(Chunk); }

 private:
  static constexpr int kChunkBits = 16;
  static constexpr uint64_t kChunkLines = uint64_t{1} << kChunkBits;
  struct Chunk {
    uint64_t words[kChunkLines / 64] = {};
  };
  Chunk* Find(uint64_t index) const;

  absl::flat_hash_map<uint64_t, std::unique_ptr<Chunk>> chunks_;
  uint64_t count_ = 0;
  // The chunk last looked up: input lines arrive in order.
  mutable uint64_t last_index_ = ~uint64_t{0};
  mutable Chunk* last_chunk_ = nullptr;
};

// See the header comment for the definition.
uint64_t ResumeDigestTerm(uint64_t line, absl::string_view input);

struct ResumeState {
  // False: the output did not exist (a fresh start; nothing is done).
  bool existed = false;
  DoneLines done;
  uint64_t digest = 0;  // over `done`, see ResumeDigestTerm
  // Records (CSV: line groups) naming a line already seen: the file was
  // already wrong (e.g. two outputs concatenated); each line counts once.
  uint64_t duplicates = 0;
  uint64_t probe_records = 0;  // NDJSON "kind":"probe" lines kept
  uint64_t kept_bytes = 0;     // the file's size after the repair
  uint64_t cut_bytes = 0;      // bytes cut from its end
  // The cut fell inside a compressed frame, whose kept part was rewritten.
  bool reencoded = false;
  // CSV: the repaired file is empty, so the header must be written again.
  bool needs_header = false;
};

// Reads and repairs the output at `path` (see the header comment), which
// must be a regular file. Errors name the path: "out.ndjson: line 12 is
// not a smtpscan NDJSON record", "out.csv: header is not this version's
// CSV columns", "out.ndjson.zst: corrupt zstd data at byte 123: ...".
absl::StatusOr<ResumeState> PrepareResume(const std::string& path,
                                          Format format,
                                          Compression compression);

}  // namespace smtpscan::output

#endif  // SMTPSCAN_OUTPUT_RESUME_H_
