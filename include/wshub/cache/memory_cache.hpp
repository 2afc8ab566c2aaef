#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "wshub/cache/cache.hpp"

namespace wshub::cache {

struct memory_cache_settings {
  std::size_t per_channel = 100;            // frames kept per channel at most; 0 keeps nothing
  std::size_t max_bytes = 64 * 1024 * 1024;  // frame bytes kept at most, all channels together
  std::size_t max_channels = 10'000;        // channels kept at most
};

// The in-process cache: one mutex; per channel, its newest frames in id order. Past a bound, the
// least recently published channel gives up its oldest frame (bytes), or all of them (channels).
//
// Exactness: for every channel the cache knows a floor such that it holds every untargeted frame
// of the channel with id > floor. A channel it holds nothing of has the common floor: the last id
// the store had when the cache started, raised to the newest id of every channel evicted whole.
// A read is answered only when the floors show that nothing of the range is missing.
class memory_cache final : public cache {
 public:
  // `start_after`: the store's last id; the cache sees every message committed after it.
  memory_cache(memory_cache_settings settings, std::uint64_t start_after);
  void remember(const hub::frame_ptr& f) override;
  std::optional<std::vector<hub::frame_ptr>> read(const std::vector<std::string>& channels,
                                                  const id_range& range) const override;

  // Bytes a frame is counted for, once per channel it is kept in (what its texts and channel
  // names allocated, and the bookkeeping around it).
  static std::size_t cost_of(const hub::frame& f);

  struct stats {
    std::size_t bytes = 0;
    std::size_t channels = 0;
    std::size_t frames = 0;
    std::uint64_t hits = 0;    // reads answered
    std::uint64_t misses = 0;  // reads the store had to answer
  };
  stats current() const;

 private:
  struct channel_entry {
    std::deque<hub::frame_ptr> frames;  // id order
    std::uint64_t floor = 0;            // every frame of the channel with id > floor is in frames
    std::size_t bytes = 0;
    std::list<const std::string*>::iterator lru;  // this channel's place in lru_
  };
  using entry_map = std::unordered_map<std::string, channel_entry>;
  void pop_oldest(channel_entry& e);
  void drop(entry_map::iterator it);
  void enforce_bounds();
  std::uint64_t floor_of(const std::string& channel) const;

  const memory_cache_settings settings_;
  mutable std::mutex mutex_;
  entry_map channels_;                    // guarded by mutex_
  std::list<const std::string*> lru_;     // guarded by mutex_: channel names, least recently published first
  std::uint64_t common_floor_ = 0;        // guarded by mutex_
  std::size_t bytes_ = 0;                 // guarded by mutex_
  std::size_t frames_ = 0;                // guarded by mutex_
  mutable std::atomic<std::uint64_t> hits_{0};
  mutable std::atomic<std::uint64_t> misses_{0};
};

}  // namespace wshub::cache
