// The commands of the wshub binary, end to end: genconfig, checkconfig, gentoken, version, and
// the start-up errors they share with the server.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "support/test_clients.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

class commands_test : public ::testing::Test {
 protected:
  temp_dir dir;

  // `wshub genconfig` written to a file; the parsed document through `doc`.
  fs::path generated_config(json* doc = nullptr) {
    const auto gen = run_command({"genconfig"});
    EXPECT_EQ(gen.code, 0) << gen.err;
    const auto path = dir.path() / "wshub.json";
    write_file(path, gen.out);
    if (doc) *doc = json::parse(gen.out);
    return path;
  }

  std::vector<std::string> start_args(const fs::path& config) {
    return {"--config", config.string(), "--listen.port", "0", "--data-dir", (dir.path() / "data").string(),
            "--log.level", "info"};
  }

  // A publish with the X-API-Key of `key` to `channel`, to `user`.
  http_reply publish(std::uint16_t port, const std::string& key, const std::string& channel, const std::string& user) {
    return http_request(port, "POST", "/api/tool/send_message", "message=hello&channel=" + channel + "&to_user=" + user,
                        {{"Content-Type", "application/x-www-form-urlencoded"}, {"X-API-Key", key}});
  }
};

TEST_F(commands_test, genconfig_gives_fresh_secrets_that_checkconfig_accepts_and_hides) {
  json doc;
  const auto config = generated_config(&doc);
  const auto again = json::parse(run_command({"genconfig"}).out);
  const auto& keys = doc["security"]["publish_keys"];
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_NE(keys[0]["key"], again["security"]["publish_keys"][0]["key"]) << "secrets must be fresh on every run";
  EXPECT_NE(doc["security"]["jwt_hs256_secret"], again["security"]["jwt_hs256_secret"]);
  EXPECT_TRUE(keys[1]["admin"].get<bool>());
  EXPECT_EQ(doc["listen"]["address"], "0.0.0.0");

  const auto check = run_command({"checkconfig", "--config", config.string(), "--data-dir", dir.path().string()});
  ASSERT_EQ(check.code, 0) << check.err;
  const auto effective = json::parse(check.out);
  EXPECT_EQ(effective["listen"]["address"], "0.0.0.0");
  EXPECT_EQ(effective["websocket"]["max_queue_bytes"], 1024 * 1024) << "every key is shown, defaults included";
  EXPECT_EQ(effective["security"]["jwt_hs256_secret"], "(hidden)");
  EXPECT_EQ(effective["security"]["publish_keys"][0]["key"], "(hidden)");
  EXPECT_EQ(effective["security"]["publish_keys"][0]["name"], "backend");
  for (const auto& secret : {keys[0]["key"], keys[1]["key"], doc["security"]["jwt_hs256_secret"]})
    EXPECT_EQ(check.out.find(secret.get<std::string>()), std::string::npos) << "a secret was printed";
}

TEST_F(commands_test, generated_config_starts_on_every_interface_and_its_hs256_token_connects) {
  json doc;
  const auto config = generated_config(&doc);
  server_process server(start_args(config));
  EXPECT_NE(server.output().find("listening on 0.0.0.0:"), std::string::npos) << server.output();

  const auto gen = run_command({"gentoken", "--config", config.string(), "--sub", "alice", "--channels", "a,b", "--ttl", "1h"});
  ASSERT_EQ(gen.code, 0) << gen.err;
  const auto token = trimmed(gen.out);
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2) << token;

  EXPECT_EQ(try_upgrade(server.port(), {}, "/socket/system/message?channel=a"), 401) << "the config requires tokens";
  EXPECT_EQ(try_upgrade(server.port(), {}, "/socket/system/message?channel=c&token=" + token), 403)
      << "the token's channels are a and b";
  ws_client::options o;
  o.target = "/socket/system/message?channel=a&token=" + token;
  ws_client alice(server.port(), o);
  const auto backend_key = doc["security"]["publish_keys"][0]["key"].get<std::string>();
  EXPECT_EQ(publish(server.port(), "not-the-key-0123456789", "a", "alice").status, 401);
  ASSERT_EQ(publish(server.port(), backend_key, "a", "alice").status, 200);
  const auto frame = next_json(alice);
  EXPECT_EQ(frame["message"], "hello");
  EXPECT_EQ(frame["channel"], "a");
}

TEST_F(commands_test, gentoken_signs_rs256_with_a_private_key_the_server_accepts) {
  const auto key = (dir.path() / "private.pem").string(), pub = (dir.path() / "public.pem").string(),
             other = (dir.path() / "other.pem").string();
  const auto command = "openssl genrsa -out " + key + " 2048 2>/dev/null && openssl rsa -in " + key + " -pubout -out " +
                       pub + " 2>/dev/null && openssl genrsa -out " + other + " 2048 2>/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0) << "openssl could not make keys";
  const auto config = dir.path() / "rs256.json";
  write_file(config, json{{"security", {{"jwt_rs256_public_key_file", pub}, {"require_token", true}}}}.dump());

  const auto gen = run_command({"gentoken", "--config", config.string(), "--private-key", key, "--sub", "bob"});
  ASSERT_EQ(gen.code, 0) << gen.err;
  const auto wrong = run_command({"gentoken", "--config", config.string(), "--private-key", other, "--sub", "bob"});
  EXPECT_EQ(wrong.code, 2) << "a key whose public half is not configured makes tokens the server refuses";
  EXPECT_NE(wrong.err.find("would refuse"), std::string::npos) << wrong.err;
  const auto hs256 = run_command({"gentoken", "--config", config.string(), "--sub", "bob"});
  EXPECT_EQ(hs256.code, 2) << "no HS256 secret configured";
  EXPECT_NE(hs256.err.find("security.jwt_hs256_secret"), std::string::npos) << hs256.err;

  server_process server(start_args(config));
  ws_client::options o;
  o.target = "/socket/system/message?token=" + trimmed(gen.out);
  o.headers["Sec-WebSocket-Protocol"] = "wshub.v1";
  ws_client bob(server.port(), o);
  EXPECT_EQ(next_json(bob)["type"], "welcome");
  EXPECT_EQ(try_upgrade(server.port(), {}, "/socket/system/message"), 401);
}

// Each case: the arguments, and the key both checkconfig and a start must name.
struct refused_case {
  std::vector<std::string> args;
  std::string key;
};

TEST_F(commands_test, checkconfig_refuses_what_a_start_refuses_and_names_the_key) {
  const auto missing = (dir.path() / "missing.pem").string();
  const auto blocker = dir.path() / "a-file";
  write_file(blocker, "not a folder");
  const std::vector<refused_case> cases = {
      {{"--listen.address", "0.0.0.0"}, "security.publish_keys"},
      {{"--security.require_token", "true"}, "security.require_token"},
      {{"--security.jwt_hs256_secret", "short"}, "security.jwt_hs256_secret"},
      {{"--tls.cert", missing, "--tls.key", missing}, "tls.cert"},
      {{"--tls.cert", missing}, "tls.key"},
      {{"--security.jwt_rs256_public_key_file", missing}, "security.jwt_rs256_public_key_file"},
      {{"--store.path", (blocker / "wshub.db").string()}, "store.path"},
      {{"--websocket.max_queue_bytes", "12"}, "websocket.max_queue_bytes"},
  };
  for (const auto& c : cases) {
    auto args = c.args;
    args.insert(args.end(), {"--listen.port", "0", "--data-dir", (dir.path() / "data").string()});
    auto check_args = args;
    check_args.insert(check_args.begin(), "checkconfig");
    const auto check = run_command(check_args);
    EXPECT_EQ(check.code, 2) << c.key;
    EXPECT_NE(check.err.find(c.key + ":"), std::string::npos) << c.key << ": " << check.err;
    EXPECT_TRUE(check.out.empty()) << c.key;
    const auto start = run_command(args);
    EXPECT_EQ(start.code, 2) << c.key << ": " << start.out;
    EXPECT_NE(start.err.find(c.key + ":"), std::string::npos) << c.key << ": " << start.err;
  }
  EXPECT_EQ(run_command({"checkconfig", "--data-dir", (dir.path() / "data").string()}).code, 0);
}

TEST_F(commands_test, a_json_error_gives_line_and_column) {
  const auto config = dir.path() / "broken.json";
  write_file(config, "{\n  \"listen\": {\n    \"port\": 9999,\n  }\n}\n");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"checkconfig", "--config", config.string()},
                                               std::vector<std::string>{"--config", config.string()}}) {
    const auto result = run_command(args);
    EXPECT_EQ(result.code, 2);
    EXPECT_NE(result.err.find("broken.json"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("line 4, column 3"), std::string::npos) << result.err;
  }
}

TEST_F(commands_test, an_invalid_environment_value_names_the_variable) {
  const std::map<std::string, std::string> env = {{"WSHUB_WEBSOCKET_IDLE_TIMEOUT", "soon"}};
  for (const std::vector<std::string>& args : {std::vector<std::string>{"checkconfig"}, std::vector<std::string>{}}) {
    const auto result = run_command(args, env);
    EXPECT_EQ(result.code, 2);
    EXPECT_NE(result.err.find("WSHUB_WEBSOCKET_IDLE_TIMEOUT"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("websocket.idle_timeout"), std::string::npos) << result.err;
  }
}

TEST_F(commands_test, version_command_and_flag) {
  const std::regex version(R"(^wshub \d+\.\d+\.\d+\n$)");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"version"}, std::vector<std::string>{"--version"}}) {
    const auto result = run_command(args);
    EXPECT_EQ(result.code, 0);
    EXPECT_TRUE(std::regex_match(result.out, version)) << result.out;
  }
}

}  // namespace
}  // namespace wshub::test
