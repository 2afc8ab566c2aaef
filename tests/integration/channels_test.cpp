// Channels, commands, targeted delivery, history, resume and the connections API, end to end.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/eventually.hpp"
#include "support/test_clients.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;

class channels_test : public ::testing::Test {
 protected:
  void start(const std::function<void(app::config&)>& adjust = {}) {
    auto cfg = test_config(dir.path());
    cfg.websocket.user_from_query = true;
    if (adjust) adjust(cfg);
    server = std::make_unique<running_app>(cfg);
  }
  std::uint16_t port() const { return server->port(); }

  // A wshub.v1 socket; reads and checks its welcome frame.
  std::unique_ptr<ws_client> v1_client(const std::string& query = "", json* welcome = nullptr) {
    return test::v1_client(port(), query, welcome);
  }
  std::unique_ptr<ws_client> plain_client(const std::string& query = "") {
    ws_client::options o;
    o.target = "/socket/system/message" + query;
    return std::make_unique<ws_client>(port(), o);
  }
  static json next(ws_client& c) { return next_json(c); }
  json publish(const std::string& body_json) {
    const auto reply =
        http_request(port(), "POST", "/api/tool/send_message", body_json, {{"Content-Type", "application/json"}});
    EXPECT_EQ(reply.status, 200) << reply.body;
    return json::parse(reply.body);
  }
  // Publishes a marker to `channel` and returns the frames read before it.
  static std::vector<json> until_marker(ws_client& c, const std::string& marker) {
    std::vector<json> seen;
    for (;;) {
      auto f = next(c);
      if (f["message"] == marker) return seen;
      seen.push_back(std::move(f));
    }
  }

  temp_dir dir;
  std::unique_ptr<running_app> server;
};

TEST_F(channels_test, sockets_receive_only_their_channels) {
  start();
  auto ab = plain_client("?channel=a&channel=b");
  auto c = plain_client("?channel=c");
  publish(R"({"message":"to a","channel":"a"})");
  publish(R"({"message":"to c","channel":"c"})");
  publish(R"({"message":"to b","channel":"b"})");
  publish(R"({"message":"to system"})");
  publish(R"({"message":"end","channels":["a","c"]})");
  const auto got_ab = until_marker(*ab, "end");
  ASSERT_EQ(got_ab.size(), 2u);
  EXPECT_EQ(got_ab[0]["message"], "to a");
  EXPECT_EQ(got_ab[1]["message"], "to b");
  const auto got_c = until_marker(*c, "end");
  ASSERT_EQ(got_c.size(), 1u);
  EXPECT_EQ(got_c[0]["channel"], "c");
}

TEST_F(channels_test, a_message_to_several_channels_arrives_once_with_one_id) {
  start();
  auto both = plain_client("?channel=x&channel=y");
  auto only_y = plain_client("?channel=y");
  const auto reply = publish(R"({"message":"multi","channels":["x","y"]})");
  EXPECT_EQ(reply["recipients"], 2);
  const auto f = next(*both);
  EXPECT_EQ(f["id"], reply["id"]);
  EXPECT_EQ(f["channel"], "x");
  EXPECT_EQ(f["channels"], json::array({"x", "y"}));
  EXPECT_EQ(next(*only_y)["id"], reply["id"]);
  publish(R"({"message":"after","channel":"x"})");
  EXPECT_EQ(next(*both)["message"], "after") << "the multi-channel message arrived twice";
}

TEST_F(channels_test, subscribe_and_unsubscribe_commands_are_acknowledged) {
  start();
  auto c = v1_client();
  c->send_text(R"({"type":"subscribe","channel":"news","ref":1})");
  auto ack = next(*c);
  EXPECT_EQ(ack["type"], "ack");
  EXPECT_EQ(ack["ref"], 1);
  publish(R"({"message":"news 1","channel":"news"})");
  auto m = next(*c);
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["message"], "news 1");
  c->send_text(R"({"type":"unsubscribe","channel":"news","ref":"two"})");
  ack = next(*c);
  EXPECT_EQ(ack["type"], "ack");
  EXPECT_EQ(ack["ref"], "two");
  publish(R"({"message":"news 2","channel":"news"})");
  publish(R"({"message":"system again"})");
  EXPECT_EQ(next(*c)["message"], "system again");
}

TEST_F(channels_test, bad_commands_get_error_frames_and_the_socket_stays_usable) {
  start([](app::config& cfg) { cfg.websocket.max_channels = 2; });
  auto c = v1_client();
  struct bad_case {
    std::string command;
    int code;
  } cases[] = {
      {R"({"type":"subscribe","channel":"bad name!","ref":1})", 10103},
      {R"({"type":"subscribe","ref":2})", 10103},
      {R"({"type":"unsubscribe","channel":"never","ref":3})", 10210},
      {R"({"type":"launch","ref":4})", 10208},
      {R"(not json)", 10208},
      {R"({"type":"resume","last_id":-1,"ref":5})", 10103},
  };
  for (const auto& bc : cases) {
    c->send_text(bc.command);
    const auto f = next(*c);
    EXPECT_EQ(f["type"], "error") << bc.command;
    EXPECT_EQ(f["code"], bc.code) << bc.command;
    EXPECT_TRUE(f["message"].is_string());
  }
  c->send_text(R"({"type":"subscribe","channel":"second","ref":6})");
  EXPECT_EQ(next(*c)["type"], "ack");
  c->send_text(R"({"type":"subscribe","channel":"third","ref":7})");
  const auto too_many = next(*c);
  EXPECT_EQ(too_many["code"], 10209);
  publish(R"({"message":"still usable"})");
  EXPECT_EQ(next(*c)["message"], "still usable");
}

TEST_F(channels_test, bad_connect_parameters_are_refused_with_400) {
  start([](app::config& cfg) { cfg.websocket.max_channels = 2; });
  EXPECT_EQ(try_upgrade(port(), {}, "/socket/system/message?channel=bad%20name"), 400);
  EXPECT_EQ(try_upgrade(port(), {}, "/socket/system/message?last_id=abc"), 400);
  EXPECT_EQ(try_upgrade(port(), {}, "/socket/system/message?channel=a&channel=b&channel=c"), 400);
}

TEST_F(channels_test, targeted_messages_reach_exactly_their_target) {
  start();
  json welcome;
  auto target = v1_client("?user=alice", &welcome);
  auto alice_too = v1_client("?user=alice");
  auto bob = v1_client("?user=bob");
  const auto conn = welcome["conn_id"].get<std::uint64_t>();

  auto reply = publish(R"({"message":"just you","to_conn":)" + std::to_string(conn) + "}");
  EXPECT_EQ(reply["recipients"], 1);
  reply = publish(R"({"message":"alices","to_user":"alice"})");
  EXPECT_EQ(reply["recipients"], 2);
  EXPECT_EQ(publish(R"({"message":"nobody","to_conn":999999})")["recipients"], 0);
  EXPECT_EQ(publish(R"({"message":"nobody","to_user":"carol"})")["recipients"], 0);
  publish(R"({"message":"end"})");

  auto messages = [](ws_client& c) {
    std::vector<std::string> out;
    for (const auto& f : until_marker(c, "end")) out.push_back(f["message"]);
    return out;
  };
  EXPECT_EQ(messages(*target), (std::vector<std::string>{"just you", "alices"}));
  EXPECT_EQ(messages(*alice_too), (std::vector<std::string>{"alices"}));
  EXPECT_EQ(messages(*bob), (std::vector<std::string>{}));
  // Targeted messages stay out of the channel's history.
  const auto history = json::parse(http_request(port(), "GET", "/api/tool/messages?channel=system").body);
  for (const auto& m : history["messages"]) EXPECT_NE(m["message"], "just you");
}

TEST_F(channels_test, history_pages_through_a_channel_in_id_order) {
  start();
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 25; ++i) {
    ids.push_back(publish(R"({"message":"h)" + std::to_string(i) + R"(","channel":"hist"})")["id"].get<std::uint64_t>());
    publish(R"({"message":"noise","channel":"other"})");
  }
  std::vector<std::uint64_t> seen;
  std::uint64_t after = 0;
  for (int page = 0; page < 10; ++page) {
    const auto reply = http_request(port(), "GET", "/api/tool/messages?channel=hist&limit=10&after=" + std::to_string(after));
    ASSERT_EQ(reply.status, 200) << reply.body;
    const auto body = json::parse(reply.body);
    for (const auto& m : body["messages"]) {
      EXPECT_EQ(m["channel"], "hist");
      for (const char* field : {"id", "channel", "username", "message", "time", "ts"}) EXPECT_TRUE(m.contains(field));
      seen.push_back(m["id"].get<std::uint64_t>());
    }
    after = body["next_after"].get<std::uint64_t>();
    if (!body["has_more"].get<bool>()) break;
  }
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(http_request(port(), "GET", "/api/tool/messages?limit=0").status, 400);
  EXPECT_EQ(http_request(port(), "GET", "/api/tool/messages?after=x").status, 400);
  EXPECT_EQ(http_request(port(), "GET", "/api/tool/messages?channel=no%20way").status, 400);
}

TEST_F(channels_test, reconnecting_with_last_id_replays_what_was_missed) {
  start();
  std::uint64_t seen = 0;
  {
    auto c = plain_client("?channel=r");
    seen = publish(R"({"message":"r0","channel":"r"})")["id"];
    EXPECT_EQ(next(*c)["id"], seen);
  }
  for (int i = 1; i <= 5; ++i) publish(R"({"message":"r)" + std::to_string(i) + R"(","channel":"r"})");
  auto again = v1_client("?channel=r&last_id=" + std::to_string(seen));
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(next(*again)["message"], "r" + std::to_string(i));
  const auto resume = next(*again);
  EXPECT_EQ(resume["type"], "resume");
  EXPECT_EQ(resume["recovered"], true);
  publish(R"({"message":"live","channel":"r"})");
  EXPECT_EQ(next(*again)["message"], "live");
}

TEST_F(channels_test, a_resume_past_the_window_says_not_recovered) {
  start([](app::config& cfg) { cfg.websocket.max_resume_messages = 3; });
  for (int i = 0; i < 10; ++i) publish(R"({"message":"w)" + std::to_string(i) + R"("})");
  auto c = v1_client("?last_id=0");
  for (int i = 7; i < 10; ++i) EXPECT_EQ(next(*c)["message"], "w" + std::to_string(i));
  const auto resume = next(*c);
  EXPECT_EQ(resume["type"], "resume");
  EXPECT_EQ(resume["recovered"], false);
}

TEST_F(channels_test, the_resume_command_replays_after_its_last_id) {
  start();
  const auto first = publish(R"({"message":"c1"})")["id"].get<std::uint64_t>();
  publish(R"({"message":"c2"})");
  auto c = v1_client();
  c->send_text(R"({"type":"resume","last_id":)" + std::to_string(first) + R"(,"ref":9})");
  EXPECT_EQ(next(*c)["message"], "c2");
  const auto resume = next(*c);
  EXPECT_EQ(resume["type"], "resume");
  EXPECT_EQ(resume["ref"], 9);
}

// Clients drop and come back with their last id while a publisher keeps going; each ends with
// exactly the full id sequence of its channel.
TEST_F(channels_test, resume_under_load_has_no_gap_and_no_duplicate) {
  start();
  constexpr int total = 400;
  std::atomic<bool> publishing{true};
  std::vector<std::uint64_t> published;
  std::thread publisher([&] {
    for (int i = 0; i < total; ++i)
      published.push_back(publish(R"({"message":"p)" + std::to_string(i) + R"(","channel":"load"})")["id"]);
    publishing = false;
  });
  constexpr int clients = 3;
  std::vector<std::vector<std::uint64_t>> got(clients);
  std::vector<std::thread> readers;
  for (int k = 0; k < clients; ++k)
    readers.emplace_back([&, k] {
      std::uint64_t last = 0;
      int reconnects = 0;
      // Each connection reads a few frames, then drops; bounded by count.
      while (got[k].size() < static_cast<std::size_t>(total) && reconnects < 200) {
        ++reconnects;
        auto c = plain_client("?channel=load&last_id=" + std::to_string(last));
        for (int n = 0; n < 7 + k; ++n) {
          const auto text = c->read();
          if (!text) break;
          last = json::parse(*text)["id"].get<std::uint64_t>();
          got[k].push_back(last);
          if (got[k].size() == static_cast<std::size_t>(total)) break;
        }
      }
    });
  publisher.join();
  for (auto& r : readers) r.join();
  for (int k = 0; k < clients; ++k) {
    EXPECT_EQ(got[k].size(), published.size()) << "client " << k;
    const auto diverge = std::mismatch(got[k].begin(), got[k].end(), published.begin(), published.end());
    if (diverge.first != got[k].end())
      ADD_FAILURE() << "client " << k << " diverges at position " << (diverge.first - got[k].begin()) << ": got "
                    << *diverge.first << ", expected " << (diverge.second != published.end() ? *diverge.second : 0);
  }
}

TEST_F(channels_test, the_connections_api_lists_and_closes_connections) {
  start();
  json welcome;
  auto a = v1_client("?channel=alpha&user=ann", &welcome);
  auto b = plain_client();
  const auto list = json::parse(http_request(port(), "GET", "/api/tool/connections").body);
  EXPECT_EQ(list["count"], 2);
  ASSERT_EQ(list["connections"].size(), 2u);
  const auto& first = list["connections"][0];
  EXPECT_EQ(first["id"], welcome["conn_id"]);
  EXPECT_EQ(first["user"], "ann");
  EXPECT_EQ(first["channels"], json::array({"alpha"}));
  EXPECT_EQ(first["protocol"], "wshub.v1");
  EXPECT_TRUE(first["remote"].get<std::string>().starts_with("127.0.0.1:"));

  const auto id = welcome["conn_id"].get<std::uint64_t>();
  EXPECT_EQ(http_request(port(), "DELETE", "/api/tool/connections/" + std::to_string(id)).status, 200);
  EXPECT_FALSE(a->read());
  EXPECT_EQ(a->close_code(), 4001);
  EXPECT_EQ(http_request(port(), "DELETE", "/api/tool/connections/999999").status, 404);
  EXPECT_EQ(http_request(port(), "DELETE", "/api/tool/connections/abc").status, 400);
  EXPECT_EQ(http_request(port(), "GET", "/api/tool/connections/1").status, 405);
}

}  // namespace
}  // namespace wshub::test

namespace wshub::test {
namespace {

// The channels and presence API (one node; tests/integration/cluster_test.cpp has several).
class presence_test : public channels_test {
 protected:
  json get(const std::string& target, int want_status = 200, const std::map<std::string, std::string>& headers = {}) {
    const auto reply = http_request(port(), "GET", target, {}, headers);
    EXPECT_EQ(reply.status, want_status) << target << ": " << reply.body;
    return json::parse(reply.body);
  }
};

TEST_F(presence_test, channels_are_listed_with_subscriber_counts_in_name_order_and_paged) {
  start();
  auto ann = plain_client("?channel=news&user=ann");
  auto bob = v1_client("?channel=news&channel=sport&user=bob");
  auto other = plain_client("?channel=alerts");
  json all;
  ASSERT_TRUE(eventually([&] { return (all = get("/api/tool/channels"))["count"] == 3; })) << all.dump();
  EXPECT_EQ(all["channels"], json::parse(R"([{"name":"alerts","subscribers":1},{"name":"news","subscribers":2},
                                             {"name":"sport","subscribers":1}])"));
  const auto first = get("/api/tool/channels?limit=2");
  ASSERT_EQ(first["channels"].size(), 2u);
  EXPECT_EQ(first["next_after"], "news");
  const auto rest = get("/api/tool/channels?after=news");
  EXPECT_EQ(rest["channels"], json::parse(R"([{"name":"sport","subscribers":1}])"));
  EXPECT_EQ(get("/api/tool/channels?after=sport")["channels"], json::array());

  // Subscriptions and closes move the counts.
  bob->send_text(R"({"type":"subscribe","channel":"alerts","ref":1})");
  EXPECT_EQ(next(*bob)["type"], "ack");
  EXPECT_EQ(get("/api/tool/channels?limit=1")["channels"][0]["subscribers"], 2);
  ann->close();
  EXPECT_TRUE(eventually([&] { return get("/api/tool/channels?after=alerts&limit=1")["channels"][0]["subscribers"] == 1; }));

  for (const auto* bad : {"/api/tool/channels?limit=0", "/api/tool/channels?limit=1001", "/api/tool/channels?bogus=1"})
    EXPECT_EQ(get(bad, 400)["code"], 10103) << bad;
  EXPECT_EQ(http_request(port(), "POST", "/api/tool/channels", "x").status, 405);
}

TEST_F(presence_test, presence_lists_the_connections_and_users_of_a_channel) {
  start();
  json welcome;
  auto ann = v1_client("?channel=news&user=ann", &welcome);
  auto bob1 = plain_client("?channel=news&user=bob");
  auto bob2 = plain_client("?channel=news&channel=sport&user=bob");
  auto anonymous = plain_client("?channel=news");
  auto elsewhere = plain_client("?channel=sport&user=carl");
  json p;
  ASSERT_TRUE(eventually([&] { return (p = get("/api/tool/channels/news/presence"))["count"] == 4; })) << p.dump();
  EXPECT_EQ(p["channel"], "news");
  EXPECT_EQ(p["users"], json::parse(R"(["ann","bob"])"));
  EXPECT_EQ(p["user_count"], 2);
  ASSERT_EQ(p["connections"].size(), 4u);
  EXPECT_EQ(p["connections"][0]["id"], welcome["conn_id"]) << "id order";
  EXPECT_EQ(p["connections"][0]["user"], "ann");

  const auto page = get("/api/tool/channels/news/presence?limit=3");
  ASSERT_EQ(page["connections"].size(), 3u);
  const auto rest = get("/api/tool/channels/news/presence?after=" + page["next_after"].dump());
  ASSERT_EQ(rest["connections"].size(), 1u);
  EXPECT_EQ(rest["count"], 4);

  const auto nobody = get("/api/tool/channels/empty/presence");
  EXPECT_EQ(nobody["count"], 0);
  EXPECT_EQ(nobody["connections"], json::array());
  EXPECT_EQ(get("/api/tool/channels/bad%20name/presence", 400)["code"], 10103);
  EXPECT_EQ(get("/api/tool/channels/news/presence?after=x", 400)["code"], 10103);
  ann->close();
  EXPECT_TRUE(eventually([&] { return get("/api/tool/channels/news/presence")["users"] == json::parse(R"(["bob"])"); }));
}

TEST_F(presence_test, a_v1_socket_asks_for_join_and_leave_frames_of_a_channel) {
  start();
  auto watcher = v1_client("?user=watcher");
  watcher->send_text(R"({"type":"subscribe","channel":"news","presence":true,"ref":1})");
  const auto ack = next(*watcher);
  EXPECT_EQ(ack["type"], "ack");
  EXPECT_EQ(ack["presence"], true);

  json welcome;
  auto ann = v1_client("?channel=news&user=ann", &welcome);
  const auto ann_id = welcome["conn_id"];
  EXPECT_EQ(next(*watcher), (json{{"type", "join"}, {"channel", "news"}, {"conn_id", ann_id}, {"user", "ann"}}));
  auto elsewhere = plain_client("?channel=sport&user=carl");  // another channel: no frame
  auto bob = v1_client("?user=bob", &welcome);
  const auto bob_id = welcome["conn_id"];
  bob->send_text(R"({"type":"subscribe","channel":"news","ref":2})");
  EXPECT_EQ(next(*watcher), (json{{"type", "join"}, {"channel", "news"}, {"conn_id", bob_id}, {"user", "bob"}}));
  bob->send_text(R"({"type":"unsubscribe","channel":"news","ref":3})");
  EXPECT_EQ(next(*watcher), (json{{"type", "leave"}, {"channel", "news"}, {"conn_id", bob_id}, {"user", "bob"}}));
  ann->close();
  EXPECT_EQ(next(*watcher), (json{{"type", "leave"}, {"channel", "news"}, {"conn_id", ann_id}, {"user", "ann"}}));

  // After unsubscribing, the watcher hears nothing more: the next frame it reads is a message.
  watcher->send_text(R"({"type":"unsubscribe","channel":"news","ref":4})");
  EXPECT_EQ(next(*watcher)["type"], "ack");
  auto late = plain_client("?channel=news&user=late");
  publish(R"({"message":"marker"})");
  EXPECT_EQ(next(*watcher)["message"], "marker");

  // Bad requests: a non-boolean flag, and a plain socket.
  bob->send_text(R"({"type":"subscribe","channel":"news","presence":"yes","ref":5})");
  json answer;
  do answer = next(*bob);  // after the acks of refs 2 and 3
  while (answer["ref"] != 5);
  EXPECT_EQ(answer["type"], "error");
  auto plain = plain_client("?channel=news");
  plain->send_text(R"({"type":"subscribe","channel":"news","presence":true})");
  auto another = plain_client("?channel=news&user=another");
  publish(R"({"message":"plain marker","channel":"news"})");
  for (const auto& f : until_marker(*plain, "plain marker"))
    EXPECT_NE(f.value("type", ""), "join") << "plain sockets get no presence frames: " << f.dump();
}

TEST_F(presence_test, channels_and_presence_need_an_admin_key_when_keys_are_configured) {
  start([](app::config& cfg) {
    cfg.security.publish_keys = {{"backend", "backend-secret-0123456789", {"*"}, false},
                                 {"ops", "ops-secret-0123456789", {"*"}, true}};
  });
  auto ann = plain_client("?channel=news&user=ann");
  for (const std::string target : {"/api/tool/channels", "/api/tool/channels/news/presence"}) {
    get(target, 401);
    get(target, 403, {{"X-API-Key", "backend-secret-0123456789"}});
    get(target, 200, {{"X-API-Key", "ops-secret-0123456789"}});
  }
}

}  // namespace
}  // namespace wshub::test
