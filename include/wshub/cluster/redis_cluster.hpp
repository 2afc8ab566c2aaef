#pragma once
// Several wshub nodes as one service, through Redis.
//
// Every message is sequenced by Redis: one Lua script takes the next id (INCR) and appends the
// message to one stream under that id (XADD <id>-0), atomically. Every node, the publishing one
// included, reads that stream in order and stores each message in its own SQLite log before it
// fans it out, so ids are unique and increasing across the cluster, every node delivers a
// channel's messages in the same order, and a client can resume on any node. A stream rather
// than pub/sub: pub/sub forgets what a node missed while it was disconnected; a stream keeps it
// (up to stream_max_len), so a node that reconnects reads on from where it stopped.
//
// Two threads, each with its own connection: the writer (sequencing, heartbeats, presence,
// queries) and the reader (XREAD BLOCK on the message stream and the control stream). Neither
// ever runs on an I/O thread or a session's strand; results come back through callbacks.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "wshub/cluster/redis_link.hpp"
#include "wshub/hub/counters.hpp"
#include "wshub/hub/frame.hpp"
#include "wshub/hub/hub.hpp"

namespace wshub::cluster {

enum class cluster_errc {
  unreachable = 1,  // not sequenced: Redis could not be reached
  rejected,         // not sequenced: Redis answered with an error
  stopped,          // not sequenced: the node is stopping
  unconfirmed,      // sequenced, but this node did not store it in time (it may still arrive)
};
const std::error_category& cluster_category();
std::error_code make_error_code(cluster_errc e);

// A message as the cluster sequenced it (id and ts set), and the publish it came from.
struct sequenced_message {
  hub::message message;
  std::string origin;  // "<node id>/<n>" of the publishing node's request
};

// What one node reports about itself once a second.
struct node_stats {
  std::string node;
  std::uint64_t connections = 0;
  std::uint64_t subscriptions = 0;
  std::uint64_t deliveries = 0;
  std::uint64_t published = 0;  // messages this node sequenced (publishes it acknowledged)
  std::uint64_t last_id = 0;    // newest id in this node's log
};
nlohmann::json to_json(const node_stats& s);

// The 20-bit number (1..2^20-1) a node's connection ids carry above 32 bits of sequence: FNV-1a
// of its node id. Two live nodes with the same number are reported as an error.
std::uint32_t node_number(const std::string& node_id);

struct cluster_hooks {
  // Reader thread, in stream order, a batch at a time: store and fan out `batch`; true when it
  // is durably stored. Blocking is fine here. On false the reader offers the same batch again.
  std::function<bool(std::vector<sequenced_message>& batch)> store;
  // Reader thread: an operator asked to close this connection (it may live on any node).
  std::function<void(std::uint64_t conn)> close_connection;
  // Writer thread, once a second: this node's figures, and its connections as a JSON array, or
  // nullopt when they have not changed since the last call and `force` is false (the list in
  // Redis is then kept).
  std::function<node_stats()> stats;
  std::function<std::optional<nlohmann::json>(bool force)> connections;
  // Start-up and reconnects: the newest id in this node's log.
  std::function<std::uint64_t()> last_id;
  // Reader thread: a join or leave on another node, for this node's watchers; must not block.
  std::function<void(const hub::presence_change&)> presence;
};

// The last figures of every live node (this one included), refreshed once a second.
struct cluster_view {
  bool reachable = false;
  std::vector<node_stats> nodes;
};

// Presence across nodes: a node that gets its first watcher of a channel adds "<node>\n<channel>"
// to the `watching` hash and says so on the control stream; every node keeps, on its writer
// thread, which channels other nodes watch. A join or leave on a channel another node watches is
// written to the control stream, and each other node's reader hands it to its hub. While no other
// node watches anything, a join or leave costs one relaxed atomic read.
class redis_cluster : public hub::presence_relay {
 public:
  redis_cluster(redis_settings settings, std::string node_id, cluster_hooks hooks, hub::counters& counters,
                std::shared_ptr<spdlog::logger> log);
  ~redis_cluster() override;
  redis_cluster(const redis_cluster&) = delete;
  redis_cluster& operator=(const redis_cluster&) = delete;

  void start();
  void stop();  // idempotent; leaves the node list

  // Any thread, never blocks. Sequences `m` under `origin`; `failed` is called (on the writer
  // thread) only when Redis did not take it. On success the message comes back through
  // hooks.store like every other one.
  void submit(hub::message m, std::string origin, std::function<void(std::error_code)> failed);
  // The same for a group (origins[i] is group[i]'s): sequenced whole, with consecutive ids in
  // the group's order, or not at all (`failed` once).
  void submit_group(std::vector<hub::message> group, std::vector<std::string> origins,
                    std::function<void(std::error_code)> failed);
  // Any thread: asks every node to close connection `conn`. `done` on the writer thread.
  void request_close(std::uint64_t conn, std::function<void(std::error_code)> done);
  // Any thread: the connections of every live node (JSON arrays, each entry with "node").
  void fetch_connections(std::function<void(std::error_code, nlohmann::json)> done);

  // hub::presence_relay, any thread.
  void watched(const std::string& channel, bool on) override;
  bool wanted() const override { return remote_watches_.load(std::memory_order_relaxed) != 0; }
  void changed(const hub::presence_change& change) override;

  cluster_view view() const;
  const std::string& node_id() const { return node_id_; }
  bool reachable() const { return writer_up_.load() && reader_up_.load(); }

 private:
  using job = std::function<void(redis_link&)>;
  struct pending_publish {
    std::vector<hub::message> messages;  // one group: sequenced by one script
    std::vector<std::string> origins;
    std::function<void(std::error_code)> failed;
  };

  void writer_loop();
  void reader_loop();
  bool on_writer_connected();
  void sequence(std::vector<pending_publish>& batch);
  void heartbeat();
  void report_clashes(const std::string& last_writer, const std::vector<std::string>& nodes);
  void leave_cluster();
  void read_batch(redis_link& link);
  void read_control(const redisReply* entries);
  void load_watches();
  void push_job(job j);
  bool wait_for(std::chrono::milliseconds d);  // false when stopping
  std::string key(const std::string& name) const { return settings_.prefix + name; }
  void set_reachable();

  redis_settings settings_;
  std::string node_id_;
  cluster_hooks hooks_;
  hub::counters& counters_;
  std::shared_ptr<spdlog::logger> log_;
  const std::string instance_;  // this process, to tell a second process with our node id

  redis_link writer_link_;  // writer thread only
  redis_link reader_link_;  // reader thread only

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<pending_publish> publishes_;  // guarded by mutex_
  std::deque<job> jobs_;                   // guarded by mutex_
  bool stopping_ = false;                  // guarded by mutex_
  cluster_view view_;                      // guarded by mutex_

  // Other nodes' watches: a hint for wanted(), raised by the reader when it reads a watch and set
  // to the number of watched channels by the writer, which owns the counts.
  std::atomic<std::size_t> remote_watches_{0};
  std::unordered_map<std::string, std::size_t> remote_watched_;  // writer thread only: channel -> nodes
  std::unordered_map<std::string, std::size_t> local_watched_;   // writer thread only: channel -> registries
  std::atomic<bool> writer_up_{false};
  std::atomic<bool> reader_up_{false};
  std::string epoch_;                          // writer thread only: the Redis data set seen last
  bool clash_reported_ = false;                // writer thread only
  bool presence_written_ = false;              // writer thread only: this connection wrote our list
  int foreign_writes_ = 0;                     // writer thread only: heartbeats in a row that found another instance
  std::chrono::steady_clock::time_point next_heartbeat_{};  // writer thread only
  std::string read_position_;                  // reader thread only: last stream id stored
  std::uint64_t last_read_id_ = 0;             // reader thread only
  std::string control_position_ = "$";         // reader thread only
  std::thread writer_;
  std::thread reader_;
};

}  // namespace wshub::cluster

template <>
struct std::is_error_code_enum<wshub::cluster::cluster_errc> : std::true_type {};
