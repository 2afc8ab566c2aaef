#include "wshub/ws/timer_wheel.hpp"

#include <algorithm>

namespace wshub::ws {

void timer_wheel::entry::cancel() {
  if (!prev_) return;
  prev_->next_ = next_;
  next_->prev_ = prev_;
  prev_ = next_ = nullptr;
}

timer_wheel::timer_wheel(boost::asio::io_context& ioc, clock::duration resolution, std::size_t slots)
    : timer_(ioc),
      resolution_(std::max<clock::duration>(resolution, std::chrono::milliseconds(1))),
      origin_(clock::now()),
      slot_count_(std::max<std::size_t>(slots, 1)),
      slots_(std::make_unique<sentinel[]>(slot_count_)) {
  for (std::size_t i = 0; i < slot_count_; ++i) slots_[i].prev_ = slots_[i].next_ = &slots_[i];
}

timer_wheel::~timer_wheel() {
  for (std::size_t i = 0; i < slot_count_; ++i) {
    auto* head = &slots_[i];
    for (auto* e = head->next_; e != head;) {
      auto* next = e->next_;
      e->prev_ = e->next_ = nullptr;
      e = next;
    }
    head->prev_ = head->next_ = nullptr;
  }
}

std::int64_t timer_wheel::tick_at_or_after(clock::time_point t) const {
  const auto d = (t - origin_).count();
  const auto r = resolution_.count();
  return d <= 0 ? 0 : (d + r - 1) / r;
}

std::int64_t timer_wheel::tick_before(clock::time_point t) const {
  const auto d = (t - origin_).count();
  return d <= 0 ? 0 : d / resolution_.count();
}

void timer_wheel::schedule(entry& e, clock::time_point at) {
  e.cancel();
  e.due_ = at;
  // A deadline in a tick already run goes to the next one.
  link(e, std::max(tick_at_or_after(at), done_ + 1));
  arm();
}

void timer_wheel::link(entry& e, std::int64_t tick) {
  auto& head = slots_[static_cast<std::size_t>(tick) % slot_count_];
  e.prev_ = head.prev_;
  e.next_ = &head;
  head.prev_->next_ = &e;
  head.prev_ = &e;
}

bool timer_wheel::empty() const {
  for (std::size_t i = 0; i < slot_count_; ++i)
    if (slots_[i].next_ != &slots_[i]) return false;
  return true;
}

// The timer waits for the next tick while any entry is scheduled (entries cancel themselves
// without the wheel, so the check after a tick scans the slots: slots pointer compares, 10 times
// a second at the default resolution).
void timer_wheel::arm() {
  if (armed_) return;
  armed_ = true;
  timer_.expires_at(origin_ + resolution_ * (done_ + 1));
  timer_.async_wait([this](boost::system::error_code ec) {
    armed_ = false;
    if (!ec) on_timer();
  });
}

// Runs every tick that has passed since the last run, from the oldest, each slot once at most (a
// slot holds every lap's entries, and each is checked against its own deadline): after a delay
// longer than a lap, the due entries are still called in the order of their slots from where
// the wheel stopped, so the earliest deadlines come first.
void timer_wheel::on_timer() {
  const auto now = clock::now();
  const auto last = std::min(tick_before(now), done_ + static_cast<std::int64_t>(slot_count_));
  for (auto tick = done_ + 1; tick <= last; ++tick) {
    done_ = tick;
    run_slot(tick, now);
  }
  done_ = std::max(done_, tick_before(now));
  if (!empty()) arm();
}

// The due entries of one slot are called; the others (later laps) stay. The slot's list is moved
// to a local one first, so entries that schedule or cancel themselves or others meanwhile change
// only lists that are consistent.
void timer_wheel::run_slot(std::int64_t tick, clock::time_point now) {
  auto& head = slots_[static_cast<std::size_t>(tick) % slot_count_];
  if (head.next_ == &head) return;
  sentinel local;
  local.next_ = head.next_;
  local.prev_ = head.prev_;
  local.next_->prev_ = &local;
  local.prev_->next_ = &local;
  head.prev_ = head.next_ = &head;
  while (local.next_ != &local) {
    auto* e = local.next_;
    e->cancel();
    if (e->due_ <= now) {
      e->on_due();
    } else {
      link(*e, std::max(tick_at_or_after(e->due_), done_ + 1));
    }
  }
  local.prev_ = local.next_ = nullptr;
}

}  // namespace wshub::ws
