// Reply parsing throughput on a realistic 12-line EHLO reply.
//
// Reference: BM_ReferenceLineSplit does the least any parser must do with
// the same bytes (find each line end, copy each line into a string). The
// ratio parser/reference is the figure to watch; README.md reports it.
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "benchmark/benchmark.h"
#include "smtp/ehlo.h"
#include "smtp/reply_parser.h"

namespace smtpscan::smtp {
namespace {

// Microsoft Exchange 2019's EHLO reply: 12 lines, 262 bytes.
constexpr absl::string_view kEhloReply =
    "250-mail.contoso.com Hello [192.0.2.1]\r\n"
    "250-SIZE 37748736\r\n"
    "250-PIPELINING\r\n"
    "250-DSN\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250-STARTTLS\r\n"
    "250-X-ANONYMOUSTLS\r\n"
    "250-AUTH NTLM\r\n"
    "250-X-EXPS GSSAPI NTLM\r\n"
    "250-8BITMIME\r\n"
    "250-BINARYMIME\r\n"
    "250 CHUNKING\r\n";

void BM_ParseEhloReply(benchmark::State& state) {
  for (auto _ : state) {
    ReplyParser parser;
    ReplyParser::Step step = parser.Parse(kEhloReply);
    Reply reply = parser.TakeReply();
    benchmark::DoNotOptimize(step);
    benchmark::DoNotOptimize(reply);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * kEhloReply.size());
}
BENCHMARK(BM_ParseEhloReply);

// The same reply arriving in TCP-like pieces of `state.range(0)` bytes.
void BM_ParseEhloReplyChunked(benchmark::State& state) {
  const size_t chunk = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    ReplyParser parser;
    absl::string_view rest = kEhloReply;
    while (!rest.empty()) {
      ReplyParser::Step step = parser.Parse(rest.substr(0, chunk));
      rest.remove_prefix(step.consumed);
    }
    Reply reply = parser.TakeReply();
    benchmark::DoNotOptimize(reply);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * kEhloReply.size());
}
BENCHMARK(BM_ParseEhloReplyChunked)->Arg(1)->Arg(16);

// Parse plus EHLO interpretation (name, extensions): what a probe pays.
void BM_ParseAndInterpretEhlo(benchmark::State& state) {
  for (auto _ : state) {
    ReplyParser parser;
    parser.Parse(kEhloReply);
    EhloReply ehlo = ParseEhloReply(parser.TakeReply());
    benchmark::DoNotOptimize(ehlo);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseAndInterpretEhlo);

void BM_ReferenceLineSplit(benchmark::State& state) {
  for (auto _ : state) {
    std::vector<std::string> lines = absl::StrSplit(kEhloReply, "\r\n");
    benchmark::DoNotOptimize(lines);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * kEhloReply.size());
}
BENCHMARK(BM_ReferenceLineSplit);

}  // namespace
}  // namespace smtpscan::smtp
