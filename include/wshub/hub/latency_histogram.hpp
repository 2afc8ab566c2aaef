#pragma once
// A latency histogram with fixed buckets, recorded into from any thread without a lock or an
// allocation, and read by /metrics at scrape time.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace wshub::hub {

class latency_histogram {
 public:
  // Upper bounds in seconds (Prometheus `le`), ascending; one more bucket past them is +Inf.
  static constexpr std::array<double, 14> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};

  void record(std::chrono::nanoseconds elapsed) noexcept {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(elapsed.count() > 0 ? static_cast<std::uint64_t>(elapsed.count()) : 0,
                      std::memory_order_relaxed);
  }

  struct snapshot {
    std::array<std::uint64_t, bounds.size() + 1> counts{};  // per bucket, not cumulative; last is +Inf
    std::uint64_t count = 0;                                // the sum of `counts`
    double sum_seconds = 0;
  };
  // Each bucket is read once, so `count` always equals the buckets' total; a record made during
  // the read may be missing from the buckets or from the sum, never counted twice.
  snapshot read() const noexcept {
    snapshot s;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      s.counts[i] = counts_[i].load(std::memory_order_relaxed);
      s.count += s.counts[i];
    }
    s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return s;
  }

 private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> counts_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace wshub::hub
