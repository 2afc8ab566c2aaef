#pragma once
// The connection registry: who is connected, as whom, subscribed to which channels; fan-out.
//
// One `registry` per worker, used only on that worker's thread (no lock); the node's `hub` holds
// them all and reaches each by posting to its owner: one post per registry per delivered group.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "wshub/hub/frame.hpp"
#include "wshub/util/function_ref.hpp"

namespace wshub::hub {

using conn_id = std::uint64_t;

// Something that receives frames: a WebSocket session, or a test double in unit tests.
class subscriber {
 public:
  virtual ~subscriber() = default;
  // On the owner thread of the registry it joined; must not block. Returns true when the frame
  // was queued, false when the subscriber refused it (closing, too slow, or a targeted frame on a
  // channel it may not use).
  virtual bool deliver(const frame_ptr& f) = 0;
  // Owner thread, never blocks: close gracefully with this WebSocket close code.
  virtual void close(std::uint16_t code, const std::string& reason) = 0;
  // Owner thread: bytes waiting to be sent.
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

// A connection joined ("join") or left ("leave") channels: what presence watchers are told.
struct presence_change {
  const char* type = "join";
  conn_id id = 0;
  std::string user;
  std::vector<std::string> channels;
};

// Where presence goes beyond this node (the cluster). Any thread; never blocks.
class presence_relay {
 public:
  virtual ~presence_relay() = default;
  // A registry got its first watch of `channel` (true) or lost its last (false).
  virtual void watched(const std::string& channel, bool on) = 0;
  // A relaxed read: false while no other node watches anything, and changes are not offered.
  virtual bool wanted() const = 0;
  // A join or leave on this node, for the other nodes' watchers of its channels.
  virtual void changed(const presence_change& change) = 0;
};

// A group of frames (one commit of the log) on its way to every registry. The hub owns it from
// deliver() on and deletes it once the last job that carries it is gone.
class delivery {
 public:
  virtual ~delivery() = default;
  // On each registry's owner thread, concurrently: calls `fan_out` with each frame, in id order,
  // and adds up what it returns (that registry's recipients of the frame).
  virtual void fan_out(util::function_ref<std::size_t(const frame_ptr&)> fan_out) = 0;
  // Once, on the owner thread of the last registry to finish: every registry fanned out.
  virtual void delivered() = 0;
  // Instead of delivered(), once: some registry's owner stopped before it ran its job (the node
  // is stopping). Called where that job is destroyed; must only release what the delivery holds.
  virtual void abandoned() = 0;

 private:
  friend class hub;
  std::atomic<std::size_t> registries_left_{0};  // jobs not run yet
  std::atomic<std::size_t> jobs_alive_{0};       // copies of its jobs not destroyed yet
};

// One worker's connections. Every member function but the counters' readers runs on the owner
// thread only (asserted in debug builds once bind_owner() was called).
class alignas(64) registry {
 public:
  // Hands out the ids first_id, first_id + stride, first_id + 2 * stride, ...
  explicit registry(conn_id first_id = 1, conn_id stride = 1) : next_id_(first_id), stride_(stride) {}
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  // On the owner thread: from now on, the debug checks hold every call to it.
  void bind_owner() { owner_ = std::this_thread::get_id(); }

  // Start-up only. Where every join and leave of channels goes: called on the owner thread with
  // type, id, user and channels, it must not block (the node's hub posts them to every
  // registry's tell_watchers while anything is watched). Unset, a registry tells its own
  // watchers at once.
  using announce_fn = std::function<void(const char* type, conn_id id, const std::string& user,
                                         const std::vector<std::string>& channels)>;
  void set_announcer(announce_fn fn) { announce_ = std::move(fn); }
  // Start-up only. Called on the owner thread when this registry gets its first watch of a
  // channel (true) or loses its last (false); must not block.
  using watched_fn = std::function<void(const std::string& channel, bool on)>;
  void set_watched(watched_fn fn) { watched_ = std::move(fn); }

  // Registers `s` under a new connection id. The caller guarantees `s` stays alive until it
  // calls leave() with that id; the registry never owns a subscriber.
  conn_id join(subscriber& s, const std::vector<std::string>& channels, member_info info);
  // Also from the thread that destroys a stopped worker's pending handlers.
  void leave(conn_id id);

  // The channels of `id` in subscription order, and its user ("" when unknown); empty when it
  // is not registered.
  std::vector<std::string> channels_of(conn_id id) const;
  std::string user_of(conn_id id) const;

  // False when `id` is not registered. Subscribing twice is a success.
  bool subscribe(conn_id id, const std::string& channel);
  bool unsubscribe(conn_id id, const std::string& channel);

  // Presence frames, {"type":"join"|"leave","channel","conn_id","user"}, go to the connections
  // that watch a channel whenever another connection subscribes to it (joining included) or stops
  // (unsubscribing or leaving). A watch needs the subscription (false without it) and ends with
  // unwatch_presence(), unsubscribe() or leave().
  bool watch_presence(conn_id id, const std::string& channel);
  void unwatch_presence(conn_id id, const std::string& channel);
  // Queues the frames of `change` to this registry's watchers of its channels (not to the
  // connection that changed); returns how many were queued.
  std::size_t tell_watchers(const presence_change& change);
  // Any thread: how many (connection, channel) watches this registry holds.
  std::size_t watch_count() const { return watches_.load(std::memory_order_relaxed); }

  // Every channel with a subscriber here whose name is after `after` (byte order), with its
  // number of subscribed connections here: at most the `limit` first names.
  std::vector<channel_count> channel_counts(const std::string& after, std::size_t limit) const;
  // This registry's connections subscribed to `channel`, in id order (queued_bytes left 0).
  std::vector<connection_view> channel_members(const std::string& channel) const;

  // Queues `f` to its recipients here and returns how many accepted it: the connection
  // f->to_conn, or every connection of f->to_user, or else every subscriber of any of
  // f->channels (once, even when subscribed to several of them). Never blocks on a subscriber.
  std::size_t fan_out(const frame_ptr& f);

  // Up to `limit` connections in id order, starting after `after_id`.
  std::vector<connection_view> list(conn_id after_id, std::size_t limit) const;
  // Closes connection `id` with `code`; false when it is not registered.
  bool close(conn_id id, std::uint16_t code, const std::string& reason);
  void for_each(const std::function<void(subscriber&)>& fn);

  // Any thread (relaxed reads of the owner's counters).
  std::size_t connection_count() const { return connections_.load(std::memory_order_relaxed); }
  std::size_t subscription_count() const { return subscriptions_.load(std::memory_order_relaxed); }
  // Grows with every join, leave, subscribe and unsubscribe: "has the registry changed since".
  std::uint64_t changes() const { return changes_.load(std::memory_order_relaxed); }
  std::uint64_t deliveries() const { return deliveries_.load(std::memory_order_relaxed); }  // frames queued
  std::uint64_t bytes_sent() const { return bytes_sent_.load(std::memory_order_relaxed); }
  // Owner thread: message bytes its sessions wrote.
  void count_bytes_sent(std::uint64_t n) { add(bytes_sent_, static_cast<std::int64_t>(n)); }
  std::uint64_t socket_writes() const { return socket_writes_.load(std::memory_order_relaxed); }
  std::uint64_t write_calls() const { return write_calls_.load(std::memory_order_relaxed); }
  // Owner thread: the worker's send ring made `writes` socket writes with `calls` system calls.
  void count_socket_writes(std::uint64_t writes, std::uint64_t calls) {
    add(socket_writes_, static_cast<std::int64_t>(writes));
    add(write_calls_, static_cast<std::int64_t>(calls));
  }

 private:
  struct member;
  // A member as stored: the map's element, whose address is stable until it leaves.
  using entry = std::pair<const conn_id, member>;
  // One channel (or user) of a member: the key of the index entry that lists it, and where.
  struct index_ref {
    const std::string* name = nullptr;  // null: none (a member with no known user)
    std::uint32_t pos = 0;
  };
  // Kept compact: one per connection. Strings that many members share (channel and user names,
  // protocols) are pointers to the one copy in an index or in protocols_.
  struct member {
    subscriber* s = nullptr;
    std::vector<index_ref> channels;  // into channels_, in subscription order
    index_ref user;                   // into users_
    const std::string* protocol = nullptr;  // in protocols_; null when none was chosen
    std::string remote;
    std::chrono::system_clock::time_point connected_at;
  };
  // Channel or user -> its members, each at the position its index_ref says: leaving moves the
  // last one into the hole, O(1) whatever the channel's size, and fan-out walks a plain array.
  using index = std::unordered_map<std::string, std::vector<entry*>>;
  // Watched channel -> the connections here that watch its presence (few: not per connection).
  using watch_index = std::unordered_map<std::string, std::unordered_map<conn_id, subscriber*>>;

  index_ref add_to(index& idx, const std::string& key, entry& e);
  // Takes e out of idx at `ref`; `moved` is told the member that took its place, if any.
  template <class Moved>
  void remove_from(index& idx, index_ref ref, Moved moved);
  void remove_channel(index_ref ref);
  static std::vector<std::string> names(const member& m);
  connection_view view(const entry& e) const;
  // The position of `channel` in m's list, or its size when m is not subscribed to it.
  static std::size_t find_channel(const member& m, const std::string& channel);
  bool unwatch(conn_id id, const std::string& channel);  // false when it was not watching
  void announce(const char* type, conn_id id, const std::string& user, const std::vector<std::string>& channels);
  std::size_t fan_out_to_channels(const frame_ptr& f);
  bool owned_here() const { return owner_ == std::thread::id() || owner_ == std::this_thread::get_id(); }
  // One writer (the owner): a load and a store, no read-modify-write.
  template <class T>
  static void add(std::atomic<T>& a, std::int64_t n) {
    a.store(a.load(std::memory_order_relaxed) + static_cast<T>(n), std::memory_order_relaxed);
  }

  std::thread::id owner_;
  std::unordered_map<conn_id, member> members_;
  index channels_;
  index users_;
  watch_index watchers_;
  // The subprotocols members chose: a few names from the configuration, kept once.
  std::unordered_set<std::string> protocols_;
  announce_fn announce_;
  watched_fn watched_;
  conn_id next_id_;
  const conn_id stride_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> subscriptions_{0};
  std::atomic<std::uint64_t> changes_{0};
  std::atomic<std::uint64_t> deliveries_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
  std::atomic<std::uint64_t> socket_writes_{0};
  std::atomic<std::uint64_t> write_calls_{0};
  std::atomic<std::size_t> watches_{0};
};

// The node's connections: one registry per worker. Thread-safe; never locks a registry: work on
// one is posted to its owner.
class hub {
 public:
  // Runs a job on a registry's owner thread (a post to its worker), never inline on another.
  using run_fn = std::function<void(std::function<void()>)>;

  // `shards` registries; connection ids start at `first_id` (in a cluster each node has its own
  // range) and registry i hands out first_id + i + k * shards.
  explicit hub(std::size_t shards = 1, conn_id first_id = 1);
  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  // Start-up only, before any other call: how to reach registry i's owner.
  void set_owner(std::size_t i, run_fn run) { owners_[i] = std::move(run); }
  // Start-up only: presence beyond this node; `relay` outlives every registry's last change.
  void set_presence_relay(presence_relay* relay) { relay_ = relay; }
  std::size_t size() const { return shards_.size(); }
  registry& shard(std::size_t i) { return *shards_[i]; }

  // Any thread. Hands `d` to every registry in one job each (no allocation: the jobs hold a
  // pointer to it); each calls d->fan_out on its owner thread, and the last one to finish calls
  // d->delivered(), which takes the delivery over.
  void deliver(std::unique_ptr<delivery> d);

  // Any thread; `done` on an owner thread. Up to `limit` connections in id order after `after_id`.
  void list(conn_id after_id, std::size_t limit, std::function<void(std::vector<connection_view>)> done);
  // Any thread; `done` on an owner thread. Up to `limit` channels with a subscriber on this node,
  // in name order, after `after` ("" for the first page), with their subscriber counts summed
  // over every registry.
  void channel_counts(std::string after, std::size_t limit, std::function<void(std::vector<channel_count>)> done);
  // Any thread; `done` on an owner thread. The connections subscribed to `channel`, in id order.
  void channel_members(std::string channel, std::function<void(std::vector<connection_view>)> done);
  // Any thread: `change` goes to the watchers of its channels on every registry (one post each)
  // when anything is watched on this node; free when nothing is. Every registry announces here
  // (and to the relay, while it wants changes); the relay hands in the other nodes' changes.
  void tell_watchers(const presence_change& change);
  // Any thread. Closes connection `id` with `code`; `done` (optional) says whether it existed.
  void close(conn_id id, std::uint16_t code, std::string reason, std::function<void(bool)> done = {});
  // Any thread: closes every connection with `code`.
  void close_all(std::uint16_t code, std::string reason);

  // Any thread: sums of every registry's counters.
  std::size_t connection_count() const;
  std::size_t subscription_count() const;
  std::uint64_t changes() const;
  std::uint64_t deliveries() const;
  std::uint64_t bytes_sent() const;
  std::uint64_t socket_writes() const;
  std::uint64_t write_calls() const;
  std::size_t watch_count() const;

 private:
  // Runs part(registry) on each registry's owner thread, then, on the last one to finish,
  // done(the parts in registry order).
  template <class Part>
  void gather(std::function<Part(registry&)> part, std::function<void(std::vector<Part>)> done);
  // The registry that handed out `id`, or size() when none could have.
  std::size_t shard_of(conn_id id) const;
  template <class Fn>
  std::uint64_t sum(Fn fn) const {
    std::uint64_t total = 0;
    for (const auto& r : shards_) total += fn(*r);
    return total;
  }

  conn_id first_id_;
  std::vector<std::unique_ptr<registry>> shards_;
  std::vector<run_fn> owners_;
  presence_relay* relay_ = nullptr;
};

}  // namespace wshub::hub
