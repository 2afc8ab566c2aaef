// HTTP requests through the router: the input is the raw bytes a client sends, parsed by Beast's
// request_parser with the server's limits (its read buffer's cap and RFC 9112 checks included),
// each complete request (up to 8, pipelined) handed to http::router::handle with real services
// (SQLite log in a temporary folder, hub, publisher).
// A request that carries the header "X-Fuzz-Keyed" goes to a router with publish keys.
//
// Properties: no crash or sanitizer report; every request is answered exactly once; every error
// response (4xx, 5xx) is a JSON object with a numeric "code" and a non-empty "message"; every
// frame fanned out to a socket is a JSON object with the message's id.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include "fuzz_check.hpp"
#include "wshub/cache/memory_cache.hpp"
#include "wshub/http/router.hpp"
#include "wshub/hub/hub.hpp"
#include "wshub/net/request_rules.hpp"
#include "wshub/publish/publisher.hpp"
#include "wshub/security/key_ring.hpp"
#include "wshub/store/message_log.hpp"

namespace {

using wshub::fuzz::require;
namespace http = wshub::http;
namespace bhttp = boost::beast::http;
using json = nlohmann::json;

// Checks every frame the hub hands to it, then drops it.
class checking_subscriber : public wshub::hub::subscriber {
 public:
  bool deliver(const wshub::hub::frame_ptr& f) override {
    const auto doc = json::parse(f->text(), nullptr, false);
    require(doc.is_object() && doc.contains("id") && doc["id"] == f->id, "a fanned-out frame is JSON with its id");
    const auto v1 = json::parse(f->text_v1(), nullptr, false);
    require(v1.is_object() && v1.value("type", "") == "message", "a wshub.v1 frame is a typed message");
    return true;
  }
  void close(std::uint16_t, const std::string&) override {}
  std::size_t queued_bytes() const override { return 0; }
};

std::string make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "wshub-fuzz-XXXXXX").string();
  require(mkdtemp(pattern.data()) != nullptr, "mkdtemp");
  return pattern;
}

wshub::store::log_settings store_settings(const std::string& dir) {
  wshub::store::log_settings s;
  s.path = dir + "/fuzz.db";
  s.synchronous_full = false;
  s.retention_count = 1000;  // long runs keep a small file
  return s;
}

// Everything the router needs, built once per process and never destroyed (the writer thread
// would otherwise race the exit); the temporary folder goes at exit.
struct services {
  std::string dir = make_temp_dir();
  wshub::hub::counters counters;
  wshub::hub::hub hub;  // one registry, whose jobs run inline
  wshub::cache::memory_cache cache{{100}, 0};
  wshub::store::message_log log{store_settings(dir)};
  wshub::publish::publisher publisher{log, cache, hub, counters};
  http::static_files files{""};
  std::shared_ptr<spdlog::logger> logger =
      std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>());
  http::live_access open_access{std::make_shared<const http::access_rules>()};
  http::live_access keyed_access{std::make_shared<const http::access_rules>(
      http::access_rules{wshub::security::key_ring{{{"fuzzer", "fuzz-secret-key", {"news", "system"}, false},
                                                    {"operator", "fuzz-admin-key", {"*"}, true}}}})};
  checking_subscriber subscriber;
  http::router open_router{make(open_access)};
  http::router keyed_router{make(keyed_access)};

  services() {
    // Connection 1 is a user "u1" on two channels, so to_conn, to_user and channels all reach it.
    hub.shard(0).join(subscriber, {"system", "news"}, {"127.0.0.1:1", "u1", "wshub.v1", std::chrono::system_clock::now()});
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(instance().dir, ignored);
    });
  }
  http::router_services make(const http::live_access& access) {
    return http::router_services{publisher, hub, counters, log, files, logger,
                                 [](std::function<void()> job) { job(); },
                                 http::router_settings{4096, "system", "system", 8}, &access};
  }
  static services& instance() {
    static auto* s = new services();
    return *s;
  }
};

void check_response(const http::request& req, const http::response& res) {
  if (res.result_int() < 400 || req.method() == bhttp::verb::head) return;  // HEAD: no body
  const auto body = json::parse(res.body(), nullptr, false);
  require(body.is_object(), "an error body is a JSON object");
  require(body.contains("code") && body["code"].is_number_integer(), "an error has a numeric code");
  require(body.contains("message") && body["message"].is_string() && !body["message"].get<std::string>().empty(),
          "an error has a message");
}

void handle(services& s, const http::request& req) {
  const auto& r = req.find("X-Fuzz-Keyed") != req.end() ? s.keyed_router : s.open_router;
  auto answer = std::make_shared<std::promise<http::response>>();
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto future = answer->get_future();
  r.handle(req, [answer, calls](http::response res) {
    require(calls->fetch_add(1) == 0, "a request is answered once");
    answer->set_value(std::move(res));
  }, http::request_context{"127.0.0.1"});
  require(future.wait_for(std::chrono::seconds(30)) == std::future_status::ready, "a request is answered");
  check_response(req, future.get());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& s = services::instance();
  constexpr std::size_t header_limit = 8 * 1024;
  boost::asio::const_buffer rest(data, size);
  for (int n = 0; n < 8 && rest.size() > 0; ++n) {
    bhttp::request_parser<bhttp::string_body, wshub::http::fields::allocator_type> parser;
    parser.header_limit(header_limit);
    parser.body_limit(64 * 1024);
    boost::beast::error_code ec;
    while (rest.size() > 0 && !parser.is_done()) {
      // As in the server: at most header_limit unparsed bytes (its read buffer's cap), the header
      // on its own first so that its raw bytes go through the server's RFC 9112 checks.
      const bool header_done = parser.is_header_done();
      const auto used =
          parser.put(boost::asio::buffer(rest.data(), std::min(rest.size(), header_limit)), ec);
      if (!header_done && parser.is_header_done() && !ec) {
        const std::string_view raw(static_cast<const char*>(rest.data()), used);
        if (!wshub::net::request_problem(parser.get().base(), raw).empty()) return 0;  // 400, closed
        parser.eager(true);
      }
      rest += used;
      if (ec == bhttp::error::need_more) {
        if (used == 0) break;
        ec = {};
        continue;
      }
      if (ec || used == 0) break;
    }
    if (!parser.is_done() && (!ec || ec == bhttp::error::need_more)) {
      ec = {};
      parser.put_eof(ec);  // the client closed here
    }
    if (ec || !parser.is_done()) return 0;
    handle(s, parser.get());
  }
  return 0;
}
