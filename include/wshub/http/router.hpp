#pragma once
// Routing: a request in, a response out (possibly later, from another thread). No sockets here,
// so every route is testable with a plain request object.
#include <functional>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "wshub/cache/cache.hpp"
#include "wshub/http/cors.hpp"
#include "wshub/http/error.hpp"
#include "wshub/http/static_files.hpp"
#include "wshub/hub/counters.hpp"
#include "wshub/hub/hub.hpp"
#include "wshub/publish/publisher.hpp"
#include "wshub/security/key_ring.hpp"
#include "wshub/security/rate_limiter.hpp"
#include "wshub/security/token_verifier.hpp"
#include "wshub/store/message_log.hpp"

namespace wshub::http {

inline constexpr std::string_view websocket_path = "/socket/system/message";

struct router_settings {
  std::size_t max_message_bytes = 64 * 1024;
  std::string username = "system";
  std::string default_channel = "system";
  std::size_t max_channels = 64;  // channels of one published message at most
  bool require_token = false;     // sockets must present a token: reads are protected too
  bool public_metrics = false;    // stats and metrics need no admin key
  std::vector<std::string> cors_origins{};  // exact origins, or "*"
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
  // Security; null means open (no keys) and unlimited.
  const security::key_ring* keys = nullptr;
  security::rate_limiter* key_rate = nullptr;
  security::rate_limiter* ip_rate = nullptr;
  // Connection tokens, also accepted for reading history; null: none.
  const security::token_verifier* tokens = nullptr;
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
};

// Called exactly once per request, from any thread.
using respond_fn = std::function<void(response)>;

class router {
 public:
  explicit router(router_services services);
  void handle(const request& req, respond_fn respond, const request_context& ctx = {}) const;

 private:
  router_services services_;
  cors_policy cors_;
};

}  // namespace wshub::http
