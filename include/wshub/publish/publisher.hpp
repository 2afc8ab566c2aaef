#pragma once
// The one path of a published message: store it durably, then hand each commit's frames to the
// hub (one job per worker), which fans them out on the workers; answer once they did. In a
// cluster, Redis sequences it first; then every node (this one included) stores it and fans it
// out, and this node answers once its own log holds it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
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

struct publish_request {
  std::vector<std::string> channels;  // at least one
  std::string username;
  std::string body;
  std::uint64_t to_conn = 0;  // targeted delivery: this connection only
  std::string to_user;        // targeted delivery: this user's connections only
};

struct publish_result {
  std::error_code error;  // set when the message was not stored (nothing was acknowledged)
  std::uint64_t id = 0;
  std::size_t recipients = 0;  // sockets of this node that got it
};

using publish_done = std::function<void(publish_result)>;

struct batch_result {
  std::error_code error;                // set when not all of the batch was acknowledged
  std::vector<publish_result> results;  // one per message, in the batch's order
};
using batch_done = std::function<void(batch_result)>;

class publisher {
 public:
  // Installs itself as `log`'s commit hook.
  publisher(store::message_log& log, cache::cache& cache, hub::hub& hub, hub::counters& counters);

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

  // Stores the message, encodes it once, fans it out, then calls `done` exactly once: on a
  // worker once every worker fanned out the commit (or where `pace` continues), or right away
  // when the message is refused. `done` must not block; post to your own executor.
  void publish(publish_request request, publish_done done);
  // The same for several messages, stored in one transaction (in a cluster: sequenced by one
  // script), with ids increasing in their order; `done` once, when every one was answered.
  void publish_batch(std::vector<publish_request> requests, batch_done done);

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
    publish_done done;
    std::chrono::steady_clock::time_point started;
  };
  // Writer thread: frames `stored`, remembers it and adds it to the commit being gathered,
  // answered through `done` (may be empty) once fanned out.
  void deliver(const hub::message& stored, publish_done done);
  // Writer thread, after each commit: hands the gathered frames to the hub.
  void hand_over();
  // Writer thread, in id order: what a publish of this node does once the log answered it.
  void on_stored(std::error_code ec, const hub::message& stored, const publish_done& done,
                 std::chrono::steady_clock::time_point started);
  std::string next_origin();
  void answer(const std::string& origin, publish_result result);
  std::optional<waiter> take_waiter(const std::string& origin);  // none: another node's publish
  void acknowledge(publish_done done, publish_result result);  // through pace_ when it reached sockets

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
  struct answer_due {
    publish_done done;
    publish_result result;
  };
  std::vector<hub::frame_ptr> commit_frames_;  // writer thread only: the commit being gathered
  std::vector<answer_due> commit_answers_;     // writer thread only: one per frame
};

}  // namespace wshub::publish
