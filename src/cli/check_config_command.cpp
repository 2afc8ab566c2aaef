#include <cstdio>

#include "wshub/app/start_checks.hpp"
#include "wshub/cli/commands.hpp"

namespace wshub::cli {

int check_config(const arguments& args, const environment& env) {
  app::command_line cl;
  try {
    cl = app::load_for_start(args, env);
  } catch (const app::config_error& e) {
    std::fprintf(stderr, "wshub checkconfig: invalid configuration: %s\n", e.what());
    return 2;
  }
  if (cl.show_help || cl.show_version) {
    std::fputs("Usage: wshub checkconfig [--config FILE] [--KEY VALUE]...\n\n"
               "Checks the configuration (file, WSHUB_* environment, flags) as a start would, without\n"
               "starting: prints the effective configuration with credentials hidden and exits 0, or\n"
               "names the offending key and exits 2. Keys: wshub --help.\n",
               stdout);
    return 0;
  }
  std::fputs(app::effective_config_text(cl.cfg).c_str(), stdout);
  std::fputs("wshub checkconfig: the configuration is valid\n", stderr);
  return 0;
}

}  // namespace wshub::cli
