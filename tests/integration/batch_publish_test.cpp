// send_messages end to end: a batch is checked whole, stored in one transaction with ids in its
// order, fanned out like single publishes, and answered once; keys and rate limits count each
// message. Real server, real HTTP and WebSocket clients over loopback.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_clients.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;

class batch_publish_test : public ::testing::Test {
 protected:
  void start(const std::function<void(app::config&)>& adjust = {}) {
    auto cfg = test_config(dir.path());
    cfg.publish.max_message_bytes = 4096;
    cfg.publish.max_batch = 10;
    cfg.http.body_limit = 64 * 1024;
    if (adjust) adjust(cfg);
    server = std::make_unique<running_app>(cfg);
  }
  std::uint16_t port() const { return server->port(); }
  http_reply post(const json& body, std::map<std::string, std::string> headers = {}) {
    headers.emplace("Content-Type", "application/json");
    return http_request(port(), "POST", "/api/tool/send_messages", body.dump(), headers);
  }
  // Every message of `channel` in the log, as the history API pages through them.
  json history(const std::string& channel, const std::map<std::string, std::string>& headers = {}) {
    const auto reply = http_request(port(), "GET", "/api/tool/messages?channel=" + channel + "&limit=1000", {}, headers);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return json::parse(reply.body)["messages"];
  }

  temp_dir dir;
  std::unique_ptr<running_app> server;
};

json batch_of(int n, const std::string& prefix, const std::string& channel = "news") {
  json messages = json::array();
  for (int i = 0; i < n; ++i) messages.push_back({{"message", prefix + std::to_string(i)}, {"channel", channel}});
  return {{"messages", messages}};
}

TEST_F(batch_publish_test, a_batch_gets_increasing_ids_in_its_order_and_reaches_every_socket) {
  start();
  ws_client::options news_and_sport;
  news_and_sport.target = "/socket/system/message?channel=news&channel=sport";
  ws_client plain(port(), news_and_sport);
  auto v1 = v1_client(port(), "?channel=sport");
  ASSERT_EQ(publish_form(port(), "before", "news").status, 200);  // id 1

  const json body = {{"messages",
                      {{{"message", "one"}, {"channel", "news"}},
                       {{"message", "two"}, {"channels", {"news", "sport"}}},
                       {{"message", "three"}, {"channel", "sport"}},
                       {{"message", "private"}, {"to_conn", 424242}},
                       {{"message", "five"}, {"channel", "news"}}}}};
  const auto reply = post(body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto answer = json::parse(reply.body);
  EXPECT_EQ(answer["status"], "OK");
  ASSERT_EQ(answer["results"].size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(answer["results"][i]["id"], 2 + i) << answer;
  EXPECT_EQ(answer["results"][0]["recipients"], 1);
  EXPECT_EQ(answer["results"][1]["recipients"], 2);
  EXPECT_EQ(answer["results"][2]["recipients"], 2);
  EXPECT_EQ(answer["results"][3]["recipients"], 0);

  EXPECT_EQ(next_json(plain)["message"], "before");
  for (const char* text : {"one", "two", "three", "five"}) EXPECT_EQ(next_json(plain)["message"], text);
  for (const char* text : {"two", "three"}) {
    const auto frame = next_json(*v1);
    EXPECT_EQ(frame["type"], "message");
    EXPECT_EQ(frame["message"], text);
  }
  const auto news = history("news");
  ASSERT_EQ(news.size(), 4u);
  EXPECT_EQ(news[2]["id"], 3);
  EXPECT_EQ(news[2]["channels"], json::array({"news", "sport"}));
  EXPECT_EQ(news[3]["message"], "five");
  EXPECT_EQ(news[3]["username"], "system");
}

TEST_F(batch_publish_test, one_bad_message_refuses_the_whole_batch_and_stores_nothing) {
  start();
  ws_client socket(port());
  auto with = [](json item) {
    auto body = batch_of(5, "ok ");
    body["messages"][3] = std::move(item);
    return body;
  };
  struct refusal {
    std::string name;
    json body;
    std::string content_type;
    int status;
    int code;
    std::string message;  // the start of the error's message
  } cases[] = {
      {"no message", with({{"channel", "news"}}), "application/json", 400, 10103, "messages[3]: message is required"},
      {"bad channel", with({{"message", "x"}, {"channel", "no spaces"}}), "application/json", 400, 10103,
       "messages[3]: channel must be"},
      {"both targets", with({{"message", "x"}, {"to_conn", 5}, {"to_user", "ann"}}), "application/json", 400, 10103,
       "messages[3]: give to_conn or to_user"},
      {"not an object", with("just text"), "application/json", 400, 10103, "messages[3]: not a JSON object"},
      {"message not a string", with({{"message", 5}}), "application/json", 400, 10103,
       "messages[3]: 'message' must be a string"},
      {"too large", with({{"message", std::string(4097, 'x')}}), "application/json", 413, 10203,
       "messages[3]: message is larger than 4096 bytes"},
      {"too many", batch_of(11, "x"), "application/json", 400, 10103, "at most 10 messages per batch"},
      {"empty", {{"messages", json::array()}}, "application/json", 400, 10103, "'messages' is empty"},
      {"no list", {{"message", "hi"}}, "application/json", 400, 10103, "'messages' must be a list"},
      {"a form", batch_of(2, "x"), "application/x-www-form-urlencoded", 415, 10204, "Content-Type must be"},
  };
  for (const auto& c : cases) {
    const auto reply = post(c.body, {{"Content-Type", c.content_type}});
    EXPECT_EQ(reply.status, c.status) << c.name << ": " << reply.body;
    const auto error = json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(error.is_object()) << c.name;
    EXPECT_EQ(error["code"], c.code) << c.name;
    EXPECT_TRUE(error["message"].get<std::string>().starts_with(c.message)) << c.name << ": " << reply.body;
  }
  EXPECT_EQ(http_request(port(), "GET", "/api/tool/send_messages").status, 405);
  EXPECT_TRUE(history("news").empty());
  // Nothing was stored or sent: the next message gets the first id and is the first frame.
  const auto reply = publish_form(port(), "first", "system");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(json::parse(reply.body)["id"], 1);
  EXPECT_EQ(next_json(socket)["message"], "first");
}

TEST_F(batch_publish_test, keys_apply_to_each_message) {
  start([](app::config& cfg) {
    cfg.security.publish_keys = {
        {"news-bot", "news-key-0123456789ab", {"news"}, false},
        {"operator", "operator-key-0123456789", {"*"}, true},
    };
  });
  const std::map<std::string, std::string> news_bot{{"X-API-Key", "news-key-0123456789ab"}};
  EXPECT_EQ(post(batch_of(2, "x")).status, 401);
  json mixed = batch_of(3, "x");
  mixed["messages"][1]["channel"] = "sport";
  const auto refused = post(mixed, news_bot);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(json::parse(refused.body)["message"], "messages[1]: the key 'news-bot' may not publish to sport");
  EXPECT_TRUE(history("news", news_bot).empty());

  json targeted = batch_of(2, "y");
  targeted["messages"][1] = {{"message", "psst"}, {"to_user", "ann"}, {"channel", "news"}};
  const auto reply = post(targeted, news_bot);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto results = json::parse(reply.body)["results"];
  EXPECT_TRUE(results[0].contains("recipients"));
  EXPECT_FALSE(results[1].contains("recipients")) << "only admin keys learn who a targeted message reached";
  const auto news = history("news", news_bot);
  ASSERT_EQ(news.size(), 1u);
  EXPECT_EQ(news[0]["username"], "news-bot");
  const auto by_operator = post(targeted, {{"X-API-Key", "operator-key-0123456789"}});
  ASSERT_EQ(by_operator.status, 200) << by_operator.body;
  EXPECT_TRUE(json::parse(by_operator.body)["results"][1].contains("recipients"));
}

TEST_F(batch_publish_test, rate_limits_count_every_message_of_a_batch) {
  start([](app::config& cfg) {
    cfg.security.publish_rate_per_ip = 0.001;  // no token comes back during the test
    cfg.security.publish_burst = 5;
  });
  const auto too_big = post(batch_of(6, "x"));
  EXPECT_EQ(too_big.status, 429) << too_big.body;
  EXPECT_EQ(json::parse(too_big.body)["code"], 10102);
  EXPECT_EQ(post(batch_of(3, "x")).status, 200);
  const auto refused = post(batch_of(3, "y"));  // 2 tokens left
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(history("news").size(), 3u);
  EXPECT_EQ(post(batch_of(2, "z")).status, 200);
  EXPECT_EQ(publish_form(port(), "one more", "news").status, 429);
  EXPECT_EQ(history("news").size(), 5u);
}

}  // namespace
}  // namespace wshub::test
