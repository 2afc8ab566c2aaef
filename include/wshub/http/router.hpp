#pragma once
// Routing: a request in, a response out (possibly later, from another thread). No sockets here,
// so every route is testable with a plain request object.
#include <functional>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "wshub/cache/cache.hpp"
#include "wshub/http/access_rules.hpp"
#include "wshub/http/error.hpp"
#include "wshub/http/static_files.hpp"
#include "wshub/hub/counters.hpp"
#include "wshub/hub/hub.hpp"
#include "wshub/publish/publisher.hpp"
#include "wshub/store/message_log.hpp"

namespace wshub::http {

inline constexpr std::string_view websocket_path = "/socket/system/message";

struct router_settings {
  std::size_t max_message_bytes = 64 * 1024;
  std::string username = "system";
  std::string default_channel = "system";
  std::size_t max_channels = 64;  // channels of one published message at most
  std::size_t max_batch = 1'000;  // messages of one send_messages request at most
};

struct router_services {
  publish::publisher& publisher;
  hub::hub& hub;
  hub::counters& counters;
  const store::message_log& store;
  const static_files& files;
  std::shared_ptr<spdlog::logger> log;
  // Runs blocking work (store reads) off the I/O threads.
  std::function<void(std::function<void()>)> run_blocking;
  router_settings settings;
  // Keys, rate limits, tokens, CORS: read once per request (never null).
  const live_access* access = nullptr;
  // A cluster through Redis; null on a single node.
  cluster::redis_cluster* cluster = nullptr;
  // The newest messages in memory (history reads them first); null: the store answers all.
  const cache::cache* cache = nullptr;
};

// What the router knows of the connection a request came on.
struct request_context {
  std::string remote_ip;
  // The Origin header is absent, of this site, or in websocket.allowed_origins (or origins are
  // not checked). The router also counts an origin of http.cors_origins as allowed.
  bool origin_allowed = true;
  // The access rules the connection already checked this request by (Host, origin); null: the
  // router reads the rules in force.
  std::shared_ptr<const access_rules> access{};
};

// Called exactly once per request, from any thread.
using respond_fn = std::function<void(response)>;

class router {
 public:
  explicit router(router_services services);
  void handle(const request& req, respond_fn respond, const request_context& ctx = {}) const;

 private:
  router_services services_;
};

}  // namespace wshub::http
