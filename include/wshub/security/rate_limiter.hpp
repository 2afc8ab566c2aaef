#pragma once
// Token buckets by name (a key name or an IP address): `rate` per second, `burst` at most.
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace wshub::security {

class rate_limiter {
 public:
  using clock = std::chrono::steady_clock;
  // rate 0: unlimited.
  rate_limiter(double rate, double burst);

  // This limiter is what rate_limiter(rate, burst) would make.
  bool has_limits(double rate, double burst) const;

  // Takes `count` tokens for `who`, all or none. Returns zero when allowed, else how long until
  // they are available (never, when count is more than the burst: check burst() first).
  std::chrono::milliseconds take(const std::string& who, clock::time_point now = clock::now(), double count = 1);
  // The most tokens one take can get: 0 when unlimited.
  double burst() const { return rate_ > 0 ? burst_ : 0; }

 private:
  struct bucket {
    double tokens;
    clock::time_point updated;
  };
  const double rate_;
  const double burst_;
  std::mutex mutex_;
  std::unordered_map<std::string, bucket> buckets_;  // guarded by mutex_
  clock::time_point last_prune_{};                   // guarded by mutex_
};

}  // namespace wshub::security
