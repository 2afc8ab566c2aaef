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

struct channel_count {
  std::string name;
  std::size_t subscribers = 0;
  bool operator==(const channel_count&) const = default;
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
  // Presence frames, {"type":"join"|"leave","channel","conn_id","user"}, go to the connections that
  // watch a channel whenever another connection subscribes to it (joining included) or stops
  // (unsubscribing or leaving). A watch needs the subscription (false without it) and ends with
  // unwatch_presence(), unsubscribe() or leave(). The frames are delivered after the joining or
  // leaving connection's shard lock is released, each shard's lock in turn.
  bool watch_presence(conn_id id, const std::string& channel);
  void unwatch_presence(conn_id id, const std::string& channel);

  // Up to `limit` channels with at least one subscriber, in name order, starting after `after`
  // (byte order; "" for the first page), each with its number of subscribed connections.
  std::vector<channel_count> channel_counts(const std::string& after, std::size_t limit) const;
  // The connections subscribed to `channel`, in id order (queued_bytes left 0).
  std::vector<connection_view> channel_members(const std::string& channel) const;
  // Closes connection `id` with `code`; false when it is not registered.
  bool close(conn_id id, std::uint16_t code, const std::string& reason);
  // Calls fn on every registered subscriber (under its shard's lock; fn must not call the hub).
  void for_each(const std::function<void(subscriber&)>& fn);

 private:
  struct member {
    subscriber* s = nullptr;
    std::vector<std::string> channels;
    std::vector<std::string> watching;  // a subset of channels
    member_info info;
  };
  using index = std::unordered_map<std::string, std::unordered_map<conn_id, subscriber*>>;
  struct shard {
    mutable std::mutex mutex;
    // All four maps are guarded by `mutex`.
    std::unordered_map<conn_id, member> members;
    index channels;
    index users;
    index watchers;  // channel -> the connections that watch its presence
  };
  // No shard lock held: a join or leave frame for each of `channels` to their watchers (not `id`).
  void announce(const char* type, conn_id id, const std::string& user, const std::vector<std::string>& channels);
  bool unwatch_locked(shard& sh, member& m, conn_id id, const std::string& channel);
  shard& shard_of(conn_id id) const { return *shards_[id % shards_.size()]; }
  std::size_t fan_out_to_channels(shard& sh, const frame_ptr& f);

  counters& counters_;
  std::vector<std::unique_ptr<shard>> shards_;
  std::atomic<conn_id> next_id_{1};
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> subscriptions_{0};
  std::atomic<std::uint64_t> changes_{0};
  std::atomic<std::size_t> watches_{0};  // 0: joins and leaves announce nothing, at no cost
};

}  // namespace wshub::hub
