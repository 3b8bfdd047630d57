// Fuzz target: the input side, on arbitrary bytes.
//
// The bytes are an input file: the streaming reader splits them into lines
// (with a small chunk and line limit, so the too-long path and chunk
// boundaries are exercised), and each line goes to the address-line parser
// as the scan does. Checks: the same lines whatever the chunk size; a
// parsed target is well formed and its canonical address parses back to the
// same bytes.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "scan/target.h"
#include "scan/target_reader.h"

namespace {

using smtpscan::scan::InputLine;
using smtpscan::scan::TargetReader;

// The lines of `bytes` read through a pipe with the given chunk size.
std::vector<InputLine> ReadAll(const uint8_t* data, size_t size, size_t chunk) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  // Small inputs only (libFuzzer's -max_len): the pipe buffer holds them.
  if (size > 0 && write(fds[1], data, size) != static_cast<ssize_t>(size)) {
    std::abort();
  }
  close(fds[1]);
  TargetReader reader(fds[0], /*max_line_bytes=*/64, chunk);
  std::vector<InputLine> lines;
  while (true) {
    auto next = reader.Next();
    if (!next.ok()) std::abort();  // a pipe read does not fail
    if (!next->has_value()) break;
    lines.push_back(**next);
  }
  close(fds[0]);
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smtpscan::scan;
  if (size > 16384) return 0;
  const std::vector<InputLine> a = ReadAll(data, size, 7);
  const std::vector<InputLine> b = ReadAll(data, size, 4096);
  if (a.size() != b.size()) std::abort();
  const std::vector<uint16_t> ports = {25, 587};
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].number != b[i].number || a[i].text != b[i].text ||
        a[i].too_long != b[i].too_long) {
      std::abort();
    }
    if (a[i].too_long) continue;
    auto target = ParseTargetLine(a[i].text, a[i].number, ports);
    if (!target.ok()) {
      if (target.status().message().empty()) std::abort();
      continue;
    }
    if (target->ports.empty()) std::abort();
    for (uint16_t p : target->ports) {
      if (p == 0) std::abort();
    }
    auto again = ParseIpAddress(target->address);
    if (!again.has_value() || again->family != target->family ||
        again->bytes != target->bytes) {
      std::abort();
    }
    if (FormatIpAddress(target->family, target->bytes.data()) !=
        target->address) {
      std::abort();
    }
  }
  return 0;
}
