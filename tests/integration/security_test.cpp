// Publish keys, connection tokens, limits and hostile paths, against the real server.
#include <gtest/gtest.h>

#include <boost/system/system_error.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/test_clients.hpp"
#include "support/test_server.hpp"
#include "support/tokens.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;

class security_test : public ::testing::Test {
 protected:
  void start(const std::function<void(app::config&)>& adjust) {
    auto cfg = test_config(dir.path());
    adjust(cfg);
    server = std::make_unique<running_app>(cfg);
  }
  std::uint16_t port() const { return server->port(); }
  http_reply publish_with(const std::map<std::string, std::string>& headers, const std::string& body) {
    auto h = headers;
    h["Content-Type"] = "application/x-www-form-urlencoded";
    return http_request(port(), "POST", "/api/tool/send_message", body, h);
  }

  temp_dir dir;
  std::unique_ptr<running_app> server;
};

void with_keys(app::config& cfg) {
  cfg.security.publish_keys = {
      {"backend", "backend-key-0123456789", {"*"}, false},
      {"news-bot", "news-key-0123456789ab", {"news"}, false},
      {"operator", "operator-key-0123456789", {"*"}, true},
  };
}

TEST_F(security_test, publishing_needs_a_key_allowed_on_the_channel) {
  start(with_keys);
  struct key_case {
    std::string name;
    std::map<std::string, std::string> headers;
    std::string body;
    int status;
  } cases[] = {
      {"no key", {}, "message=hi", 401},
      {"wrong key", {{"X-API-Key", "not-a-key-at-all-000"}}, "message=hi", 401},
      {"prefix of a key", {{"X-API-Key", "backend-key-012345678"}}, "message=hi", 401},
      {"bearer, any channel", {{"Authorization", "Bearer backend-key-0123456789"}}, "message=hi&channel=sport", 200},
      {"x-api-key", {{"X-API-Key", "backend-key-0123456789"}}, "message=hi", 200},
      {"channel not allowed", {{"X-API-Key", "news-key-0123456789ab"}}, "message=hi&channel=sport", 403},
      {"one of several not allowed", {{"X-API-Key", "news-key-0123456789ab"}}, "message=hi&channels=news,sport", 403},
      {"allowed channel", {{"X-API-Key", "news-key-0123456789ab"}}, "message=hi&channel=news", 200},
  };
  for (const auto& kc : cases) {
    const auto reply = publish_with(kc.headers, kc.body);
    EXPECT_EQ(reply.status, kc.status) << kc.name << ": " << reply.body;
    if (kc.status != 200) {
      EXPECT_EQ(json::parse(reply.body)["code"], 10104) << kc.name;
    }
    if (kc.status == 401) {
      EXPECT_TRUE(reply.headers.contains("www-authenticate")) << kc.name;
    }
  }
  EXPECT_EQ(server->get().counters().published.load(), 3u) << "a refused publish was stored";
}

TEST_F(security_test, every_refusal_is_counted_by_reason_in_metrics_and_stats) {
  start([](app::config& cfg) {
    with_keys(cfg);
    cfg.publish.max_message_bytes = 100;
    cfg.http.header_limit = 2048;
    cfg.security.publish_rate_per_key = 0.001;  // one publish, then 429 for a long while
    cfg.security.publish_burst = 1;
  });
  const std::map<std::string, std::string> backend{{"X-API-Key", "backend-key-0123456789"}};
  EXPECT_EQ(publish_with({}, "message=hi").status, 401);
  EXPECT_EQ(publish_with({{"X-API-Key", "news-key-0123456789ab"}}, "message=hi&channel=sport").status, 403);
  EXPECT_EQ(http_request(port(), "GET", "/api/tool/connections", "", backend).status, 403);
  EXPECT_EQ(publish_with({{"X-API-Key", "news-key-0123456789ab"}}, "message=" + std::string(200, 'x') + "&channel=news").status, 413);
  EXPECT_EQ(publish_with(backend, "message=first").status, 200);
  EXPECT_EQ(publish_with(backend, "message=second").status, 429);
  EXPECT_EQ(http_request(port(), "GET", "/healthz", "", {{"X-Padding", std::string(4096, 'p')}}).status, 431);
  EXPECT_EQ(http_request(port(), "GET", "/metrics").status, 401);  // outside /api/ as well
  EXPECT_EQ(http_request(port(), "GET", "/metrics", "", backend).status, 403);

  const std::map<std::string, int> expected{{"unauthorized", 2}, {"forbidden", 3}, {"too_large", 1},
                                            {"rate_limited", 1},  {"headers_too_large", 1}, {"origin", 0}};
  const std::map<std::string, std::string> admin{{"X-API-Key", "operator-key-0123456789"}};
  const auto metrics = http_request(port(), "GET", "/metrics", "", admin).body;
  const auto stats = json::parse(http_request(port(), "GET", "/api/tool/stats", "", admin).body);
  for (const auto& [reason, count] : expected) {
    const auto line = "wshub_refusals_total{reason=\"" + reason + "\"} " + std::to_string(count) + "\n";
    EXPECT_NE(metrics.find(line), std::string::npos) << line << metrics;
    EXPECT_EQ(stats["refusals"][reason], count) << reason << ": " << stats.dump();
  }
}

TEST_F(security_test, the_key_name_becomes_the_username) {
  start(with_keys);
  ws_client c(port());
  ASSERT_EQ(publish_with({{"X-API-Key", "backend-key-0123456789"}}, "message=signed").status, 200);
  const auto frame = json::parse(*c.read());
  EXPECT_EQ(frame["username"], "backend");
}

TEST_F(security_test, the_connections_api_needs_an_admin_key) {
  start(with_keys);
  EXPECT_EQ(http_request(port(), "GET", "/api/tool/connections").status, 401);
  EXPECT_EQ(http_request(port(), "GET", "/api/tool/connections", "", {{"X-API-Key", "backend-key-0123456789"}}).status, 403);
  EXPECT_EQ(http_request(port(), "GET", "/api/tool/connections", "", {{"X-API-Key", "operator-key-0123456789"}}).status, 200);
  EXPECT_EQ(http_request(port(), "DELETE", "/api/tool/connections/1").status, 401);
}

TEST_F(security_test, a_non_loopback_address_without_keys_refuses_to_start) {
  std::string errors;
  EXPECT_EQ(run_binary({"--listen.address", "0.0.0.0", "--data-dir", dir.path().string()}, &errors), 2);
  EXPECT_NE(errors.find("security.publish_keys"), std::string::npos) << errors;
}

TEST_F(security_test, connection_tokens_are_checked_at_the_handshake) {
  start([](app::config& cfg) {
    cfg.security.jwt_hs256_secret = jwt_secret;
    cfg.security.require_token = true;
  });
  const auto in_an_hour = now_s() + 3600;
  const auto good = make_token({{"sub", "ann"}, {"exp", in_an_hour}});
  const auto news_only = make_token({{"sub", "bob"}, {"exp", in_an_hour}, {"channels", {"news"}}});
  struct token_case {
    std::string name;
    std::string target;
    int status;
  } cases[] = {
      {"no token", "/socket/system/message", 401},
      {"valid", "/socket/system/message?token=" + good, 101},
      {"expired", "/socket/system/message?token=" + make_token({{"sub", "ann"}, {"exp", now_s() - 60}}), 401},
      {"no expiry", "/socket/system/message?token=" + make_token({{"sub", "ann"}}), 401},
      {"no subject", "/socket/system/message?token=" + make_token({{"exp", in_an_hour}}), 401},
      {"forged", "/socket/system/message?token=" + make_token({{"sub", "ann"}, {"exp", in_an_hour}}, "another-secret-of-enough-length-000"), 401},
      {"alg none", "/socket/system/message?token=" + make_token({{"sub", "ann"}, {"exp", in_an_hour}}, "", "none"), 401},
      {"garbage", "/socket/system/message?token=not.a.jwt", 401},
      {"allowed channel", "/socket/system/message?channel=news&token=" + news_only, 101},
      {"channel outside the token", "/socket/system/message?channel=sport&token=" + news_only, 403},
      {"default channel outside the token", "/socket/system/message?token=" + news_only, 403},
  };
  for (const auto& tc : cases) EXPECT_EQ(try_upgrade(port(), {}, tc.target), tc.status) << tc.name;
}

TEST_F(security_test, a_token_gives_the_user_and_limits_subscriptions) {
  start([](app::config& cfg) { cfg.security.jwt_hs256_secret = jwt_secret; });
  const auto token = make_token({{"sub", "carol"}, {"exp", now_s() + 600}, {"channels", {"news", "alerts"}}});
  ws_client::options o;
  o.target = "/socket/system/message?channel=news";
  o.headers["Sec-WebSocket-Protocol"] = "wshub.v1, bearer." + token;  // the browser way
  ws_client c(port(), o);
  EXPECT_EQ(c.subprotocol(), "wshub.v1") << "the token must not be echoed";
  EXPECT_EQ(json::parse(*c.read())["type"], "welcome");
  c.send_text(R"({"type":"subscribe","channel":"sport","ref":1})");
  auto reply = json::parse(*c.read());
  EXPECT_EQ(reply["type"], "error");
  EXPECT_EQ(reply["code"], 10104);
  c.send_text(R"({"type":"subscribe","channel":"alerts","ref":2})");
  EXPECT_EQ(json::parse(*c.read())["type"], "ack");
  // Targeted delivery by the token's user, on a channel the token allows.
  ASSERT_EQ(publish_with({}, "message=for+carol&to_user=carol&channel=news").status, 200);
  EXPECT_EQ(json::parse(*c.read())["message"], "for carol");
}

TEST_F(security_test, a_fast_publisher_gets_429_and_recovers) {
  start([](app::config& cfg) {
    // One token a second: the burst of 3 is spent long before a token comes back, however slow
    // the build (a sanitizer) or the machine, so exactly 3 are accepted.
    cfg.security.publish_rate_per_ip = 1;
    cfg.security.publish_burst = 3;
  });
  int accepted = 0;
  http_reply refused;
  for (int i = 0; i < 10 && refused.status == 0; ++i) {
    auto reply = publish_with({}, "message=burst");
    if (reply.status == 200) ++accepted;
    else refused = reply;
  }
  EXPECT_EQ(accepted, 3);
  ASSERT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(json::parse(refused.body)["code"], 10102);
  EXPECT_EQ(refused.headers["retry-after"], "1");
  // A token comes back within a second: a retry then succeeds. The loop waits for the rate
  // limit's clock, bounded in count (3 s).
  bool recovered = false;
  for (int i = 0; i < 60 && !recovered; ++i) {
    recovered = publish_with({}, "message=later").status == 200;
    if (!recovered) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(recovered);
}

TEST_F(security_test, connections_per_address_are_limited_while_others_still_connect) {
  start([](app::config& cfg) { cfg.http.max_connections_per_ip = 2; });
  ws_client a(port()), b(port());
  EXPECT_EQ(try_upgrade(port(), {}), 429);
  ws_client::options other;
  other.source_address = "127.0.0.2";
  EXPECT_NO_THROW(ws_client(port(), other));
  EXPECT_GE(server->get().counters().refusal_count(hub::refusal_reason::connection_limit), 1u);
}

TEST_F(security_test, static_paths_cannot_leave_their_folder) {
  start([](app::config&) {});
  for (const std::string target : {"/web/../../etc/passwd", "/web/%2e%2e/%2e%2e/etc/passwd", "/web/..%2Fwshub.db",
                                   "/web/.hidden", "/web//etc/passwd", "/web/index.html/.."})
    EXPECT_EQ(http_request(port(), "GET", target).status, 404) << target;
  EXPECT_EQ(http_request(port(), "GET", "/web/app.js").status, 200);
}

}  // namespace
}  // namespace wshub::test
