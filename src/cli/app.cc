#include "cli/app.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>

#include "CLI/CLI.hpp"
#include "cli/fingerprint_command.h"
#include "cli/replay_command.h"
#include "cli/run_info.h"
#include "cli/scan_command.h"

#ifndef SMTPSCAN_VERSION
#define SMTPSCAN_VERSION "unknown"
#endif

namespace smtpscan::cli {
namespace {

bool g_closed_at_start[3] = {false, false, false};

// See StandardStreamWasClosed. In order: open(2) takes the lowest free
// number, which is the closed stream's when the ones below it are open.
void ReopenClosedStandardStreams() {
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    g_closed_at_start[fd] = true;
    const int opened =
        open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);  // not CLOEXEC
    if (opened >= 0 && opened != fd) {
      dup2(opened, fd);
      close(opened);
    }
  }
}

}  // namespace

bool StandardStreamWasClosed(int fd) {
  return fd >= 0 && fd < 3 && g_closed_at_start[fd];
}

int Main(int argc, char** argv) {
  // A reader that goes away (`smtpscan ... | head`) must give a one-line
  // "cannot write standard output: Broken pipe" and exit 1, like any other
  // failing output, not a silent death by SIGPIPE. Sockets never raise it
  // (the engine sends with MSG_NOSIGNAL), so this only concerns outputs.
  signal(SIGPIPE, SIG_IGN);
  ReopenClosedStandardStreams();
  CLI::App app(
      "smtpscan: a bulk SMTP scanner.\n\n"
      "  smtpscan -i targets.txt -o out.ndjson     scan addresses\n"
      "  smtpscan replay FILE...                   replay recorded "
      "conversations\n"
      "  smtpscan fingerprint -i old.ndjson -o new.ndjson\n"
      "                                            identify stored results "
      "again\n\n"
      "Every input line yields exactly one output record.",
      "smtpscan");
  app.set_version_flag("--version", "smtpscan " SMTPSCAN_VERSION);
  app.footer(
      "\nDurations: 30s, 500ms, 2m or seconds. Loopback and private addresses "
      "are\nskipped (status blocked) unless --allow-private.\n\n"
      "Exit codes: 0 done (server outcomes are in the records), 1 the tool "
      "failed\n(input, output, io_uring), 2 usage error. Every output field "
      "is described\nin README.md.");
  app.require_subcommand(0, 1);

  ScanOptions scan;
  AddScanOptions(&app, &scan);
  ReplayOptions replay;
  CLI::App* replay_cmd = AddReplayCommand(&app, &replay);
  FingerprintOptions fingerprint;
  CLI::App* fingerprint_cmd = AddFingerprintCommand(&app, &fingerprint);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, not CLI11's two: scripts and people read the first line.
    std::cerr << "smtpscan: " << e.what() << " (see smtpscan --help)\n";
    return kExitUsage;
  }
  if (replay_cmd->parsed()) return RunReplay(replay);
  if (fingerprint_cmd->parsed()) return RunFingerprint(fingerprint);
  if (scan.input.empty()) {
    std::cerr << "smtpscan: -i/--input is required (see smtpscan --help)\n";
    return kExitUsage;
  }
  return RunScan(scan, CaptureRunInfo(argc, argv, &app));
}

}  // namespace smtpscan::cli
