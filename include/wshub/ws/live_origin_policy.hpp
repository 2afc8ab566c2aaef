#pragma once
// The origin policy in force, which a configuration reload may replace while upgrades are
// being checked on other threads.
#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wshub/ws/origin_policy.hpp"

namespace wshub::ws {

class live_origin_policy {
 public:
  live_origin_policy(bool check, std::vector<std::string> allowed)
      : current_(std::make_shared<const origin_policy>(check, std::move(allowed))) {}
  live_origin_policy(const live_origin_policy&) = delete;
  live_origin_policy& operator=(const live_origin_policy&) = delete;

  // Any thread: origin_policy::allows() of the policy in force when called.
  bool allows(std::string_view origin, std::string_view host, const listener_site& site) const {
    return current_.load(std::memory_order_acquire)->allows(origin, host, site);
  }

  // Any thread: upgrades checked after this returns use `next`; checks in progress finish with
  // the policy they started with.
  void replace(origin_policy next) {
    current_.store(std::make_shared<const origin_policy>(std::move(next)), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const origin_policy>> current_;
};

}  // namespace wshub::ws
