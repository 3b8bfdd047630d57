// From a probe result (or its NDJSON form) to the Observation rules see.
#ifndef SMTPSCAN_FINGERPRINT_OBSERVATION_H_
#define SMTPSCAN_FINGERPRINT_OBSERVATION_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "fingerprint/fingerprint.h"
#include "output/record.h"

namespace smtpscan::fingerprint {

// A reply as rules see it: "CODE text" per line, joined with "\n".
std::string ReplyText(int code, const std::vector<std::string>& lines);

// EHLO keywords in order, upper case, space-separated.
std::string KeywordText(const std::vector<std::string>& keywords);

Observation ObservationOf(const output::ProbeResult& probe);

// ObservationOf into `*out`, reusing its strings' memory: a scan fills one
// Observation per probe, and this allocates nothing once the strings have
// grown to the size of the replies seen.
void FillObservation(const output::ProbeResult& probe, Observation* out);

}  // namespace smtpscan::fingerprint

#endif  // SMTPSCAN_FINGERPRINT_OBSERVATION_H_
