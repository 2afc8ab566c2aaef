#pragma once
// The one path of a published message: store it durably, then hand each commit's frames to the
// hub (one job per worker), which fans them out on the workers; answer once they did. In a
// cluster, Redis sequences it first; then every node (this one included) stores it and fans it
// out, and this node answers once its own log holds it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "wshub/cache/cache.hpp"
#include "wshub/cluster/redis_cluster.hpp"
#include "wshub/hub/counters.hpp"
#include "wshub/hub/hub.hpp"
#include "wshub/store/message_log.hpp"

namespace wshub::publish {

class publisher;

// One publish on its way through the node: made by its request (which fills `message`), handed
// to publisher::publish, stored, framed once, fanned out by every worker, then completed exactly
// once. The publisher never owns it: its maker keeps it alive until complete().
class publish_op {
 public:
  publish_op() = default;
  publish_op(const publish_op&) = delete;
  publish_op& operator=(const publish_op&) = delete;
  virtual ~publish_op() = default;

  // channels (at least one), username, body and the target; the log gives id and ts. Moved out
  // by publish().
  hub::message message;
  // Set before complete():
  std::error_code error;       // the message was not stored (nothing was acknowledged)
  std::uint64_t id = 0;
  std::size_t recipients = 0;  // sockets of this node that got it

  // Once, on any thread (the log's reporting thread, a worker, the cluster's threads, or the caller of
  // publish() when the message is refused at once); must not block: post to your own executor.
  // The publisher does not touch the op after calling it.
  virtual void complete() = 0;
  // Instead of complete(), once: the node stopped with the op in flight (its worker will not run
  // again), so there is nobody to answer; release the op. May run inside a worker's teardown.
  virtual void abandon() = 0;

 private:
  friend class publisher;
  std::chrono::steady_clock::time_point started_;
  hub::frame_ptr frame_;                    // from the commit until every worker fanned it out
  std::atomic<std::size_t> counted_{0};     // recipients, added by the workers
  publish_op* next_in_commit_ = nullptr;    // the log's reporting thread, then the commit's
  bool answered_ = true;                    // false for another node's message (nobody to answer)
};

class publisher {
 public:
  // Installs itself as `log`'s commit hook.
  publisher(store::message_log& log, cache::cache& cache, hub::hub& hub, hub::counters& counters);
  // Abandons the cluster publishes still waiting for their confirmation.
  ~publisher();
  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;

  // Cluster mode: sequence every message through `cluster` (set before the first publish).
  // A publish not stored here within `confirm_timeout` is answered with unconfirmed.
  void use_cluster(cluster::redis_cluster& cluster, std::chrono::milliseconds confirm_timeout);

  // Paces publishers by the writes of their messages. `pace` runs its continuation once the
  // frames of every message fanned out so far have been handed to their sockets (by every
  // worker's write scheduler). A publish that reached local sockets is answered at once while
  // fewer than `answer_ahead` earlier ones wait for that, else only once its own frames are
  // written: a fast publisher cannot queue a backlog of messages ahead of the sockets, so each
  // message waits about one pass over them instead of many.
  using pace_fn = std::function<void(std::function<void()>)>;
  void pace_answers(pace_fn pace, std::size_t answer_ahead) {
    pace_ = std::move(pace);
    answer_ahead_ = answer_ahead;
  }

  // Stores op.message, encodes it once, fans it out, then completes `op`: on a worker once every
  // worker fanned out its commit (or where `pace` continues), or right away when the message is
  // refused. Allocates nothing but the frame and its share of the commit.
  void publish(publish_op& op);
  // The same for several messages, stored in one transaction (in a cluster: sequenced by one
  // script), with ids increasing in their order; each op is completed on its own.
  void publish_batch(std::vector<publish_op*> ops);

  // The cluster's reader thread: stores `batch` (sequenced by Redis) as one unit and fans it
  // out; answers the publishes of this node among them. Blocks until durable; false when the
  // log refused or failed it (nothing of it is stored then).
  bool store_sequenced(std::vector<cluster::sequenced_message>& batch);

  // Answers `unconfirmed` to cluster publishes older than the confirm timeout. Once a second.
  void expire_unconfirmed();

  // Publishes this node acknowledged.
  std::uint64_t acknowledged() const { return acknowledged_.load(std::memory_order_relaxed); }

 private:
  struct waiter {
    publish_op* op;
    std::chrono::steady_clock::time_point started;
  };
  class commit;
  class relay_op;
  class group_cursor;
  // The log's reporting thread: frames `stored` into `op` and adds it to the commit being gathered.
  void deliver(hub::message& stored, publish_op& op);
  // The log's reporting thread, after each commit: hands the gathered ops to the hub.
  void hand_over();
  // The log's reporting thread, in id order: what a publish of this node does once the log answered it.
  void on_stored(std::error_code ec, hub::message& stored, publish_op& op);
  std::string next_origin();
  void fail(publish_op& op, std::error_code ec);
  publish_op* take_waiter(const std::string& origin);  // null: another node's publish
  void acknowledge(publish_op& op);  // through pace_ when it reached sockets

  store::message_log& log_;
  cache::cache& cache_;
  hub::hub& hub_;
  hub::counters& counters_;
  cluster::redis_cluster* cluster_ = nullptr;
  pace_fn pace_;
  std::size_t answer_ahead_ = 0;
  std::atomic<std::size_t> unflushed_{0};  // acknowledged publishes whose frames wait to be written
  std::chrono::milliseconds confirm_timeout_{5000};
  std::atomic<std::uint64_t> next_origin_{1};
  std::atomic<std::uint64_t> acknowledged_{0};
  std::mutex waiters_mutex_;
  std::unordered_map<std::string, waiter> waiters_;  // by origin; guarded by waiters_mutex_
  publish_op* commit_first_ = nullptr;  // the log's reporting thread only: the commit being gathered
  publish_op* commit_last_ = nullptr;   // the log's reporting thread only
};

}  // namespace wshub::publish
