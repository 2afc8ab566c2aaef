#pragma once
// A session's outbound frames, bounded in bytes. Not thread-safe: the session guards it.
#include <cstddef>
#include <vector>

#include "wshub/hub/frame.hpp"

namespace wshub::ws {

// Frames wait in arrival order. A batch of the oldest is handed to the writer (one gather write);
// its bytes stay counted until written() is called. Allocates nothing while empty and gives its
// storage back once drained, so an idle session costs no queue memory.
class outbound_queue {
 public:
  explicit outbound_queue(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // Queues `f` unless that would put more than max_bytes in the queue (pending plus the frames
  // being written). An empty queue always takes one frame, so a single large message never
  // condemns an idle client. Returns false on overflow, leaving the queue unchanged.
  bool push(hub::frame_ptr f);
  // Queues `f` whatever the limit: for frames the session already accepted (held during a
  // resume) or produced itself a page at a time (replay).
  void push_unbounded(hub::frame_ptr f);

  // Moves up to `max_frames` of the oldest pending frames to the end of `out` (the writer's) and
  // returns how many; 0 while a batch is in flight or nothing is pending.
  std::size_t take_batch(std::vector<hub::frame_ptr>& out, std::size_t max_frames);
  // The batch in flight was written: its bytes are no longer counted.
  void written();
  // Drops the pending frames (not the batch in flight).
  void clear_pending();

  std::size_t bytes() const { return bytes_; }
  std::size_t pending() const { return frames_.size() - head_; }
  bool in_flight() const { return in_flight_; }

 private:
  const std::size_t max_bytes_;
  std::vector<hub::frame_ptr> frames_;  // pending from head_ on; those before are taken
  std::size_t head_ = 0;
  std::size_t bytes_ = 0;            // pending plus in flight
  std::size_t in_flight_bytes_ = 0;
  bool in_flight_ = false;
};

}  // namespace wshub::ws
