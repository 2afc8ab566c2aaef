#include "wshub/http/router.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/beast/http/field.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "temp_dir.hpp"
#include "wshub/cache/memory_cache.hpp"
#include "wshub/store/message_log.hpp"

namespace {

using namespace std::chrono_literals;
namespace http = wshub::http;
namespace bhttp = boost::beast::http;
using json = nlohmann::json;

constexpr std::size_t max_message_bytes = 32;
constexpr std::string_view urlencoded = "application/x-www-form-urlencoded";

class recording_subscriber : public wshub::hub::subscriber {
 public:
  bool deliver(const wshub::hub::frame_ptr& f) override {
    std::lock_guard lock(mutex_);
    frames_.push_back(f);
    return true;
  }
  void close(std::uint16_t, const std::string&) override {}
  std::size_t queued_bytes() const override { return 0; }
  std::vector<wshub::hub::frame_ptr> frames() const {
    std::lock_guard lock(mutex_);
    return frames_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<wshub::hub::frame_ptr> frames_;
};

http::request make_request(bhttp::verb method, std::string_view target, std::string_view content_type = {},
                           std::string body = {}) {
  http::request req{method, target, 11};
  req.set(bhttp::field::host, "localhost:9999");
  if (!content_type.empty()) req.set(bhttp::field::content_type, content_type);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

// A JSON error with the given status and code: {"code": <number>, "message": <string>}.
void expect_json_error(const http::response& res, http::status status, int code) {
  EXPECT_EQ(res.result(), status);
  EXPECT_TRUE(res[bhttp::field::content_type].starts_with("application/json"));
  const auto body = json::parse(res.body(), nullptr, false);
  ASSERT_TRUE(body.is_object()) << res.body();
  ASSERT_TRUE(body.contains("code") && body["code"].is_number_integer()) << res.body();
  EXPECT_EQ(body["code"].get<int>(), code);
  ASSERT_TRUE(body.contains("message") && body["message"].is_string()) << res.body();
  EXPECT_FALSE(body["message"].get<std::string>().empty());
}

wshub::store::log_settings log_settings_in(const wshub::unit::temp_dir& dir) {
  wshub::store::log_settings s;
  s.path = dir.file("messages.db");
  s.synchronous_full = false;
  return s;
}

class router_fixture : public ::testing::Test {
 protected:
  ~router_fixture() override { log_->stop(); }  // no handler may run once members go away

  // Handles `req` and waits for the answer (send_message answers from the writer thread).
  http::response call(const http::request& req) {
    auto answer = std::make_shared<std::promise<http::response>>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto future = answer->get_future();
    router_.handle(req, [answer, calls](http::response res) {
      if (calls->fetch_add(1) == 0) answer->set_value(std::move(res));
    });
    if (future.wait_for(10s) != std::future_status::ready) {
      ADD_FAILURE() << "no response for " << req.target();
      return {};
    }
    auto res = future.get();
    EXPECT_EQ(calls->load(), 1);
    return res;
  }

  http::response post_form(std::string body, std::string_view target = "/api/tool/send_message") {
    return call(make_request(bhttp::verb::post, target, urlencoded, std::move(body)));
  }

  recording_subscriber subscriber_;  // first: outlives the hub that points to it
  wshub::unit::temp_dir dir_;
  wshub::hub::counters counters_;
  wshub::hub::hub hub_;  // one registry, whose jobs run inline
  wshub::cache::memory_cache cache_{{100}, 0};
  std::unique_ptr<wshub::store::message_log> log_ =
      std::make_unique<wshub::store::message_log>(log_settings_in(dir_));
  wshub::publish::publisher publisher_{*log_, cache_, hub_, counters_};
  http::static_files files_{""};
  http::live_access access_{std::make_shared<const http::access_rules>()};
  http::router router_{http::router_services{
      publisher_, hub_, counters_, *log_, files_, std::make_shared<spdlog::logger>("router_test"),
      [](std::function<void()> job) { job(); },  // blocking work runs inline in these tests
      http::router_settings{max_message_bytes, "system", "system", 64}, &access_}};
};

TEST_F(router_fixture, unknown_path_is_404) {
  expect_json_error(call(make_request(bhttp::verb::get, "/nope")), http::status::not_found, http::codes::not_found);
}

TEST_F(router_fixture, get_on_send_message_is_405_allowing_post) {
  const auto res = call(make_request(bhttp::verb::get, "/api/tool/send_message?message=x"));
  expect_json_error(res, http::status::method_not_allowed, http::codes::method_not_allowed);
  EXPECT_EQ(res[bhttp::field::allow], "POST");
  EXPECT_EQ(log_->last_id(), 0u);
}

TEST_F(router_fixture, post_on_healthz_is_405_allowing_get) {
  const auto res = call(make_request(bhttp::verb::post, "/healthz"));
  expect_json_error(res, http::status::method_not_allowed, http::codes::method_not_allowed);
  EXPECT_NE(res[bhttp::field::allow].find("GET"), std::string_view::npos);
}

TEST_F(router_fixture, healthz_is_ok) {
  const auto res = call(make_request(bhttp::verb::get, "/healthz"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(json::parse(res.body())["status"], "ok");
}

TEST_F(router_fixture, plain_get_on_socket_path_is_426) {
  const auto res = call(make_request(bhttp::verb::get, http::websocket_path));
  expect_json_error(res, http::status::upgrade_required, http::codes::upgrade_required);
  EXPECT_EQ(res[bhttp::field::upgrade], "websocket");
}

TEST_F(router_fixture, send_message_form_is_stored) {
  const auto res = post_form("message=hello+world");
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  const auto body = json::parse(res.body());
  EXPECT_EQ(body["status"], "OK");
  EXPECT_EQ(body["id"], 1);
  EXPECT_EQ(body["recipients"], 0);
  const auto stored = log_->read_after({"system"}, 0, 10);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].body, "hello world");
  EXPECT_EQ(stored[0].username, "system");
}

TEST_F(router_fixture, send_message_json_is_stored) {
  const auto res = call(make_request(bhttp::verb::post, "/api/tool/send_message", "application/json",
                                     R"({"message": "hi", "channel": "news"})"));
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(json::parse(res.body())["status"], "OK");
  ASSERT_EQ(log_->read_after({"news"}, 0, 10).size(), 1u);
}

TEST_F(router_fixture, send_message_reaches_a_subscriber) {
  hub_.shard(0).join(subscriber_, {"system"}, wshub::hub::member_info{});
  const auto res = post_form("message=%3Cb%3E+%22hi%22");
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  const auto answer = json::parse(res.body());
  EXPECT_EQ(answer["recipients"], 1);

  const auto frames = subscriber_.frames();
  ASSERT_EQ(frames.size(), 1u);
  const auto frame = json::parse(frames[0]->text());
  EXPECT_EQ(frame["id"], answer["id"]);
  EXPECT_EQ(frame["channel"], "system");
  EXPECT_EQ(frame["username"], "system");
  EXPECT_EQ(frame["message"], "<b> \"hi\"");
  EXPECT_TRUE(frame["time"].is_string());
  EXPECT_TRUE(frame["ts"].is_number_integer());
  EXPECT_EQ(frame.size(), 6u);
}

TEST_F(router_fixture, send_message_to_several_channels_reaches_a_subscriber_once) {
  hub_.shard(0).join(subscriber_, {"news", "sports"}, wshub::hub::member_info{});
  const auto res = post_form("message=hi&channels=news,sports");
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(json::parse(res.body())["recipients"], 1);
  const auto frames = subscriber_.frames();
  ASSERT_EQ(frames.size(), 1u);
  const auto frame = json::parse(frames[0]->text());
  EXPECT_EQ(frame["channel"], "news");
  EXPECT_EQ(frame["channels"], json::array({"news", "sports"}));
}

TEST_F(router_fixture, send_message_to_a_connection_reaches_only_it) {
  recording_subscriber other;
  const auto id = hub_.shard(0).join(subscriber_, {}, wshub::hub::member_info{});
  const auto other_id = hub_.shard(0).join(other, {"system"}, wshub::hub::member_info{});
  const auto res = post_form("message=psst&to_conn=" + std::to_string(id));
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(json::parse(res.body())["recipients"], 1);
  EXPECT_EQ(subscriber_.frames().size(), 1u);
  EXPECT_TRUE(other.frames().empty());
  EXPECT_TRUE(log_->read_after({"system"}, 0, 10).empty());  // private: not in the history
  hub_.shard(0).leave(other_id);
}

TEST_F(router_fixture, malformed_targets_are_400) {
  for (const auto* form : {"message=m&to_conn=abc", "message=m&to_conn=0", "message=m&to_conn=1&to_user=bob",
                           "message=m&to_user="})
    expect_json_error(post_form(form), http::status::bad_request, http::codes::bad_parameter);
  EXPECT_EQ(log_->last_id(), 0u);
}

TEST_F(router_fixture, too_many_channels_is_400) {
  std::string channels;
  for (int i = 0; i <= 64; ++i) channels += (i ? "," : "") + std::string("c") + std::to_string(i);
  expect_json_error(post_form("message=m&channels=" + channels), http::status::bad_request,
                    http::codes::bad_parameter);
  EXPECT_EQ(log_->last_id(), 0u);
}

TEST_F(router_fixture, empty_message_is_400) {
  expect_json_error(post_form("message="), http::status::bad_request, http::codes::bad_parameter);
  expect_json_error(post_form("channel=system"), http::status::bad_request, http::codes::bad_parameter);
  EXPECT_EQ(log_->last_id(), 0u);
}

TEST_F(router_fixture, message_over_the_limit_is_413) {
  expect_json_error(post_form("message=" + std::string(max_message_bytes + 1, 'x')), http::status::payload_too_large,
                    http::codes::payload_too_large);
  EXPECT_EQ(post_form("message=" + std::string(max_message_bytes, 'x')).result(), http::status::ok);
}

TEST_F(router_fixture, invalid_channel_is_400) {
  expect_json_error(post_form("message=hi&channel=no+spaces"), http::status::bad_request,
                    http::codes::bad_parameter);
  EXPECT_EQ(log_->last_id(), 0u);
}

TEST_F(router_fixture, invalid_utf8_is_400) {
  const auto res = post_form("message=%C3%28");
  expect_json_error(res, http::status::bad_request, http::codes::bad_parameter);
  EXPECT_NE(res.body().find("UTF-8"), std::string::npos);
  EXPECT_EQ(log_->last_id(), 0u);
}

TEST_F(router_fixture, unsupported_content_type_is_415) {
  expect_json_error(call(make_request(bhttp::verb::post, "/api/tool/send_message", "text/plain", "hello")),
                    http::status::unsupported_media_type, http::codes::unsupported_media);
}

TEST_F(router_fixture, query_string_message_is_accepted) {
  // The query is a view into the request target, which is not NUL-terminated: see
  // publish_form.bytes_past_the_end_of_the_views_are_not_read.
  const auto res = call(make_request(bhttp::verb::post, "/api/tool/send_message?message=from+query"));
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(log_->read_after({"system"}, 0, 1).at(0).body, "from query");
}

TEST_F(router_fixture, index_page_is_served_with_an_etag) {
  const auto index = files_.find("index.html");
  ASSERT_TRUE(index);
  for (const auto* target : {"/", "/tool/websocket"}) {
    const auto res = call(make_request(bhttp::verb::get, target));
    EXPECT_EQ(res.result(), http::status::ok) << target;
    EXPECT_TRUE(res[bhttp::field::content_type].starts_with("text/html")) << target;
    EXPECT_EQ(res[bhttp::field::etag], index->etag) << target;
    EXPECT_FALSE(res[bhttp::field::etag].empty()) << target;
    EXPECT_EQ(res.body(), index->content) << target;
  }
}

TEST_F(router_fixture, matching_if_none_match_is_304) {
  const auto etag = std::string(call(make_request(bhttp::verb::get, "/"))[bhttp::field::etag]);
  ASSERT_FALSE(etag.empty());
  auto req = make_request(bhttp::verb::get, "/");
  req.set(bhttp::field::if_none_match, etag);
  const auto res = call(req);
  EXPECT_EQ(res.result(), http::status::not_modified);
  EXPECT_TRUE(res.body().empty());
  EXPECT_EQ(res[bhttp::field::etag], etag);
}

TEST_F(router_fixture, stale_if_none_match_gets_the_file) {
  auto req = make_request(bhttp::verb::get, "/");
  req.set(bhttp::field::if_none_match, "\"stale\"");
  EXPECT_EQ(call(req).result(), http::status::ok);
}

TEST_F(router_fixture, if_none_match_list_containing_the_etag_is_304) {
  // RFC 9110 13.1.2: If-None-Match is a list of entity tags compared weakly.
  const auto etag = std::string(call(make_request(bhttp::verb::get, "/"))[bhttp::field::etag]);
  auto req = make_request(bhttp::verb::get, "/");
  req.set(bhttp::field::if_none_match, "\"other\", " + etag);
  EXPECT_EQ(call(req).result(), http::status::not_modified);
  req.set(bhttp::field::if_none_match, "W/" + etag);
  EXPECT_EQ(call(req).result(), http::status::not_modified);
}

TEST_F(router_fixture, head_gives_headers_without_body) {
  const auto get = call(make_request(bhttp::verb::get, "/web/app.js"));
  ASSERT_EQ(get.result(), http::status::ok);
  const auto head = call(make_request(bhttp::verb::head, "/web/app.js"));
  EXPECT_EQ(head.result(), http::status::ok);
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(head[bhttp::field::content_length], std::to_string(get.body().size()));
  EXPECT_EQ(head[bhttp::field::content_type], get[bhttp::field::content_type]);
  EXPECT_EQ(head[bhttp::field::etag], get[bhttp::field::etag]);
}

TEST_F(router_fixture, head_on_json_endpoints_has_no_body) {
  // RFC 9110 9.3.2: a response to HEAD carries no content. The session writes what it is given.
  for (const auto* target : {"/healthz", "/api/tool/stats"}) {
    const auto res = call(make_request(bhttp::verb::head, target));
    EXPECT_EQ(res.result(), http::status::ok) << target;
    EXPECT_TRUE(res.body().empty()) << target;
  }
}

TEST_F(router_fixture, web_files_are_served) {
  const auto res = call(make_request(bhttp::verb::get, "/web/style.css"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_TRUE(res[bhttp::field::content_type].starts_with("text/css"));
}

TEST_F(router_fixture, unsafe_web_paths_are_404) {
  for (const auto* target : {"/web/../x", "/web/.hidden", "/web/app.js/..", "/web/", "/web/%2e%2e/x",
                             "/web/..%2fx", "/web/missing.js"})
    expect_json_error(call(make_request(bhttp::verb::get, target)), http::status::not_found, http::codes::not_found);
}

TEST_F(router_fixture, send_message_after_the_log_stopped_is_503) {
  log_->stop();
  expect_json_error(post_form("message=late"), http::status::service_unavailable, http::codes::server_error);
  EXPECT_EQ(counters_.publish_failures.load(), 1u);
}

TEST_F(router_fixture, every_error_body_is_json_with_code_and_message) {
  const http::request requests[] = {
      make_request(bhttp::verb::get, "/nope"),
      make_request(bhttp::verb::get, "/api/tool/send_message"),
      make_request(bhttp::verb::delete_, "/"),
      make_request(bhttp::verb::get, http::websocket_path),
      make_request(bhttp::verb::post, http::websocket_path),
      make_request(bhttp::verb::post, "/api/tool/send_message", urlencoded, "message="),
      make_request(bhttp::verb::post, "/api/tool/send_message", urlencoded, "message=" + std::string(100, 'x')),
      make_request(bhttp::verb::post, "/api/tool/send_message", "application/json", "[]"),
      make_request(bhttp::verb::post, "/api/tool/send_message", "text/plain", "x"),
      make_request(bhttp::verb::get, "/web/.hidden"),
  };
  for (const auto& req : requests) {
    const auto res = call(req);
    EXPECT_GE(res.result_int(), 400u) << req.method_string() << " " << req.target();
    const auto body = json::parse(res.body(), nullptr, false);
    ASSERT_TRUE(body.is_object()) << req.target() << ": " << res.body();
    EXPECT_TRUE(body["code"].is_number_integer()) << req.target();
    EXPECT_TRUE(body["message"].is_string()) << req.target();
  }
}

TEST_F(router_fixture, stats_report_connections_and_messages) {
  hub_.shard(0).join(subscriber_, {"system"}, wshub::hub::member_info{});
  ASSERT_EQ(post_form("message=one").result(), http::status::ok);
  const auto res = call(make_request(bhttp::verb::get, "/api/tool/stats"));
  ASSERT_EQ(res.result(), http::status::ok);
  const auto body = json::parse(res.body());
  ASSERT_TRUE(body["connections"].is_number_integer());
  ASSERT_TRUE(body["messages_total"].is_number_integer());
  EXPECT_EQ(body["connections"], 1);
  EXPECT_EQ(body["messages_total"], 1);
  EXPECT_EQ(body["deliveries_total"], 1);
}

}  // namespace
