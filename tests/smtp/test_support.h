// Helpers shared by the SMTP and output tests.
#ifndef SMTPSCAN_TESTS_SMTP_TEST_SUPPORT_H_
#define SMTPSCAN_TESTS_SMTP_TEST_SUPPORT_H_

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/optional.h"
#include "smtp/reply.h"

namespace smtpscan::smtp::test {

// A reply as the parser would produce it from CRLF-terminated lines
// ("NNN-text\r\n" ... "NNN text\r\n"), wire_bytes included.
inline Reply MakeReply(
    int code, std::vector<std::string> lines,
    absl::optional<EnhancedStatusCode> enhanced = absl::nullopt) {
  Reply reply;
  reply.code = code;
  reply.enhanced = enhanced;
  for (const std::string& line : lines) reply.wire_bytes += 4 + line.size() + 2;
  reply.lines = std::move(lines);
  return reply;
}

// tests/data/transcripts.
inline std::string TranscriptDir() {
  return std::string(SMTPSCAN_TEST_DATA_DIR) + "/transcripts";
}

// The names of the *.transcript files in TranscriptDir(), sorted.
inline std::vector<std::string> TranscriptFiles() {
  std::vector<std::string> names;
  for (const auto& entry :
       std::filesystem::directory_iterator(TranscriptDir())) {
    if (entry.path().extension() == ".transcript") {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The whole file; empty when it cannot be read.
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace smtpscan::smtp::test

#endif  // SMTPSCAN_TESTS_SMTP_TEST_SUPPORT_H_
