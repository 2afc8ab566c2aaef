// The in-memory cache of recent messages: its bounds, its eviction, and that it answers a range
// only when it holds all of it.
#include "wshub/cache/memory_cache.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace wshub::cache {
namespace {

hub::frame_ptr frame(std::uint64_t id, std::vector<std::string> channels, std::size_t body = 10) {
  hub::message m;
  m.id = id;
  m.ts_ms = 1000 + static_cast<std::int64_t>(id);
  m.channels = std::move(channels);
  m.username = "u";
  m.body = std::string(body, 'b');
  return hub::make_frame(m);
}

// The ids read; {UINT64_MAX} for a miss.
std::vector<std::uint64_t> ids(const std::optional<std::vector<hub::frame_ptr>>& frames) {
  if (!frames) return {UINT64_MAX};
  std::vector<std::uint64_t> out;
  for (const auto& f : *frames) out.push_back(f->id);
  return out;
}

id_range after(std::uint64_t id, std::size_t limit = SIZE_MAX) {
  id_range r;
  r.after = id;
  r.limit = limit;
  return r;
}

id_range newest(std::size_t limit, std::uint64_t before = UINT64_MAX, std::uint64_t after_id = 0) {
  id_range r;
  r.after = after_id;
  r.before = before;
  r.limit = limit;
  r.newest_first = true;
  return r;
}

using list = std::vector<std::uint64_t>;

TEST(memory_cache, answers_only_ranges_it_holds_entirely) {
  memory_cache c({3}, 0);
  for (std::uint64_t id = 1; id <= 5; ++id) c.remember(frame(id, {"a"}));
  // It holds 3, 4, 5: everything of "a" above 2.
  EXPECT_EQ(ids(c.read({"a"}, after(2))), (list{3, 4, 5}));
  EXPECT_EQ(ids(c.read({"a"}, after(3, 1))), (list{4}));
  EXPECT_FALSE(c.read({"a"}, after(1))) << "id 2 is not held any more";
  EXPECT_FALSE(c.read({"a"}, after(0)));
  EXPECT_EQ(ids(c.read({"a"}, newest(2))), (list{5, 4}));
  EXPECT_EQ(ids(c.read({"a"}, newest(2, 5))), (list{4, 3}));
  EXPECT_EQ(ids(c.read({"a"}, newest(3))), (list{5, 4, 3}));
  EXPECT_FALSE(c.read({"a"}, newest(4))) << "a fourth newest may be below the floor";
  EXPECT_EQ(ids(c.read({"a"}, newest(4, UINT64_MAX, 2))), (list{5, 4, 3})) << "the range ends above the floor";
  EXPECT_EQ(ids(c.read({"a"}, newest(4, 4, 2))), (list{3}));
  const auto s = c.current();
  EXPECT_EQ(s.frames, 3u);
  EXPECT_EQ(s.channels, 1u);
  EXPECT_GT(s.hits, 0u);
  EXPECT_EQ(s.misses, 3u);
}

TEST(memory_cache, a_channel_it_never_saw_has_nothing_after_the_start) {
  memory_cache c({3}, 10);
  EXPECT_EQ(ids(c.read({"quiet"}, after(10))), list{});
  EXPECT_EQ(ids(c.read({"quiet"}, after(12))), list{});
  EXPECT_FALSE(c.read({"quiet"}, after(9))) << "the store may hold older messages of it";
  c.remember(frame(11, {"a"}));
  EXPECT_EQ(ids(c.read({"a", "quiet"}, after(10))), (list{11}));
  EXPECT_FALSE(c.read({"a", "quiet"}, after(3)));
}

TEST(memory_cache, a_message_on_several_channels_is_read_once) {
  memory_cache c({10}, 0);
  c.remember(frame(1, {"a", "b"}));
  c.remember(frame(2, {"a"}));
  c.remember(frame(3, {"b"}));
  c.remember(frame(4, {"c"}));
  EXPECT_EQ(ids(c.read({"a", "b"}, after(0))), (list{1, 2, 3}));
  EXPECT_EQ(ids(c.read({"a", "b"}, after(0, 2))), (list{1, 2}));
  EXPECT_EQ(ids(c.read({"b", "a"}, newest(2))), (list{3, 2}));
}

TEST(memory_cache, targeted_frames_are_not_kept) {
  memory_cache c({10}, 0);
  hub::message m;
  m.id = 1;
  m.channels = {"a"};
  m.body = "private";
  m.to_user = "alice";
  c.remember(hub::make_frame(m));
  EXPECT_EQ(c.current().frames, 0u);
  EXPECT_EQ(ids(c.read({"a"}, after(0))), list{}) << "targeted messages are in no history";
}

TEST(memory_cache, the_byte_bound_takes_from_the_least_recently_published_channel) {
  const auto cost = memory_cache::cost_of(*frame(1, {"a"}, 1000));
  memory_cache c({100, 5 * cost, 100}, 0);
  std::uint64_t id = 0;
  for (int i = 0; i < 3; ++i) c.remember(frame(++id, {"a"}, 1000));  // 1, 2, 3
  for (int i = 0; i < 3; ++i) c.remember(frame(++id, {"b"}, 1000));  // 4, 5, 6
  // Six frames (and two channels' bookkeeping) do not fit in five frames' bytes: "a" gave up its
  // oldest two.
  EXPECT_LE(c.current().bytes, 5 * cost);
  EXPECT_EQ(ids(c.read({"a"}, after(2))), (list{3}));
  EXPECT_FALSE(c.read({"a"}, after(1)));
  EXPECT_EQ(ids(c.read({"b"}, after(0))), (list{4, 5, 6}));
  for (int i = 0; i < 20; ++i) {
    c.remember(frame(++id, {"c" + std::to_string(i)}, 1000));
    EXPECT_LE(c.current().bytes, 5 * cost);
  }
  EXPECT_LE(c.current().frames, 5u);
  EXPECT_EQ(ids(c.read({"c19"}, after(id - 1))), (list{id})) << "the newest channel stays";
  EXPECT_FALSE(c.read({"c19"}, after(0))) << "it began above the newest id of the channels dropped before it";
  EXPECT_FALSE(c.read({"a"}, after(2))) << "a channel dropped whole is no longer known";
}

TEST(memory_cache, the_channel_bound_drops_whole_channels_and_raises_the_common_floor) {
  memory_cache c({100, SIZE_MAX, 2}, 0);
  c.remember(frame(1, {"a"}));
  c.remember(frame(2, {"b"}));
  c.remember(frame(3, {"c"}));  // "a" goes
  EXPECT_EQ(c.current().channels, 2u);
  EXPECT_FALSE(c.read({"a"}, after(0))) << "its message 1 is only in the store now";
  EXPECT_EQ(ids(c.read({"a"}, after(1))), list{});
  c.remember(frame(4, {"b"}));  // "b" is now the most recently published
  c.remember(frame(5, {"d"}));  // "c" goes: the common floor is 3 ("d" began at 1)
  EXPECT_EQ(ids(c.read({"b"}, after(0))), (list{2, 4}));
  EXPECT_FALSE(c.read({"d"}, after(0)));
  EXPECT_EQ(ids(c.read({"d"}, after(1))), (list{5}));
  EXPECT_FALSE(c.read({"c"}, after(2)));
  c.remember(frame(6, {"e"}));  // begins at the common floor 3; "b" goes, the floor rises to 4
  EXPECT_FALSE(c.read({"e"}, after(2)));
  EXPECT_EQ(ids(c.read({"e"}, after(3))), (list{6}));
  EXPECT_FALSE(c.read({"b"}, after(3)));
  EXPECT_EQ(ids(c.read({"b"}, after(4))), list{});
}

TEST(memory_cache, pages_stop_at_about_max_bytes) {
  memory_cache c({100}, 0);
  for (std::uint64_t id = 1; id <= 10; ++id) c.remember(frame(id, {"a"}, 100));
  auto r = after(0);
  r.max_bytes = 2 * frame(1, {"a"}, 100)->text().size();
  EXPECT_EQ(ids(c.read({"a"}, r)), (list{1, 2}));
  r.max_bytes = 1;
  EXPECT_EQ(ids(c.read({"a"}, r)), (list{1})) << "the first frame always";
}

TEST(memory_cache, zero_per_channel_keeps_nothing) {
  memory_cache c({0}, 0);
  c.remember(frame(1, {"a"}));
  EXPECT_EQ(c.current().frames, 0u);
  EXPECT_FALSE(c.read({"a"}, after(0)));
}

}  // namespace
}  // namespace wshub::cache
