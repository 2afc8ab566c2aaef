#include <cstdio>
#include <exception>

#include "wshub/app/app.hpp"
#include "wshub/app/start_checks.hpp"
#include "wshub/cli/commands.hpp"

namespace wshub::cli {

int serve(const arguments& args, const environment& env) {
  app::command_line cl;
  try {
    cl = app::load_for_start(args, env);
  } catch (const app::config_error& e) {
    std::fprintf(stderr, "wshub: invalid configuration: %s\n", e.what());
    return 2;
  }
  if (cl.show_help) {
    std::fputs(app::help_text().c_str(), stdout);
    return 0;
  }
  if (cl.show_version) return version({}, env);
  try {
    app::app server(cl.cfg, app::config_source{args, env});
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wshub: cannot start: %s\n", e.what());
    return 1;
  }
}

int version(const arguments&, const environment&) {
  std::puts("wshub " WSHUB_VERSION);
  return 0;
}

}  // namespace wshub::cli
