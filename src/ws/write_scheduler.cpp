#include "wshub/ws/write_scheduler.hpp"

#include <boost/asio/post.hpp>

namespace wshub::ws {

void write_scheduler::add(std::shared_ptr<client> c) {
  {
    std::lock_guard lock(mutex_);
    waiting_.push_back(std::move(c));
    if (posted_) return;
    posted_ = true;
  }
  boost::asio::post(ioc_, [this] { run(); });
}

namespace {

// Stands in the list like a session: reached once everything before it was flushed, its
// slice's sends included.
class marker final : public write_scheduler::client {
 public:
  marker(send_ring& sends, std::function<void()> then) : sends_(sends), then_(std::move(then)) {}
  void flush() override {
    sends_.flush();
    then_();
  }

 private:
  send_ring& sends_;
  std::function<void()> then_;
};

}  // namespace

void write_scheduler::after_flushed(std::function<void()> then) { add(std::make_shared<marker>(sends_, std::move(then))); }

void write_scheduler::run() {
  const send_pass slice(sends_);  // the slice's sends go to the kernel together when it ends
  for (std::size_t woken = 0; woken < slice_; ++woken) {
    if (next_ == running_.size()) {
      running_.clear();
      next_ = 0;
      std::lock_guard lock(mutex_);
      if (waiting_.empty()) {
        posted_ = false;
        return;
      }
      running_.swap(waiting_);
    }
    const auto c = std::move(running_[next_++]);
    c->flush();
  }
  boost::asio::post(ioc_, [this] { run(); });  // after what the I/O thread has to do meanwhile
}

}  // namespace wshub::ws
