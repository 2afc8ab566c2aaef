#include "wshub/engine/workers.hpp"

namespace wshub::engine {

workers::workers(std::size_t count) {
  const auto n = std::max<std::size_t>(1, count);
  workers_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) workers_.push_back(std::make_unique<worker>(i));
}

workers::~workers() {
  stop();
  join();
}

void workers::start() {
  for (auto& w : workers_) w->thread = std::thread([&ioc = w->ioc] { ioc.run(); });
}

void workers::stop() {
  for (auto& w : workers_) w->ioc.stop();
}

void workers::join() {
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

void workers::after_flushed(std::function<void()> then) {
  if (workers_.size() == 1) return workers_.front()->writes.after_flushed(std::move(then));
  struct countdown {
    std::atomic<std::size_t> left;
    std::function<void()> then;
  };
  auto c = std::make_shared<countdown>();
  c->left = workers_.size();
  c->then = std::move(then);
  for (auto& w : workers_)
    w->writes.after_flushed([c] {
      if (c->left.fetch_sub(1, std::memory_order_acq_rel) == 1) c->then();
    });
}

}  // namespace wshub::engine
