#include "wshub/cache/memory_cache.hpp"

#include <algorithm>
#include <iterator>

namespace wshub::cache {
namespace {

// A channel's bookkeeping (map node, name, list node), counted in the byte bound too.
std::size_t channel_cost(const std::string& name) { return 128 + name.size(); }

bool before_in_id_order(const hub::frame_ptr& a, const hub::frame_ptr& b) { return a->id < b->id; }
bool same_id(const hub::frame_ptr& a, const hub::frame_ptr& b) { return a->id == b->id; }

}  // namespace

memory_cache::memory_cache(memory_cache_settings settings, std::uint64_t start_after)
    : settings_(settings), common_floor_(start_after) {}

std::size_t memory_cache::cost_of(const hub::frame& f) {
  std::size_t names = 0;
  for (const auto& c : f.channels) names += sizeof(std::string) + c.capacity();
  // The frame, its shared_ptr control block and its slot in a channel's deque; the texts by what
  // they allocated (a JSON text is built by appending: its capacity may pass its size).
  return sizeof(hub::frame) + 32 + sizeof(hub::frame_ptr) + f.data.capacity() + names;
}

void memory_cache::remember(const hub::frame_ptr& f) {
  if (settings_.per_channel == 0 || f->to_conn != 0 || !f->to_user.empty()) return;
  const auto cost = cost_of(*f);
  std::lock_guard lock(mutex_);
  for (const auto& channel : f->channels) {
    auto it = channels_.find(channel);
    if (it == channels_.end()) {
      it = channels_.emplace(channel, channel_entry{}).first;
      auto& e = it->second;
      e.floor = common_floor_;
      e.bytes = channel_cost(channel);
      bytes_ += e.bytes;
      e.lru = lru_.insert(lru_.end(), &it->first);
    } else {
      lru_.splice(lru_.end(), lru_, it->second.lru);
    }
    auto& e = it->second;
    e.frames.push_back(f);
    e.bytes += cost;
    bytes_ += cost;
    ++frames_;
    while (e.frames.size() > settings_.per_channel) pop_oldest(e);
  }
  enforce_bounds();
}

// mutex_ held.
void memory_cache::pop_oldest(channel_entry& e) {
  const auto cost = cost_of(*e.frames.front());
  e.floor = e.frames.front()->id;
  e.frames.pop_front();
  e.bytes -= cost;
  bytes_ -= cost;
  --frames_;
}

// mutex_ held. Forgets the channel; the common floor rises past everything it held.
void memory_cache::drop(entry_map::iterator it) {
  auto& e = it->second;
  common_floor_ = std::max(common_floor_, e.frames.empty() ? e.floor : e.frames.back()->id);
  bytes_ -= e.bytes;
  frames_ -= e.frames.size();
  lru_.erase(e.lru);
  channels_.erase(it);
}

// mutex_ held.
void memory_cache::enforce_bounds() {
  while (channels_.size() > settings_.max_channels) drop(channels_.find(*lru_.front()));
  while (bytes_ > settings_.max_bytes && !lru_.empty()) {
    const auto it = channels_.find(*lru_.front());
    if (!it->second.frames.empty()) pop_oldest(it->second);
    if (it->second.frames.empty()) drop(it);
  }
}

// mutex_ held.
std::uint64_t memory_cache::floor_of(const std::string& channel) const {
  const auto it = channels_.find(channel);
  return it == channels_.end() ? common_floor_ : it->second.floor;
}

std::optional<std::vector<hub::frame_ptr>> memory_cache::read(const std::vector<std::string>& channels,
                                                              const id_range& range) const {
  std::vector<hub::frame_ptr> out;
  if (range.limit == 0 || range.before <= range.after + 1) return out;  // an empty range
  auto miss = [&]() -> std::optional<std::vector<hub::frame_ptr>> {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  };
  if (settings_.per_channel == 0) return miss();
  {
    std::lock_guard lock(mutex_);
    std::uint64_t floor = 0;  // the cache holds every frame of these channels above it
    for (const auto& c : channels) floor = std::max(floor, floor_of(c));
    if (!range.newest_first && floor > range.after) return miss();
    const auto low = std::max(range.after, floor);  // what the cache can vouch for
    for (const auto& c : channels) {
      const auto it = channels_.find(c);
      if (it == channels_.end()) continue;
      const auto& frames = it->second.frames;
      const auto first = std::upper_bound(frames.begin(), frames.end(), low,
                                          [](std::uint64_t id, const hub::frame_ptr& f) { return id < f->id; });
      const auto end = std::lower_bound(first, frames.end(), range.before,
                                        [](const hub::frame_ptr& f, std::uint64_t id) { return f->id < id; });
      // Each channel gives at most `limit` frames: the oldest of the range, or the newest.
      const auto n = std::min<std::size_t>(range.limit, static_cast<std::size_t>(std::distance(first, end)));
      if (range.newest_first) out.insert(out.end(), end - static_cast<std::ptrdiff_t>(n), end);
      else out.insert(out.end(), first, first + static_cast<std::ptrdiff_t>(n));
    }
    std::sort(out.begin(), out.end(), before_in_id_order);
    out.erase(std::unique(out.begin(), out.end(), same_id), out.end());
    if (range.newest_first) {
      std::reverse(out.begin(), out.end());
      // Fewer than asked: the rest of the range, below the floor, is not all here.
      if (out.size() < range.limit && floor > range.after) return miss();
    }
  }
  std::size_t keep = 0, bytes = 0;
  while (keep < out.size() && keep < range.limit && (keep == 0 || bytes + out[keep]->text().size() <= range.max_bytes))
    bytes += out[keep++]->text().size();
  out.resize(keep);
  hits_.fetch_add(1, std::memory_order_relaxed);
  return out;
}

memory_cache::stats memory_cache::current() const {
  std::lock_guard lock(mutex_);
  return {bytes_, channels_.size(), frames_, hits_.load(std::memory_order_relaxed),
          misses_.load(std::memory_order_relaxed)};
}

}  // namespace wshub::cache
