#include "wshub/cache/memory_cache.hpp"

#include <algorithm>

namespace wshub::cache {

memory_cache::memory_cache(std::size_t recent_per_channel) : recent_per_channel_(recent_per_channel) {}

void memory_cache::remember(const hub::frame_ptr& f) {
  if (recent_per_channel_ == 0 || f->to_conn != 0 || !f->to_user.empty()) return;  // targeted: private
  std::lock_guard lock(mutex_);
  for (const auto& channel : f->channels) {
    auto& list = recent_[channel];
    list.push_back(f);
    while (list.size() > recent_per_channel_) list.pop_front();
  }
}

std::vector<hub::frame_ptr> memory_cache::recent(const std::string& channel, std::uint64_t after_id,
                                                 std::size_t limit) const {
  std::vector<hub::frame_ptr> out;
  std::lock_guard lock(mutex_);
  const auto it = recent_.find(channel);
  if (it == recent_.end()) return out;
  const auto& list = it->second;
  auto first = std::upper_bound(list.begin(), list.end(), after_id,
                                [](std::uint64_t id, const hub::frame_ptr& f) { return id < f->id; });
  for (; first != list.end() && out.size() < limit; ++first) out.push_back(*first);
  return out;
}

void memory_cache::add(const std::string& counter, std::int64_t delta) {
  std::lock_guard lock(mutex_);
  counters_[counter] += delta;
}

std::int64_t memory_cache::get(const std::string& counter) const {
  std::lock_guard lock(mutex_);
  const auto it = counters_.find(counter);
  return it == counters_.end() ? 0 : it->second;
}

}  // namespace wshub::cache
