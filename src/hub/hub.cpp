#include "wshub/hub/hub.hpp"

#include <algorithm>
#include <cassert>
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

conn_id registry::join(subscriber& s, const std::vector<std::string>& channels, member_info info) {
  assert(owned_here());
  const conn_id id = next_id_;
  next_id_ += stride_;
  auto& m = members_[id];
  m.s = &s;
  for (const auto& c : channels) {
    if (std::find(m.channels.begin(), m.channels.end(), c) != m.channels.end()) continue;
    m.channels.push_back(c);
    channels_[c].emplace(id, &s);
  }
  if (!info.user.empty()) users_[info.user].emplace(id, &s);
  m.info = std::move(info);
  add(connections_, 1);
  add(subscriptions_, static_cast<std::int64_t>(m.channels.size()));
  add(changes_, 1);
  return id;
}

void registry::leave(conn_id id) {
  const auto it = members_.find(id);
  if (it == members_.end()) return;
  for (const auto& c : it->second.channels) index_remove(channels_, c, id);
  if (!it->second.info.user.empty()) index_remove(users_, it->second.info.user, id);
  add(subscriptions_, -static_cast<std::int64_t>(it->second.channels.size()));
  members_.erase(it);
  add(connections_, -1);
  add(changes_, 1);
}

bool registry::subscribe(conn_id id, const std::string& channel) {
  assert(owned_here());
  const auto it = members_.find(id);
  if (it == members_.end()) return false;
  auto& list = it->second.channels;
  if (std::find(list.begin(), list.end(), channel) != list.end()) return true;
  list.push_back(channel);
  channels_[channel].emplace(id, it->second.s);
  add(subscriptions_, 1);
  add(changes_, 1);
  return true;
}

bool registry::unsubscribe(conn_id id, const std::string& channel) {
  assert(owned_here());
  const auto it = members_.find(id);
  if (it == members_.end()) return false;
  auto& list = it->second.channels;
  const auto pos = std::find(list.begin(), list.end(), channel);
  if (pos == list.end()) return false;
  list.erase(pos);
  index_remove(channels_, channel, id);
  add(subscriptions_, -1);
  add(changes_, 1);
  return true;
}

// One channel: walk its subscribers. Several: a socket in more than one of them still gets the
// frame once.
std::size_t registry::fan_out_to_channels(const frame_ptr& f) {
  std::size_t recipients = 0;
  if (f->channels.size() == 1) {
    const auto ch = channels_.find(f->channels.front());
    if (ch == channels_.end()) return 0;
    for (const auto& [id, s] : ch->second)
      if (s->deliver(f)) ++recipients;
    return recipients;
  }
  std::unordered_set<conn_id> seen;
  for (const auto& c : f->channels) {
    const auto ch = channels_.find(c);
    if (ch == channels_.end()) continue;
    for (const auto& [id, s] : ch->second)
      if (seen.insert(id).second && s->deliver(f)) ++recipients;
  }
  return recipients;
}

std::size_t registry::fan_out(const frame_ptr& f) {
  assert(owned_here());
  std::size_t recipients = 0;
  if (f->to_conn != 0) {
    const auto it = members_.find(f->to_conn);
    if (it != members_.end() && it->second.s->deliver(f)) recipients = 1;
  } else if (!f->to_user.empty()) {
    const auto user = users_.find(f->to_user);
    if (user != users_.end())
      for (const auto& [id, s] : user->second)
        if (s->deliver(f)) ++recipients;
  } else {
    recipients = fan_out_to_channels(f);
  }
  add(deliveries_, static_cast<std::int64_t>(recipients));
  return recipients;
}

std::vector<connection_view> registry::list(conn_id after_id, std::size_t limit) const {
  assert(owned_here());
  std::vector<connection_view> out;
  for (const auto& [id, m] : members_)
    if (id > after_id) out.push_back(connection_view{id, m.info, m.channels, 0});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  if (out.size() > limit) out.resize(limit);
  for (auto& v : out) v.queued_bytes = members_.at(v.id).s->queued_bytes();
  return out;
}

bool registry::close(conn_id id, std::uint16_t code, const std::string& reason) {
  assert(owned_here());
  const auto it = members_.find(id);
  if (it == members_.end()) return false;
  it->second.s->close(code, reason);
  return true;
}

void registry::for_each(const std::function<void(subscriber&)>& fn) {
  assert(owned_here());
  for (auto& [id, m] : members_) fn(*m.s);
}

hub::hub(std::size_t shards, conn_id first_id) : first_id_(first_id) {
  const auto n = std::max<std::size_t>(1, shards);
  for (std::size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<registry>(first_id + i, n));
  owners_.resize(n, [](std::function<void()> job) { job(); });
}

std::size_t hub::shard_of(conn_id id) const {
  return id < first_id_ ? shards_.size() : static_cast<std::size_t>((id - first_id_) % shards_.size());
}

void hub::deliver(std::vector<frame_ptr> frames, std::function<void(std::vector<std::size_t>)> done) {
  // Shared by the jobs: each adds its recipients; the last one to finish reports them.
  struct pass {
    std::vector<frame_ptr> frames;
    std::unique_ptr<std::atomic<std::size_t>[]> recipients;
    std::atomic<std::size_t> left;
    std::function<void(std::vector<std::size_t>)> done;
  };
  auto p = std::make_shared<pass>();
  p->recipients = std::make_unique<std::atomic<std::size_t>[]>(frames.size());
  p->frames = std::move(frames);
  p->left = shards_.size();
  p->done = std::move(done);
  for (std::size_t i = 0; i < shards_.size(); ++i)
    owners_[i]([p, &r = *shards_[i]] {
      for (std::size_t k = 0; k < p->frames.size(); ++k)
        if (const auto n = r.fan_out(p->frames[k])) p->recipients[k].fetch_add(n, std::memory_order_relaxed);
      if (p->left.fetch_sub(1, std::memory_order_acq_rel) != 1 || !p->done) return;
      std::vector<std::size_t> counts(p->frames.size());
      for (std::size_t k = 0; k < counts.size(); ++k) counts[k] = p->recipients[k].load(std::memory_order_relaxed);
      p->done(std::move(counts));
    });
}

void hub::list(conn_id after_id, std::size_t limit, std::function<void(std::vector<connection_view>)> done) {
  struct gather {
    std::vector<std::vector<connection_view>> parts;
    std::atomic<std::size_t> left;
    std::function<void(std::vector<connection_view>)> done;
  };
  auto g = std::make_shared<gather>();
  g->parts.resize(shards_.size());
  g->left = shards_.size();
  g->done = std::move(done);
  for (std::size_t i = 0; i < shards_.size(); ++i)
    owners_[i]([g, i, after_id, limit, &r = *shards_[i]] {
      g->parts[i] = r.list(after_id, limit);
      if (g->left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
      std::vector<connection_view> all;
      for (auto& part : g->parts) std::move(part.begin(), part.end(), std::back_inserter(all));
      std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
      if (all.size() > limit) all.resize(limit);
      g->done(std::move(all));
    });
}

void hub::close(conn_id id, std::uint16_t code, std::string reason, std::function<void(bool)> done) {
  const auto i = shard_of(id);
  if (i == shards_.size()) {
    if (done) done(false);
    return;
  }
  owners_[i]([&r = *shards_[i], id, code, reason = std::move(reason), done = std::move(done)] {
    const bool found = r.close(id, code, reason);
    if (done) done(found);
  });
}

void hub::close_all(std::uint16_t code, std::string reason) {
  for (std::size_t i = 0; i < shards_.size(); ++i)
    owners_[i]([&r = *shards_[i], code, reason] { r.for_each([&](subscriber& s) { s.close(code, reason); }); });
}

std::size_t hub::connection_count() const { return sum([](const registry& r) { return r.connection_count(); }); }
std::size_t hub::subscription_count() const { return sum([](const registry& r) { return r.subscription_count(); }); }
std::uint64_t hub::changes() const { return sum([](const registry& r) { return r.changes(); }); }
std::uint64_t hub::deliveries() const { return sum([](const registry& r) { return r.deliveries(); }); }
std::uint64_t hub::bytes_sent() const { return sum([](const registry& r) { return r.bytes_sent(); }); }

}  // namespace wshub::hub
