#include "wshub/hub/connection_limit.hpp"

namespace wshub::hub {

std::pair<connection_limit::slot, connection_limit::refusal> connection_limit::try_acquire(const std::string& ip) {
  if (open_.fetch_add(1, std::memory_order_relaxed) >= max_.load(std::memory_order_relaxed)) {
    open_.fetch_sub(1, std::memory_order_relaxed);
    return {slot{}, refusal::total};
  }
  const auto per_ip = per_ip_.load(std::memory_order_relaxed);
  if (per_ip == 0 || ip.empty()) return {slot{this, nullptr}, refusal::none};
  std::lock_guard lock(mutex_);
  const auto entry = by_ip_.try_emplace(ip, 0).first;
  auto& count = entry->second;
  if (count >= per_ip) {
    if (count == 0) by_ip_.erase(entry);
    open_.fetch_sub(1, std::memory_order_relaxed);
    return {slot{}, refusal::per_ip};
  }
  ++count;
  return {slot{this, &entry->first}, refusal::none};
}

void connection_limit::release(const std::string* ip) {
  open_.fetch_sub(1, std::memory_order_relaxed);
  if (!ip) return;
  std::lock_guard lock(mutex_);
  const auto it = by_ip_.find(*ip);
  if (it != by_ip_.end() && --it->second == 0) by_ip_.erase(it);
}

}  // namespace wshub::hub
