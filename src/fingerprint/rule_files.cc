#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "fingerprint/fingerprint.h"

namespace smtpscan::fingerprint {

absl::StatusOr<std::unique_ptr<Fingerprinter>> Fingerprinter::CreateFromFiles(
    const std::vector<std::string>& paths) {
  std::vector<Source> sources;
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    if (in.is_open()) text << in.rdbuf();
    if (!in.is_open() || in.bad()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--fingerprints ", path, ": cannot read it"));
    }
    sources.push_back({path, text.str()});
  }
  return Create(sources);
}

}  // namespace smtpscan::fingerprint
