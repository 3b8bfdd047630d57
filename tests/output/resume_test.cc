#include "output/resume.h"

#include <glob.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "output/record_fixtures.h"
#include "output/sink.h"
#include "output/writer.h"

namespace smtpscan::output {
namespace {

using ::testing::HasSubstr;

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "resume_test_", getpid(), "_",
                      name);
}

// Removes this process's temporary files when the tests are done.
class RemoveTempFiles : public ::testing::Environment {
 public:
  void TearDown() override {
    glob_t g{};
    if (glob(absl::StrCat(::testing::TempDir(), "resume_test_", getpid(), "_*")
                 .c_str(),
             0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) unlink(g.gl_pathv[i]);
    }
    globfree(&g);
  }
};
const ::testing::Environment* const kRemoveTempFiles =
    ::testing::AddGlobalTestEnvironment(new RemoveTempFiles);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, absl::string_view bytes) {
  // A new file, not a truncated one: ext4 flushes a file truncated to zero
  // on close (auto_da_alloc), which made thousands of rewrites slow.
  unlink(path.c_str());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Decompresses with the libraries directly (not through resume.cc):
// nullopt unless `bytes` is a sequence of complete frames / members.
absl::optional<std::string> Decompress(Compression c, absl::string_view bytes) {
  std::string out;
  if (c == Compression::kNone) return std::string(bytes);
  if (c == Compression::kZstd) {
    while (!bytes.empty()) {
      const size_t size =
          ZSTD_findFrameCompressedSize(bytes.data(), bytes.size());
      if (ZSTD_isError(size)) return absl::nullopt;
      ZSTD_DStream* d = ZSTD_createDStream();
      ZSTD_inBuffer in{bytes.data(), size, 0};
      size_t r = 1;
      while (r != 0) {
        char buf[4096];
        ZSTD_outBuffer o{buf, sizeof(buf), 0};
        r = ZSTD_decompressStream(d, &o, &in);
        if (ZSTD_isError(r) || (o.pos == 0 && in.pos == in.size && r != 0)) {
          ZSTD_freeDStream(d);
          return absl::nullopt;
        }
        out.append(buf, o.pos);
      }
      ZSTD_freeDStream(d);
      bytes.remove_prefix(size);
    }
    return out;
  }
  while (!bytes.empty()) {
    z_stream z{};
    inflateInit2(&z, 15 + 16);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    z.avail_in = static_cast<uInt>(bytes.size());
    int r = Z_OK;
    while (r == Z_OK) {
      char buf[4096];
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof(buf);
      r = inflate(&z, Z_NO_FLUSH);
      out.append(buf, sizeof(buf) - z.avail_out);
    }
    bytes.remove_prefix(bytes.size() - z.avail_in);
    inflateEnd(&z);
    if (r != Z_STREAM_END) return absl::nullopt;
  }
  return out;
}

// Inputs that the writers change (CSV formula neutralisation, UTF-8 repair,
// NUL) and the digest must see through.
const std::vector<std::string>& Inputs() {
  static const auto* inputs = new std::vector<std::string>{
      "192.0.2.25:25,mx1.example.com",
      "=1+2",
      std::string("nul\0byte", 8),
      "bad \xff\xfe utf-8",
      "'=already quoted",
      "b\xc3\xbc"
      "cher.example",
      "-minus,with \"quotes\"\r\nand lines",
  };
  return *inputs;
}

// An output written as the scan writes one, and where its parts end.
struct Sample {
  std::string bytes;    // the file as written
  std::string content;  // decompressed
  // Where each unit (record, probe record, CSV header or row) ends in
  // `content`, and the line it names (0: none).
  struct Unit {
    uint64_t end;
    uint64_t line;
  };
  std::vector<Unit> units;
  std::vector<std::string> inputs;  // by line number - 1
};

// Writes records for lines 1..n through an OutputSink, `per_write` records
// per Write (so per frame), as the scan does.
Sample MakeSample(Format format, Compression c, size_t n, size_t per_write,
                  bool split = false, bool raw_cells = false) {
  WriterOptions options;
  options.split_probes = split;
  options.csv_raw_cells = raw_cells;
  std::unique_ptr<RecordWriter> writer = MakeWriter(format, options);
  Sample s;
  const std::string path = TempPath("sample");
  auto sink = OutputSink::Open(path, c, OutputSink::Mode::kTruncate);
  EXPECT_TRUE(sink.ok());
  std::string pending;
  // Appends one unit (a CSV record: its rows) to `pending`.
  auto add = [&](const std::string& bytes, uint64_t line) {
    const uint64_t base = s.content.size() + pending.size();
    if (format == Format::kCsv && line != 0) {
      // Rows end in LF outside quotes.
      bool quoted = false;
      for (size_t i = 0; i < bytes.size(); ++i) {
        if (bytes[i] == '"') quoted = !quoted;
        if (!quoted && bytes[i] == '\n')
          s.units.push_back({base + i + 1, line});
      }
    } else {
      s.units.push_back({base + bytes.size(), line});
    }
    pending += bytes;
  };
  if (format == Format::kCsv) {
    std::string header;
    writer->WriteHeader(&header);
    add(header, 0);
  }
  size_t in_write = 0;
  for (size_t line = 1; line <= n; ++line) {
    const std::string& input = Inputs()[(line - 1) % Inputs().size()];
    s.inputs.push_back(input);
    std::string rec;
    switch (line % 5) {
      case 0: {
        AddressRecord r = fixtures::MultiPortAddressRecord();
        r.line = line;
        r.input = input;
        writer->Write(r, &rec);
        break;
      }
      case 1: {
        AddressRecord r = fixtures::PostfixAddressRecord();
        r.line = line;
        r.input = input;
        writer->Write(r, &rec);
        break;
      }
      case 2: {
        DomainRecord r = fixtures::ExampleDomainRecord();
        r.line = line;
        r.input = input;
        if (split) {
          for (const ProbeResult& p : r.probes) {
            std::string probe;
            writer->WriteProbe(p, &probe);
            add(probe, 0);
          }
        }
        writer->Write(r, &rec);
        break;
      }
      case 3: {
        DomainRecord r = fixtures::NullMxDomainRecord();
        r.line = line;
        r.input = input;
        writer->Write(r, &rec);
        break;
      }
      case 4: {
        InvalidInputRecord r = fixtures::ExampleInvalidRecord();
        r.line = line;
        r.input = input;
        writer->Write(r, &rec);
        break;
      }
    }
    add(rec, line);
    if (++in_write == per_write || line == n) {
      EXPECT_TRUE((*sink)->Write(pending).ok());
      s.content += pending;
      pending.clear();
      in_write = 0;
    }
  }
  EXPECT_TRUE((*sink)->Close().ok());
  s.bytes = ReadFile(path);
  EXPECT_EQ(Decompress(c, s.bytes), s.content);
  return s;
}

uint64_t DigestOf(const Sample& s, const std::set<uint64_t>& lines) {
  uint64_t d = 0;
  for (uint64_t line : lines) d += ResumeDigestTerm(line, s.inputs[line - 1]);
  return d;
}

// What PrepareResume must keep of `s` when the first `final_bytes` bytes
// of its content are final (all bytes read when plain, the complete frames
// when compressed): the content length and the lines done.
struct Expected {
  uint64_t kept = 0;
  std::set<uint64_t> done;
};

Expected Expect(const Sample& s, Format format, uint64_t final_bytes) {
  Expected e;
  if (format == Format::kNdjson) {
    for (const Sample::Unit& u : s.units) {
      if (u.end > final_bytes) break;
      e.kept = u.end;
      if (u.line != 0) e.done.insert(u.line);
    }
    return e;
  }
  // CSV: the header, then each record once the next record's first row is
  // complete.
  uint64_t group_line = 0;
  uint64_t group_end = 0;
  for (const Sample::Unit& u : s.units) {
    if (u.end > final_bytes) break;
    if (u.line == 0) {
      e.kept = u.end;
    } else if (u.line == group_line) {
      group_end = u.end;
    } else {
      if (group_line != 0) {
        e.kept = group_end;
        e.done.insert(group_line);
      }
      group_line = u.line;
      group_end = u.end;
    }
  }
  return e;
}

struct Case {
  Format format;
  Compression compression;
  bool split;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return absl::StrCat(info.param.format == Format::kCsv ? "csv" : "ndjson", "_",
                      CompressionName(info.param.compression),
                      info.param.split ? "_split" : "");
}

class ResumeCutTest : public ::testing::TestWithParam<Case> {};

TEST_P(ResumeCutTest, WholeFileIsAllDone) {
  const Case& k = GetParam();
  const Sample s = MakeSample(k.format, k.compression, 12, 3, k.split);
  const std::string path = TempPath("whole");
  WriteFile(path, s.bytes);
  auto state = PrepareResume(path, k.format, k.compression);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_TRUE(state->existed);
  std::set<uint64_t> all;
  for (uint64_t i = 1; i <= 12; ++i) all.insert(i);
  if (k.format == Format::kCsv) {
    // The last record may have lost rows: it is always done again.
    all.erase(12);
    EXPECT_EQ(Decompress(k.compression, ReadFile(path)),
              s.content.substr(0, Expect(s, k.format, s.content.size()).kept));
    // The last frame held lines 10 to 12: its first two are written again.
    EXPECT_EQ(state->reencoded, k.compression != Compression::kNone);
  } else {
    EXPECT_EQ(ReadFile(path), s.bytes);  // untouched
    EXPECT_EQ(state->cut_bytes, 0u);
  }
  EXPECT_EQ(state->done.count(), all.size());
  for (uint64_t i = 1; i <= 12; ++i) {
    EXPECT_EQ(state->done.Contains(i), all.count(i) == 1) << i;
  }
  EXPECT_FALSE(state->done.Contains(0));
  EXPECT_FALSE(state->done.Contains(13));
  EXPECT_EQ(state->digest, DigestOf(s, all));
  EXPECT_EQ(state->duplicates, 0u);
  EXPECT_EQ(state->probe_records, k.split ? 2 * 3u : 0u);  // lines 2, 7, 12
  EXPECT_FALSE(state->needs_header);
}

// The heart of it: the file cut at every byte offset, as SIGKILL or a full
// disk can leave it. The repaired file must be a valid prefix of what was
// written, ending at a record boundary, and the done set exactly the
// complete records in it.
TEST_P(ResumeCutTest, CutAtEveryOffset) {
  const Case& k = GetParam();
  // Small, so every offset is affordable: 6 records, 2 per write.
  const Sample s = MakeSample(k.format, k.compression, 6, 2, k.split);
  const std::string path = TempPath("cut");
  // Expected values depend on the frame ends; compute them incrementally
  // (decoding every prefix once).
  std::vector<uint64_t> final_at(s.bytes.size() + 1, 0);
  if (k.compression != Compression::kNone) {
    uint64_t best = 0;
    for (size_t cut = 0; cut <= s.bytes.size(); ++cut) {
      absl::optional<std::string> d =
          Decompress(k.compression, absl::string_view(s.bytes).substr(0, cut));
      if (d.has_value()) best = d->size();
      final_at[cut] = best;
    }
  }
  for (size_t cut = 0; cut <= s.bytes.size(); ++cut) {
    SCOPED_TRACE(absl::StrCat("cut at ", cut, " of ", s.bytes.size()));
    WriteFile(path, absl::string_view(s.bytes).substr(0, cut));
    auto state = PrepareResume(path, k.format, k.compression);
    ASSERT_TRUE(state.ok()) << state.status();
    const Expected e = Expect(
        s, k.format, k.compression == Compression::kNone ? cut : final_at[cut]);
    const std::string repaired = ReadFile(path);
    const absl::optional<std::string> content =
        Decompress(k.compression, repaired);
    ASSERT_TRUE(content.has_value()) << "the repaired file is not valid";
    ASSERT_EQ(content->size(), e.kept);
    ASSERT_TRUE(*content == s.content.substr(0, e.kept));
    ASSERT_EQ(state->kept_bytes, repaired.size());
    ASSERT_EQ(state->done.count(), e.done.size());
    for (uint64_t line : e.done) ASSERT_TRUE(state->done.Contains(line));
    ASSERT_EQ(state->digest, DigestOf(s, e.done));
    ASSERT_EQ(state->needs_header, k.format == Format::kCsv && e.kept == 0);
    ASSERT_EQ(state->duplicates, 0u);
    // When the cut fell inside a frame, only that frame's bytes changed.
    if (k.compression != Compression::kNone && !state->reencoded) {
      ASSERT_TRUE(repaired == s.bytes.substr(0, repaired.size()));
    }
  }
}

// After a repair, new records appended make one valid file whose done set
// is the union.
TEST_P(ResumeCutTest, AppendAfterRepair) {
  const Case& k = GetParam();
  const Sample s = MakeSample(k.format, k.compression, 10, 2, k.split);
  const std::string path = TempPath("append");
  // Cut in the middle of the file.
  WriteFile(path, absl::string_view(s.bytes).substr(0, s.bytes.size() / 2));
  auto first = PrepareResume(path, k.format, k.compression);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_LT(first->done.count(), 10u);
  {
    WriterOptions options;
    options.split_probes = k.split;
    std::unique_ptr<RecordWriter> writer = MakeWriter(k.format, options);
    auto sink =
        OutputSink::Open(path, k.compression, OutputSink::Mode::kAppend);
    ASSERT_TRUE(sink.ok());
    std::string out;
    if (first->needs_header) writer->WriteHeader(&out);
    for (uint64_t line = 1; line <= 10; ++line) {
      if (first->done.Contains(line)) continue;
      AddressRecord r = fixtures::MultiPortAddressRecord();
      r.line = line;
      r.input = s.inputs[line - 1];
      writer->Write(r, &out);
      ASSERT_TRUE((*sink)->Write(out).ok());
      out.clear();
    }
    ASSERT_TRUE((*sink)->Close().ok());
  }
  ASSERT_TRUE(Decompress(k.compression, ReadFile(path)).has_value());
  auto second = PrepareResume(path, k.format, k.compression);
  ASSERT_TRUE(second.ok()) << second.status();
  std::set<uint64_t> all;
  for (uint64_t i = 1; i <= (k.format == Format::kCsv ? 9u : 10u); ++i) {
    all.insert(i);
  }
  EXPECT_EQ(second->done.count(), all.size());
  EXPECT_EQ(second->digest, DigestOf(s, all));
  EXPECT_EQ(second->duplicates, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    All, ResumeCutTest,
    ::testing::Values(Case{Format::kNdjson, Compression::kNone, false},
                      Case{Format::kNdjson, Compression::kNone, true},
                      Case{Format::kNdjson, Compression::kGzip, false},
                      Case{Format::kNdjson, Compression::kZstd, false},
                      Case{Format::kNdjson, Compression::kZstd, true},
                      Case{Format::kCsv, Compression::kNone, false},
                      Case{Format::kCsv, Compression::kGzip, false},
                      Case{Format::kCsv, Compression::kZstd, false}),
    CaseName);

TEST(ResumeTest, MissingFileIsAFreshStart) {
  auto state = PrepareResume(TempPath("does-not-exist.ndjson.zst"),
                             Format::kNdjson, Compression::kZstd);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_FALSE(state->existed);
  EXPECT_EQ(state->done.count(), 0u);
}

TEST(ResumeTest, EmptyFile) {
  const std::string path = TempPath("empty");
  for (Format f : {Format::kNdjson, Format::kCsv}) {
    WriteFile(path, "");
    auto state = PrepareResume(path, f, Compression::kNone);
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_TRUE(state->existed);
    EXPECT_EQ(state->done.count(), 0u);
    EXPECT_EQ(state->needs_header, f == Format::kCsv);
  }
}

TEST(ResumeTest, CsvRawCellsGiveTheSameDigest) {
  const Sample plain = MakeSample(Format::kCsv, Compression::kNone, 14, 1);
  const Sample raw = MakeSample(Format::kCsv, Compression::kNone, 14, 1,
                                /*split=*/false, /*raw_cells=*/true);
  ASSERT_NE(plain.bytes, raw.bytes);  // "=1+2" is written differently
  const std::string path = TempPath("raw");
  WriteFile(path, plain.bytes);
  auto a = PrepareResume(path, Format::kCsv, Compression::kNone);
  WriteFile(path, raw.bytes);
  auto b = PrepareResume(path, Format::kCsv, Compression::kNone);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->digest, b->digest);
  EXPECT_EQ(a->done.count(), 13u);
}

TEST(ResumeTest, DigestTermDefinition) {
  // The writers' changes to the input text do not change the term.
  EXPECT_EQ(ResumeDigestTerm(5, "'=1+2"), ResumeDigestTerm(5, "=1+2"));
  EXPECT_EQ(ResumeDigestTerm(5, "'\r"), ResumeDigestTerm(5, "\r"));
  EXPECT_EQ(ResumeDigestTerm(5, std::string("a\0b", 3)),
            ResumeDigestTerm(5,
                             "a\xEF\xBF\xBD"
                             "b"));
  EXPECT_EQ(ResumeDigestTerm(5, "x\xff"), ResumeDigestTerm(5, "x\xEF\xBF\xBD"));
  // Line number and text both count.
  EXPECT_NE(ResumeDigestTerm(5, "a"), ResumeDigestTerm(6, "a"));
  EXPECT_NE(ResumeDigestTerm(5, "a"), ResumeDigestTerm(5, "b"));
  EXPECT_NE(ResumeDigestTerm(5, "'a"), ResumeDigestTerm(5, "a"));
}

TEST(ResumeTest, DuplicateRecordsCountOnce) {
  const Sample s = MakeSample(Format::kNdjson, Compression::kZstd, 5, 1);
  const std::string path = TempPath("dup.ndjson.zst");
  WriteFile(path, s.bytes + s.bytes);  // cat out out
  auto state = PrepareResume(path, Format::kNdjson, Compression::kZstd);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->done.count(), 5u);
  EXPECT_EQ(state->duplicates, 5u);
  std::set<uint64_t> all = {1, 2, 3, 4, 5};
  EXPECT_EQ(state->digest, DigestOf(s, all));
}

TEST(ResumeTest, ForeignOrMismatchedFilesAreErrorsAndUntouched) {
  const Sample ndjson = MakeSample(Format::kNdjson, Compression::kNone, 3, 1);
  const Sample csv = MakeSample(Format::kCsv, Compression::kNone, 3, 1);
  const Sample zst = MakeSample(Format::kNdjson, Compression::kZstd, 3, 1);
  struct Bad {
    std::string name;
    std::string bytes;
    Format format;
    Compression compression;
    std::string message;
  };
  const std::vector<Bad> cases = {
      {"csv-as-ndjson", csv.bytes, Format::kNdjson, Compression::kNone,
       "line 1 is not a smtpscan NDJSON record"},
      {"ndjson-as-csv", ndjson.bytes, Format::kCsv, Compression::kNone,
       "its first row is not this version's CSV header"},
      {"text", "hello world\nsecond line\n", Format::kNdjson,
       Compression::kNone, "line 1 is not a smtpscan NDJSON record"},
      // One line, even without a newline: never cut a foreign file away.
      {"one-line", "hello world\n", Format::kNdjson, Compression::kNone,
       "line 1 is not"},
      {"no-newline", "hello", Format::kNdjson, Compression::kNone,
       "line 1 is not"},
      {"bad-middle-line",
       ndjson.bytes.substr(0, ndjson.units[0].end) + "{\"oops\":1}\n" +
           ndjson.bytes.substr(ndjson.units[0].end),
       Format::kNdjson, Compression::kNone, "line 2 is not"},
      {"older-csv-header", "line,input,kind\r\n1,x,address\r\n", Format::kCsv,
       Compression::kNone, "not this version's CSV header"},
      {"plain-as-zstd", ndjson.bytes, Format::kNdjson, Compression::kZstd,
       "corrupt zstd data in the frame at byte 0"},
      {"zstd-as-gzip", zst.bytes, Format::kNdjson, Compression::kGzip,
       "corrupt gzip data in the frame at byte 0"},
  };
  const std::string path = TempPath("bad");
  for (const Bad& b : cases) {
    SCOPED_TRACE(b.name);
    WriteFile(path, b.bytes);
    auto state = PrepareResume(path, b.format, b.compression);
    ASSERT_FALSE(state.ok());
    EXPECT_THAT(state.status().message(), HasSubstr(path + ": "));
    EXPECT_THAT(state.status().message(), HasSubstr(b.message));
    EXPECT_EQ(ReadFile(path), b.bytes) << "the file was changed";
  }
}

TEST(ResumeTest, CorruptMiddleFrameIsAnError) {
  const Sample s = MakeSample(Format::kNdjson, Compression::kZstd, 6, 2);
  std::string bytes = s.bytes;
  bytes[bytes.size() / 2] ^= 0x55;  // inside the second of three frames
  const std::string path = TempPath("corrupt.zst");
  WriteFile(path, bytes);
  auto state = PrepareResume(path, Format::kNdjson, Compression::kZstd);
  ASSERT_FALSE(state.ok());
  EXPECT_THAT(state.status().message(), HasSubstr("corrupt zstd data"));
  EXPECT_EQ(ReadFile(path), bytes);
}

TEST(ResumeTest, TrailingZerosAfterFramesAreCut) {
  // What a crash can leave when the file size was updated but the data
  // blocks were not.
  for (Compression c :
       {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(CompressionName(c));
    const Sample s = MakeSample(Format::kNdjson, c, 4, 2);
    const std::string path = TempPath("zeros");
    WriteFile(path, s.bytes + std::string(3000, '\0'));
    auto state = PrepareResume(path, Format::kNdjson, c);
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_EQ(state->done.count(), 4u);
    EXPECT_EQ(ReadFile(path), s.bytes);
  }
}

// A file some other tool compressed as one frame, ending in a torn line:
// the cut falls inside the frame, whose kept part is written again.
TEST(ResumeTest, OneBigForeignFrameIsReencoded) {
  const Sample s = MakeSample(Format::kNdjson, Compression::kNone, 40, 40);
  const std::string torn = s.content.substr(0, s.content.size() - 10);
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(CompressionName(c));
    std::string bytes;
    FrameEncoder::Create(c, 19 - (c == Compression::kGzip ? 10 : 0))
        ->Frame(torn, &bytes);
    const std::string path = TempPath("foreign");
    WriteFile(path, bytes);
    auto state = PrepareResume(path, Format::kNdjson, c);
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_TRUE(state->reencoded);
    EXPECT_EQ(state->done.count(), 39u);
    EXPECT_EQ(state->cut_bytes, s.units.back().end - s.units[38].end - 10);
    const std::string repaired = ReadFile(path);
    EXPECT_EQ(state->kept_bytes, repaired.size());
    EXPECT_EQ(Decompress(c, repaired), s.content.substr(0, s.units[38].end));
  }
}

TEST(DoneLinesTest, InsertContainsMerge) {
  DoneLines a;
  EXPECT_TRUE(a.Insert(1));
  EXPECT_FALSE(a.Insert(1));
  EXPECT_TRUE(a.Insert(65535));
  EXPECT_TRUE(a.Insert(65536));
  EXPECT_TRUE(a.Insert(uint64_t{1} << 50));  // one chunk, not a huge array
  EXPECT_EQ(a.count(), 4u);
  EXPECT_TRUE(a.Contains(65536));
  EXPECT_FALSE(a.Contains(2));
  EXPECT_FALSE(a.Contains((uint64_t{1} << 50) + 1));
  EXPECT_LE(a.memory_bytes(), 3u * 8192);
  DoneLines b;
  b.Insert(2);
  b.Insert(65536);
  b.Insert(7000000);
  a.Merge(b);
  EXPECT_EQ(b.count(), 0u);
  EXPECT_FALSE(b.Contains(2));
  EXPECT_EQ(a.count(), 6u);
  for (uint64_t l : {1, 2, 65535, 65536, 7000000}) EXPECT_TRUE(a.Contains(l));
}

TEST(DoneLinesTest, HundredMillionLinesFitInAboutTwelveMegabytes) {
  DoneLines d;
  constexpr uint64_t kLines = 100'000'000;
  for (uint64_t l = 1; l <= kLines; ++l) d.Insert(l);
  EXPECT_EQ(d.count(), kLines);
  EXPECT_LE(d.memory_bytes(), 12'600'000u);
  EXPECT_TRUE(d.Contains(kLines));
  EXPECT_FALSE(d.Contains(kLines + 1));
}

}  // namespace
}  // namespace smtpscan::output
