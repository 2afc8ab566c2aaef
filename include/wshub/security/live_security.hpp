#pragma once
// The publish keys, publish rate limits and connection-token settings in force. A configuration
// reload (SIGHUP) replaces them whole while requests and upgrades are checked on other threads.
#include <atomic>
#include <memory>
#include <utility>

#include "wshub/security/key_ring.hpp"
#include "wshub/security/rate_limiter.hpp"
#include "wshub/security/token_verifier.hpp"

namespace wshub::security {

struct security_settings {
  key_ring keys;                            // empty: publishing is open
  std::shared_ptr<rate_limiter> key_rate;   // per key name; null: unlimited
  std::shared_ptr<rate_limiter> ip_rate;    // per client address; null: unlimited
  token_verifier tokens;
};

class live_security {
 public:
  explicit live_security(std::shared_ptr<const security_settings> first) : current_(std::move(first)) {}
  live_security(const live_security&) = delete;
  live_security& operator=(const live_security&) = delete;

  // Any thread: the settings in force when called. A request holds them for its whole check, so
  // a key valid when the check began stays valid to its end.
  std::shared_ptr<const security_settings> current() const { return current_.load(std::memory_order_acquire); }

  // Any thread: checks that begin after this returns use `next`.
  void replace(std::shared_ptr<const security_settings> next) { current_.store(std::move(next), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const security_settings>> current_;
};

}  // namespace wshub::security
