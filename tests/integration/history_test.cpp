// History both ways (order=desc, before) and the cache of recent messages: pages and resumes the
// cache answers are exactly what SQLite answers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_clients.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;
using ids = std::vector<std::uint64_t>;

class history_test : public ::testing::Test {
 protected:
  void start(const std::function<void(app::config&)>& adjust = {}) {
    server.reset();
    auto cfg = test_config(dir.path());
    if (adjust) adjust(cfg);
    server = std::make_unique<running_app>(cfg);
  }
  std::uint16_t port() const { return server->port(); }
  json get(const std::string& target) {
    const auto r = http_request(port(), "GET", target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  }
  std::uint64_t publish(const json& body) {
    const auto r = http_request(port(), "POST", "/api/tool/send_message", body.dump(), {{"Content-Type", "application/json"}});
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body)["id"].get<std::uint64_t>();
  }
  // 25 messages on "hist", each followed by one on "other".
  ids publish_hist() {
    ids out;
    for (int i = 0; i < 25; ++i) {
      out.push_back(publish({{"message", "h" + std::to_string(i)}, {"channel", "hist"}}));
      publish({{"message", "noise"}, {"channel", "other"}});
    }
    return out;
  }
  static ids ids_of(const json& page) {
    ids out;
    for (const auto& m : page["messages"]) out.push_back(m["id"].get<std::uint64_t>());
    return out;
  }

  temp_dir dir;
  std::unique_ptr<running_app> server;
};

TEST_F(history_test, order_desc_shows_the_latest_and_pages_backwards) {
  start();
  const auto hist = publish_hist();
  auto page = get("/api/tool/messages?channel=hist&order=desc&limit=10");
  EXPECT_EQ(page["order"], "desc");
  EXPECT_EQ(ids_of(page), ids(hist.rbegin(), hist.rbegin() + 10));
  EXPECT_TRUE(page["has_more"].get<bool>());
  EXPECT_EQ(page["next_before"], hist[15]);
  EXPECT_EQ(page["next"], "/api/tool/messages?channel=hist&order=desc&before=" + std::to_string(hist[15]) + "&limit=10");
  ids seen = ids_of(page);
  for (int i = 0; i < 10 && page["has_more"].get<bool>(); ++i) {
    page = get(page["next"].get<std::string>());
    const auto more = ids_of(page);
    seen.insert(seen.end(), more.begin(), more.end());
  }
  EXPECT_EQ(seen, ids(hist.rbegin(), hist.rend()));
  EXPECT_FALSE(page["has_more"].get<bool>());
  EXPECT_TRUE(page["next"].is_null());
  EXPECT_EQ(page["next_before"], hist[0]);
}

TEST_F(history_test, before_and_after_bound_a_page_in_either_order) {
  start();
  const auto hist = publish_hist();
  const auto range = "&after=" + std::to_string(hist[2]) + "&before=" + std::to_string(hist[8]);
  auto page = get("/api/tool/messages?channel=hist" + range + "&limit=3");
  EXPECT_EQ(page["order"], "asc");
  EXPECT_EQ(ids_of(page), (ids{hist[3], hist[4], hist[5]}));
  EXPECT_EQ(page["next_after"], hist[5]);
  EXPECT_EQ(page["next"], "/api/tool/messages?channel=hist&after=" + std::to_string(hist[5]) +
                              "&before=" + std::to_string(hist[8]) + "&limit=3");
  page = get(page["next"].get<std::string>());
  EXPECT_EQ(ids_of(page), (ids{hist[6], hist[7]}));
  EXPECT_FALSE(page["has_more"].get<bool>());
  page = get("/api/tool/messages?channel=hist&order=desc&limit=3" + range);
  EXPECT_EQ(ids_of(page), (ids{hist[7], hist[6], hist[5]}));
  EXPECT_EQ(page["next"], "/api/tool/messages?channel=hist&order=desc&before=" + std::to_string(hist[5]) +
                              "&after=" + std::to_string(hist[2]) + "&limit=3");
  EXPECT_EQ(ids_of(get("/api/tool/messages?channel=hist&after=5&before=6")), ids{}) << "an empty range";
  EXPECT_EQ(ids_of(get("/api/tool/messages?channel=hist&before=0")), ids{});
  EXPECT_EQ(ids_of(get("/api/tool/messages?channel=hist&before=" + std::to_string(hist[0]))), ids{});
}

TEST_F(history_test, unknown_repeated_and_bad_parameters_are_400) {
  start();
  for (const char* query : {"?channel=hist&sort=desc", "?after=1&after=2", "?order=newest", "?order=desc&order=asc",
                            "?before=-1", "?before=9223372036854775808", "?reverse"}) {
    const auto r = http_request(port(), "GET", std::string("/api/tool/messages") + query);
    EXPECT_EQ(r.status, 400) << query;
    const auto body = json::parse(r.body, nullptr, false);
    EXPECT_EQ(body["code"], 10103) << query;
    EXPECT_TRUE(body["message"].is_string()) << query;
  }
}

// Everything a client can ask of the log, asked of a server whose cache holds only the newest 6
// messages per channel, then of the same data with no cache (SQLite answers all): the same
// answers. The ranges start below, at, and above the cache's oldest entry.
TEST_F(history_test, the_cache_answers_exactly_what_sqlite_answers) {
  auto configure = [](std::size_t per_channel) {
    return [per_channel](app::config& cfg) {
      cfg.cache.recent_per_channel = per_channel;
      cfg.websocket.max_resume_messages = 9;  // some resumes skip their oldest messages
    };
  };
  start(configure(6));
  std::uint64_t last = 0;
  for (int i = 0; i < 20; ++i) {
    publish({{"message", "n" + std::to_string(i)}, {"channel", "news"}});
    if (i % 3 == 0) publish({{"message", "both" + std::to_string(i)}, {"channels", {"news", "other"}}});
    if (i % 4 == 0) publish({{"message", "private"}, {"channel", "news"}, {"to_user", "alice"}});
    last = publish({{"message", "o" + std::to_string(i)}, {"channel", "other"}});
  }
  std::vector<std::string> targets;
  for (std::uint64_t id = 0; id <= last + 1; ++id) {
    const auto n = std::to_string(id);
    targets.push_back("/api/tool/messages?channel=news&limit=4&after=" + n);
    targets.push_back("/api/tool/messages?channel=news&order=desc&limit=4&before=" + n);
    targets.push_back("/api/tool/messages?channel=news&order=desc&limit=7&after=" + n);
  }
  targets.push_back("/api/tool/messages?channel=news&order=desc&limit=1000");
  targets.push_back("/api/tool/messages?channel=other&order=desc&limit=3");
  // Each resume's frames, welcome excepted, up to its resume frame.
  auto resume = [&](std::uint64_t id) {
    auto c = v1_client(port(), "?channel=news&channel=other&last_id=" + std::to_string(id));
    std::vector<std::string> frames;
    for (int i = 0; i < 100; ++i) {
      const auto f = c->read();
      if (!f) break;
      frames.push_back(*f);
      if (json::parse(*f)["type"] == "resume") break;
    }
    return frames;
  };
  auto answers = [&] {
    std::vector<std::string> out;
    for (const auto& t : targets) out.push_back(http_request(port(), "GET", t).body);
    for (std::uint64_t id = 0; id <= last + 1; id += 2) {
      for (auto& f : resume(id)) out.push_back(std::move(f));
      out.push_back("--");
    }
    return out;
  };
  const auto cached = answers();
  const auto stats = server->get().cache_stats();
  EXPECT_GT(stats.hits, 50u) << "the cache answered the newest ranges";
  EXPECT_GT(stats.misses, 50u) << "SQLite answered the older ones";
  EXPECT_LE(stats.frames, 12u);

  start(configure(0));
  const auto from_sqlite = answers();
  EXPECT_EQ(server->get().cache_stats().hits, 0u);
  ASSERT_EQ(cached.size(), from_sqlite.size());
  for (std::size_t i = 0; i < cached.size(); ++i) EXPECT_EQ(cached[i], from_sqlite[i]) << "answer " << i;
}

}  // namespace
}  // namespace wshub::test
