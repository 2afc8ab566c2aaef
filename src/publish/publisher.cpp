#include "wshub/publish/publisher.hpp"

#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <optional>
#include <utility>

namespace wshub::publish {

publisher::publisher(store::message_log& log, cache::cache& cache, hub::hub& hub, hub::counters& counters)
    : log_(log), cache_(cache), hub_(hub), counters_(counters) {
  log_.on_commit([this] { hand_over(); });
}

publisher::~publisher() {
  for (auto& [origin, w] : waiters_) w.op->abandon();
}

void publisher::use_cluster(cluster::redis_cluster& cluster, std::chrono::milliseconds confirm_timeout) {
  cluster_ = &cluster;
  confirm_timeout_ = confirm_timeout;
}

// The frames of one commit, as a list of its ops, on their way to every worker.
class publisher::commit final : public hub::delivery {
 public:
  commit(publisher& p, publish_op* first) : publisher_(p), first_(first) {}
  void fan_out(util::function_ref<std::size_t(const hub::frame_ptr&)> fan_out) override {
    for (auto* op = first_; op; op = op->next_in_commit_)
      if (const auto n = fan_out(op->frame_)) op->counted_.fetch_add(n, std::memory_order_relaxed);
  }
  // The answers wait for the recipients of every worker.
  void delivered() override {
    for (auto* op = first_; op;) {
      auto* next = op->next_in_commit_;  // `op` may be gone once answered
      op->frame_.reset();
      op->recipients = op->counted_.load(std::memory_order_relaxed);
      if (op->answered_) publisher_.acknowledge(*op);
      else op->complete();
      op = next;
    }
  }
  void abandoned() override {
    for (auto* op = first_; op;) {
      auto* next = op->next_in_commit_;
      op->frame_.reset();
      op->abandon();
      op = next;
    }
  }

 private:
  publisher& publisher_;
  publish_op* first_;
};

// Another node's message, stored and fanned out here; nobody waits for it.
class publisher::relay_op final : public publish_op {
 public:
  relay_op() { answered_ = false; }
  void complete() override { delete this; }
  void abandon() override { delete this; }
};

// The ops of one group, in the order the log stores (and reports) its messages; the durable
// handler of every message of the group points here, so copying it allocates nothing.
class publisher::group_cursor {
 public:
  explicit group_cursor(std::vector<publish_op*> ops) : ops_(std::move(ops)) {}
  publish_op& next() { return *ops_[next_++]; }
  bool done() const { return next_ == ops_.size(); }
  const std::vector<publish_op*>& ops() const { return ops_; }

 private:
  std::vector<publish_op*> ops_;
  std::size_t next_ = 0;
};

void publisher::deliver(hub::message& stored, publish_op& op) {
  op.id = stored.id;
  op.frame_ = hub::make_frame(std::move(stored));
  cache_.remember(op.frame_);
  counters_.published.fetch_add(1, std::memory_order_relaxed);
  op.next_in_commit_ = nullptr;
  if (commit_last_) commit_last_->next_in_commit_ = &op;
  else commit_first_ = &op;
  commit_last_ = &op;
}

// One job per worker for the whole commit: the frames go out in id order on every worker while
// the writer commits the next group.
void publisher::hand_over() {
  if (!commit_first_) return;
  auto c = std::make_unique<commit>(*this, std::exchange(commit_first_, nullptr));
  commit_last_ = nullptr;
  hub_.deliver(std::move(c));
}

std::string publisher::next_origin() {
  return cluster_->node_id() + "/" + std::to_string(next_origin_.fetch_add(1, std::memory_order_relaxed));
}

void publisher::fail(publish_op& op, std::error_code ec) {
  counters_.publish_failures.fetch_add(1, std::memory_order_relaxed);
  op.error = ec;
  op.complete();
}

void publisher::on_stored(std::error_code ec, hub::message& stored, publish_op& op) {
  if (ec) return fail(op, ec);
  counters_.publish_store_latency.record(std::chrono::steady_clock::now() - op.started_);
  acknowledged_.fetch_add(1, std::memory_order_relaxed);
  deliver(stored, op);
}

void publisher::publish(publish_op& op) {
  op.started_ = std::chrono::steady_clock::now();
  if (cluster_) {
    auto m = std::move(op.message);  // once waiting, the op may be completed (expired) any time
    auto origin = next_origin();
    {
      std::lock_guard lock(waiters_mutex_);
      waiters_.emplace(origin, waiter{&op, op.started_});
    }
    cluster_->submit(std::move(m), origin, [this, origin](std::error_code ec) {
      if (auto* waiting = take_waiter(origin)) fail(*waiting, ec);
    });
    return;
  }
  // On the log's reporting thread in id order, so fan-out keeps id order too. Two pointers: no allocation.
  auto* o = &op;
  if (const auto ec = log_.append(std::move(op.message), [this, o](std::error_code e, hub::message& stored) {
        on_stored(e, stored, *o);
      }))
    fail(op, ec);
}

void publisher::publish_batch(std::vector<publish_op*> ops) {
  const auto n = ops.size();
  if (n == 0) return;
  std::vector<hub::message> group;
  group.reserve(n);
  const auto started = std::chrono::steady_clock::now();
  for (auto* op : ops) {
    op->started_ = started;
    group.push_back(std::move(op->message));
  }
  if (cluster_) {
    std::vector<std::string> origins;
    origins.reserve(n);
    {
      std::lock_guard lock(waiters_mutex_);
      for (auto* op : ops) {
        origins.push_back(next_origin());
        waiters_.emplace(origins.back(), waiter{op, started});
      }
    }
    cluster_->submit_group(std::move(group), origins, [this, origins](std::error_code ec) {
      for (const auto& origin : origins)
        if (auto* waiting = take_waiter(origin)) fail(*waiting, ec);
    });
    return;
  }
  auto* cursor = new group_cursor(std::move(ops));
  // The log calls this for each message of the group, in order, on its reporting thread.
  const auto ec = log_.append_group(std::move(group), [this, cursor](std::error_code e, hub::message& stored) {
    on_stored(e, stored, cursor->next());
    if (cursor->done()) delete cursor;
  });
  if (ec) {
    std::unique_ptr<group_cursor> refused(cursor);
    for (auto* op : refused->ops()) fail(*op, ec);
  }
}

publish_op* publisher::take_waiter(const std::string& origin) {
  std::lock_guard lock(waiters_mutex_);
  const auto it = waiters_.find(origin);
  if (it == waiters_.end()) return nullptr;  // another node's publish, or already answered
  auto* op = it->second.op;
  waiters_.erase(it);
  return op;
}

void publisher::acknowledge(publish_op& op) {
  if (!pace_ || op.recipients == 0) return op.complete();
  if (unflushed_.fetch_add(1) < answer_ahead_) {
    pace_([this] { unflushed_.fetch_sub(1); });
    return op.complete();
  }
  // Held by the continuation, which may be dropped unrun when the node stops.
  struct waiting_answer {
    explicit waiting_answer(publish_op& o) : op(&o) {}
    waiting_answer(const waiting_answer&) = delete;
    waiting_answer& operator=(const waiting_answer&) = delete;
    ~waiting_answer() {
      if (op) op->abandon();
    }
    publish_op* op;
  };
  pace_([this, waiting = std::make_shared<waiting_answer>(op)] {
    unflushed_.fetch_sub(1);
    std::exchange(waiting->op, nullptr)->complete();
  });
}

bool publisher::store_sequenced(std::vector<cluster::sequenced_message>& batch) {
  std::vector<hub::message> group;
  group.reserve(batch.size());
  for (const auto& s : batch) group.push_back(s.message);
  std::promise<bool> stored;
  auto result = stored.get_future();
  std::size_t index = 0;
  // On the log's reporting thread, in id order, once the whole group is committed (or failed).
  auto on_durable = [&, last = batch.size() - 1](std::error_code ec, hub::message& m) {
    const auto i = index++;
    if (!ec) {
      auto* op = take_waiter(batch[i].origin);
      if (op) {
        counters_.publish_store_latency.record(std::chrono::steady_clock::now() - op->started_);
        acknowledged_.fetch_add(1, std::memory_order_relaxed);
      } else {
        op = new relay_op;
      }
      deliver(m, *op);
    }
    if (i == last) stored.set_value(!ec);
  };
  if (log_.append_group(std::move(group), on_durable)) return false;
  return result.get();
}

void publisher::expire_unconfirmed() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<publish_op*> expired;
  {
    std::lock_guard lock(waiters_mutex_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (now - it->second.started < confirm_timeout_) {
        ++it;
        continue;
      }
      expired.push_back(it->second.op);
      it = waiters_.erase(it);
    }
  }
  for (auto* op : expired) fail(*op, cluster::cluster_errc::unconfirmed);
}

}  // namespace wshub::publish
