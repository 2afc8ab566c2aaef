// Who may read, target, connect from where, and for how long: authorized reads, targeting
// within channel rights, Host and Origin checks, token claims and expiry, CORS, plain sockets.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_clients.hpp"
#include "support/test_server.hpp"
#include "support/tokens.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;

const std::string backend_key = "backend-key-0123456789";  // any channel
const std::string ops_key = "ops-key-0123456789ab";        // channel ops only
const std::string billing_key = "billing-key-012345678";   // channel billing only
const std::string admin_key = "operator-key-0123456789";   // admin

void with_keys_and_tokens(app::config& cfg) {
  cfg.security.publish_keys = {
      {"backend", backend_key, {"*"}, false},
      {"ops-bot", ops_key, {"ops"}, false},
      {"billing-bot", billing_key, {"billing"}, false},
      {"operator", admin_key, {"*"}, true},
  };
  cfg.security.jwt_hs256_secret = jwt_secret;
  cfg.security.require_token = true;
}

class access_test : public ::testing::Test {
 protected:
  void start(const std::function<void(app::config&)>& adjust) {
    auto cfg = test_config(dir.path());
    adjust(cfg);
    server = std::make_unique<running_app>(cfg);
  }
  std::uint16_t port() const { return server->port(); }
  std::string self(const std::string& host = "127.0.0.1") const { return host + ":" + std::to_string(port()); }
  http_reply get(const std::string& target, const std::map<std::string, std::string>& headers = {}) {
    return http_request(port(), "GET", target, "", headers);
  }
  http_reply publish(const std::string& body, const std::map<std::string, std::string>& headers = {}) {
    auto h = headers;
    h["Content-Type"] = "application/x-www-form-urlencoded";
    return http_request(port(), "POST", "/api/tool/send_message", body, h);
  }
  static std::map<std::string, std::string> key(const std::string& k) { return {{"X-API-Key", k}}; }

  temp_dir dir;
  std::unique_ptr<running_app> server;
};

// Issue 13 item 6: with keys and require_token, history was readable by anyone.
TEST_F(access_test, history_needs_a_key_or_token_allowing_the_channel_when_security_is_configured) {
  start(with_keys_and_tokens);
  ASSERT_EQ(publish("message=secret&channel=ops", key(backend_key)).status, 200);
  const auto in_an_hour = now_s() + 3600;
  const auto ops_token = make_token({{"sub", "ann"}, {"exp", in_an_hour}, {"channels", {"ops"}}});
  const auto any_token = make_token({{"sub", "ann"}, {"exp", in_an_hour}});
  const auto billing_token = make_token({{"sub", "ann"}, {"exp", in_an_hour}, {"channels", {"billing"}}});
  const std::string ops = "/api/tool/messages?channel=ops";
  struct read_case {
    std::string name;
    std::string target;
    std::map<std::string, std::string> headers;
    int status;
  } cases[] = {
      {"nothing", ops, {}, 401},
      {"a wrong key", ops, key("not-a-key-0123456789"), 401},
      {"a key of another channel", ops, key(billing_key), 403},
      {"a key allowed on the channel", ops, key(ops_key), 200},
      {"a key for every channel", ops, {{"Authorization", "Bearer " + backend_key}}, 200},
      {"a token in the query", ops + "&token=" + ops_token, {}, 200},
      {"a token as bearer", ops, {{"Authorization", "Bearer " + ops_token}}, 200},
      {"a token without a channel limit", ops + "&token=" + any_token, {}, 200},
      {"a token of another channel", ops + "&token=" + billing_token, {}, 403},
      {"an expired token", ops + "&token=" + make_token({{"sub", "ann"}, {"exp", now_s() - 60}}), {}, 401},
      {"a forged token", ops + "&token=" + make_token({{"sub", "ann"}, {"exp", in_an_hour}}, "another-secret-of-enough-length-000"), {}, 401},
  };
  for (const auto& rc : cases) {
    const auto reply = get(rc.target, rc.headers);
    EXPECT_EQ(reply.status, rc.status) << rc.name << ": " << reply.body;
    const auto body = json::parse(reply.body);
    if (rc.status == 200) {
      ASSERT_EQ(body["messages"].size(), 1u) << rc.name;
      EXPECT_EQ(body["messages"][0]["message"], "secret");
    } else {
      EXPECT_EQ(body.value("code", 0), 10104) << rc.name;
      EXPECT_FALSE(body.contains("messages")) << rc.name;
    }
  }
}

TEST_F(access_test, history_stays_open_on_the_loopback_default) {
  start([](app::config&) {});
  ASSERT_EQ(publish("message=hello").status, 200);
  const auto reply = get("/api/tool/messages");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(json::parse(reply.body)["messages"].size(), 1u);
}

TEST_F(access_test, stats_and_metrics_need_an_admin_key_while_health_and_the_page_stay_public) {
  start(with_keys_and_tokens);
  for (const std::string path : {"/api/tool/stats", "/metrics"}) {
    EXPECT_EQ(get(path).status, 401) << path;
    EXPECT_EQ(get(path, key(backend_key)).status, 403) << path;
    EXPECT_EQ(get(path, key(admin_key)).status, 200) << path;
  }
  for (const std::string path : {"/healthz", "/readyz", "/", "/web/app.js"}) EXPECT_EQ(get(path).status, 200) << path;
}

TEST_F(access_test, public_metrics_opens_stats_and_metrics_only) {
  start([](app::config& cfg) {
    with_keys_and_tokens(cfg);
    cfg.security.public_metrics = true;
  });
  EXPECT_EQ(get("/api/tool/stats").status, 200);
  EXPECT_EQ(get("/metrics").status, 200);
  EXPECT_EQ(get("/api/tool/connections").status, 401);
  EXPECT_EQ(get("/api/tool/messages").status, 401);
}

// Issue 13 item 7: a key limited to ops reached a socket whose token allows only billing, and
// `recipients` told it whether the target was online.
TEST_F(access_test, targeted_messages_reach_only_sockets_allowed_on_their_channel) {
  start(with_keys_and_tokens);
  const auto token = make_token({{"sub", "bob"}, {"exp", now_s() + 3600}, {"channels", {"billing"}}});
  json welcome;
  auto bob = v1_client(port(), "?channel=billing&token=" + token, &welcome);
  const auto conn = std::to_string(welcome["conn_id"].get<std::uint64_t>());

  for (const auto& target : {std::string("to_user=bob"), "to_conn=" + conn}) {
    const auto reply = publish("message=from-ops&channel=ops&" + target, key(ops_key));
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_FALSE(json::parse(reply.body).contains("recipients")) << "a non-admin key learns who is online: " << reply.body;
  }
  // Admin keys still see recipients, and do not pass the socket's rights either.
  auto reply = publish("message=admin-on-ops&channel=ops&to_conn=" + conn, key(admin_key));
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(json::parse(reply.body)["recipients"], 0);
  reply = publish("message=allowed&channel=billing&to_user=bob", key(billing_key));
  ASSERT_EQ(reply.status, 200);
  EXPECT_FALSE(json::parse(reply.body).contains("recipients"));
  reply = publish("message=admin-on-billing&channel=billing&to_conn=" + conn, key(admin_key));
  EXPECT_EQ(json::parse(reply.body)["recipients"], 1);
  // Frames arrive in id order: the first two reaching bob are the allowed ones.
  EXPECT_EQ(next_json(*bob)["message"], "allowed");
  EXPECT_EQ(next_json(*bob)["message"], "admin-on-billing");
}

// Issue 13 item 8: a DNS-rebinding page (Host: evil.example) reached a loopback wshub.
TEST_F(access_test, a_loopback_listener_refuses_other_host_names) {
  start([](app::config&) {});
  const std::map<std::string, std::string> evil = {{"Host", "evil.example:" + std::to_string(port())},
                                                   {"Origin", "http://evil.example:" + std::to_string(port())}};
  EXPECT_EQ(get("/healthz", evil).status, 421);
  auto reply = publish("message=rebound", evil);
  EXPECT_EQ(reply.status, 421);
  EXPECT_EQ(json::parse(reply.body)["code"], 10212);
  EXPECT_EQ(get("/api/tool/messages", evil).status, 421);
  EXPECT_EQ(try_upgrade(port(), evil), 421);
  EXPECT_EQ(server->get().counters().published.load(), 0u);
  for (const auto& host : {self("localhost"), self("127.0.0.1"), self("127.0.0.9"), self("[::1]")})
    EXPECT_EQ(get("/healthz", {{"Host", host}}).status, 200) << host;
}

TEST_F(access_test, allowed_hosts_name_more_hosts) {
  start([](app::config& cfg) { cfg.http.allowed_hosts = {"wshub.example.com"}; });
  EXPECT_EQ(get("/healthz", {{"Host", "wshub.example.com"}}).status, 200);
  EXPECT_EQ(try_upgrade(port(), {{"Host", "wshub.example.com"}}), 101);
  EXPECT_EQ(get("/healthz", {{"Host", "evil.example"}}).status, 421);
}

// Issue 13 item 8 (scheme) and issue 16 (go-gin-api's page at http://localhost:9999 connects to
// ws://127.0.0.1:9999).
TEST_F(access_test, upgrade_origins_need_this_sites_scheme_and_loopback_names_are_one_site) {
  start([](app::config&) {});
  const auto p = std::to_string(port());
  struct origin_case {
    std::string origin;
    int status;
  } cases[] = {
      {"http://127.0.0.1:" + p, 101},
      {"http://localhost:" + p, 101},
      {"http://[::1]:" + p, 101},
      {"chrome-extension://127.0.0.1:" + p, 403},
      {"ftp://127.0.0.1:" + p, 403},
      {"https://127.0.0.1:" + p, 403},
      {"http://localhost:1", 403},
      {"http://evil.example:" + p, 403},
  };
  for (const auto& oc : cases) EXPECT_EQ(try_upgrade(port(), {{"Origin", oc.origin}}), oc.status) << oc.origin;
}

// Issue 13 item 8: with open publishing a cross-site HTML form could publish.
TEST_F(access_test, open_publishing_refuses_publishes_from_other_origins) {
  start([](app::config& cfg) { cfg.http.cors_origins = {"http://app.example"}; });
  const auto p = std::to_string(port());
  auto reply = publish("message=from-a-form", {{"Origin", "http://evil.example"}});
  EXPECT_EQ(reply.status, 403) << reply.body;
  EXPECT_EQ(json::parse(reply.body)["code"], 10104);
  EXPECT_EQ(publish("message=x", {{"Origin", "null"}}).status, 403);
  EXPECT_EQ(server->get().counters().published.load(), 0u);
  EXPECT_EQ(publish("message=no-origin").status, 200);
  EXPECT_EQ(publish("message=same-site", {{"Origin", "http://localhost:" + p}}).status, 200);
  EXPECT_EQ(publish("message=cors", {{"Origin", "http://app.example"}}).status, 200);
}

// Issue 13 item 9: exp -1 or 2^63 was accepted and never expired; crit was ignored.
TEST_F(access_test, tokens_with_out_of_range_claims_or_critical_extensions_are_refused) {
  start(with_keys_and_tokens);
  const auto later = now_s() + 3600;
  const json sub = {{"sub", "ann"}};
  auto claims = [&](json extra) {
    json c = sub;
    for (auto& [k, v] : extra.items()) c[k] = v;
    return c;
  };
  struct token_case {
    std::string name;
    std::string token;
    int status;
  } cases[] = {
      {"valid", make_token(claims({{"exp", later}, {"iat", now_s()}, {"nbf", now_s() - 5}})), 101},
      {"exp -1", make_token(claims({{"exp", -1}})), 401},
      {"exp 2^63", make_token(claims({{"exp", 9223372036854775808ull}})), 401},
      {"exp 2^64-1", make_token(claims({{"exp", 18446744073709551615ull}})), 401},
      {"exp past year 9999", make_token(claims({{"exp", 253402300800ll}})), 401},
      {"exp a fraction", make_token(claims({{"exp", static_cast<double>(later) + 0.5}})), 401},
      {"exp a string", make_token(claims({{"exp", std::to_string(later)}})), 401},
      {"nbf -1", make_token(claims({{"exp", later}, {"nbf", -1}})), 401},
      {"nbf in the future", make_token(claims({{"exp", later}, {"nbf", later - 60}})), 401},
      {"iat 2^63", make_token(claims({{"exp", later}, {"iat", 9223372036854775808ull}})), 401},
      {"crit", make_token(claims({{"exp", later}}), jwt_secret, "HS256",
                          {{"alg", "HS256"}, {"typ", "JWT"}, {"crit", {"x-wshub-test"}}, {"x-wshub-test", true}}), 401},
  };
  for (const auto& tc : cases)
    EXPECT_EQ(try_upgrade(port(), {}, "/socket/system/message?token=" + tc.token), tc.status) << tc.name;
}

// Issue 13 item 9: sockets outlived their token.
TEST_F(access_test, a_socket_is_closed_with_4003_when_its_token_expires) {
  start(with_keys_and_tokens);
  const auto token = make_token({{"sub", "ann"}, {"exp", now_s() + 2}});
  ws_client::options o;
  o.target = "/socket/system/message?token=" + token;
  ws_client plain(port(), o);
  auto v1 = v1_client(port(), "?token=" + token);
  for (auto* c : {&plain, v1.get()}) {
    EXPECT_EQ(c->read(), std::nullopt) << "a frame came instead of the close";
    EXPECT_EQ(c->close_code(), 4003);
    EXPECT_EQ(c->close_reason(), "token expired");
  }
}

TEST_F(access_test, a_socket_that_refreshes_its_token_stays_open) {
  start(with_keys_and_tokens);
  const auto soon = now_s() + 2;
  const auto token = make_token({{"sub", "ann"}, {"exp", soon}, {"channels", {"news", "ops"}}});
  auto kept = v1_client(port(), "?channel=news&token=" + token);
  auto expiring = v1_client(port(), "?channel=news&token=" + token);

  auto refresh = [&](const std::string& t, int ref) {
    kept->send_text(json{{"type", "refresh"}, {"token", t}, {"ref", ref}}.dump());
    return next_json(*kept);
  };
  auto answer = refresh(make_token({{"sub", "someone-else"}, {"exp", now_s() + 3600}}), 1);
  EXPECT_EQ(answer["type"], "error");
  EXPECT_EQ(answer["code"], 10104);
  answer = refresh(make_token({{"sub", "ann"}, {"exp", now_s() + 3600}, {"channels", {"ops"}}}), 2);
  EXPECT_EQ(answer["type"], "error") << "the new token must allow the socket's channel news";
  answer = refresh("not.a.jwt", 3);
  EXPECT_EQ(answer["type"], "error");
  const auto later = now_s() + 3600;
  answer = refresh(make_token({{"sub", "ann"}, {"exp", later}, {"channels", {"news"}}}), 4);
  EXPECT_EQ(answer["type"], "ack") << answer;
  EXPECT_EQ(answer["command"], "refresh");
  EXPECT_EQ(answer["ref"], 4);
  EXPECT_EQ(answer["exp"], later);

  // The other socket's close proves the old expiry has passed on the server.
  EXPECT_EQ(expiring->read(), std::nullopt);
  EXPECT_EQ(expiring->close_code(), 4003);
  kept->send_text(R"({"type":"ping","ref":5})");
  const auto pong = next_json(*kept);
  EXPECT_EQ(pong["type"], "pong");
  // The refreshed token's channels now limit the socket: ops is no longer allowed.
  kept->send_text(R"({"type":"subscribe","channel":"ops","ref":6})");
  EXPECT_EQ(next_json(*kept)["code"], 10104);
}

// Issue 16: go-gin-api's page connects without a subprotocol and sends text; docs/API.md says
// plain sockets get only message frames, but commands were answered.
TEST_F(access_test, plain_sockets_get_only_message_frames) {
  start([](app::config&) {});
  ws_client::options o;
  o.headers["Origin"] = "http://localhost:" + std::to_string(port());  // the page at localhost, the socket at 127.0.0.1
  ws_client page(port(), o);
  page.send_text("hello from the page");
  page.send_text(R"({"type":"ping","ref":1})");
  page.send_text(R"({"type":"subscribe","channel":"news","ref":2})");
  page.send_text(R"({"type":"nonsense"})");
  page.send_text(R"([1,2)");
  ASSERT_EQ(publish_form(port(), "on system").status, 200);
  const auto frame = next_json(page);
  EXPECT_EQ(frame["message"], "on system") << frame;
  EXPECT_FALSE(frame.contains("type"));
  for (const auto* field : {"id", "channel", "username", "message", "time", "ts"}) EXPECT_TRUE(frame.contains(field)) << field;
  ASSERT_EQ(publish_form(port(), "on news", "news").status, 200);  // queued before the 200 if the subscribe had worked
  // The server reads a socket's frames in order: a binary frame closes it (1003) after every
  // answer to the text frames before it would have been queued.
  page.send_binary("end");
  EXPECT_EQ(page.read(), std::nullopt);
  EXPECT_EQ(page.close_code(), 1003);
}

// Issue 16: CORS for pages on other origins (http.cors_origins).
TEST_F(access_test, cors_origins_get_preflight_answers_and_allow_origin) {
  start([](app::config& cfg) { cfg.http.cors_origins = {"http://app.example"}; });
  auto preflight = http_request(port(), "OPTIONS", "/api/tool/send_message", "",
                                {{"Origin", "http://app.example"}, {"Access-Control-Request-Method", "POST"},
                                 {"Access-Control-Request-Headers", "content-type, x-api-key"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.headers["access-control-allow-origin"], "http://app.example");
  EXPECT_NE(preflight.headers["access-control-allow-methods"].find("POST"), std::string::npos);
  EXPECT_EQ(preflight.headers["access-control-allow-headers"], "Content-Type, Authorization, X-API-Key");
  EXPECT_FALSE(preflight.headers["access-control-max-age"].empty());
  EXPECT_EQ(preflight.headers["vary"], "Origin");

  auto reply = publish("message=hi", {{"Origin", "http://app.example"}});
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["access-control-allow-origin"], "http://app.example");
  EXPECT_EQ(reply.headers["vary"], "Origin");
  reply = get("/api/tool/messages", {{"Origin", "http://other.example"}});
  EXPECT_FALSE(reply.headers.contains("access-control-allow-origin"));
  EXPECT_EQ(reply.headers["vary"], "Origin");
  EXPECT_EQ(http_request(port(), "OPTIONS", "/api/tool/send_message", "", {{"Origin", "http://other.example"}}).status, 405);
}

}  // namespace
}  // namespace wshub::test
