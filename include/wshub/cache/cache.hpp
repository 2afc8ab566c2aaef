#pragma once
// Hot state shared by the handlers: recent messages per channel and named counters. In process
// by default; a Redis implementation shares it between nodes. Implementations are thread-safe
// and never block for long (no disk; a networked one answers from memory or fails fast).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "wshub/hub/frame.hpp"

namespace wshub::cache {

class cache {
 public:
  virtual ~cache() = default;
  // Keeps `f` among the most recent frames of each of its channels (older ones fall out);
  // targeted frames are not kept.
  virtual void remember(const hub::frame_ptr& f) = 0;
  // Frames of `channel` with id > after_id, oldest first, at most `limit`.
  virtual std::vector<hub::frame_ptr> recent(const std::string& channel, std::uint64_t after_id,
                                             std::size_t limit) const = 0;
  virtual void add(const std::string& counter, std::int64_t delta) = 0;
  virtual std::int64_t get(const std::string& counter) const = 0;
};

}  // namespace wshub::cache
