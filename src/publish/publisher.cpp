#include "wshub/publish/publisher.hpp"

namespace wshub::publish {

publisher::publisher(store::message_log& log, cache::cache& cache, cluster::broker& broker,
                     hub::counters& counters)
    : log_(log), cache_(cache), broker_(broker), counters_(counters) {}

void publisher::publish(publish_request request, std::function<void(publish_result)> done) {
  hub::message m{0,
                 0,
                 std::move(request.channels),
                 std::move(request.username),
                 std::move(request.body),
                 request.to_conn,
                 std::move(request.to_user)};
  // The durable handler runs on the writer thread in id order, so fan-out keeps id order too.
  const auto started = std::chrono::steady_clock::now();
  auto on_durable = [this, done, started](std::error_code ec, const hub::message& stored) {
    if (ec) {
      counters_.publish_failures.fetch_add(1, std::memory_order_relaxed);
      done(publish_result{ec, 0, 0});
      return;
    }
    counters_.publish_store_latency.record(std::chrono::steady_clock::now() - started);
    const auto f = hub::make_frame(stored);
    cache_.remember(f);
    const auto recipients = broker_.publish(f);
    counters_.published.fetch_add(1, std::memory_order_relaxed);
    done(publish_result{{}, stored.id, recipients});
  };
  if (const auto ec = log_.append(std::move(m), std::move(on_durable))) {
    counters_.publish_failures.fetch_add(1, std::memory_order_relaxed);
    done(publish_result{ec, 0, 0});
  }
}

}  // namespace wshub::publish
