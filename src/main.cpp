// wshub: picks the command named by the first argument (the server when none is named).
#include <string_view>

#include "wshub/app/config.hpp"
#include "wshub/cli/commands.hpp"

int main(int argc, char* argv[]) {
  using namespace wshub::cli;
  const auto env = wshub::app::process_environment();
  const std::string_view first = argc > 1 ? argv[1] : "";
  const arguments rest(argc > 1 ? argv + 2 : argv + argc, argv + argc);
  if (first == "checkconfig") return check_config(rest, env);
  if (first == "genconfig") return gen_config(rest, env);
  if (first == "gentoken") return gen_token(rest, env);
  if (first == "version") return version(rest, env);
  return serve(arguments(argv + 1, argv + argc), env);
}
