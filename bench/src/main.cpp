// wshub-bench: parse the command line, run one scenario, print its report.
#include <csignal>
#include <cstdio>
#include <exception>

#include "options.hpp"
#include "scenarios.hpp"

int main(int argc, char* argv[]) {
  if (wshub::bench::wants_help(argc, argv)) {
    std::fputs(wshub::bench::usage_text().c_str(), stdout);
    return 0;
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return wshub::bench::run_scenario(wshub::bench::parse_options(argc, argv));
  } catch (const wshub::bench::usage_error& e) {
    std::fprintf(stderr, "wshub-bench: %s (see --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wshub-bench: %s\n", e.what());
    return 3;
  }
}
