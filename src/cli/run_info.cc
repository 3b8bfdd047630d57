#include "cli/run_info.h"

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace smtpscan::cli {
namespace {

output::OptionSetting::Value ValueOf(CLI::Option* option) {
  if (option->get_items_expected_max() == 0) {  // a flag
    if (option->count() == 0) return false;
    try {
      return option->as<bool>();  // --flag=false
    } catch (const CLI::Error&) {
      return true;
    }
  }
  if (option->get_items_expected_max() > 1) {  // repeatable
    return option->results();
  }
  // The default function reads the bound variable: after parsing, it gives
  // the value in use, whether given or the default.
  option->capture_default_str();
  std::string text = option->get_default_str();
  if (text.empty() && option->count() > 0) text = option->results().back();
  if (text.empty()) return absl::monostate();
  const std::string type = option->get_type_name();
  if (absl::StartsWith(type, "INT") || absl::StartsWith(type, "UINT")) {
    int64_t n = 0;
    if (absl::SimpleAtoi(text, &n)) return n;
  } else if (absl::StartsWith(type, "FLOAT")) {
    double d = 0;
    if (absl::SimpleAtod(text, &d)) return d;
  }
  return text;
}

}  // namespace

RunInfo CaptureRunInfo(int argc, char** argv, CLI::App* app) {
  RunInfo info;
  info.command_line.assign(argv, argv + argc);
  for (CLI::Option* option : app->get_options()) {
    const std::string& name = option->get_single_name();
    if (name.empty() || name == "help" || name == "help-all" ||
        name == "version") {
      continue;
    }
    info.options.push_back({name, ValueOf(option)});
  }
  return info;
}

}  // namespace smtpscan::cli
