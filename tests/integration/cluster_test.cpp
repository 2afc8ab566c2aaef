// Several nodes through a real redis-server: one order everywhere, resume on any node, cluster
// views, and Redis going away and coming back in the middle of a run.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/eventually.hpp"
#include "wshub/cluster/redis_cluster.hpp"
#include "support/test_clients.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class cluster_test : public ::testing::Test {
 protected:
  // A node of the cluster: its own data folder and log, the shared Redis.
  running_app& add_node(const std::string& name) {
    dirs.push_back(std::make_unique<temp_dir>());
    auto cfg = test_config(dirs.back()->path());
    cfg.cache.type = "redis";
    cfg.cache.redis.port = redis.port();
    cfg.cache.redis.command_timeout = 1000ms;
    cfg.cluster.node_id = name;
    cfg.cluster.confirm_timeout = std::chrono::seconds(5);
    cfg.websocket.user_from_query = true;
    nodes.push_back(std::make_unique<running_app>(cfg));
    return *nodes.back();
  }

  static json next(ws_client& c) { return next_json(c); }
  // Message ids a client reads until it has seen `last` (plain or wshub.v1 message frames).
  static std::vector<std::uint64_t> ids_until(ws_client& c, std::uint64_t last) {
    std::vector<std::uint64_t> ids;
    while (ids.empty() || ids.back() < last) {
      const auto f = next(c);
      if (f.contains("id") && f.value("type", "message") == "message") ids.push_back(f["id"]);
    }
    return ids;
  }
  static std::uint64_t publish_ok(std::uint16_t port, const std::string& message) {
    const auto r = publish_form(port, message);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? json::parse(r.body)["id"].get<std::uint64_t>() : 0;
  }
  // The stats once `ready` holds for them (nodes report once a second), or the last ones.
  static json stats_when(std::uint16_t port, const std::function<bool(const json&)>& ready) {
    json s;
    eventually([&] { return ready(s = json::parse(http_request(port, "GET", "/api/tool/stats").body)); });
    return s;
  }

  redis_process redis;
  std::vector<std::unique_ptr<temp_dir>> dirs;
  std::vector<std::unique_ptr<running_app>> nodes;
};

TEST_F(cluster_test, every_node_delivers_every_message_in_one_order_from_concurrent_publishers) {
  auto& a = add_node("a");
  auto& b = add_node("b");
  auto& c = add_node("c");
  std::vector<std::unique_ptr<ws_client>> clients;
  for (auto* n : {&a, &b, &c})
    for (int i = 0; i < 2; ++i) clients.push_back(std::make_unique<ws_client>(n->port()));

  constexpr int per_publisher = 60;
  std::mutex mutex;
  std::set<std::uint64_t> acked;
  std::vector<std::thread> publishers;
  for (auto* n : {&a, &b, &c})
    publishers.emplace_back([&, port = n->port()] {
      for (int i = 0; i < per_publisher; ++i) {
        const auto id = publish_ok(port, "from " + std::to_string(port) + " #" + std::to_string(i));
        std::lock_guard lock(mutex);
        acked.insert(id);
      }
    });
  for (auto& t : publishers) t.join();
  ASSERT_EQ(acked.size(), 3u * per_publisher);
  ASSERT_EQ(acked.count(0), 0u);

  const std::vector<std::uint64_t> expected(acked.begin(), acked.end());
  for (auto& client : clients) EXPECT_EQ(ids_until(*client, expected.back()), expected);
  // Ids come from one counter: consecutive across the cluster.
  EXPECT_EQ(expected.back() - expected.front() + 1, expected.size());
}

TEST_F(cluster_test, batches_are_sequenced_whole_and_every_node_delivers_them_in_one_order) {
  auto& a = add_node("a");
  auto& b = add_node("b");
  ws_client on_a(a.port()), on_b(b.port());
  // Batches on a while b publishes single messages: each batch's ids are consecutive (one
  // script sequences it whole) and every node delivers everything in one order.
  constexpr int batches = 10, batch_size = 20, singles = 40;
  std::mutex mutex;
  std::set<std::uint64_t> acked;
  std::thread single([&] {
    for (int i = 0; i < singles; ++i) {
      const auto id = publish_ok(b.port(), "single " + std::to_string(i));
      std::lock_guard lock(mutex);
      acked.insert(id);
    }
  });
  for (int k = 0; k < batches; ++k) {
    json messages = json::array();
    for (int i = 0; i < batch_size; ++i) messages.push_back({{"message", "batch " + std::to_string(k) + "." + std::to_string(i)}});
    const auto r = http_request(a.port(), "POST", "/api/tool/send_messages", json{{"messages", messages}}.dump(),
                                {{"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
    const auto results = json::parse(r.body)["results"];
    ASSERT_EQ(results.size(), static_cast<std::size_t>(batch_size));
    const auto first = results[0]["id"].get<std::uint64_t>();
    std::lock_guard lock(mutex);
    for (int i = 0; i < batch_size; ++i) {
      EXPECT_EQ(results[i]["id"], first + i) << "batch " << k;
      acked.insert(results[i]["id"].get<std::uint64_t>());
    }
  }
  single.join();
  ASSERT_EQ(acked.size(), static_cast<std::size_t>(batches * batch_size + singles));
  const std::vector<std::uint64_t> expected(acked.begin(), acked.end());
  EXPECT_EQ(ids_until(on_a, expected.back()), expected);
  EXPECT_EQ(ids_until(on_b, expected.back()), expected);
  // The other node stored the batches too: its history has every one of them.
  const auto history = json::parse(
      http_request(b.port(), "GET", "/api/tool/messages?channel=system&limit=1000").body)["messages"];
  EXPECT_EQ(history.size(), expected.size());
}

TEST_F(cluster_test, a_client_resumes_on_another_node_with_exactly_what_it_missed) {
  auto& a = add_node("a");
  auto& b = add_node("b");
  std::uint64_t seen = 0;
  {
    auto on_a = v1_client(a.port());
    for (int i = 0; i < 5; ++i) publish_ok(a.port(), "before " + std::to_string(i));
    seen = ids_until(*on_a, 0).back();  // the first one only: it misses the other four
  }
  std::vector<std::uint64_t> missed;
  for (int i = 0; i < 5; ++i) missed.push_back(publish_ok(i % 2 ? a.port() : b.port(), "while away " + std::to_string(i)));
  std::vector<std::uint64_t> all;
  for (std::uint64_t id = seen + 1; id <= missed.back(); ++id) all.push_back(id);

  auto on_b = v1_client(b.port(), "?last_id=" + std::to_string(seen));
  std::vector<std::uint64_t> replayed;
  json f;
  while ((f = next(*on_b))["type"] != "resume") replayed.push_back(f["id"]);
  EXPECT_EQ(replayed, all);
  EXPECT_EQ(f["recovered"], true);
  const auto live = publish_ok(a.port(), "live");
  EXPECT_EQ(next(*on_b)["id"], live);
}

TEST_F(cluster_test, stats_and_connections_count_the_whole_cluster_and_close_works_across_nodes) {
  auto& a = add_node("a");
  auto& b = add_node("b");
  json welcome_a, welcome_b;
  auto on_a = v1_client(a.port(), "", &welcome_a);
  auto on_b1 = v1_client(b.port(), "?channel=news", &welcome_b);
  auto on_b2 = std::make_unique<ws_client>(b.port());
  EXPECT_NE(welcome_a["conn_id"], welcome_b["conn_id"]);
  EXPECT_EQ(welcome_a["node"], "a");
  EXPECT_EQ(welcome_b["node"], "b");

  const auto s = stats_when(a.port(), [](const json& j) { return j["connections"] == 3; });
  EXPECT_EQ(s["connections"], 3) << s.dump();
  EXPECT_EQ(s["node"], "a");
  EXPECT_EQ(s["cluster"]["nodes"].size(), 2u) << s.dump();

  const auto list = json::parse(http_request(a.port(), "GET", "/api/tool/connections").body);
  ASSERT_EQ(list["count"], 3) << list.dump();
  std::multiset<std::string> where;
  for (const auto& c : list["connections"]) where.insert(c["node"].get<std::string>());
  EXPECT_EQ(where, (std::multiset<std::string>{"a", "b", "b"}));
  // Pages follow the id order across nodes.
  const auto page = json::parse(http_request(a.port(), "GET", "/api/tool/connections?limit=2").body);
  ASSERT_EQ(page["connections"].size(), 2u);
  const auto rest = json::parse(
      http_request(a.port(), "GET", "/api/tool/connections?after=" + page["next_after"].dump()).body);
  EXPECT_EQ(rest["connections"].size(), 1u) << rest.dump();

  // Closed through node a, living on node b.
  const auto id = welcome_b["conn_id"].get<std::uint64_t>();
  const auto closed = http_request(a.port(), "DELETE", "/api/tool/connections/" + std::to_string(id));
  EXPECT_EQ(closed.status, 200) << closed.body;
  EXPECT_EQ(json::parse(closed.body)["node"], "b");
  EXPECT_FALSE(on_b1->read().has_value());
  EXPECT_EQ(on_b1->close_code(), 4001);
  EXPECT_EQ(http_request(a.port(), "DELETE", "/api/tool/connections/999999999").status, 404);

  // A message to one connection on another node reaches only it.
  const auto to_a = welcome_a["conn_id"].get<std::uint64_t>();
  const auto r = http_request(b.port(), "POST", "/api/tool/send_message",
                              "message=private&to_conn=" + std::to_string(to_a),
                              {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(next(*on_a)["message"], "private");
  const auto everyone = publish_ok(b.port(), "everyone");
  const auto ids = ids_until(*on_b2, everyone);
  EXPECT_EQ(ids, std::vector<std::uint64_t>{everyone});  // the private one did not reach it
}

TEST_F(cluster_test, channels_and_presence_cover_every_node) {
  auto& a = add_node("a");
  auto& b = add_node("b");
  json welcome_a, welcome_b;
  auto on_a = v1_client(a.port(), "?channel=news&user=ann", &welcome_a);
  auto on_b = v1_client(b.port(), "?channel=news&channel=sport&user=bob", &welcome_b);
  auto also_b = std::make_unique<ws_client>(b.port());  // the default channel, system
  json channels;
  ASSERT_TRUE(eventually([&] {
    channels = json::parse(http_request(a.port(), "GET", "/api/tool/channels").body);
    return channels["count"] == 3 && channels["channels"][0]["subscribers"] == 2;
  })) << channels.dump();
  EXPECT_EQ(channels["channels"], json::parse(R"([{"name":"news","subscribers":2},{"name":"sport","subscribers":1},
                                                  {"name":"system","subscribers":1}])"));
  const auto page = json::parse(http_request(b.port(), "GET", "/api/tool/channels?after=news&limit=1").body);
  EXPECT_EQ(page["channels"], json::parse(R"([{"name":"sport","subscribers":1}])")) << page.dump();

  json presence;
  ASSERT_TRUE(eventually([&] {
    presence = json::parse(http_request(b.port(), "GET", "/api/tool/channels/news/presence").body);
    return presence["count"] == 2;
  })) << presence.dump();
  EXPECT_EQ(presence["users"], json::parse(R"(["ann","bob"])"));
  std::map<std::string, std::string> node_of;
  for (const auto& c : presence["connections"]) node_of[c["user"]] = c["node"];
  EXPECT_EQ(node_of, (std::map<std::string, std::string>{{"ann", "a"}, {"bob", "b"}}));

  // A node that leaves takes its connections out of the lists.
  nodes.back()->stop();
  EXPECT_TRUE(eventually([&] {
    return json::parse(http_request(a.port(), "GET", "/api/tool/channels/news/presence").body)["users"] ==
           json::parse(R"(["ann"])");
  }));
}

// A watcher on one node hears the joins and leaves of sockets on another. The watch reaches the
// other node before a message published after it (the control stream is read first), so a
// marker message makes the test's order certain without waiting.
TEST_F(cluster_test, presence_frames_reach_watchers_on_every_node) {
  auto& a = add_node("a");
  auto& b = add_node("b");
  auto probe = std::make_unique<ws_client>(a.port());  // the default channel, system
  auto watcher = v1_client(b.port(), "?channel=news&channel=system&user=w");
  watcher->send_text(R"({"type":"subscribe","channel":"news","presence":true,"ref":1})");
  ASSERT_EQ(next(*watcher)["presence"], true);
  ids_until(*probe, publish_ok(b.port(), "after the watch"));
  // The watcher's next presence frame (message frames skipped).
  const auto presence = [&] {
    json f;
    do f = next(*watcher);
    while (f.value("type", "") == "message");
    return f;
  };
  const auto frame = [](const char* type, const json& id, const char* user) {
    return json{{"type", type}, {"channel", "news"}, {"conn_id", id}, {"user", user}};
  };

  json welcome;
  auto ann = v1_client(a.port(), "?channel=news&user=ann", &welcome);
  const auto ann_id = welcome["conn_id"];
  EXPECT_EQ(presence(), frame("join", ann_id, "ann"));
  auto carl = v1_client(a.port(), "?channel=sport&user=carl");  // another channel: no frame
  ann->close();
  EXPECT_EQ(presence(), frame("leave", ann_id, "ann"));
  auto bob = v1_client(b.port(), "?channel=news&user=bob", &welcome);  // on the watcher's node
  EXPECT_EQ(presence(), frame("join", welcome["conn_id"], "bob"));

  // Unwatched: a join on node a is not announced. Were it sent, it would come before the marker,
  // published through node a after the join.
  watcher->send_text(R"({"type":"unsubscribe","channel":"news","ref":2})");
  EXPECT_EQ(next(*watcher)["type"], "ack");
  ids_until(*probe, publish_ok(b.port(), "after the unwatch"));
  auto late = v1_client(a.port(), "?channel=news&user=late");
  const auto marker = publish_ok(a.port(), "marker");
  json f;
  do {
    f = next(*watcher);
    EXPECT_EQ(f.value("type", ""), "message") << "after the unwatch: " << f.dump();
  } while (f.value("id", std::uint64_t{0}) != marker);
}

TEST_F(cluster_test, metrics_count_the_live_nodes_and_see_one_leave) {
  auto& a = add_node("a");
  add_node("b");
  const auto nodes_line = [&](const std::string& want) {
    return eventually([&] {
      return http_request(a.port(), "GET", "/metrics").body.find("\nwshub_cluster_nodes " + want + "\n") != std::string::npos;
    });
  };
  EXPECT_TRUE(nodes_line("2"));
  EXPECT_NE(http_request(a.port(), "GET", "/metrics").body.find("\nwshub_redis_up 1\n"), std::string::npos);
  nodes.back()->stop();  // b leaves the cluster
  EXPECT_TRUE(nodes_line("1"));
}

TEST_F(cluster_test, redis_killed_and_restarted_mid_run_loses_no_acknowledged_message) {
  auto& a = add_node("a");
  auto& b = add_node("b");
  std::vector<std::unique_ptr<ws_client>> clients;
  for (auto* n : {&a, &b})
    for (int i = 0; i < 2; ++i) clients.push_back(std::make_unique<ws_client>(n->port()));

  std::mutex mutex;
  std::set<std::uint64_t> acked;
  std::atomic<int> refused{0};
  std::atomic<bool> outage_seen{false}, restarted{false}, done{false};
  // Two publishers, one per node, until Redis has been back a while (bounded in count).
  std::vector<std::thread> publishers;
  for (auto* n : {&a, &b})
    publishers.emplace_back([&, port = n->port()] {
      int after_restart = 0;
      for (int i = 0; i < 5000 && after_restart < 40 && !done; ++i) {
        const auto r = publish_form(port, "m" + std::to_string(i));
        if (r.status == 200) {
          std::lock_guard lock(mutex);
          acked.insert(json::parse(r.body)["id"].get<std::uint64_t>());
          if (restarted) ++after_restart;
        } else {
          EXPECT_EQ(r.status, 503) << r.body;
          ++refused;
          outage_seen = true;
        }
      }
    });
  auto acked_count = [&] {
    std::lock_guard lock(mutex);
    return acked.size();
  };
  EXPECT_TRUE(eventually([&] { return acked_count() >= 50; }, 30s));
  // A client that leaves before the outage and resumes on the other node after it.
  std::uint64_t resumer_last = 0;
  {
    auto resumer = v1_client(a.port());
    resumer_last = ids_until(*resumer, 0).back();
  }
  redis.kill_now();
  // Publishing must refuse while Redis is away, and the sockets must stay open.
  EXPECT_TRUE(eventually([&] { return outage_seen.load(); }));
  http_reply ready;
  EXPECT_TRUE(eventually([&] { return (ready = http_request(a.port(), "GET", "/readyz")).status == 503; }))
      << ready.body;
  redis.start();
  restarted = true;
  for (auto& t : publishers) t.join();
  done = true;
  EXPECT_GT(refused.load(), 0);
  const std::vector<std::uint64_t> expected(acked.begin(), acked.end());
  ASSERT_GT(expected.size(), 80u);
  const auto last = publish_ok(a.port(), "the end");
  std::vector<std::uint64_t> first_seen;
  for (auto& client : clients) {
    const auto ids = ids_until(*client, last);
    // Strictly increasing, every acknowledged id present, the same sequence on every socket (a
    // 503 whose message Redis had taken may still be delivered: at least once, never reordered).
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()) && std::adjacent_find(ids.begin(), ids.end()) == ids.end());
    EXPECT_TRUE(std::includes(ids.begin(), ids.end(), expected.begin(), expected.end()));
    if (first_seen.empty()) first_seen = ids;
    else EXPECT_EQ(ids, first_seen);
  }
  EXPECT_EQ(http_request(a.port(), "GET", "/readyz").status, 200);

  auto resumed = v1_client(b.port(), "?last_id=" + std::to_string(resumer_last));
  std::vector<std::uint64_t> ids;
  for (json f; (f = next(*resumed))["type"] != "resume";) ids.push_back(f["id"]);
  if (ids.empty() || ids.back() < last) {  // the replay ends where the log was when it started
    const auto rest = ids_until(*resumed, last);
    ids.insert(ids.end(), rest.begin(), rest.end());
  }
  const std::vector<std::uint64_t> missed(acked.upper_bound(resumer_last), acked.end());
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()) && std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  EXPECT_TRUE(std::includes(ids.begin(), ids.end(), missed.begin(), missed.end()));
  EXPECT_EQ(ids.back(), last);
}

TEST_F(cluster_test, a_node_started_while_redis_is_down_serves_sockets_refuses_publishes_then_recovers) {
  redis.kill_now();
  auto& a = add_node("a");
  auto client = std::make_unique<ws_client>(a.port());
  const auto refused = publish_form(a.port(), "too early");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(json::parse(refused.body)["message"].get<std::string>().find("Redis"), std::string::npos) << refused.body;
  redis.start();
  http_reply r;
  ASSERT_TRUE(eventually([&] { return (r = publish_form(a.port(), "on time")).status == 200; })) << r.body;
  const auto id = json::parse(r.body)["id"].get<std::uint64_t>();
  EXPECT_EQ(ids_until(*client, id).back(), id);
}

TEST_F(cluster_test, two_processes_with_one_node_id_are_reported) {
  const std::vector<std::string> args = {"--listen.port",      "0",     "--cache.type", "redis",
                                         "--cache.redis.port", std::to_string(redis.port()),
                                         "--cluster.node_id",  "twin"};
  temp_dir d1, d2;
  auto with_dir = [&](const temp_dir& d) {
    auto a = args;
    a.insert(a.end(), {"--data_dir", d.path().string()});
    return a;
  };
  server_process first(with_dir(d1));
  server_process second(with_dir(d2));
  const std::string report = "another process also uses node id 'twin'";
  // Each overwrites the other's entry every second: one of them sees it within a few seconds.
  EXPECT_TRUE(eventually([&] {
    return first.wait_for_output(report, 100ms) || second.wait_for_output(report, 100ms);
  }, 15s)) << first.output() << second.output();
}

// A Redis with a password, reached over its unix socket: the right password works, a wrong one
// is refused like an unreachable Redis (503, not ready) and says why in the log.
TEST(cluster_redis_settings, password_and_unix_socket) {
  redis_process redis({"--requirepass", "correct-horse-battery", "--unixsocket", "redis.sock", "--unixsocketperm", "700"});
  const auto socket = (redis.folder() / "redis.sock").string();
  auto node = [&](const temp_dir& d, const std::string& password) {
    auto cfg = test_config(d.path());
    cfg.cache.type = "redis";
    cfg.cache.redis.unix_socket = socket;
    cfg.cache.redis.password = password;
    cfg.cluster.node_id = "n-" + password;
    return std::make_unique<running_app>(cfg);
  };
  temp_dir d1, d2;
  auto good = node(d1, "correct-horse-battery");
  auto client = std::make_unique<ws_client>(good->port());
  http_reply r;
  ASSERT_TRUE(eventually([&] { return (r = publish_form(good->port(), "over the socket")).status == 200; })) << r.body;
  EXPECT_EQ(json::parse(*client->read())["message"], "over the socket");

  auto bad = node(d2, "wrong-password");
  const auto refused = publish_form(bad->port(), "refused");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(http_request(bad->port(), "GET", "/readyz").status, 503);
}

TEST(cluster_node_number, is_stable_nonzero_and_fits_20_bits) {
  EXPECT_EQ(cluster::node_number("node-1"), cluster::node_number("node-1"));
  EXPECT_NE(cluster::node_number("node-1"), cluster::node_number("node-2"));
  for (const auto* id : {"", "a", "node-1", "host.example.com:9999"}) {
    EXPECT_GE(cluster::node_number(id), 1u);
    EXPECT_LT(cluster::node_number(id), 1u << 20);
  }
}

}  // namespace
}  // namespace wshub::test
