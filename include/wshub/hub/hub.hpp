#pragma once
// The connection registry: who is connected and subscribed to which channel, and fan-out.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "wshub/hub/counters.hpp"
#include "wshub/hub/frame.hpp"

namespace wshub::hub {

using conn_id = std::uint64_t;

// Something that receives frames: a WebSocket session, or a test double in unit tests.
class subscriber {
 public:
  virtual ~subscriber() = default;
  // Called from any thread, possibly concurrently; must not block. Returns true when the frame
  // was queued, false when the subscriber refused it (closing, or too slow).
  virtual bool deliver(const frame_ptr& f) = 0;
  // Called from any thread when the server stops: close gracefully (1001), without blocking.
  virtual void shutdown() = 0;
};

class hub {
 public:
  explicit hub(counters& counters, std::size_t shard_count = 16);
  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  // Registers `s` under a new connection id. The caller guarantees `s` stays alive until it
  // calls leave() with that id; the hub never owns a subscriber.
  conn_id join(subscriber& s, const std::vector<std::string>& channels);
  void leave(conn_id id);

  bool subscribe(conn_id id, const std::string& channel);
  bool unsubscribe(conn_id id, const std::string& channel);

  // Queues `f` to every subscriber of f->channel; returns how many accepted it. Never blocks on
  // a subscriber; takes each shard's lock in turn.
  std::size_t fan_out(const frame_ptr& f);

  std::size_t connection_count() const;

  // Calls fn on every registered subscriber (under its shard's lock; fn must not call the hub).
  void for_each(const std::function<void(subscriber&)>& fn);

 private:
  struct shard {
    mutable std::mutex mutex;
    // Both maps are guarded by `mutex`.
    std::unordered_map<conn_id, std::pair<subscriber*, std::vector<std::string>>> members;
    std::unordered_map<std::string, std::unordered_map<conn_id, subscriber*>> channels;
  };
  shard& shard_of(conn_id id) { return *shards_[id % shards_.size()]; }

  counters& counters_;
  std::vector<std::unique_ptr<shard>> shards_;
  std::atomic<conn_id> next_id_{1};
  std::atomic<std::size_t> connections_{0};
};

}  // namespace wshub::hub
