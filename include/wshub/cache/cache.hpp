#pragma once
// The newest messages of the busiest channels, in memory, so that resume and the newest pages of
// history are answered without reading SQLite. Only what those reads use is kept: a message's
// frame (the text sockets and history send), per channel, within a byte and a channel bound.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wshub/hub/frame.hpp"

namespace wshub::cache {

// A range of ids of some channels: after < id < before, at most `limit` frames, and past the
// first, at most about `max_bytes` of frame text.
struct id_range {
  std::uint64_t after = 0;
  std::uint64_t before = UINT64_MAX;
  std::size_t limit = SIZE_MAX;
  std::size_t max_bytes = SIZE_MAX;
  bool newest_first = false;  // the newest `limit` frames of the range, newest first
};

class cache {
 public:
  virtual ~cache() = default;
  // Keeps `f` among the newest frames of each of its channels. Frames come in id order (the
  // store's commit order); targeted frames are private and not kept.
  virtual void remember(const hub::frame_ptr& f) = 0;
  // The untargeted frames of any of `channels` in `range`, each once, in id order (newest first
  // when asked), exactly as the store would list them; nullopt when the cache cannot tell
  // (part of the range is older than what it holds for one of the channels).
  virtual std::optional<std::vector<hub::frame_ptr>> read(const std::vector<std::string>& channels,
                                                          const id_range& range) const = 0;
};

}  // namespace wshub::cache
