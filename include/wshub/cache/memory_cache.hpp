#pragma once
#include <deque>
#include <mutex>
#include <unordered_map>

#include "wshub/cache/cache.hpp"

namespace wshub::cache {

// The in-process cache: one mutex, a bounded deque per channel.
class memory_cache final : public cache {
 public:
  explicit memory_cache(std::size_t recent_per_channel);
  void remember(const hub::frame_ptr& f) override;
  std::vector<hub::frame_ptr> recent(const std::string& channel, std::uint64_t after_id,
                                     std::size_t limit) const override;
  void add(const std::string& counter, std::int64_t delta) override;
  std::int64_t get(const std::string& counter) const override;

 private:
  const std::size_t recent_per_channel_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::deque<hub::frame_ptr>> recent_;  // guarded by mutex_
  std::unordered_map<std::string, std::int64_t> counters_;              // guarded by mutex_
};

}  // namespace wshub::cache
