#include "wshub/app/config.hpp"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "temp_dir.hpp"

namespace {

using wshub::app::config;
using wshub::app::config_error;
using wshub::app::default_workers;
using wshub::app::usable_cpus;
using wshub::app::parse_command_line;
using env_map = std::map<std::string, std::string>;

const std::filesystem::path shipped_config = std::filesystem::path(WSHUB_SOURCE_DIR) / "config" / "wshub.json";

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The dotted keys of every leaf of a config document: {"listen": {"port": 1}} -> "listen.port".
void collect_keys(const nlohmann::json& object, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& [name, value] : object.items()) {
    const auto key = prefix.empty() ? name : prefix + "." + name;
    if (value.is_object()) collect_keys(value, key, out);
    else out.push_back(key);
  }
}

std::string env_name_of(const std::string& key) {
  std::string name = "WSHUB_";
  for (char ch : key) name += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

// parse_command_line with "wshub" as argv[0].
wshub::app::command_line parse(std::vector<std::string> args, const env_map& env = {}) {
  args.insert(args.begin(), "wshub");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), env);
}

config apply_json(const std::string& text) {
  config cfg;
  wshub::app::apply_json_text(cfg, text, "test.json");
  return cfg;
}

// The key named by the config_error that `action` throws; "(no error)" when it throws none.
std::string error_key(const std::function<void()>& action) {
  try {
    action();
  } catch (const config_error& e) {
    return e.key();
  }
  return "(no error)";
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}


TEST(config, defaults) {
  const config cfg = parse({}).cfg;
  EXPECT_EQ(cfg.listen.address, "127.0.0.1");
  EXPECT_EQ(cfg.listen.port, 9999);
  EXPECT_EQ(cfg.data_dir, "./var");
  EXPECT_EQ(cfg.cache.type, "memory");
  EXPECT_EQ(cfg.io_threads, 0u);
  EXPECT_EQ(cfg.effective_io_threads(), default_workers(usable_cpus()));
  EXPECT_EQ(cfg.store_path(), "./var/wshub.db");
}

TEST(config, default_workers_leave_one_cpu_to_the_writer_and_never_drop_to_zero) {
  EXPECT_EQ(default_workers(1), 1u);
  EXPECT_EQ(default_workers(2), 1u);
  EXPECT_EQ(default_workers(16), 15u);
  EXPECT_EQ(default_workers(64), 63u);
}

TEST(config, effective_io_threads_is_the_setting_when_not_zero) {
  config cfg;
  cfg.io_threads = 3;
  EXPECT_EQ(cfg.effective_io_threads(), 3u);
}

TEST(config, shipped_config_file_equals_the_defaults) {
  if (!std::filesystem::exists(shipped_config)) GTEST_SKIP() << "config/wshub.json does not exist yet";
  config from_file;
  wshub::app::apply_json_text(from_file, read_text(shipped_config), shipped_config.string());
  EXPECT_TRUE(from_file == config{}) << "config/wshub.json differs from the built-in defaults";
}

TEST(config, json_file_sets_nested_and_top_level_keys) {
  const config cfg = apply_json(R"({"listen": {"port": 1234}, "data_dir": "/srv/wshub",
                                    "websocket": {"allowed_origins": ["https://app.example.com"]}})");
  EXPECT_EQ(cfg.listen.port, 1234);
  EXPECT_EQ(cfg.data_dir, "/srv/wshub");
  EXPECT_EQ(cfg.websocket.allowed_origins, std::vector<std::string>{"https://app.example.com"});
  EXPECT_EQ(cfg.listen.address, "127.0.0.1");  // untouched keys keep their defaults
}

TEST(config, flags_beat_environment_beat_file) {
  wshub::unit::temp_dir dir;
  const auto file = dir.file("wshub.json");
  write_file(file, R"({"listen": {"port": 1111}, "log": {"level": "debug"}, "data_dir": "from-file"})");
  const env_map env = {{"WSHUB_LISTEN_PORT", "2222"}, {"WSHUB_LOG_LEVEL", "warn"}};

  const config cfg = parse({"--config", file, "--listen.port", "3333"}, env).cfg;
  EXPECT_EQ(cfg.listen.port, 3333);       // flag over environment and file
  EXPECT_EQ(cfg.log.level, "warn");       // environment over file
  EXPECT_EQ(cfg.data_dir, "from-file");   // file over defaults
}

TEST(config, config_file_named_by_environment_and_overridden_by_flag) {
  wshub::unit::temp_dir dir;
  write_file(dir.file("env.json"), R"({"data_dir": "from-env-file"})");
  write_file(dir.file("flag.json"), R"({"data_dir": "from-flag-file"})");
  const env_map env = {{"WSHUB_CONFIG", dir.file("env.json")}};
  EXPECT_EQ(parse({}, env).cfg.data_dir, "from-env-file");
  EXPECT_EQ(parse({"--config=" + dir.file("flag.json")}, env).cfg.data_dir, "from-flag-file");
}

TEST(config, flag_forms_equals_space_and_dashes) {
  const config cfg = parse({"--listen.port=4321", "--log.level", "error", "--data-dir", "data-from-flag",
                            "--websocket.max-queue-bytes=2048", "--websocket.check-origin", "false",
                            "--websocket.allowed-origins", "https://a.example,http://localhost:8080"})
                         .cfg;
  EXPECT_EQ(cfg.listen.port, 4321);
  EXPECT_EQ(cfg.log.level, "error");
  EXPECT_EQ(cfg.data_dir, "data-from-flag");
  EXPECT_EQ(cfg.websocket.max_queue_bytes, 2048u);
  EXPECT_FALSE(cfg.websocket.check_origin);
  EXPECT_EQ(cfg.websocket.allowed_origins,
            (std::vector<std::string>{"https://a.example", "http://localhost:8080"}));
}

TEST(config, environment_values_are_parsed_by_type) {
  const env_map env = {{"WSHUB_IO_THREADS", "4"},
                       {"WSHUB_WEBSOCKET_COMPRESSION", "yes"},
                       {"WSHUB_STORE_RETENTION_AGE", "3600"},
                       {"WSHUB_WEBSOCKET_SUBPROTOCOLS", "a.v1,b.v2"}};
  const config cfg = parse({}, env).cfg;
  EXPECT_EQ(cfg.io_threads, 4u);
  EXPECT_TRUE(cfg.websocket.compression);
  EXPECT_EQ(cfg.store.retention_age, std::chrono::seconds(3600));
  EXPECT_EQ(cfg.websocket.subprotocols, (std::vector<std::string>{"a.v1", "b.v2"}));
}

TEST(config, invalid_flag_values_name_their_key) {
  EXPECT_EQ(error_key([] { parse({"--listen.port", "70000"}); }), "listen.port");
  EXPECT_EQ(error_key([] { parse({"--listen.port", "abc"}); }), "listen.port");
  EXPECT_EQ(error_key([] { parse({"--listen.port", "-1"}); }), "listen.port");
  EXPECT_EQ(error_key([] { parse({"--log.level", "loud"}); }), "log.level");
  EXPECT_EQ(error_key([] { parse({"--store.synchronous", "sometimes"}); }), "store.synchronous");
  EXPECT_EQ(error_key([] { parse({"--websocket.allowed_origins", "localhost"}); }), "websocket.allowed_origins");
  EXPECT_EQ(error_key([] { parse({"--websocket.check_origin", "maybe"}); }), "websocket.check_origin");
  EXPECT_EQ(error_key([] { parse({"--listen.address", "localhost"}); }), "listen.address");
  EXPECT_EQ(error_key([] { parse({"--cache.type", "memcached"}); }), "cache.type");
  EXPECT_EQ(error_key([] { parse({"--cache.redis.port", "0"}); }), "cache.redis.port");
  EXPECT_EQ(error_key([] { parse({"--cache.redis.command_timeout", "5"}); }), "cache.redis.command_timeout");
  EXPECT_EQ(error_key([] { parse({"--cache.redis.prefix", ""}); }), "cache.redis.prefix");
  EXPECT_EQ(error_key([] { parse({"--cluster.node_id", "a b"}); }), "cluster.node_id");
  EXPECT_EQ(error_key([] { parse({"--cluster.node_id", "a/b"}); }), "cluster.node_id");
}

TEST(config, redis_settings_nest_under_cache_redis) {
  const auto cfg = parse({"--cache.type", "redis", "--cache.redis.port", "6380", "--cluster.node_id", "node-1"},
                         {{"WSHUB_CACHE_REDIS_PASSWORD", "s3cret"}}).cfg;
  EXPECT_EQ(cfg.cache.type, "redis");
  EXPECT_EQ(cfg.cache.redis.port, 6380);
  EXPECT_EQ(cfg.cache.redis.password, "s3cret");
  EXPECT_EQ(cfg.cluster.node_id, "node-1");
}

TEST(config, invalid_environment_value_names_its_key) {
  EXPECT_EQ(error_key([] { parse({}, {{"WSHUB_LISTEN_PORT", "abc"}}); }), "listen.port");
}

// The message of the config_error that `action` throws; "(no error)" when it throws none.
std::string error_text(const std::function<void()>& action) {
  try {
    action();
  } catch (const config_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(config, invalid_environment_value_names_the_variable) {
  const auto text = error_text([] { parse({}, {{"WSHUB_WEBSOCKET_MAX_QUEUE_BYTES", "lots"}}); });
  EXPECT_NE(text.find("websocket.max_queue_bytes"), std::string::npos) << text;
  EXPECT_NE(text.find("WSHUB_WEBSOCKET_MAX_QUEUE_BYTES"), std::string::npos) << text;
  EXPECT_NE(text.find("'lots'"), std::string::npos) << text;
}

TEST(config, malformed_json_names_line_and_column) {
  const auto text = error_text([] { apply_json("{\n  \"listen\": {\n    \"port\": 80,\n  }\n}"); });
  EXPECT_NE(text.find("test.json"), std::string::npos) << text;
  EXPECT_NE(text.find("line 4, column 3"), std::string::npos) << text;
  const auto from_env = error_text([] { parse({}, {{"WSHUB_SECURITY_PUBLISH_KEYS", "[{\"name\": }]"}}); });
  EXPECT_NE(from_env.find("line 1, column 11"), std::string::npos) << from_env;
  EXPECT_NE(from_env.find("WSHUB_SECURITY_PUBLISH_KEYS"), std::string::npos) << from_env;
}

TEST(config, a_nul_byte_in_the_file_is_an_error_not_the_end_of_the_file) {
  const auto text = error_text([] { apply_json(std::string("{\"listen\": {\"port\": 80}}\0{\"bogus\"", 26)); });
  EXPECT_NE(text.find("a NUL byte at byte 25"), std::string::npos) << text;
}

TEST(config, invalid_file_values_name_their_key) {
  EXPECT_EQ(error_key([] { apply_json(R"({"listen": {"port": 70000}})"); }), "listen.port");
  EXPECT_EQ(error_key([] { apply_json(R"({"listen": {"port": "9999"}})"); }), "listen.port");
  EXPECT_EQ(error_key([] { apply_json(R"({"log": {"level": "loud"}})"); }), "log.level");
  EXPECT_EQ(error_key([] { apply_json(R"({"websocket": {"allowed_origins": ["localhost"]}})"); }),
            "websocket.allowed_origins");
  EXPECT_EQ(error_key([] { apply_json(R"({"websocket": {"check_origin": "true"}})"); }), "websocket.check_origin");
  EXPECT_EQ(error_key([] { apply_json(R"({"store": {"synchronous": "sometimes"}})"); }), "store.synchronous");
}

TEST(config, unknown_keys_in_file_are_errors) {
  EXPECT_EQ(error_key([] { apply_json(R"({"bogus": 1})"); }), "bogus");
  EXPECT_EQ(error_key([] { apply_json(R"({"listen": {"bogus": 1}})"); }), "listen.bogus");
  EXPECT_EQ(error_key([] { apply_json(R"({"listen": 5})"); }), "listen");
}

TEST(config, malformed_file_is_an_error_of_key_config) {
  EXPECT_EQ(error_key([] { apply_json(R"({"listen": )"); }), "config");
  EXPECT_EQ(error_key([] { apply_json(R"([1, 2])"); }), "config");
}

TEST(config, missing_config_file_is_an_error_of_key_config) {
  wshub::unit::temp_dir dir;
  const auto missing = dir.file("missing.json");
  EXPECT_EQ(error_key([&] { parse({"--config", missing}); }), "config");
  EXPECT_EQ(error_key([&] { parse({}, {{"WSHUB_CONFIG", missing}}); }), "config");
}

TEST(config, bad_command_lines_name_the_flag) {
  EXPECT_EQ(error_key([] { parse({"--bogus", "1"}); }), "bogus");
  EXPECT_EQ(error_key([] { parse({"--listen.port"}); }), "listen.port");
  EXPECT_EQ(error_key([] { parse({"stray"}); }), "stray");
}

TEST(config, help_and_version_flags) {
  const auto help = parse({"--help"});
  EXPECT_TRUE(help.show_help);
  EXPECT_FALSE(help.show_version);
  EXPECT_TRUE(parse({"-h"}).show_help);

  const auto version = parse({"--version"});
  EXPECT_TRUE(version.show_version);
  EXPECT_FALSE(version.show_help);
  EXPECT_TRUE(parse({"-V"}).show_version);

  EXPECT_FALSE(parse({}).show_help);
  EXPECT_FALSE(parse({}).show_version);
}

TEST(config, help_text_lists_every_key_and_environment_name) {
  if (!std::filesystem::exists(shipped_config)) GTEST_SKIP() << "config/wshub.json does not exist yet";
  std::vector<std::string> keys;
  collect_keys(nlohmann::json::parse(read_text(shipped_config)), "", keys);
  const std::string help = wshub::app::help_text();
  for (const auto& key : keys) {
    EXPECT_NE(help.find("--" + key + " "), std::string::npos) << key;
    EXPECT_NE(help.find("[" + env_name_of(key) + "]"), std::string::npos) << env_name_of(key);
  }
  EXPECT_NE(help.find("[WSHUB_LISTEN_PORT]"), std::string::npos);
  EXPECT_NE(help.find("[WSHUB_STORE_SYNCHRONOUS]"), std::string::npos);
}

TEST(config, shipped_config_file_names_every_key_in_help) {
  // Help has one "  --KEY  [WSHUB_...]" line per key; the shipped file must list them all.
  if (!std::filesystem::exists(shipped_config)) GTEST_SKIP() << "config/wshub.json does not exist yet";
  std::vector<std::string> keys;
  collect_keys(nlohmann::json::parse(read_text(shipped_config)), "", keys);
  std::istringstream lines(wshub::app::help_text());
  std::size_t key_lines = 0;
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("  --", 0) == 0 && line.find("  [WSHUB_") != std::string::npos) ++key_lines;
  EXPECT_EQ(key_lines, keys.size());
  EXPECT_GT(keys.size(), 30u);
}

}  // namespace
