// The binary's life: configuration errors, SIGTERM, restarts.
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "support/test_clients.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;

std::vector<std::string> args_for(const temp_dir& dir) {
  return {"--listen.port", "0", "--data-dir", dir.path().string(), "--store.synchronous", "normal"};
}

TEST(lifecycle_test, sigterm_closes_sockets_with_1001_and_exits_0) {
  temp_dir dir;
  server_process server(args_for(dir));
  ws_client a(server.port()), b(server.port());
  ASSERT_EQ(publish_form(server.port(), "before stop").status, 200);
  ASSERT_TRUE(a.read());
  ASSERT_TRUE(b.read());
  server.signal(SIGTERM);
  EXPECT_FALSE(a.read());
  EXPECT_EQ(a.close_code(), 1001);
  EXPECT_FALSE(b.read());
  EXPECT_EQ(b.close_code(), 1001);
  EXPECT_EQ(server.wait_exit(std::chrono::seconds(10)), 0) << server.output();
}

TEST(lifecycle_test, a_restart_keeps_the_log_and_ids_continue) {
  temp_dir dir;
  std::uint64_t last = 0;
  {
    server_process server(args_for(dir));
    for (int i = 0; i < 5; ++i) {
      const auto reply = publish_form(server.port(), "first life " + std::to_string(i));
      ASSERT_EQ(reply.status, 200);
      last = json::parse(reply.body)["id"].get<std::uint64_t>();
    }
    server.signal(SIGINT);
    ASSERT_EQ(server.wait_exit(std::chrono::seconds(10)), 0);
  }
  server_process again(args_for(dir));
  const auto reply = publish_form(again.port(), "second life");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(json::parse(reply.body)["id"].get<std::uint64_t>(), last + 1);
  EXPECT_NE(again.output().find("last id " + std::to_string(last)), std::string::npos) << again.output();
}

TEST(lifecycle_test, invalid_configuration_exits_2_naming_the_key) {
  temp_dir dir;
  struct bad_case {
    std::vector<std::string> args;
    std::string key;
  } cases[] = {
      {{"--listen.port", "99999"}, "listen.port"},
      {{"--websocket.max_queue_bytes", "lots"}, "websocket.max_queue_bytes"},
      {{"--log.level", "loud"}, "log.level"},
      {{"--no-such-key", "1"}, "no_such_key"},
      {{"--listen.address", "not-an-ip"}, "listen.address"},
  };
  for (const auto& bc : cases) {
    std::string errors;
    EXPECT_EQ(run_binary(bc.args, &errors), 2) << bc.key;
    EXPECT_NE(errors.find(bc.key), std::string::npos) << errors;
  }
  const auto file = dir.path() / "bad.json";
  std::ofstream(file) << R"({"websocket": {"idle_timeout": "soon"}})";
  std::string errors;
  EXPECT_EQ(run_binary({"--config", file.string()}, &errors), 2);
  EXPECT_NE(errors.find("websocket.idle_timeout"), std::string::npos) << errors;
}

TEST(lifecycle_test, help_and_version_exit_0) {
  std::string errors;
  EXPECT_EQ(run_binary({"--help"}, &errors), 0);
  EXPECT_EQ(run_binary({"--version"}, &errors), 0);
}

TEST(lifecycle_test, a_port_in_use_fails_the_start_with_a_message) {
  temp_dir dir;
  server_process first(args_for(dir));
  temp_dir other;
  std::string errors;
  EXPECT_EQ(run_binary({"--listen.port", std::to_string(first.port()), "--data-dir", other.path().string()}, &errors), 1);
  // The address and the reason, in words, and no source location of the library.
  const auto expected = "cannot listen on 127.0.0.1:" + std::to_string(first.port()) + ": address already in use";
  EXPECT_NE(errors.find(expected), std::string::npos) << errors;
  EXPECT_EQ(errors.find("/usr/include"), std::string::npos) << errors;
  EXPECT_EQ(errors.find("system:98"), std::string::npos) << errors;
}

}  // namespace
}  // namespace wshub::test
