#pragma once
// A session's outbound frames, bounded in bytes. Not thread-safe: the session guards it.
#include <cstddef>
#include <deque>

#include "wshub/hub/frame.hpp"

namespace wshub::ws {

class outbound_queue {
 public:
  explicit outbound_queue(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // Queues `f` unless that would put more than max_bytes in the queue (pending plus the frame
  // being written). An empty queue always takes one frame, so a single large message never
  // condemns an idle client. Returns false on overflow, leaving the queue unchanged.
  bool push(hub::frame_ptr f);
  // Queues `f` whatever the limit: for frames the session already accepted (held during a
  // resume) or produced itself a page at a time (replay).
  void push_unbounded(hub::frame_ptr f);

  // Moves the oldest pending frame into flight and returns it; null when nothing is pending.
  // Its bytes stay counted until written() is called.
  hub::frame_ptr next();
  // The frame in flight was written.
  void written();
  // Drops the pending frames (not the one in flight).
  void clear_pending();

  std::size_t bytes() const { return bytes_; }
  std::size_t pending() const { return pending_.size(); }
  bool in_flight() const { return in_flight_; }

 private:
  const std::size_t max_bytes_;
  std::deque<hub::frame_ptr> pending_;
  std::size_t bytes_ = 0;  // pending plus in flight
  std::size_t in_flight_bytes_ = 0;
  bool in_flight_ = false;
};

}  // namespace wshub::ws
