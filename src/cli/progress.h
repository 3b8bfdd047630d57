// Progress of a scan on standard error.
//
// Sans-I/O in two parts: ProgressFormatter turns a snapshot of counters into
// one line of text, ProgressReporter decides when a line is due and frames
// it (redrawn in place on a terminal, one line per report otherwise); the
// bytes go to a sink the caller gives. Time always comes from the caller,
// so tests fix it.
#ifndef SMTPSCAN_CLI_PROGRESS_H_
#define SMTPSCAN_CLI_PROGRESS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace smtpscan::cli {

// The scan's counters at one moment. Plain values: the scan fills it from
// its own counters or, for counters other threads update (connections open
// in engine threads), from std::atomic loads; nothing here is shared.
struct ProgressSnapshot {
  absl::Duration elapsed;  // since the scan started
  // Input lines consumed, blank and comment lines included.
  uint64_t lines_read = 0;
  // Lines read whose record is not written yet (probes or DNS running).
  uint64_t lines_in_progress = 0;
  // Records written: one per target line (probe records of --layout split
  // are not counted), and of those, how many have status success.
  uint64_t records = 0;
  uint64_t records_success = 0;
  // Bytes of the input read so far, of `input_bytes`; input_bytes == 0 when
  // the size is unknown (standard input, a pipe): no percentage, no ETA.
  uint64_t input_bytes_read = 0;
  uint64_t input_bytes = 0;
  uint64_t connections_open = 0;
  // DNS queries sent and not answered; absent before the first domain line
  // (address-only scans never show it).
  absl::optional<uint64_t> dns_in_flight;
};

// Share of the input done, 0..1: the share of its bytes read, discounted by
// the lines read whose records are not written yet. nullopt when the input
// size is unknown. The reader reads ahead (64 KiB chunks), so for inputs of
// a few chunks the figure runs ahead of the truth; for the large inputs a
// progress line is for, the read-ahead is a rounding error.
absl::optional<double> FractionDone(const ProgressSnapshot& s);

// One progress line, without a line end:
//
//   0:01:05 12.5% ETA 0:07:35 lines 12000 records 11500 180/s avg 177/s
//   conns 980 dns 57 ok 61.3%
//
// (one line; wrapped here). Elapsed time and ETA are H:MM:SS; percent and
// ETA only when the input size is known (ETA "-" until something is done);
// the first rate is over the time since the previous line (the average when
// that is under a second), "avg" over the whole run (one decimal below
// 10/s); "dns" only once DNS is in use; "ok" is
// the share of records written whose status is success ("-" before the
// first). ASCII only, so that a terminal line can be cut at any byte.
class ProgressFormatter {
 public:
  std::string Line(const ProgressSnapshot& s);

 private:
  // The previous call's elapsed time and records, for the interval rate.
  absl::Duration last_elapsed_;
  uint64_t last_records_ = 0;
};

class ProgressReporter {
 public:
  struct Options {
    // Redraw one line in place: "\r", the line, then "\x1b[K" (erase to the
    // end of the line), and a newline at the end. Otherwise each report is
    // a line of its own, after "smtpscan: " like smtpscan's other messages.
    bool terminal = false;
    absl::Duration interval = absl::Seconds(1);
    // The terminal's width, asked at every redraw (it may be resized); a
    // line is cut to one column less so that it never wraps (a wrapped
    // line cannot be redrawn with "\r"). Empty or 0: never cut.
    absl::AnyInvocable<size_t()> columns;
    // Where the bytes go. REQUIRED.
    absl::AnyInvocable<void(absl::string_view)> write;
  };

  // For standard error. A terminal (isatty(2), TERM not "dumb", and the
  // records are not written to the same terminal: `records_to_terminal`)
  // is redrawn once a second. Anything else (a log file, a pipe, a job
  // runner's capture) gets a plain line every 10 s: a line a second would
  // be 86,400 lines a day, burying everything else in the log, while 10 s
  // still shows a stalled scan within seconds of looking.
  static Options ForStandardError(bool records_to_terminal);

  // `start`: when the scan started; the first report is due an interval
  // later.
  ProgressReporter(absl::Time start, Options options);

  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // Whether a report is due at `now`. Cheap: call it on every loop turn,
  // and build a snapshot only when it says yes.
  bool Due(absl::Time now) const { return now >= next_; }

  // Writes the report for `s`; the next one is due at the first multiple of
  // the interval after `now` (reports stay on the start's grid when the
  // loop is late).
  void Report(absl::Time now, const ProgressSnapshot& s);

  // At the end of the scan. On a terminal where a line was drawn: draws `s`
  // once more and ends the line, so what follows starts on its own line.
  // Otherwise writes nothing (the summary line follows).
  void Finish(const ProgressSnapshot& s);

 private:
  void Draw(const ProgressSnapshot& s, bool last);

  Options options_;
  absl::Time start_;
  absl::Time next_;
  bool drawn_ = false;  // a terminal line is on the screen
  ProgressFormatter formatter_;
  std::string out_;
};

}  // namespace smtpscan::cli

#endif  // SMTPSCAN_CLI_PROGRESS_H_
