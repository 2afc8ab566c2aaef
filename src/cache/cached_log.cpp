#include "wshub/cache/cached_log.hpp"

#include <algorithm>

namespace wshub::cache {
namespace {

std::vector<hub::frame_ptr> frames_of(const std::vector<hub::message>& messages) {
  std::vector<hub::frame_ptr> out;
  out.reserve(messages.size());
  for (const auto& m : messages) out.push_back(hub::make_frame(m));
  return out;
}

}  // namespace

std::optional<std::vector<hub::frame_ptr>> cached_log::from_cache(const std::vector<std::string>& channels,
                                                                  id_range range) const {
  // The cache may still hold messages retention has deleted from the log: never below the
  // log's oldest id.
  if (!cache_) return std::nullopt;
  const auto oldest = log_.oldest_kept();
  if (oldest > 0) range.after = std::max(range.after, oldest - 1);
  return cache_->read(channels, range);
}

std::vector<hub::frame_ptr> cached_log::read_after(const std::vector<std::string>& channels, std::uint64_t after_id,
                                                   std::size_t limit, std::size_t max_bytes) const {
  id_range range;
  range.after = after_id;
  range.limit = limit;
  range.max_bytes = max_bytes;
  if (auto frames = from_cache(channels, range)) return std::move(*frames);
  return frames_of(log_.read_after(channels, after_id, limit, max_bytes));
}

std::vector<hub::frame_ptr> cached_log::read_range(const std::string& channel, std::uint64_t after_id,
                                                   std::uint64_t before_id, std::size_t limit,
                                                   bool newest_first) const {
  id_range range;
  range.after = after_id;
  range.before = before_id;
  range.limit = limit;
  range.newest_first = newest_first;
  if (auto frames = from_cache({channel}, range)) return std::move(*frames);
  return frames_of(log_.read_range(channel, after_id, before_id, limit, newest_first));
}

store::message_log::resume_plan cached_log::plan_resume(const std::vector<std::string>& channels,
                                                        std::uint64_t after_id, std::size_t max_messages) const {
  // The newest max_messages + 1 ids after after_id tell whether older ones must be skipped.
  id_range range;
  range.after = after_id;
  range.limit = max_messages + 1;
  range.newest_first = true;
  const auto newest = from_cache(channels, range);
  if (!newest) return log_.plan_resume(channels, after_id, max_messages);
  store::message_log::resume_plan plan{after_id,
                                       store::message_log::complete_after(after_id, log_.oldest_kept(), log_.last_id())};
  if (newest->size() > max_messages) {
    plan.start_after = (*newest)[max_messages]->id;
    plan.recovered = false;
  }
  return plan;
}

}  // namespace wshub::cache
