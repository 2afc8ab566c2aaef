#pragma once
// Who may do what, and from where: the publish keys (admin keys among them), the publish rate
// limits, connection tokens, and which origins and Host names are served. One immutable object
// holds all of it; a configuration reload (SIGHUP) builds a whole new one and swaps it in, so a
// request is checked against one consistent set of rules, never half of the old and half of the
// new.
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "wshub/http/cors.hpp"
#include "wshub/http/host_policy.hpp"
#include "wshub/security/key_ring.hpp"
#include "wshub/security/rate_limiter.hpp"
#include "wshub/security/token_verifier.hpp"
#include "wshub/ws/origin_policy.hpp"

namespace wshub::http {

// The defaults are open: no keys, no limits, no tokens, no CORS, any host and origin.
struct access_rules {
  security::key_ring keys{std::vector<security::publish_key>{}};  // empty: publishing is open
  // Never null (rate 0: unlimited). The buckets live in the limiter, so a reload that keeps the
  // rate and burst keeps the same limiter and what each publisher has used.
  std::shared_ptr<security::rate_limiter> key_rate = std::make_shared<security::rate_limiter>(0, 1);  // per key name
  std::shared_ptr<security::rate_limiter> ip_rate = std::make_shared<security::rate_limiter>(0, 1);  // per address
  security::token_verifier tokens{"", ""};  // not enabled(): tokens are not checked
  bool require_token = false;               // sockets must present a token: reads are protected too
  bool public_metrics = false;              // stats and metrics need no admin key
  cors_policy cors{{}};                     // http.cors_origins
  host_policy hosts{false, {}};             // http.allowed_hosts
  ws::origin_policy origins{false, {}};     // websocket.check_origin, websocket.allowed_origins
};

// The rules in force. Any thread may read them; a reload replaces them. A reader keeps the
// shared_ptr for as long as it checks one request or upgrade, so the rules it started with stay
// alive to its end; checks that begin after replace() returns see the new rules.
class live_access {
 public:
  explicit live_access(std::shared_ptr<const access_rules> first) : current_(std::move(first)) {}
  live_access(const live_access&) = delete;
  live_access& operator=(const live_access&) = delete;

  std::shared_ptr<const access_rules> current() const { return current_.load(std::memory_order_acquire); }
  void replace(std::shared_ptr<const access_rules> next) { current_.store(std::move(next), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const access_rules>> current_;  // never null
};

}  // namespace wshub::http
