#include "wshub/hub/hub.hpp"

#include <algorithm>

namespace wshub::hub {

hub::hub(counters& counters, std::size_t shard_count) : counters_(counters) {
  shards_.reserve(std::max<std::size_t>(1, shard_count));
  for (std::size_t i = 0; i < std::max<std::size_t>(1, shard_count); ++i)
    shards_.push_back(std::make_unique<shard>());
}

conn_id hub::join(subscriber& s, const std::vector<std::string>& channels) {
  const conn_id id = next_id_.fetch_add(1, std::memory_order_relaxed);
  auto& sh = shard_of(id);
  std::lock_guard lock(sh.mutex);
  auto& member = sh.members[id];
  member.first = &s;
  for (const auto& c : channels) {
    if (std::find(member.second.begin(), member.second.end(), c) != member.second.end()) continue;
    member.second.push_back(c);
    sh.channels[c].emplace(id, &s);
  }
  connections_.fetch_add(1, std::memory_order_relaxed);
  return id;
}

void hub::leave(conn_id id) {
  auto& sh = shard_of(id);
  std::lock_guard lock(sh.mutex);
  const auto it = sh.members.find(id);
  if (it == sh.members.end()) return;
  for (const auto& c : it->second.second) {
    const auto ch = sh.channels.find(c);
    if (ch == sh.channels.end()) continue;
    ch->second.erase(id);
    if (ch->second.empty()) sh.channels.erase(ch);
  }
  sh.members.erase(it);
  connections_.fetch_sub(1, std::memory_order_relaxed);
}

bool hub::subscribe(conn_id id, const std::string& channel) {
  auto& sh = shard_of(id);
  std::lock_guard lock(sh.mutex);
  const auto it = sh.members.find(id);
  if (it == sh.members.end()) return false;
  auto& list = it->second.second;
  if (std::find(list.begin(), list.end(), channel) != list.end()) return true;
  list.push_back(channel);
  sh.channels[channel].emplace(id, it->second.first);
  return true;
}

bool hub::unsubscribe(conn_id id, const std::string& channel) {
  auto& sh = shard_of(id);
  std::lock_guard lock(sh.mutex);
  const auto it = sh.members.find(id);
  if (it == sh.members.end()) return false;
  auto& list = it->second.second;
  const auto pos = std::find(list.begin(), list.end(), channel);
  if (pos == list.end()) return false;
  list.erase(pos);
  const auto ch = sh.channels.find(channel);
  if (ch != sh.channels.end()) {
    ch->second.erase(id);
    if (ch->second.empty()) sh.channels.erase(ch);
  }
  return true;
}

std::size_t hub::fan_out(const frame_ptr& f) {
  std::size_t recipients = 0;
  for (auto& sh : shards_) {
    std::lock_guard lock(sh->mutex);
    const auto ch = sh->channels.find(f->channel);
    if (ch == sh->channels.end()) continue;
    for (const auto& [id, s] : ch->second)
      if (s->deliver(f)) ++recipients;
  }
  counters_.deliveries.fetch_add(recipients, std::memory_order_relaxed);
  return recipients;
}

std::size_t hub::connection_count() const { return connections_.load(std::memory_order_relaxed); }

void hub::for_each(const std::function<void(subscriber&)>& fn) {
  for (auto& sh : shards_) {
    std::lock_guard lock(sh->mutex);
    for (auto& [id, member] : sh->members) fn(*member.first);
  }
}

}  // namespace wshub::hub
