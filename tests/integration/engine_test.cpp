// The worker engine end to end, with one worker and with three: sockets are spread over the
// workers in turn, so consecutive sockets live on different threads and every contract below is
// checked across workers.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/eventually.hpp"
#include "support/test_clients.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;

constexpr int sockets = 6;  // two per worker with three workers

class engine_test : public ::testing::TestWithParam<unsigned> {
 protected:
  void SetUp() override {
    auto cfg = test_config(dir.path());
    cfg.io_threads = GetParam();
    cfg.websocket.user_from_query = true;
    server = std::make_unique<running_app>(cfg);
  }
  std::uint16_t port() const { return server->port(); }
  json publish(const std::string& body_json) {
    const auto reply =
        http_request(port(), "POST", "/api/tool/send_message", body_json, {{"Content-Type", "application/json"}});
    EXPECT_EQ(reply.status, 200) << reply.body;
    return json::parse(reply.body);
  }
  // `sockets` wshub.v1 sockets on `query`, and their connection ids.
  std::vector<std::unique_ptr<ws_client>> connect(const std::string& query, std::vector<std::uint64_t>& ids) {
    std::vector<std::unique_ptr<ws_client>> out;
    for (int i = 0; i < sockets; ++i) {
      json welcome;
      out.push_back(v1_client(port(), query, &welcome));
      ids.push_back(welcome["conn_id"].get<std::uint64_t>());
    }
    return out;
  }

  temp_dir dir;
  std::unique_ptr<running_app> server;
};

// Two publishers at once; every socket, whatever its worker, gets every message once, in id order.
TEST_P(engine_test, every_socket_gets_every_message_in_id_order) {
  std::vector<std::uint64_t> ids;
  auto clients = connect("?channel=order", ids);
  constexpr int publishers = 2, each = 60;
  std::vector<std::thread> threads;
  for (int p = 0; p < publishers; ++p)
    threads.emplace_back([&, p] {
      for (int i = 0; i < each; ++i)
        publish(R"({"message":"p)" + std::to_string(p) + "-" + std::to_string(i) + R"(","channel":"order"})");
    });
  for (auto& t : threads) t.join();
  for (int s = 0; s < sockets; ++s) {
    std::vector<std::uint64_t> got;
    for (int i = 0; i < publishers * each; ++i) got.push_back(next_json(*clients[s])["id"].get<std::uint64_t>());
    EXPECT_TRUE(std::is_sorted(got.begin(), got.end())) << "socket " << s;
    EXPECT_EQ(std::set<std::uint64_t>(got.begin(), got.end()).size(), got.size()) << "socket " << s << ": a duplicate";
  }
}

// A message to one connection reaches it on whichever worker holds it, and nobody else.
TEST_P(engine_test, to_conn_reaches_its_socket_on_any_worker) {
  std::vector<std::uint64_t> ids;
  auto clients = connect("?channel=t", ids);
  for (int s = 0; s < sockets; ++s) {
    const auto reply = publish(R"({"message":"for )" + std::to_string(s) + R"(","to_conn":")" + std::to_string(ids[s]) + "\"}");
    EXPECT_EQ(reply["recipients"], 1) << "socket " << s;
  }
  publish(R"({"message":"end","channel":"t"})");
  for (int s = 0; s < sockets; ++s) {
    EXPECT_EQ(next_json(*clients[s])["message"], "for " + std::to_string(s));
    EXPECT_EQ(next_json(*clients[s])["message"], "end") << "socket " << s << " got another socket's message";
  }
}

// A user's sockets on every worker get a message to that user.
TEST_P(engine_test, to_user_reaches_the_users_sockets_on_every_worker) {
  std::vector<std::uint64_t> ids;
  auto ann = connect("?channel=u&user=ann", ids);
  auto bob = v1_client(port(), "?channel=u&user=bob");
  EXPECT_EQ(publish(R"({"message":"to ann","to_user":"ann"})")["recipients"], sockets);
  publish(R"({"message":"end","channel":"u"})");
  for (auto& c : ann) EXPECT_EQ(next_json(*c)["message"], "to ann");
  EXPECT_EQ(next_json(*bob)["message"], "end");
}

// DELETE closes a socket on whichever worker holds it; the list follows.
TEST_P(engine_test, delete_closes_a_socket_on_any_worker) {
  std::vector<std::uint64_t> ids;
  auto clients = connect("", ids);
  auto list = json::parse(http_request(port(), "GET", "/api/tool/connections").body);
  EXPECT_EQ(list["count"], sockets);
  std::vector<std::uint64_t> listed;
  for (const auto& c : list["connections"]) listed.push_back(c["id"].get<std::uint64_t>());
  auto sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(listed, sorted);
  for (int s = 0; s < sockets; ++s) {
    EXPECT_EQ(http_request(port(), "DELETE", "/api/tool/connections/" + std::to_string(ids[s])).status, 200);
    EXPECT_FALSE(clients[s]->read());
    EXPECT_EQ(clients[s]->close_code(), 4001) << "socket " << s;
  }
  EXPECT_TRUE(eventually([&] {
    return json::parse(http_request(port(), "GET", "/api/tool/connections").body)["count"] == 0;
  }));
}

// Sockets resuming on every worker get what they missed, then live messages, without a gap.
TEST_P(engine_test, resume_works_on_every_worker) {
  const auto first = publish(R"({"message":"m0","channel":"r"})")["id"].get<std::uint64_t>();
  for (int i = 1; i <= 4; ++i) publish(R"({"message":"m)" + std::to_string(i) + R"(","channel":"r"})");
  std::vector<std::uint64_t> ids;
  auto clients = connect("?channel=r&last_id=" + std::to_string(first), ids);
  for (auto& c : clients) {
    for (int i = 1; i <= 4; ++i) EXPECT_EQ(next_json(*c)["message"], "m" + std::to_string(i));
    EXPECT_EQ(next_json(*c)["type"], "resume");
  }
  publish(R"({"message":"live","channel":"r"})");
  for (auto& c : clients) EXPECT_EQ(next_json(*c)["message"], "live");
}

// A graceful stop closes the sockets of every worker with 1001, then every worker ends.
TEST_P(engine_test, stop_closes_every_socket_with_going_away) {
  std::vector<std::uint64_t> ids;
  auto clients = connect("", ids);
  std::thread stopper([&] { server->stop(); });
  for (auto& c : clients) {
    EXPECT_FALSE(c->read());
    EXPECT_EQ(c->close_code(), 1001);
  }
  stopper.join();
}

// Presence across workers: every watcher hears the joins and leaves of sockets on every worker,
// and the channel counts and presence lists sum every worker's registry.
TEST_P(engine_test, presence_reaches_watchers_and_counts_on_every_worker) {
  std::vector<std::uint64_t> watcher_ids;
  auto watchers = connect("?channel=p&user=w", watcher_ids);  // all subscribed before any watches
  for (auto& w : watchers) {
    w->send_text(R"({"type":"subscribe","channel":"p","presence":true,"ref":1})");
    EXPECT_EQ(next_json(*w)["presence"], true);
  }
  constexpr int joiners = 3;  // one per worker with three workers, after the watchers
  std::vector<std::unique_ptr<ws_client>> others;
  std::set<std::uint64_t> joined;
  for (int i = 0; i < joiners; ++i) {
    json welcome;
    others.push_back(v1_client(port(), "?channel=p&user=j" + std::to_string(i), &welcome));
    joined.insert(welcome["conn_id"].get<std::uint64_t>());
  }
  // Each watcher hears every join once (the order between workers is free), and no other frame.
  const auto frames_of = [&](ws_client& w, const std::string& type) {
    std::set<std::uint64_t> ids;
    for (int i = 0; i < joiners; ++i) {
      const auto f = next_json(w);
      EXPECT_EQ(f["type"], type) << f.dump();
      EXPECT_EQ(f["channel"], "p");
      ids.insert(f["conn_id"].get<std::uint64_t>());
    }
    return ids;
  };
  for (auto& w : watchers) EXPECT_EQ(frames_of(*w, "join"), joined);

  const auto channels = json::parse(http_request(port(), "GET", "/api/tool/channels").body);
  ASSERT_EQ(channels["channels"].size(), 1u) << channels.dump();
  EXPECT_EQ(channels["channels"][0]["subscribers"], sockets + joiners);
  const auto presence = json::parse(http_request(port(), "GET", "/api/tool/channels/p/presence").body);
  EXPECT_EQ(presence["count"], sockets + joiners);
  std::set<std::uint64_t> listed;
  for (const auto& c : presence["connections"]) listed.insert(c["id"].get<std::uint64_t>());
  auto everyone = joined;
  everyone.insert(watcher_ids.begin(), watcher_ids.end());
  EXPECT_EQ(listed, everyone);
  EXPECT_EQ(presence["user_count"], 1 + joiners);

  for (auto& o : others) o->close();
  for (auto& w : watchers) EXPECT_EQ(frames_of(*w, "leave"), joined);
}

INSTANTIATE_TEST_SUITE_P(workers, engine_test, ::testing::Values(1u, 3u),
                         [](const auto& param_info) { return std::to_string(param_info.param) + "_workers"; });

}  // namespace
}  // namespace wshub::test
