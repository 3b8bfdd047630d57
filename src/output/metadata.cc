#include "output/metadata.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "output/text.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"

namespace smtpscan::output {
namespace {

using JsonWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

// Strings from the command line and the system: made valid UTF-8 first, as
// every string smtpscan writes (an argument may be any bytes).
void String(JsonWriter& json, absl::string_view text) {
  std::string scratch;
  const absl::string_view valid = ValidUtf8(text, &scratch);
  json.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

void Key(JsonWriter& json, absl::string_view key) {
  json.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

void Strings(JsonWriter& json, const std::vector<std::string>& values) {
  json.StartArray();
  for (const std::string& v : values) String(json, v);
  json.EndArray();
}

// {"status": count, ...}: every status when `all`, otherwise only those
// that occurred.
void Counts(JsonWriter& json, const StatusCounts& counts, bool all) {
  json.StartObject();
  for (int i = 0; i < kScanStatusCount; ++i) {
    if (!all && counts[i] == 0) continue;
    Key(json, ScanStatusName(static_cast<ScanStatus>(i)));
    json.Uint64(counts[i]);
  }
  json.EndObject();
}

void Option(JsonWriter& json, const OptionSetting::Value& value) {
  struct Visitor {
    JsonWriter& json;
    void operator()(absl::monostate) { json.Null(); }
    void operator()(bool b) { json.Bool(b); }
    void operator()(int64_t n) { json.Int64(n); }
    void operator()(double d) { json.Double(d); }
    void operator()(const std::string& s) { String(json, s); }
    void operator()(const std::vector<std::string>& v) { Strings(json, v); }
  };
  absl::visit(Visitor{json}, value);
}

}  // namespace

std::string NewScanId() {
  uint32_t id = 0;
  // GRND_NONBLOCK: never wait for the entropy pool (early boot); the
  // fallback only has to differ between runs, not be unpredictable.
  if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id)) {
    const uint64_t mix = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())) ^
                         (static_cast<uint64_t>(getpid()) << 32);
    id = static_cast<uint32_t>(mix ^ (mix >> 32));
  }
  std::string text(8, '0');
  for (int i = 7; i >= 0; --i) {
    text[i] = "0123456789abcdef"[id & 0xf];
    id >>= 4;
  }
  return text;
}

std::string FormatMetadataTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::string FormatMetadata(const RunMetadata& m) {
  rapidjson::StringBuffer buffer;
  JsonWriter json(buffer);
  json.SetIndent(' ', 2);
  const bool ended = m.end != absl::InfinitePast();
  json.StartObject();
  Key(json, "scan_id");
  String(json, m.scan_id);
  Key(json, "version");
  String(json, m.version);
  Key(json, "start");
  String(json, FormatMetadataTime(m.start));
  Key(json, "end");
  if (ended) {
    String(json, FormatMetadataTime(m.end));
  } else {
    json.Null();
  }
  Key(json, "duration_s");
  if (ended) {
    // Milliseconds, as the times.
    json.Double(absl::ToInt64Milliseconds(m.end - m.start) / 1000.0);
  } else {
    json.Null();
  }
  Key(json, "interrupted");
  json.Bool(m.interrupted);
  Key(json, "exit_code");
  if (ended) {
    json.Int(m.exit_code);
  } else {
    json.Null();
  }
  Key(json, "command_line");
  Strings(json, m.command_line);
  Key(json, "options");
  json.StartObject();
  for (const OptionSetting& o : m.options) {
    Key(json, o.name);
    Option(json, o.value);
  }
  json.EndObject();
  Key(json, "ehlo_name");
  String(json, m.ehlo_name);
  Key(json, "source_addresses");
  Strings(json, m.source_addresses);
  Key(json, "resolvers");
  Strings(json, m.resolvers);
  Key(json, "shard");
  if (m.shard.has_value()) {
    json.StartObject();
    Key(json, "index");
    json.Uint(m.shard->index);
    Key(json, "count");
    json.Uint(m.shard->count);
    json.EndObject();
  } else {
    json.Null();
  }
  Key(json, "input_lines");
  json.Uint64(m.input_lines);
  Key(json, "records");
  json.Uint64(m.records);
  Key(json, "probe_records");
  json.Uint64(m.probe_records);
  Key(json, "records_by_status");
  Counts(json, m.records_by_status, /*all=*/true);
  Key(json, "probes_by_port");
  json.StartObject();
  for (const auto& [port, counts] : m.probes_by_port) {
    Key(json, absl::StrCat(port));
    Counts(json, counts, /*all=*/false);
  }
  json.EndObject();
  Key(json, "dns");
  if (m.dns.has_value()) {
    json.StartObject();
    Key(json, "queries");
    json.Uint64(m.dns->queries);
    Key(json, "answered");
    json.Uint64(m.dns->answered);
    Key(json, "timeouts");
    json.Uint64(m.dns->timeouts);
    json.EndObject();
  } else {
    json.Null();
  }
  json.EndObject();
  return absl::StrCat(absl::string_view(buffer.GetString(), buffer.GetSize()),
                      "\n");
}

namespace {

// Writes all of `text` to `fd`, retrying after EINTR and short writes.
bool WriteAll(int fd, absl::string_view text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

absl::Status WriteMetadataFile(const std::string& path,
                               const RunMetadata& metadata) {
  const std::string text = FormatMetadata(metadata);
  auto fail = [&path] {
    return absl::DataLossError(
        absl::StrCat("cannot write ", path, ": ", strerror(errno)));
  };
  // Something that is not a regular file (a FIFO, /dev/stderr, a terminal)
  // is written in place: renaming over it would replace a device node or
  // pipe with a file (and, as root, break /dev/null for everyone).
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) {
      errno = EISDIR;
      return fail();
    }
    // O_NONBLOCK: a FIFO nobody reads fails (ENXIO) instead of blocking
    // the run; the writes themselves block as usual.
    const int fd = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return fail();
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    const bool ok = WriteAll(fd, text);
    const int error = errno;
    close(fd);
    errno = error;
    return ok ? absl::OkStatus() : fail();
  }
  // A symbolic link keeps pointing where it did: the file it names is
  // replaced, not the link.
  std::string target = path;
  if (char* real = realpath(path.c_str(), nullptr); real != nullptr) {
    target = real;
    free(real);
  }
  // Same directory as the target: rename(2) is atomic only within one file
  // system. The pid keeps two runs writing one path from sharing the file.
  const std::string tmp = absl::StrCat(target, ".tmp.", getpid());
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail();
  if (!WriteAll(fd, text)) {
    absl::Status s = fail();
    close(fd);
    unlink(tmp.c_str());
    return s;
  }
  // fsync before rename: otherwise a crash can leave the new name pointing
  // at an empty file (ext4 and xfs order data and rename only on request).
  if (fsync(fd) != 0) {
    absl::Status s = fail();
    close(fd);
    unlink(tmp.c_str());
    return s;
  }
  if (close(fd) != 0) {
    absl::Status s = fail();
    unlink(tmp.c_str());
    return s;
  }
  if (rename(tmp.c_str(), target.c_str()) != 0) {
    absl::Status s = fail();
    unlink(tmp.c_str());
    return s;
  }
  return absl::OkStatus();
}

}  // namespace smtpscan::output
