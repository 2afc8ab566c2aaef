#include "wshub/ws/outbound_queue.hpp"

namespace wshub::ws {

bool outbound_queue::push(hub::frame_ptr f) {
  const auto size = f->text.size();
  if (bytes_ != 0 && bytes_ + size > max_bytes_) return false;
  bytes_ += size;
  pending_.push_back(std::move(f));
  return true;
}

void outbound_queue::push_unbounded(hub::frame_ptr f) {
  bytes_ += f->text.size();
  pending_.push_back(std::move(f));
}

hub::frame_ptr outbound_queue::next() {
  if (in_flight_ || pending_.empty()) return nullptr;
  auto f = std::move(pending_.front());
  pending_.pop_front();
  in_flight_ = true;
  in_flight_bytes_ = f->text.size();
  return f;
}

void outbound_queue::written() {
  if (!in_flight_) return;
  bytes_ -= in_flight_bytes_;
  in_flight_bytes_ = 0;
  in_flight_ = false;
}

void outbound_queue::clear_pending() {
  for (const auto& f : pending_) bytes_ -= f->text.size();
  pending_.clear();
}

}  // namespace wshub::ws
