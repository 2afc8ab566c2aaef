// Hostile input end to end: long lists, deep JSON, odd refs and out-of-range ids each get a
// clear error, change nothing, and leave the server serving.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_clients.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;

class input_limits_test : public ::testing::Test {
 protected:
  void start(const std::function<void(app::config&)>& adjust = {}) {
    auto cfg = test_config(dir.path());
    cfg.http.body_limit = 2 * 1024 * 1024;
    cfg.websocket.max_message_size = 1024 * 1024;
    if (adjust) adjust(cfg);
    server = std::make_unique<running_app>(cfg);
  }
  std::uint16_t port() const { return server->port(); }
  http_reply get(const std::string& target) { return http_request(port(), "GET", target); }
  http_reply post(const std::string& body, const std::string& content_type) {
    return http_request(port(), "POST", "/api/tool/send_message", body, {{"Content-Type", content_type}});
  }
  static void expect_400(const http_reply& r, const std::string& message_part, const std::string& what) {
    EXPECT_EQ(r.status, 400) << what << ": " << r.body;
    const auto body = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << what << ": " << r.body;
    EXPECT_EQ(body["code"], 10103) << what;
    EXPECT_NE(body.value("message", "").find(message_part), std::string::npos) << what << ": " << r.body;
  }
  void expect_still_serving() {
    const auto r = publish_form(port(), "still here");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(get("/api/tool/messages?limit=1000").status, 200);
  }

  temp_dir dir;
  std::unique_ptr<running_app> server;
};

TEST_F(input_limits_test, a_400_kb_channel_list_is_refused_and_stores_nothing) {
  start();
  std::string list, json_list = "[";
  for (int i = 0; i < 60000; ++i) {
    list += (i ? ",c" : "c") + std::to_string(i);
    json_list += (i ? ",\"c" : "\"c") + std::to_string(i) + "\"";
  }
  json_list += "]";
  ASSERT_GT(list.size(), 400'000u);
  expect_400(post("message=m&channels=" + list, "application/x-www-form-urlencoded"), "at most 64 channels", "form");
  expect_400(post(R"({"message":"m","channels":)" + json_list + "}", "application/json"), "at most 64 channels", "json");
  EXPECT_EQ(server->get().counters().published.load(), 0u);
  expect_still_serving();
}

TEST_F(input_limits_test, a_deeply_nested_command_is_an_error_frame_not_a_crash) {
  start();
  auto c = v1_client(port());
  const std::string deep = R"({"type":"ping","ref":)" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  c->send_text(deep);
  const auto error = next_json(*c);
  EXPECT_EQ(error["type"], "error");
  EXPECT_EQ(error["code"], 10208);
  EXPECT_NE(error["message"].get<std::string>().find("nested at most 32"), std::string::npos) << error;
  // A plain socket ignores it, as it ignores any text that is not a command, and stays open.
  ws_client plain(port());
  plain.send_text(deep);
  c->send_text(R"({"type":"ping","ref":"after"})");
  EXPECT_EQ(next_json(*c)["ref"], "after");
  expect_still_serving();
  EXPECT_EQ(json::parse(*plain.read())["message"], "still here");
}

TEST_F(input_limits_test, a_deeply_nested_publish_body_is_a_400) {
  start();
  const auto body = R"({"message":"m","x":)" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  expect_400(post(body, "application/json"), "nested at most 32", "deep body");
  EXPECT_EQ(server->get().counters().published.load(), 0u);
  expect_still_serving();
}

TEST_F(input_limits_test, a_ref_must_be_an_integer_or_a_short_string) {
  start();
  auto c = v1_client(port());
  for (const std::string& ref : std::vector<std::string>{R"({"a":1})", "[1]", "1.5", "true", "\"" + std::string(129, 'r') + "\""}) {
    c->send_text(R"({"type":"ping","ref":)" + ref + "}");
    const auto f = next_json(*c);
    EXPECT_EQ(f["type"], "error") << ref;
    EXPECT_EQ(f["code"], 10103) << ref;
    EXPECT_TRUE(f["ref"].is_null()) << ref;
  }
  for (const std::string& ref : std::vector<std::string>{"7", "-7", "\"" + std::string(128, 'r') + "\""}) {
    c->send_text(R"({"type":"ping","ref":)" + ref + "}");
    const auto f = next_json(*c);
    EXPECT_EQ(f["type"], "pong") << ref;
    EXPECT_EQ(f["ref"], json::parse(ref)) << ref;
  }
}

TEST_F(input_limits_test, ids_past_2_to_the_63_are_refused_everywhere) {
  start();
  ASSERT_EQ(publish_form(port(), "one").status, 200);
  ASSERT_EQ(publish_form(port(), "two").status, 200);
  for (const char* id : {"18446744073709551615", "9223372036854775808", "18446744073709551616", "-1", "1e3"}) {
    expect_400(get(std::string("/api/tool/messages?after=") + id), "after", id);
    expect_400(get(std::string("/api/tool/connections?after=") + id), "after", id);
    EXPECT_EQ(try_upgrade(port(), {}, std::string("/socket/system/message?last_id=") + id), 400) << id;
  }
  EXPECT_EQ(http_request(port(), "DELETE", "/api/tool/connections/18446744073709551615").status, 400);
  const auto top = get("/api/tool/messages?after=9223372036854775807");
  ASSERT_EQ(top.status, 200);
  EXPECT_TRUE(json::parse(top.body)["messages"].empty());

  // A resume command with such an id is an error frame, not a replay from the start.
  auto c = v1_client(port());
  for (const char* id : {"18446744073709551615", "9223372036854775808", "-1", "1.5", "\"1\""}) {
    c->send_text(std::string(R"({"type":"resume","last_id":)") + id + R"(,"ref":1})");
    const auto f = next_json(*c);
    EXPECT_EQ(f["type"], "error") << id << ": " << f;
    EXPECT_EQ(f["code"], 10103) << id;
  }
  c->send_text(R"({"type":"ping","ref":2})");
  EXPECT_EQ(next_json(*c)["type"], "pong") << "no message was replayed";
}

}  // namespace
}  // namespace wshub::test
