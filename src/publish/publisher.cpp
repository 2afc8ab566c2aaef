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

void publisher::use_cluster(cluster::redis_cluster& cluster, std::chrono::milliseconds confirm_timeout) {
  cluster_ = &cluster;
  confirm_timeout_ = confirm_timeout;
}

void publisher::deliver(const hub::message& stored, publish_done done) {
  auto f = hub::make_frame(stored);
  cache_.remember(f);
  counters_.published.fetch_add(1, std::memory_order_relaxed);
  commit_answers_.push_back(answer_due{std::move(done), publish_result{{}, stored.id, 0}});
  commit_frames_.push_back(std::move(f));
}

// One job per worker for the whole commit: the frames go out in id order on every worker while
// the writer commits the next group; the answers wait for the recipients of every worker.
void publisher::hand_over() {
  if (commit_frames_.empty()) return;
  auto answers = std::make_shared<std::vector<answer_due>>(std::exchange(commit_answers_, {}));
  std::function<void(std::vector<std::size_t>)> answer_all;
  if (std::any_of(answers->begin(), answers->end(), [](const answer_due& a) { return bool(a.done); }))
    answer_all = [this, answers](std::vector<std::size_t> recipients) {
      for (std::size_t i = 0; i < answers->size(); ++i) {
        auto& a = (*answers)[i];
        if (!a.done) continue;
        a.result.recipients = recipients[i];
        acknowledge(std::move(a.done), std::move(a.result));
      }
    };
  hub_.deliver(std::exchange(commit_frames_, {}), std::move(answer_all));
}

namespace {

hub::message to_message(publish_request r) {
  return hub::message{0,
                      0,
                      std::move(r.channels),
                      std::move(r.username),
                      std::move(r.body),
                      r.to_conn,
                      std::move(r.to_user)};
}

// Gathers the answers of a batch's messages, from any thread; answers the batch with the last.
class batch_answers {
 public:
  batch_answers(std::size_t n, batch_done done) : left_(n), done_(std::move(done)) { result_.results.resize(n); }
  void set(std::size_t i, publish_result r) {
    result_.results[i] = std::move(r);
    if (left_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    for (const auto& each : result_.results)
      if (each.error && !result_.error) result_.error = each.error;
    done_(std::move(result_));
  }
  void fail_all(std::error_code ec) {
    for (std::size_t i = 0; i < result_.results.size(); ++i) set(i, publish_result{ec, 0, 0});
  }
  std::size_t next = 0;  // the log's writer thread: the index of the next message it stores

 private:
  batch_result result_;
  std::atomic<std::size_t> left_;
  batch_done done_;
};

}  // namespace

std::string publisher::next_origin() {
  return cluster_->node_id() + "/" + std::to_string(next_origin_.fetch_add(1, std::memory_order_relaxed));
}

void publisher::on_stored(std::error_code ec, const hub::message& stored, const publish_done& done,
                          std::chrono::steady_clock::time_point started) {
  if (ec) {
    counters_.publish_failures.fetch_add(1, std::memory_order_relaxed);
    done(publish_result{ec, 0, 0});
    return;
  }
  counters_.publish_store_latency.record(std::chrono::steady_clock::now() - started);
  acknowledged_.fetch_add(1, std::memory_order_relaxed);
  deliver(stored, done);
}

void publisher::publish(publish_request request, publish_done done) {
  auto m = to_message(std::move(request));
  const auto started = std::chrono::steady_clock::now();
  if (cluster_) {
    auto origin = next_origin();
    {
      std::lock_guard lock(waiters_mutex_);
      waiters_.emplace(origin, waiter{std::move(done), started});
    }
    cluster_->submit(std::move(m), origin, [this, origin](std::error_code ec) {
      counters_.publish_failures.fetch_add(1, std::memory_order_relaxed);
      answer(origin, publish_result{ec, 0, 0});
    });
    return;
  }
  // The durable handler runs on the writer thread in id order, so fan-out keeps id order too.
  auto on_durable = [this, done, started](std::error_code ec, const hub::message& stored) {
    on_stored(ec, stored, done, started);
  };
  if (const auto ec = log_.append(std::move(m), std::move(on_durable))) {
    counters_.publish_failures.fetch_add(1, std::memory_order_relaxed);
    done(publish_result{ec, 0, 0});
  }
}

void publisher::publish_batch(std::vector<publish_request> requests, batch_done done) {
  const auto n = requests.size();
  if (n == 0) return done(batch_result{});
  auto answers = std::make_shared<batch_answers>(n, std::move(done));
  std::vector<hub::message> group;
  group.reserve(n);
  for (auto& r : requests) group.push_back(to_message(std::move(r)));
  const auto started = std::chrono::steady_clock::now();
  if (cluster_) {
    std::vector<std::string> origins;
    origins.reserve(n);
    {
      std::lock_guard lock(waiters_mutex_);
      for (std::size_t i = 0; i < n; ++i) {
        origins.push_back(next_origin());
        waiters_.emplace(origins.back(), waiter{[answers, i](publish_result r) { answers->set(i, std::move(r)); }, started});
      }
    }
    cluster_->submit_group(std::move(group), origins, [this, origins](std::error_code ec) {
      counters_.publish_failures.fetch_add(origins.size(), std::memory_order_relaxed);
      for (const auto& origin : origins) answer(origin, publish_result{ec, 0, 0});
    });
    return;
  }
  // The log calls this for each message of the group, in order, on its writer thread.
  auto on_durable = [this, answers, started](std::error_code ec, const hub::message& stored) {
    const auto i = answers->next++;
    on_stored(ec, stored, [answers, i](publish_result r) { answers->set(i, std::move(r)); }, started);
  };
  if (const auto ec = log_.append_group(std::move(group), std::move(on_durable))) {
    counters_.publish_failures.fetch_add(n, std::memory_order_relaxed);
    answers->fail_all(ec);
  }
}

std::optional<publisher::waiter> publisher::take_waiter(const std::string& origin) {
  std::lock_guard lock(waiters_mutex_);
  const auto it = waiters_.find(origin);
  if (it == waiters_.end()) return std::nullopt;  // another node's publish, or already answered
  auto w = std::move(it->second);
  waiters_.erase(it);
  return w;
}

void publisher::answer(const std::string& origin, publish_result result) {
  if (auto w = take_waiter(origin)) acknowledge(std::move(w->done), std::move(result));
}

void publisher::acknowledge(publish_done done, publish_result result) {
  if (!pace_ || result.recipients == 0) return done(std::move(result));
  if (unflushed_.fetch_add(1) < answer_ahead_) {
    pace_([this] { unflushed_.fetch_sub(1); });
    return done(std::move(result));
  }
  pace_([this, done = std::move(done), result = std::move(result)]() mutable {
    unflushed_.fetch_sub(1);
    done(std::move(result));
  });
}

bool publisher::store_sequenced(std::vector<cluster::sequenced_message>& batch) {
  std::vector<hub::message> group;
  group.reserve(batch.size());
  for (const auto& s : batch) group.push_back(s.message);
  std::promise<bool> stored;
  auto result = stored.get_future();
  std::size_t index = 0;
  // On the log's writer thread, in id order, once the whole group is committed (or failed).
  auto on_durable = [&, last = batch.size() - 1](std::error_code ec, const hub::message& m) {
    const auto i = index++;
    if (!ec) {
      auto w = take_waiter(batch[i].origin);
      if (w) {
        counters_.publish_store_latency.record(std::chrono::steady_clock::now() - w->started);
        acknowledged_.fetch_add(1, std::memory_order_relaxed);
      }
      deliver(m, w ? std::move(w->done) : publish_done());
    }
    if (i == last) stored.set_value(!ec);
  };
  if (log_.append_group(std::move(group), on_durable)) return false;
  return result.get();
}

void publisher::expire_unconfirmed() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<publish_done> expired;
  {
    std::lock_guard lock(waiters_mutex_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (now - it->second.started < confirm_timeout_) {
        ++it;
        continue;
      }
      expired.push_back(std::move(it->second.done));
      it = waiters_.erase(it);
    }
  }
  for (auto& done : expired) {
    counters_.publish_failures.fetch_add(1, std::memory_order_relaxed);
    done(publish_result{cluster::cluster_errc::unconfirmed, 0, 0});
  }
}

}  // namespace wshub::publish
