#include "wshub/hub/hub.hpp"

#include <algorithm>
#include <cassert>
#include <map>
#include <unordered_set>

#include <nlohmann/json.hpp>

namespace wshub::hub {

registry::index_ref registry::add_to(index& idx, const std::string& key, entry& e) {
  auto& [name, list] = *idx.try_emplace(key).first;
  list.push_back(&e);
  return {&name, static_cast<std::uint32_t>(list.size() - 1)};
}

template <class Moved>
void registry::remove_from(index& idx, index_ref ref, Moved moved) {
  const auto it = idx.find(*ref.name);
  auto& list = it->second;
  if (ref.pos + 1 != list.size()) {
    list[ref.pos] = list.back();
    moved(*list[ref.pos], ref.pos);
  }
  list.pop_back();
  if (list.empty()) idx.erase(it);
  else if (list.size() * 4 < list.capacity() && list.capacity() > 16) list.shrink_to_fit();
}

std::size_t registry::find_channel(const member& m, const std::string& channel) {
  std::size_t i = 0;
  while (i < m.channels.size() && *m.channels[i].name != channel) ++i;
  return i;
}

std::vector<std::string> registry::names(const member& m) {
  std::vector<std::string> out;
  out.reserve(m.channels.size());
  for (const auto& c : m.channels) out.push_back(*c.name);
  return out;
}

connection_view registry::view(const entry& e) const {
  const auto& m = e.second;
  return connection_view{e.first,
                         member_info{m.remote, m.user.name ? *m.user.name : std::string(),
                                     m.protocol ? *m.protocol : std::string(), m.connected_at},
                         names(m), 0};
}

conn_id registry::join(subscriber& s, const std::vector<std::string>& channels, member_info info) {
  assert(owned_here());
  const conn_id id = next_id_;
  next_id_ += stride_;
  auto& e = *members_.try_emplace(id).first;
  auto& m = e.second;
  m.s = &s;
  m.channels.reserve(channels.size());
  for (const auto& c : channels)
    if (find_channel(m, c) == m.channels.size()) m.channels.push_back(add_to(channels_, c, e));
  if (!info.user.empty()) m.user = add_to(users_, info.user, e);
  if (!info.protocol.empty()) m.protocol = &*protocols_.insert(std::move(info.protocol)).first;
  m.remote = std::move(info.remote);
  m.connected_at = info.connected_at;
  add(connections_, 1);
  add(subscriptions_, static_cast<std::int64_t>(m.channels.size()));
  add(changes_, 1);
  announce("join", id, info.user, names(m));
  return id;
}

void registry::remove_channel(index_ref ref) {
  remove_from(channels_, ref, [name = ref.name](entry& moved, std::uint32_t pos) {
    for (auto& r : moved.second.channels)
      if (r.name == name) r.pos = pos;
  });
}

void registry::leave(conn_id id) {
  const auto it = members_.find(id);
  if (it == members_.end()) return;
  auto& m = it->second;
  auto left = names(m);
  for (const auto& c : left) unwatch(id, c);
  for (const auto& c : m.channels) remove_channel(c);
  std::string user;
  if (m.user.name) {
    user = *m.user.name;
    remove_from(users_, m.user, [](entry& moved, std::uint32_t pos) { moved.second.user.pos = pos; });
  }
  add(subscriptions_, -static_cast<std::int64_t>(m.channels.size()));
  members_.erase(it);
  add(connections_, -1);
  add(changes_, 1);
  // Not from the thread that destroys a stopped worker's handlers: the other workers may be gone.
  if (owned_here()) announce("leave", id, user, left);
}

std::vector<std::string> registry::channels_of(conn_id id) const {
  assert(owned_here());
  const auto it = members_.find(id);
  return it == members_.end() ? std::vector<std::string>() : names(it->second);
}

std::string registry::user_of(conn_id id) const {
  assert(owned_here());
  const auto it = members_.find(id);
  return it == members_.end() || !it->second.user.name ? std::string() : *it->second.user.name;
}

bool registry::subscribe(conn_id id, const std::string& channel) {
  assert(owned_here());
  const auto it = members_.find(id);
  if (it == members_.end()) return false;
  auto& m = it->second;
  if (find_channel(m, channel) != m.channels.size()) return true;
  m.channels.push_back(add_to(channels_, channel, *it));
  add(subscriptions_, 1);
  add(changes_, 1);
  announce("join", id, m.user.name ? *m.user.name : std::string(), {channel});
  return true;
}

bool registry::unsubscribe(conn_id id, const std::string& channel) {
  assert(owned_here());
  const auto it = members_.find(id);
  if (it == members_.end()) return false;
  auto& m = it->second;
  const auto i = find_channel(m, channel);
  if (i == m.channels.size()) return false;
  const std::string name = channel;  // `channel` may be the index key erased below
  unwatch(id, name);
  remove_channel(m.channels[i]);
  m.channels.erase(m.channels.begin() + static_cast<std::ptrdiff_t>(i));
  add(subscriptions_, -1);
  add(changes_, 1);
  announce("leave", id, m.user.name ? *m.user.name : std::string(), {name});
  return true;
}

bool registry::watch_presence(conn_id id, const std::string& channel) {
  assert(owned_here());
  const auto it = members_.find(id);
  if (it == members_.end() || find_channel(it->second, channel) == it->second.channels.size()) return false;
  auto& watchers = watchers_[channel];
  if (!watchers.emplace(id, it->second.s).second) return true;
  add(watches_, 1);
  if (watchers.size() == 1 && watched_) watched_(channel, true);
  return true;
}

void registry::unwatch_presence(conn_id id, const std::string& channel) {
  assert(owned_here());
  unwatch(id, channel);
}

bool registry::unwatch(conn_id id, const std::string& channel) {
  const auto w = watchers_.find(channel);
  if (w == watchers_.end() || w->second.erase(id) == 0) return false;
  if (w->second.empty()) {
    if (watched_) watched_(channel, false);
    watchers_.erase(w);
  }
  add(watches_, -1);
  return true;
}

void registry::announce(const char* type, conn_id id, const std::string& user,
                        const std::vector<std::string>& channels) {
  if (channels.empty()) return;
  if (announce_) return announce_(type, id, user, channels);
  if (watch_count() != 0) tell_watchers(presence_change{type, id, user, channels});
}

std::size_t registry::tell_watchers(const presence_change& change) {
  assert(owned_here());
  std::size_t told = 0;
  for (const auto& channel : change.channels) {
    const auto w = watchers_.find(channel);
    if (w == watchers_.end()) continue;
    frame_ptr f;  // made once, when the first watcher is found
    for (const auto& [watcher, s] : w->second) {
      if (watcher == change.id) continue;
      if (!f) {
        const nlohmann::json event = {
            {"type", change.type}, {"channel", channel}, {"conn_id", change.id}, {"user", change.user}};
        f = make_control_frame(event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
      if (s->deliver(f)) ++told;
    }
  }
  return told;
}

std::vector<channel_count> registry::channel_counts(const std::string& after, std::size_t limit) const {
  assert(owned_here());
  std::map<std::string, std::size_t> first;  // the `limit` smallest names after `after`
  for (const auto& [name, members] : channels_) {
    if (name <= after) continue;
    if (first.size() == limit) {
      if (name >= first.rbegin()->first) continue;
      first.erase(std::prev(first.end()));
    }
    first.emplace(name, members.size());
  }
  std::vector<channel_count> out;
  out.reserve(first.size());
  for (auto& [name, n] : first) out.push_back({name, n});
  return out;
}

std::vector<connection_view> registry::channel_members(const std::string& channel) const {
  assert(owned_here());
  std::vector<connection_view> out;
  const auto ch = channels_.find(channel);
  if (ch == channels_.end()) return out;
  for (const auto* e : ch->second) out.push_back(view(*e));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

// One channel: walk its subscribers. Several: a socket in more than one of them still gets the
// frame once.
std::size_t registry::fan_out_to_channels(const frame_ptr& f) {
  std::size_t recipients = 0;
  if (f->channels.size() == 1) {
    const auto ch = channels_.find(f->channels.front());
    if (ch == channels_.end()) return 0;
    for (const auto* e : ch->second)
      if (e->second.s->deliver(f)) ++recipients;
    return recipients;
  }
  std::unordered_set<const entry*> seen;
  for (const auto& c : f->channels) {
    const auto ch = channels_.find(c);
    if (ch == channels_.end()) continue;
    for (const auto* e : ch->second)
      if (seen.insert(e).second && e->second.s->deliver(f)) ++recipients;
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
      for (const auto* e : user->second)
        if (e->second.s->deliver(f)) ++recipients;
  } else {
    recipients = fan_out_to_channels(f);
  }
  add(deliveries_, static_cast<std::int64_t>(recipients));
  return recipients;
}

std::vector<connection_view> registry::list(conn_id after_id, std::size_t limit) const {
  assert(owned_here());
  std::vector<const entry*> picked;
  for (const auto& e : members_)
    if (e.first > after_id) picked.push_back(&e);
  std::sort(picked.begin(), picked.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  if (picked.size() > limit) picked.resize(limit);
  std::vector<connection_view> out;
  out.reserve(picked.size());
  for (const auto* e : picked) {
    out.push_back(view(*e));
    out.back().queued_bytes = e->second.s->queued_bytes();
  }
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
  for (std::size_t i = 0; i < n; ++i) {
    shards_.push_back(std::make_unique<registry>(first_id + i, n));
    shards_.back()->set_announcer([this](const char* type, conn_id id, const std::string& user,
                                         const std::vector<std::string>& channels) {
      const bool relayed = relay_ && relay_->wanted();
      if (!relayed && watch_count() == 0) return;
      const presence_change change{type, id, user, channels};
      tell_watchers(change);
      if (relayed) relay_->changed(change);
    });
    shards_.back()->set_watched([this](const std::string& channel, bool on) {
      if (relay_) relay_->watched(channel, on);
    });
  }
  owners_.resize(n, [](std::function<void()> job) { job(); });
}

template <class Part>
void hub::gather(std::function<Part(registry&)> part, std::function<void(std::vector<Part>)> done) {
  struct state {
    std::function<Part(registry&)> part;
    std::vector<Part> parts;
    std::atomic<std::size_t> left;
    std::function<void(std::vector<Part>)> done;
  };
  auto g = std::make_shared<state>();
  g->part = std::move(part);
  g->parts.resize(shards_.size());
  g->left = shards_.size();
  g->done = std::move(done);
  for (std::size_t i = 0; i < shards_.size(); ++i)
    owners_[i]([g, i, &r = *shards_[i]] {
      g->parts[i] = g->part(r);
      if (g->left.fetch_sub(1, std::memory_order_acq_rel) == 1) g->done(std::move(g->parts));
    });
}

std::size_t hub::shard_of(conn_id id) const {
  return id < first_id_ ? shards_.size() : static_cast<std::size_t>((id - first_id_) % shards_.size());
}

namespace {

// One registry's share of a delivery. Its copies count as references to the delivery: the last
// one destroyed deletes it, after abandoned() when some registry never ran its job. (Owning, so it
// is kept on the heap by std::function: one allocation per registry and commit.)
class delivery_job {
 public:
  delivery_job(delivery& d, registry& r, std::atomic<std::size_t>& left, std::atomic<std::size_t>& alive)
      : d_(&d), r_(&r), left_(&left), alive_(&alive) {
    alive_->fetch_add(1, std::memory_order_relaxed);
  }
  delivery_job(const delivery_job& o) : d_(o.d_), r_(o.r_), left_(o.left_), alive_(o.alive_) {
    alive_->fetch_add(1, std::memory_order_relaxed);
  }
  delivery_job& operator=(const delivery_job&) = delete;
  ~delivery_job() {
    if (alive_->fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (left_->load(std::memory_order_acquire) != 0) d_->abandoned();
    delete d_;
  }

  void operator()() const {
    d_->fan_out([r = r_](const frame_ptr& f) { return r->fan_out(f); });
    if (left_->fetch_sub(1, std::memory_order_acq_rel) == 1) d_->delivered();
  }

 private:
  delivery* d_;
  registry* r_;
  std::atomic<std::size_t>* left_;
  std::atomic<std::size_t>* alive_;
};

}  // namespace

void hub::deliver(std::unique_ptr<delivery> d) {
  auto& owned = *d.release();
  auto& left = owned.registries_left_;
  auto& alive = owned.jobs_alive_;
  left.store(shards_.size(), std::memory_order_relaxed);
  // Keeps the delivery while the jobs are handed out (they may all run and be gone meanwhile).
  const delivery_job keep(owned, *shards_[0], left, alive);
  for (std::size_t i = 0; i < shards_.size(); ++i) owners_[i](delivery_job(owned, *shards_[i], left, alive));
}

namespace {

// The views of every registry in one list, in id order, at most `limit` of them.
std::vector<connection_view> merge_by_id(std::vector<std::vector<connection_view>> parts, std::size_t limit) {
  std::vector<connection_view> all;
  for (auto& part : parts) std::move(part.begin(), part.end(), std::back_inserter(all));
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  if (all.size() > limit) all.resize(limit);
  return all;
}

}  // namespace

void hub::list(conn_id after_id, std::size_t limit, std::function<void(std::vector<connection_view>)> done) {
  gather<std::vector<connection_view>>(
      [after_id, limit](registry& r) { return r.list(after_id, limit); },
      [limit, done = std::move(done)](std::vector<std::vector<connection_view>> parts) {
        done(merge_by_id(std::move(parts), limit));
      });
}

void hub::channel_counts(std::string after, std::size_t limit,
                         std::function<void(std::vector<channel_count>)> done) {
  gather<std::vector<channel_count>>(
      [after = std::move(after), limit](registry& r) { return r.channel_counts(after, limit); },
      [limit, done = std::move(done)](std::vector<std::vector<channel_count>> parts) {
        // Each registry sent its `limit` first names: the node's `limit` first are among them.
        std::map<std::string, std::size_t> sums;
        for (const auto& part : parts)
          for (const auto& c : part) sums[c.name] += c.subscribers;
        std::vector<channel_count> out;
        for (auto& [name, n] : sums) {
          if (out.size() == limit) break;
          out.push_back({name, n});
        }
        done(std::move(out));
      });
}

void hub::channel_members(std::string channel, std::function<void(std::vector<connection_view>)> done) {
  gather<std::vector<connection_view>>(
      [channel = std::move(channel)](registry& r) { return r.channel_members(channel); },
      [done = std::move(done)](std::vector<std::vector<connection_view>> parts) {
        done(merge_by_id(std::move(parts), SIZE_MAX));
      });
}

void hub::tell_watchers(const presence_change& change) {
  if (watch_count() == 0) return;
  auto shared = std::make_shared<const presence_change>(change);
  for (std::size_t i = 0; i < shards_.size(); ++i)
    owners_[i]([shared, &r = *shards_[i]] {
      if (r.watch_count() != 0) r.tell_watchers(*shared);
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
std::uint64_t hub::socket_writes() const { return sum([](const registry& r) { return r.socket_writes(); }); }
std::uint64_t hub::write_calls() const { return sum([](const registry& r) { return r.write_calls(); }); }
std::size_t hub::watch_count() const { return sum([](const registry& r) { return r.watch_count(); }); }

}  // namespace wshub::hub
