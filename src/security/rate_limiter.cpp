#include "wshub/security/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace wshub::security {

rate_limiter::rate_limiter(double rate, double burst) : rate_(rate), burst_(std::max(1.0, burst)) {}

bool rate_limiter::has_limits(double rate, double burst) const { return rate_ == rate && burst_ == std::max(1.0, burst); }

std::chrono::milliseconds rate_limiter::take(const std::string& who, clock::time_point now, double count) {
  if (rate_ <= 0) return std::chrono::milliseconds(0);
  std::lock_guard lock(mutex_);
  // Buckets idle long enough to be full again carry no state: drop them now and then.
  if (now - last_prune_ > std::chrono::seconds(60)) {
    last_prune_ = now;
    const auto full_after = std::chrono::duration<double>(burst_ / rate_);
    std::erase_if(buckets_, [&](const auto& b) { return now - b.second.updated > full_after; });
  }
  auto [it, fresh] = buckets_.try_emplace(who, bucket{burst_, now});
  auto& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    b.updated = now;
  }
  if (b.tokens >= count) {
    b.tokens -= count;
    return std::chrono::milliseconds(0);
  }
  const double wait_s = (count - b.tokens) / rate_;
  return std::chrono::milliseconds(static_cast<long>(std::ceil(wait_s * 1000)));
}

}  // namespace wshub::security
