#include "wshub/hub/hub.hpp"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>
#include <unordered_set>

namespace wshub::hub {

namespace {

void index_remove(std::unordered_map<std::string, std::unordered_map<conn_id, subscriber*>>& index,
                  const std::string& key, conn_id id) {
  const auto it = index.find(key);
  if (it == index.end()) return;
  it->second.erase(id);
  if (it->second.empty()) index.erase(it);
}

}  // namespace

hub::hub(counters& counters, std::size_t shard_count, conn_id first_id) : counters_(counters), next_id_(first_id) {
  const auto n = std::max<std::size_t>(1, shard_count);
  shards_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<shard>());
}

conn_id hub::join(subscriber& s, const std::vector<std::string>& channels, member_info info) {
  const conn_id id = next_id_.fetch_add(1, std::memory_order_relaxed);
  auto& sh = shard_of(id);
  const std::string user = info.user;
  std::vector<std::string> joined;
  {
    std::lock_guard lock(sh.mutex);
    auto& m = sh.members[id];
    m.s = &s;
    for (const auto& c : channels) {
      if (std::find(m.channels.begin(), m.channels.end(), c) != m.channels.end()) continue;
      m.channels.push_back(c);
      sh.channels[c].emplace(id, &s);
    }
    if (!info.user.empty()) sh.users[info.user].emplace(id, &s);
    m.info = std::move(info);
    joined = m.channels;
  }
  connections_.fetch_add(1, std::memory_order_relaxed);
  subscriptions_.fetch_add(joined.size(), std::memory_order_relaxed);
  changes_.fetch_add(1, std::memory_order_relaxed);
  announce("join", id, user, joined);
  return id;
}

void hub::leave(conn_id id) {
  auto& sh = shard_of(id);
  std::string user;
  std::vector<std::string> left;
  {
    std::lock_guard lock(sh.mutex);
    const auto it = sh.members.find(id);
    if (it == sh.members.end()) return;
    auto& m = it->second;
    while (!m.watching.empty()) unwatch_locked(sh, m, id, m.watching.back());
    for (const auto& c : m.channels) index_remove(sh.channels, c, id);
    if (!m.info.user.empty()) index_remove(sh.users, m.info.user, id);
    user = std::move(m.info.user);
    left = std::move(m.channels);
    sh.members.erase(it);
  }
  subscriptions_.fetch_sub(left.size(), std::memory_order_relaxed);
  connections_.fetch_sub(1, std::memory_order_relaxed);
  changes_.fetch_add(1, std::memory_order_relaxed);
  announce("leave", id, user, left);
}

bool hub::subscribe(conn_id id, const std::string& channel) {
  auto& sh = shard_of(id);
  std::string user;
  {
    std::lock_guard lock(sh.mutex);
    const auto it = sh.members.find(id);
    if (it == sh.members.end()) return false;
    auto& list = it->second.channels;
    if (std::find(list.begin(), list.end(), channel) != list.end()) return true;
    list.push_back(channel);
    sh.channels[channel].emplace(id, it->second.s);
    user = it->second.info.user;
  }
  subscriptions_.fetch_add(1, std::memory_order_relaxed);
  changes_.fetch_add(1, std::memory_order_relaxed);
  announce("join", id, user, {channel});
  return true;
}

bool hub::unsubscribe(conn_id id, const std::string& channel) {
  auto& sh = shard_of(id);
  std::string user;
  {
    std::lock_guard lock(sh.mutex);
    const auto it = sh.members.find(id);
    if (it == sh.members.end()) return false;
    auto& list = it->second.channels;
    const auto pos = std::find(list.begin(), list.end(), channel);
    if (pos == list.end()) return false;
    unwatch_locked(sh, it->second, id, channel);
    list.erase(pos);
    index_remove(sh.channels, channel, id);
    user = it->second.info.user;
  }
  subscriptions_.fetch_sub(1, std::memory_order_relaxed);
  changes_.fetch_add(1, std::memory_order_relaxed);
  announce("leave", id, user, {channel});
  return true;
}

bool hub::watch_presence(conn_id id, const std::string& channel) {
  auto& sh = shard_of(id);
  std::lock_guard lock(sh.mutex);
  const auto it = sh.members.find(id);
  if (it == sh.members.end()) return false;
  auto& m = it->second;
  if (std::find(m.channels.begin(), m.channels.end(), channel) == m.channels.end()) return false;
  if (std::find(m.watching.begin(), m.watching.end(), channel) != m.watching.end()) return true;
  m.watching.push_back(channel);
  sh.watchers[channel].emplace(id, m.s);
  watches_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void hub::unwatch_presence(conn_id id, const std::string& channel) {
  auto& sh = shard_of(id);
  std::lock_guard lock(sh.mutex);
  const auto it = sh.members.find(id);
  if (it != sh.members.end()) unwatch_locked(sh, it->second, id, channel);
}

// Shard lock held.
bool hub::unwatch_locked(shard& sh, member& m, conn_id id, const std::string& channel) {
  const auto pos = std::find(m.watching.begin(), m.watching.end(), channel);
  if (pos == m.watching.end()) return false;
  index_remove(sh.watchers, channel, id);  // before the erase: `channel` may be the erased element
  m.watching.erase(pos);
  watches_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

void hub::announce(const char* type, conn_id id, const std::string& user, const std::vector<std::string>& channels) {
  if (channels.empty() || watches_.load(std::memory_order_relaxed) == 0) return;
  for (const auto& channel : channels) {
    frame_ptr f;  // made once, when the first watcher is found
    for (auto& sh : shards_) {
      std::lock_guard lock(sh->mutex);
      const auto w = sh->watchers.find(channel);
      if (w == sh->watchers.end()) continue;
      for (const auto& [watcher, s] : w->second) {
        if (watcher == id) continue;
        if (!f) {
          const nlohmann::json event = {{"type", type}, {"channel", channel}, {"conn_id", id}, {"user", user}};
          f = make_control_frame(event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        }
        s->deliver(f);
      }
    }
  }
}

// Shard lock held. One channel: walk its subscribers. Several: a socket in more than one of them
// still gets the frame once.
std::size_t hub::fan_out_to_channels(shard& sh, const frame_ptr& f) {
  std::size_t recipients = 0;
  if (f->channels.size() == 1) {
    const auto ch = sh.channels.find(f->channels.front());
    if (ch == sh.channels.end()) return 0;
    for (const auto& [id, s] : ch->second)
      if (s->deliver(f)) ++recipients;
    return recipients;
  }
  std::unordered_set<conn_id> seen;
  for (const auto& c : f->channels) {
    const auto ch = sh.channels.find(c);
    if (ch == sh.channels.end()) continue;
    for (const auto& [id, s] : ch->second)
      if (seen.insert(id).second && s->deliver(f)) ++recipients;
  }
  return recipients;
}

std::size_t hub::fan_out(const frame_ptr& f) {
  std::size_t recipients = 0;
  if (f->to_conn != 0) {
    auto& sh = shard_of(f->to_conn);
    std::lock_guard lock(sh.mutex);
    const auto it = sh.members.find(f->to_conn);
    if (it != sh.members.end() && it->second.s->deliver(f)) recipients = 1;
  } else {
    for (auto& sh : shards_) {
      std::lock_guard lock(sh->mutex);
      if (f->to_user.empty()) {
        recipients += fan_out_to_channels(*sh, f);
        continue;
      }
      const auto user = sh->users.find(f->to_user);
      if (user == sh->users.end()) continue;
      for (const auto& [id, s] : user->second)
        if (s->deliver(f)) ++recipients;
    }
  }
  counters_.deliveries.fetch_add(recipients, std::memory_order_relaxed);
  return recipients;
}

std::size_t hub::connection_count() const { return connections_.load(std::memory_order_relaxed); }
std::size_t hub::subscription_count() const { return subscriptions_.load(std::memory_order_relaxed); }

std::vector<connection_view> hub::list(conn_id after_id, std::size_t limit) const {
  // Ids first (no copies of the members), then only the page's members: a page costs one pass
  // over the ids, whatever the page.
  std::vector<conn_id> ids;
  for (const auto& sh : shards_) {
    std::lock_guard lock(sh->mutex);
    for (const auto& entry : sh->members)
      if (entry.first > after_id) ids.push_back(entry.first);
  }
  if (ids.size() > limit) {
    std::nth_element(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(limit), ids.end());
    ids.resize(limit);
  }
  std::sort(ids.begin(), ids.end());
  std::vector<connection_view> out;
  out.reserve(ids.size());
  for (const auto id : ids) {
    auto& sh = shard_of(id);
    std::lock_guard lock(sh.mutex);
    const auto it = sh.members.find(id);
    if (it != sh.members.end())
      out.push_back(connection_view{id, it->second.info, it->second.channels, it->second.s->queued_bytes()});
  }
  return out;
}

std::vector<channel_count> hub::channel_counts(const std::string& after, std::size_t limit) const {
  std::map<std::string, std::size_t> counts;
  for (const auto& sh : shards_) {
    std::lock_guard lock(sh->mutex);
    for (const auto& [name, members] : sh->channels)
      if (name > after) counts[name] += members.size();
  }
  std::vector<channel_count> out;
  for (auto& [name, n] : counts) {
    if (out.size() == limit) break;
    out.push_back({name, n});
  }
  return out;
}

std::vector<connection_view> hub::channel_members(const std::string& channel) const {
  std::vector<connection_view> out;
  for (const auto& sh : shards_) {
    std::lock_guard lock(sh->mutex);
    const auto ch = sh->channels.find(channel);
    if (ch == sh->channels.end()) continue;
    for (const auto& [id, s] : ch->second) {
      const auto& m = sh->members.at(id);
      out.push_back(connection_view{id, m.info, m.channels, 0});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

bool hub::close(conn_id id, std::uint16_t code, const std::string& reason) {
  auto& sh = shard_of(id);
  std::lock_guard lock(sh.mutex);
  const auto it = sh.members.find(id);
  if (it == sh.members.end()) return false;
  it->second.s->close(code, reason);
  return true;
}

void hub::for_each(const std::function<void(subscriber&)>& fn) {
  for (auto& sh : shards_) {
    std::lock_guard lock(sh->mutex);
    for (auto& [id, m] : sh->members) fn(*m.s);
  }
}

}  // namespace wshub::hub
