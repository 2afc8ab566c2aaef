// Configuration: the JSON config file (app::apply_json_text), WSHUB_* environment variables and
// command-line flags (app::parse_command_line). Input: a JSON document; or 'a' then one flag or
// value per line; or 'e' then one NAME=VALUE per line.
//
// Properties: no crash or sanitizer report; bad input only ever throws config_error, naming a
// key; a document that applies once applies again to the same configuration.
#include <map>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "wshub/app/config.hpp"
#include "wshub/app/reload.hpp"

namespace {

using wshub::fuzz::require;
namespace app = wshub::app;

void check_error(const app::config_error& e) {
  require(!e.key().empty(), "a configuration error names a key");
  require(std::string(e.what()).rfind(e.key(), 0) == 0, "the message starts with the key");
}

void fuzz_json(const std::string& text) {
  app::config cfg;
  try {
    app::apply_json_text(cfg, text, "fuzz.json");
  } catch (const app::config_error& e) {
    return check_error(e);
  }
  app::config again;
  try {
    app::apply_json_text(again, text, "fuzz.json");
  } catch (const app::config_error&) {
    require(false, "a document that applied once applies again");
  }
  require(app::diff_config(cfg, again).empty(), "applying a document is deterministic");
  try {
    app::validate(cfg);
  } catch (const app::config_error& e) {
    check_error(e);
  }
  (void)app::diff_config(app::config{}, cfg);
}

std::vector<std::string> lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) out.emplace_back(wshub::fuzz::take_line(text));
  return out;
}

// --config and WSHUB_CONFIG would read a file: left out, the file format has its own mode.
bool reads_a_file(const std::string& arg) {
  return arg == "--config" || arg.rfind("--config=", 0) == 0 || arg.rfind("WSHUB_CONFIG=", 0) == 0;
}

void fuzz_command_line(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  std::vector<const char*> argv{"wshub"};
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    const auto cl = app::parse_command_line(static_cast<int>(argv.size()), argv.data(), env);
    (void)app::diff_config(app::config{}, cl.cfg);
  } catch (const app::config_error& e) {
    check_error(e);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto input = wshub::fuzz::as_text(data, size);
  if (size > 64 * 1024) return 0;
  if (!input.empty() && (input[0] == 'a' || input[0] == 'e')) {
    const bool flags = input[0] == 'a';
    input.remove_prefix(1);
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    for (auto& line : lines(input)) {
      if (reads_a_file(line)) return 0;
      if (flags) {
        args.push_back(std::move(line));
      } else {
        const auto eq = line.find('=');
        if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
      }
    }
    if (args.size() > 64) return 0;
    fuzz_command_line(args, env);
    return 0;
  }
  fuzz_json(std::string(input));
  return 0;
}
