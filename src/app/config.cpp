#include "wshub/app/config.hpp"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "config_options.hpp"
#include "wshub/util/host_name.hpp"

extern char** environ;

namespace wshub::app {
namespace {

using json = nlohmann::json;

const config_option* find_option(const std::string& key) {
  for (const auto& o : config_options())
    if (o.key == key) return &o;
  return nullptr;
}

std::string env_name(const std::string& key) {
  std::string name = "WSHUB_";
  for (char ch : key) name += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

// nlohmann's message without its "[json.exception.parse_error.101] " prefix: "parse error at
// line 3, column 15: syntax error while parsing object - unexpected '}'; expected string literal".
std::string parse_error_text(const json::parse_error& e) {
  const std::string what = e.what();
  const auto end = what.find("] ");
  return end == std::string::npos ? what : what.substr(end + 2);
}

// Converts a flag or environment string to the JSON value the option expects.
json parse_string_value(const config_option& o, const std::string& text) {
  switch (o.kind) {
    case value_kind::string: return text;
    case value_kind::boolean:
      if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
      if (text == "false" || text == "0" || text == "no" || text == "off") return false;
      throw config_error(o.key, "must be true or false, not '" + text + "'");
    case value_kind::integer: {
      if (text.empty() || !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }) ||
          text.size() > 19)
        throw config_error(o.key, "must be a non-negative integer, not '" + text + "'");
      return std::stoull(text);
    }
    case value_kind::number: {
      std::size_t used = 0;
      double value = 0;
      try {
        value = std::stod(text, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (text.empty() || used != text.size()) throw config_error(o.key, "must be a number, not '" + text + "'");
      return value;
    }
    case value_kind::json: {
      try {
        return json::parse(text);
      } catch (const json::parse_error& e) {
        throw config_error(o.key, "must be JSON: " + parse_error_text(e));
      } catch (const json::exception& e) {  // e.g. a number too large for a double
        throw config_error(o.key, std::string("must be JSON: ") + e.what());
      }
    }
    case value_kind::list: {
      json items = json::array();
      std::stringstream in(text);
      for (std::string item; std::getline(in, item, ',');)
        if (!item.empty()) items.push_back(item);
      return items;
    }
  }
  return text;
}

// Walks nested objects, applying each leaf whose dotted path is a known key.
void apply_object(config& cfg, const json& object, const std::string& prefix) {
  for (const auto& [name, value] : object.items()) {
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    if (const auto* o = find_option(key)) {
      o->set(cfg, value);
    } else if (value.is_object()) {
      apply_object(cfg, value, key);
    } else {
      throw config_error(key.empty() ? "\"\"" : key, "is not a configuration key (see wshub --help)");
    }
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error("config", "cannot read config file '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

config_error::config_error(std::string key, const std::string& what)
    : std::runtime_error(key + ": " + what), key_(std::move(key)), reason_(what) {}

std::string config::store_path() const { return store.path.empty() ? data_dir + "/wshub.db" : store.path; }

unsigned default_workers(unsigned usable_cpus) { return usable_cpus > 1 ? usable_cpus - 1 : 1; }

unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
  return std::max(1u, std::thread::hardware_concurrency());
}

unsigned config::effective_io_threads() const { return io_threads ? io_threads : default_workers(usable_cpus()); }

void apply_json_text(config& cfg, const std::string& text, const std::string& origin) {
  // nlohmann/json would stop at a NUL byte and take what is before it as the whole file.
  if (const auto nul = text.find('\0'); nul != std::string::npos)
    throw config_error("config", origin + " is not valid JSON: a NUL byte at byte " + std::to_string(nul + 1));
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    throw config_error("config", origin + " is not valid JSON: " + parse_error_text(e));
  } catch (const json::exception& e) {  // e.g. a number too large for a double
    throw config_error("config", origin + " is not valid JSON: " + e.what());
  }
  if (!doc.is_object()) throw config_error("config", origin + " must hold a JSON object");
  apply_object(cfg, doc, "");
}

command_line parse_command_line(int argc, const char* const argv[],
                                const std::map<std::string, std::string>& environment) {
  command_line result;
  std::vector<std::pair<const config_option*, std::string>> flags;
  std::string config_file;
  if (const auto it = environment.find("WSHUB_CONFIG"); it != environment.end()) config_file = it->second;

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") { result.show_help = true; continue; }
    if (arg == "-V" || arg == "--version") { result.show_version = true; continue; }
    // An empty argument, or "--" alone, is still named in the error (found by fuzzing).
    if (arg.rfind("--", 0) != 0)
      throw config_error(arg.empty() ? "\"\"" : arg, "unexpected argument (flags look like --key value)");
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    std::replace(name.begin(), name.end(), '-', '_');
    const config_option* o = name == "config" ? nullptr : find_option(name);
    if (name != "config" && !o)
      throw config_error(name.empty() ? arg : name, "is not a configuration key (see wshub --help)");
    if (!has_value) {
      if (i + 1 >= argc) throw config_error(name, "needs a value");
      value = argv[++i];
    }
    if (name == "config") config_file = value;
    else flags.emplace_back(o, value);
  }
  if (result.show_help || result.show_version) return result;

  if (!config_file.empty()) apply_json_text(result.cfg, read_file(config_file), config_file);
  for (const auto& o : config_options()) {
    const auto variable = env_name(o.key);
    const auto it = environment.find(variable);
    if (it == environment.end()) continue;
    try {
      o.set(result.cfg, parse_string_value(o, it->second));
    } catch (const config_error& e) {
      throw config_error(e.key(), e.reason() + " (from the environment variable " + variable + ")");
    }
  }
  for (const auto& [o, value] : flags) o->set(result.cfg, parse_string_value(*o, value));
  validate(result.cfg);
  return result;
}

command_line parse_arguments(const std::vector<std::string>& args, const std::map<std::string, std::string>& environment) {
  std::vector<const char*> argv{"wshub"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), environment);
}

void validate(const config& cfg) {
  if (cfg.tls.cert.empty() != cfg.tls.key.empty())
    throw config_error(cfg.tls.cert.empty() ? "tls.cert" : "tls.key", "tls.cert and tls.key go together");
  const auto& s = cfg.security;
  if (s.publish_keys.empty() && !s.open_publishing && !util::is_loopback_host(cfg.listen.address))
    throw config_error("security.publish_keys",
                       "publishing would be open to other hosts on " + cfg.listen.address +
                           ": configure publish keys, or set security.open_publishing to true on purpose");
  if (!s.jwt_hs256_secret.empty() && !s.jwt_rs256_public_key_file.empty())
    throw config_error("security.jwt_hs256_secret", "set either an HS256 secret or an RS256 public key file, not both");
  if (!s.jwt_hs256_secret.empty() && s.jwt_hs256_secret.size() < 32)
    throw config_error("security.jwt_hs256_secret", "must be at least 32 characters");
  if (s.require_token && s.jwt_hs256_secret.empty() && s.jwt_rs256_public_key_file.empty())
    throw config_error("security.require_token", "needs security.jwt_hs256_secret or security.jwt_rs256_public_key_file");
}

std::string effective_config_text(const config& cfg) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();  // in the order of --help
  for (const auto& o : config_options()) {
    nlohmann::ordered_json value = o.get(cfg);
    if (o.secret && !(value.is_string() && value.get<std::string>().empty())) value = "(hidden)";
    std::string pointer = "/" + o.key;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    doc[nlohmann::ordered_json::json_pointer(pointer)] = std::move(value);
  }
  return doc.dump(2) + "\n";
}

std::string help_text() {
  std::ostringstream out;
  out << "Usage: wshub [--config FILE] [--KEY VALUE]...\n"
         "       wshub checkconfig [--config FILE] [--KEY VALUE]...   check as a start would, print the result\n"
         "       wshub genconfig                                      a starter config with fresh credentials\n"
         "       wshub gentoken --sub USER [--channels a,b] [--ttl 1h] [--config FILE] [--private-key FILE]\n"
         "       wshub version\n\n"
         "HTTP + WebSocket message push service.\n\n"
         "  -h, --help       show this help\n"
         "  -V, --version    show the version\n"
         "  --config FILE    JSON config file (also WSHUB_CONFIG); see config/wshub.json\n\n"
         "Every key below can be set in the config file, as --KEY VALUE (or --KEY=VALUE; '-' and '_'\n"
         "are the same in flags; lists are comma separated) and as the environment variable shown.\n"
         "Precedence: flags > environment > config file > defaults.\n\n";
  for (const auto& o : config_options()) {
    const config defaults;
    out << "  --" << o.key << "  [" << env_name(o.key) << "]  default: " << o.get(defaults).dump() << "\n"
        << "      " << o.help << "\n";
  }
  return out.str();
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry = *e;
    const auto eq = entry.find('=');
    if (eq != std::string::npos && entry.rfind("WSHUB_", 0) == 0) env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

}  // namespace wshub::app
