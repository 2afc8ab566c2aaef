#pragma once
// The connection registry: who is connected, as whom, subscribed to which channels; fan-out.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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
  // was queued, false when the subscriber refused it (closing, too slow, or a targeted frame on a
  // channel it may not use).
  virtual bool deliver(const frame_ptr& f) = 0;
  // Any thread, never blocks: close gracefully with this WebSocket close code.
  virtual void close(std::uint16_t code, const std::string& reason) = 0;
  // Any thread: bytes waiting to be sent.
  virtual std::size_t queued_bytes() const = 0;
};

// What the registry knows of a connection besides its channels.
struct member_info {
  std::string remote;  // "address:port"
  std::string user;    // empty when the identity is unknown
  std::string protocol;
  std::chrono::system_clock::time_point connected_at;
};

struct connection_view {
  conn_id id = 0;
  member_info info;
  std::vector<std::string> channels;
  std::size_t queued_bytes = 0;
};

class hub {
 public:
  // Connection ids start at `first_id` (in a cluster each node has its own range).
  explicit hub(counters& counters, std::size_t shard_count = 16, conn_id first_id = 1);
  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  // Registers `s` under a new connection id. The caller guarantees `s` stays alive until it
  // calls leave() with that id; the hub never owns a subscriber.
  conn_id join(subscriber& s, const std::vector<std::string>& channels, member_info info);
  void leave(conn_id id);

  // False when `id` is not registered. Subscribing twice is a success.
  bool subscribe(conn_id id, const std::string& channel);
  bool unsubscribe(conn_id id, const std::string& channel);

  // Queues `f` to its recipients and returns how many accepted it: the connection f->to_conn,
  // or every connection of f->to_user, or else every subscriber of any of f->channels (once,
  // even when subscribed to several of them). Never blocks on a subscriber; takes each shard's
  // lock in turn.
  std::size_t fan_out(const frame_ptr& f);

  std::size_t connection_count() const;
  // Grows with every join, leave, subscribe and unsubscribe: "has the registry changed since".
  std::uint64_t changes() const { return changes_.load(std::memory_order_relaxed); }
  std::size_t subscription_count() const;

  // Up to `limit` connections in id order, starting after `after_id`.
  std::vector<connection_view> list(conn_id after_id, std::size_t limit) const;
  // Closes connection `id` with `code`; false when it is not registered.
  bool close(conn_id id, std::uint16_t code, const std::string& reason);
  // Calls fn on every registered subscriber (under its shard's lock; fn must not call the hub).
  void for_each(const std::function<void(subscriber&)>& fn);

 private:
  struct member {
    subscriber* s = nullptr;
    std::vector<std::string> channels;
    member_info info;
  };
  struct shard {
    mutable std::mutex mutex;
    // All three maps are guarded by `mutex`.
    std::unordered_map<conn_id, member> members;
    std::unordered_map<std::string, std::unordered_map<conn_id, subscriber*>> channels;
    std::unordered_map<std::string, std::unordered_map<conn_id, subscriber*>> users;
  };
  shard& shard_of(conn_id id) const { return *shards_[id % shards_.size()]; }
  std::size_t fan_out_to_channels(shard& sh, const frame_ptr& f);

  counters& counters_;
  std::vector<std::unique_ptr<shard>> shards_;
  std::atomic<conn_id> next_id_{1};
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> subscriptions_{0};
  std::atomic<std::uint64_t> changes_{0};
};

}  // namespace wshub::hub
