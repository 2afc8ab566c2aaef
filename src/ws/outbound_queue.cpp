#include "wshub/ws/outbound_queue.hpp"

#include <algorithm>

namespace wshub::ws {

bool outbound_queue::push(hub::frame_ptr f) {
  const auto size = f->text().size();
  if (bytes_ != 0 && bytes_ + size > max_bytes_) return false;
  bytes_ += size;
  frames_.push_back(std::move(f));
  return true;
}

void outbound_queue::push_unbounded(hub::frame_ptr f) {
  bytes_ += f->text().size();
  frames_.push_back(std::move(f));
}

std::size_t outbound_queue::take_batch(std::vector<hub::frame_ptr>& out, std::size_t max_frames) {
  if (in_flight_) return 0;
  const auto n = std::min(pending(), max_frames);
  if (n == 0) return 0;
  for (std::size_t i = 0; i < n; ++i) {
    in_flight_bytes_ += frames_[head_]->text().size();
    out.push_back(std::move(frames_[head_++]));
  }
  in_flight_ = true;
  if (head_ == frames_.size()) {
    // Drained: keep a little storage for the next burst, give a large one back.
    if (frames_.capacity() > 64) frames_ = {};
    else frames_.clear();
    head_ = 0;
  } else if (head_ >= 64 && head_ * 2 >= frames_.size()) {
    frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  return n;
}

void outbound_queue::written() {
  bytes_ -= in_flight_bytes_;
  in_flight_bytes_ = 0;
  in_flight_ = false;
}

void outbound_queue::clear_pending() {
  for (auto i = head_; i < frames_.size(); ++i) bytes_ -= frames_[i]->text().size();
  frames_ = {};
  head_ = 0;
}

}  // namespace wshub::ws
