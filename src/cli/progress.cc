#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace smtpscan::cli {
namespace {

// H:MM:SS, whole seconds (rounded down); hours are not bounded.
std::string Clock(absl::Duration d) {
  const int64_t total = std::max<int64_t>(0, absl::ToInt64Seconds(d));
  return absl::StrFormat("%d:%02d:%02d", total / 3600, total / 60 % 60,
                         total % 60);
}

// Records per second: one decimal below 10, whole numbers above.
std::string Rate(uint64_t records, absl::Duration over) {
  const double seconds = absl::ToDoubleSeconds(over);
  const double rate = seconds > 0 ? records / seconds : 0;
  return rate < 10 ? absl::StrFormat("%.1f/s", rate)
                   : absl::StrFormat("%.0f/s", rate);
}

// One decimal, rounded down: 100.0% only when all is done.
std::string Percent(double fraction) {
  const double tenths = std::floor(std::clamp(fraction, 0.0, 1.0) * 1000);
  return absl::StrFormat("%.1f%%", tenths / 10);
}

// An ETA beyond this is noise from the first seconds of a run.
constexpr absl::Duration kMaxEta = absl::Hours(10000);

void WriteAllToStderr(absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(2, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // progress is best effort: never fail the scan over it
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

size_t StderrColumns() {
  winsize ws{};
  if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  size_t columns = 0;
  const char* env = std::getenv("COLUMNS");
  if (env != nullptr && absl::SimpleAtoi(env, &columns)) return columns;
  return 0;
}

}  // namespace

absl::optional<double> FractionDone(const ProgressSnapshot& s) {
  if (s.input_bytes == 0) return absl::nullopt;
  double fraction =
      std::min(1.0, static_cast<double>(s.input_bytes_read) / s.input_bytes);
  if (s.lines_read > 0) {
    const uint64_t busy = std::min(s.lines_in_progress, s.lines_read);
    fraction *= static_cast<double>(s.lines_read - busy) / s.lines_read;
  } else {
    fraction = 0;
  }
  return fraction;
}

std::string ProgressFormatter::Line(const ProgressSnapshot& s) {
  std::string line = Clock(s.elapsed);
  if (absl::optional<double> done = FractionDone(s); done.has_value()) {
    absl::StrAppend(&line, " ", Percent(*done), " ETA ");
    const absl::Duration eta = *done > 0 ? s.elapsed * ((1 - *done) / *done)
                                         : absl::InfiniteDuration();
    if (eta < kMaxEta) {
      // Rounded up: "0:00:00" only when nothing is left.
      absl::StrAppend(&line, Clock(absl::Ceil(eta, absl::Seconds(1))));
    } else {
      line += "-";
    }
  }
  // Over the time since the previous line; when that is under a second (a
  // last line drawn soon after a report), over the whole run instead: a
  // few records in a few milliseconds make a meaningless rate.
  const absl::Duration interval = s.elapsed - last_elapsed_;
  const std::string average = Rate(s.records, s.elapsed);
  const std::string recent =
      interval >= absl::Seconds(1)
          ? Rate(s.records - std::min(s.records, last_records_), interval)
          : average;
  absl::StrAppend(&line, " lines ", s.lines_read, " records ", s.records, " ",
                  recent, " avg ", average, " conns ", s.connections_open);
  if (s.dns_in_flight.has_value()) {
    absl::StrAppend(&line, " dns ", *s.dns_in_flight);
  }
  line += " ok ";
  if (s.records > 0) {
    line += Percent(static_cast<double>(s.records_success) / s.records);
  } else {
    line += "-";
  }
  last_elapsed_ = s.elapsed;
  last_records_ = s.records;
  return line;
}

ProgressReporter::Options ProgressReporter::ForStandardError(
    bool records_to_terminal) {
  Options o;
  const char* term = std::getenv("TERM");
  o.terminal = isatty(2) == 1 && !records_to_terminal &&
               !(term != nullptr && std::strcmp(term, "dumb") == 0);
  o.interval = o.terminal ? absl::Seconds(1) : absl::Seconds(10);
  if (o.terminal) o.columns = StderrColumns;
  o.write = WriteAllToStderr;
  return o;
}

ProgressReporter::ProgressReporter(absl::Time start, Options options)
    : options_(std::move(options)),
      start_(start),
      next_(start + options_.interval) {}

void ProgressReporter::Report(absl::Time now, const ProgressSnapshot& s) {
  Draw(s, /*last=*/false);
  if (options_.interval <= absl::ZeroDuration()) {
    next_ = now;
    return;
  }
  // The first grid point after `now`.
  absl::Duration rem;
  const int64_t ticks =
      absl::IDivDuration(now - start_, options_.interval, &rem);
  next_ = start_ + (ticks + 1) * options_.interval;
}

void ProgressReporter::Finish(const ProgressSnapshot& s) {
  if (options_.terminal && drawn_) Draw(s, /*last=*/true);
}

void ProgressReporter::Draw(const ProgressSnapshot& s, bool last) {
  std::string line = formatter_.Line(s);
  out_.clear();
  if (options_.terminal) {
    const size_t columns = options_.columns ? options_.columns() : 0;
    if (columns > 1 && line.size() > columns - 1) line.resize(columns - 1);
    absl::StrAppend(&out_, "\r", line, "\x1b[K", last ? "\n" : "");
    drawn_ = !last;
  } else {
    absl::StrAppend(&out_, "smtpscan: ", line, "\n");
  }
  options_.write(out_);
}

}  // namespace smtpscan::cli
