#include "output/sink.h"

#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "output/writer.h"

namespace smtpscan::output {
namespace {

using ::testing::HasSubstr;

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "sink_test_", getpid(), "_", name);
}

// Removes this process's temporary files when the tests are done.
class RemoveTempFiles : public ::testing::Environment {
 public:
  void TearDown() override {
    glob_t g{};
    if (glob(absl::StrCat(::testing::TempDir(), "sink_test_", getpid(), "_*")
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
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Decodes with the libraries directly (not through smtpscan's own reader):
// the frames of `bytes`, each as its decompressed text. Fails the test on
// anything but a sequence of complete frames.
std::vector<std::string> ZstdFrames(absl::string_view bytes) {
  std::vector<std::string> frames;
  while (!bytes.empty()) {
    const size_t size =
        ZSTD_findFrameCompressedSize(bytes.data(), bytes.size());
    if (ZSTD_isError(size)) {
      ADD_FAILURE() << "not a complete zstd frame: " << ZSTD_getErrorName(size);
      break;
    }
    const unsigned long long content =
        ZSTD_getFrameContentSize(bytes.data(), size);
    EXPECT_NE(content, ZSTD_CONTENTSIZE_UNKNOWN) << "size in the header";
    std::string out(content, '\0');
    const size_t n =
        ZSTD_decompress(out.data(), out.size(), bytes.data(), size);
    EXPECT_FALSE(ZSTD_isError(n));
    EXPECT_EQ(n, content);
    frames.push_back(out);
    bytes.remove_prefix(size);
  }
  return frames;
}

std::vector<std::string> GzipMembers(absl::string_view bytes) {
  std::vector<std::string> members;
  while (!bytes.empty()) {
    z_stream z{};
    EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    z.avail_in = static_cast<uInt>(bytes.size());
    std::string out;
    int r = Z_OK;
    while (r == Z_OK) {
      char buf[4096];
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof(buf);
      r = inflate(&z, Z_NO_FLUSH);
      out.append(buf, sizeof(buf) - z.avail_out);
    }
    EXPECT_EQ(r, Z_STREAM_END) << "not a complete gzip member";
    bytes.remove_prefix(bytes.size() - z.avail_in);
    inflateEnd(&z);
    members.push_back(out);
    if (r != Z_STREAM_END) break;
  }
  return members;
}

std::vector<std::string> Frames(Compression c, absl::string_view bytes) {
  return c == Compression::kZstd ? ZstdFrames(bytes) : GzipMembers(bytes);
}

TEST(CompressionForPathTest, ByExtension) {
  EXPECT_EQ(CompressionForPath("out.ndjson.gz"), Compression::kGzip);
  EXPECT_EQ(CompressionForPath("out.csv.GZ"), Compression::kGzip);
  EXPECT_EQ(CompressionForPath("out.ndjson.zst"), Compression::kZstd);
  EXPECT_EQ(CompressionForPath("/a/b.Zst"), Compression::kZstd);
  EXPECT_EQ(CompressionForPath("out.ndjson"), Compression::kNone);
  EXPECT_EQ(CompressionForPath("out.zstd"), Compression::kNone);
  EXPECT_EQ(CompressionForPath("out.tgz"), Compression::kNone);
  EXPECT_EQ(CompressionForPath("-"), Compression::kNone);
  EXPECT_EQ(CompressionForPath(""), Compression::kNone);
}

TEST(CompressionForPathTest, FormatSeesThroughTheSuffix) {
  EXPECT_EQ(FormatForPath("x.csv.gz"), Format::kCsv);
  EXPECT_EQ(FormatForPath("x.csv.zst"), Format::kCsv);
  EXPECT_EQ(FormatForPath("x.ndjson.zst"), Format::kNdjson);
  EXPECT_EQ(FormatForPath("x.ndjson.gz"), Format::kNdjson);
  EXPECT_EQ(FormatForPath("x.zst"), Format::kNdjson);
}

const std::vector<std::string>& Writes() {
  static const auto* writes = new std::vector<std::string>{
      "{\"line\":1,\"input\":\"192.0.2.1\",\"kind\":\"address\"}\n",
      std::string(200000, 'x') + "\n",  // bigger than any internal buffer
      "{\"line\":3}\n{\"line\":4}\n",
      "\n",
  };
  return *writes;
}

class CompressedSinkTest : public ::testing::TestWithParam<Compression> {};

TEST_P(CompressedSinkTest, EveryWriteIsOneFrame) {
  const std::string path = TempPath("frames");
  auto sink = OutputSink::Open(path, GetParam(), OutputSink::Mode::kTruncate);
  ASSERT_TRUE(sink.ok()) << sink.status();
  std::string all;
  for (const std::string& w : Writes()) {
    ASSERT_TRUE((*sink)->Write(w).ok());
    all += w;
  }
  ASSERT_TRUE((*sink)->Write("").ok());  // writes no empty frame
  EXPECT_EQ((*sink)->bytes_in(), all.size());
  ASSERT_TRUE((*sink)->Close().ok());
  const std::string bytes = ReadFile(path);
  EXPECT_EQ((*sink)->bytes_out(), bytes.size());
  EXPECT_EQ(Frames(GetParam(), bytes), Writes());
  EXPECT_LT(bytes.size(), all.size() / 10);  // it did compress
}

TEST_P(CompressedSinkTest, AppendAddsFramesAndCatMerges) {
  const std::string a = TempPath("a");
  const std::string b = TempPath("b");
  for (const std::string* path : {&a, &b}) {
    auto sink =
        OutputSink::Open(*path, GetParam(), OutputSink::Mode::kTruncate);
    ASSERT_TRUE(sink.ok());
    ASSERT_TRUE((*sink)->Write(Writes()[0]).ok());
    ASSERT_TRUE((*sink)->Close().ok());
  }
  {
    auto sink = OutputSink::Open(a, GetParam(), OutputSink::Mode::kAppend);
    ASSERT_TRUE(sink.ok());
    ASSERT_TRUE((*sink)->Write(Writes()[2]).ok());
  }  // the destructor closes too
  EXPECT_EQ(Frames(GetParam(), ReadFile(a)),
            (std::vector<std::string>{Writes()[0], Writes()[2]}));
  // cat a b: one valid stream, frames in order.
  EXPECT_EQ(Frames(GetParam(), ReadFile(a) + ReadFile(b)),
            (std::vector<std::string>{Writes()[0], Writes()[2], Writes()[0]}));
}

TEST_P(CompressedSinkTest, StreamingEncoderMakesOneFrameOfManyAdds) {
  auto encoder = FrameEncoder::Create(GetParam());
  ASSERT_NE(encoder, nullptr);
  std::string out;
  std::string all;
  for (int i = 0; i < 1000; ++i) {
    const std::string piece = absl::StrCat("{\"line\":", i, "}\n");
    encoder->Add(piece, &out);
    all += piece;
  }
  encoder->End(&out);
  encoder->Frame("second\n", &out);
  encoder->End(&out);  // an empty frame
  if (GetParam() == Compression::kZstd) {
    // A streamed frame does not know its size up front.
    std::vector<std::string> frames;
    absl::string_view rest = out;
    while (!rest.empty()) {
      const size_t size =
          ZSTD_findFrameCompressedSize(rest.data(), rest.size());
      ASSERT_FALSE(ZSTD_isError(size));
      std::string text(1 << 20, '\0');
      const size_t n =
          ZSTD_decompress(text.data(), text.size(), rest.data(), size);
      ASSERT_FALSE(ZSTD_isError(n));
      text.resize(n);
      frames.push_back(text);
      rest.remove_prefix(size);
    }
    EXPECT_EQ(frames, (std::vector<std::string>{all, "second\n", ""}));
  } else {
    EXPECT_EQ(GzipMembers(out),
              (std::vector<std::string>{all, "second\n", ""}));
  }
}

std::string ParamName(const ::testing::TestParamInfo<Compression>& info) {
  return std::string(CompressionName(info.param));
}

INSTANTIATE_TEST_SUITE_P(Both, CompressedSinkTest,
                         ::testing::Values(Compression::kGzip,
                                           Compression::kZstd),
                         ParamName);

TEST(OutputSinkTest, PlainTruncatesOrAppends) {
  const std::string path = TempPath("plain");
  WriteFile(path, "old contents\n");
  {
    auto sink =
        OutputSink::Open(path, Compression::kNone, OutputSink::Mode::kAppend);
    ASSERT_TRUE(sink.ok());
    ASSERT_TRUE((*sink)->Write("more\n").ok());
    ASSERT_TRUE((*sink)->Close().ok());
    ASSERT_TRUE((*sink)->Close().ok());  // idempotent
  }
  EXPECT_EQ(ReadFile(path), "old contents\nmore\n");
  auto sink =
      OutputSink::Open(path, Compression::kNone, OutputSink::Mode::kTruncate);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Write("new\n").ok());
  ASSERT_TRUE((*sink)->Close().ok());
  EXPECT_EQ(ReadFile(path), "new\n");
}

TEST(OutputSinkTest, SecondWriterOfOneFileIsRefusedAndTruncatesNothing) {
  const std::string path = TempPath("locked");
  auto first =
      OutputSink::Open(path, Compression::kNone, OutputSink::Mode::kTruncate);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->Write("record\n").ok());
  for (OutputSink::Mode mode :
       {OutputSink::Mode::kTruncate, OutputSink::Mode::kAppend}) {
    auto second = OutputSink::Open(path, Compression::kNone, mode);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().message(),
              absl::StrCat("cannot write ", path,
                           ": another smtpscan is writing it (locked)"));
  }
  EXPECT_EQ(ReadFile(path), "record\n");
  ASSERT_TRUE((*first)->Close().ok());
  auto third =
      OutputSink::Open(path, Compression::kNone, OutputSink::Mode::kTruncate);
  ASSERT_TRUE(third.ok()) << third.status();
  ASSERT_TRUE((*third)->Close().ok());
  EXPECT_EQ(ReadFile(path), "");
}

TEST(OutputSinkTest, OpenErrorNamesThePath) {
  const std::string path = TempPath("no/such/dir/out.ndjson.zst");
  auto sink =
      OutputSink::Open(path, Compression::kZstd, OutputSink::Mode::kTruncate);
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().message(),
            absl::StrCat("cannot write ", path, ": No such file or directory"));
}

TEST(OutputSinkTest, FullDeviceIsAnErrorWithPathAndReason) {
  for (Compression c :
       {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(CompressionName(c));
    auto sink = OutputSink::Open("/dev/full", c, OutputSink::Mode::kTruncate);
    ASSERT_TRUE(sink.ok()) << sink.status();
    const absl::Status s = (*sink)->Write("{\"line\":1}\n");
    EXPECT_EQ(s.message(), "cannot write /dev/full: No space left on device");
    // Sticky: later writes fail the same way and do not write.
    EXPECT_EQ((*sink)->Write("x\n"), s);
    EXPECT_EQ((*sink)->Close(), s);
    EXPECT_EQ((*sink)->bytes_out(), 0u);
  }
}

TEST(OutputSinkTest, ClosedReaderIsBrokenPipe) {
  // As smtpscan would with SIGPIPE ignored; restored after.
  struct sigaction ignore {};
  struct sigaction old {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &old), 0);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  auto sink = OutputSink::FromFd(fds[1], "standard output", Compression::kZstd,
                                 /*owned=*/true);
  EXPECT_EQ((*sink).Write("{\"line\":1}\n").message(),
            "cannot write standard output: Broken pipe");
  sigaction(SIGPIPE, &old, nullptr);
}

TEST(OutputSinkTest, BadDescriptor) {
  auto sink = OutputSink::FromFd(12345, "out.ndjson", Compression::kNone,
                                 /*owned=*/false);
  EXPECT_EQ(sink->Write("x\n").message(),
            "cannot write out.ndjson: Bad file descriptor");
}

// RLIMIT_FSIZE makes write(2) accept part of a write and fail the rest
// (EFBIG), as a disk filling up mid-write does: the sink cuts the part that
// made it, so the file ends where the last good Write ended. In a child
// process: the limit and SIGXFSZ must not touch the test runner.
TEST(OutputSinkTest, PartialWriteToAFileIsUndone) {
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    SCOPED_TRACE(CompressionName(c));
    const std::string path = TempPath("partial");
    unlink(path.c_str());
    // Incompressible bytes, so the frame is as big as its input.
    std::string noise;
    uint32_t x = 12345;
    for (int i = 0; i < 3000; ++i) {
      x = x * 1103515245 + 12345;
      noise.push_back(static_cast<char>(x >> 16));
    }
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      signal(SIGXFSZ, SIG_IGN);
      rlimit limit{4000, 4000};
      setrlimit(RLIMIT_FSIZE, &limit);
      auto sink = OutputSink::Open(path, c, OutputSink::Mode::kTruncate);
      if (!sink.ok()) _exit(10);
      if (!(*sink)->Write(noise).ok()) _exit(11);    // ~3000 bytes
      const absl::Status s = (*sink)->Write(noise);  // 1000 of 3000 fit
      if (s.message() !=
          absl::StrCat("cannot write ", path, ": File too large")) {
        _exit(12);
      }
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    const std::string bytes = ReadFile(path);
    if (c == Compression::kNone) {
      EXPECT_EQ(bytes.size(), noise.size());
      EXPECT_TRUE(bytes == noise);
    } else {
      EXPECT_EQ(ZstdFrames(bytes), std::vector<std::string>{noise});
    }
  }
}

}  // namespace
}  // namespace smtpscan::output
