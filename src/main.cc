// smtpscan: command line in, records out. Everything lives in cli/.
#include "cli/app.h"

int main(int argc, char** argv) { return smtpscan::cli::Main(argc, argv); }
