// From a probe's NDJSON object back to the Observation rules see, so that
// stored results can be identified again with newer rules (`smtpscan
// fingerprint`) without touching the network.
#ifndef SMTPSCAN_FINGERPRINT_OBSERVATION_JSON_H_
#define SMTPSCAN_FINGERPRINT_OBSERVATION_JSON_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fingerprint/fingerprint.h"
#include "rapidjson/document.h"

namespace smtpscan::fingerprint {

// The Observation of `probe`, a probe object as output::NdjsonWriter writes
// it (an element of a record's "probes" array, or a {"kind":"probe",...}
// record of the split layout). Reads only:
//   greeting, ehlo, ehlo_tls, helo, starttls, help, unknown, quit
//       reply objects: "code" (integer) and "lines" (array of strings);
//       ehlo and ehlo_tls also "extensions" (array of objects, each with a
//       string "keyword"), which give the *_keywords fields;
//   tls.chain[0].subject and .issuer (strings), when "chain" is present and
//       not empty;
//   timings_us.greeting (integer microseconds; greeting_ms is it / 1000,
//       truncated toward zero).
// Every other member is ignored; an absent member leaves its field empty
// (greeting_ms -1).
//
// For a probe the writer wrote, the result equals ObservationOf() of the
// ProbeResult it wrote, except that text is as written: valid UTF-8, each
// invalid sequence U+FFFD (output/text.h). Strings may hold NUL.
//
// Fails (InvalidArgument) when `probe` is not an object, or a member it
// reads has the wrong type or lacks a member it needs; the message is one
// printable ASCII line naming the member, e.g.
// "ehlo.extensions[3].keyword is not a string".
absl::StatusOr<Observation> ObservationFromJson(const rapidjson::Value& probe);

// How deep a JSON line may nest. smtpscan's records nest 7 deep at most;
// RapidJSON's parser, Accept() and destructor recurse once per level, so a
// line of a million "[" would overflow the stack.
inline constexpr int kMaxJsonDepth = 64;

// Parses one NDJSON line into `*doc` the way stored records are read: the
// whole of `line` must be one JSON value (surrounding whitespace allowed),
// numbers in full precision (so a double is written back as it was read),
// nested at most kMaxJsonDepth deep. Does not check UTF-8: strings are
// kept byte for byte. Fails (InvalidArgument) with a one-line reason,
// "not JSON: <what> (offset N)" or "nested deeper than 64".
// REQUIRES: `doc` is freshly constructed (RapidJSON's pool only grows).
absl::Status ParseJsonLine(absl::string_view line, rapidjson::Document* doc);

// ParseJsonLine, then ObservationFromJson.
absl::StatusOr<Observation> ObservationFromJsonText(absl::string_view json);

}  // namespace smtpscan::fingerprint

#endif  // SMTPSCAN_FINGERPRINT_OBSERVATION_JSON_H_
