#pragma once
// Reads of the message log, answered by the cache when the range is in memory and by SQLite
// otherwise, with the same result either way: resume (the plan and its pages) and history pages.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "wshub/cache/cache.hpp"
#include "wshub/hub/frame.hpp"
#include "wshub/store/message_log.hpp"

namespace wshub::cache {

// Blocking when SQLite answers: call it off the I/O threads. Holds references only.
class cached_log {
 public:
  // `cache` may be null: then SQLite answers every read.
  cached_log(const store::message_log& log, const cache* cache) : log_(log), cache_(cache) {}

  // store::message_log::read_after, as frames.
  std::vector<hub::frame_ptr> read_after(const std::vector<std::string>& channels, std::uint64_t after_id,
                                         std::size_t limit, std::size_t max_bytes = SIZE_MAX) const;
  // store::message_log::read_range, as frames.
  std::vector<hub::frame_ptr> read_range(const std::string& channel, std::uint64_t after_id, std::uint64_t before_id,
                                         std::size_t limit, bool newest_first) const;
  // store::message_log::plan_resume.
  store::message_log::resume_plan plan_resume(const std::vector<std::string>& channels, std::uint64_t after_id,
                                              std::size_t max_messages) const;

 private:
  // The cache's answer for `range`, shifted above what retention deleted; nullopt on a miss.
  std::optional<std::vector<hub::frame_ptr>> from_cache(const std::vector<std::string>& channels, id_range range) const;

  const store::message_log& log_;
  const cache* cache_;
};

}  // namespace wshub::cache
