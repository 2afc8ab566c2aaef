// wshub: parse the command line, build the app, run it.
#include <cstdio>
#include <exception>

#include "wshub/app/app.hpp"
#include "wshub/app/config.hpp"

int main(int argc, char* argv[]) {
  wshub::app::command_line cl;
  const wshub::app::config_source source{{argv + 1, argv + argc}, wshub::app::process_environment()};
  try {
    cl = wshub::app::parse_command_line(argc, argv, source.environment);
  } catch (const wshub::app::config_error& e) {
    std::fprintf(stderr, "wshub: invalid configuration: %s\n", e.what());
    return 2;
  }
  if (cl.show_help) {
    std::fputs(wshub::app::help_text().c_str(), stdout);
    return 0;
  }
  if (cl.show_version) {
    std::puts("wshub " WSHUB_VERSION);
    return 0;
  }
  try {
    wshub::app::app app(cl.cfg, source);
    return app.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wshub: cannot start: %s\n", e.what());
    return 1;
  }
}
