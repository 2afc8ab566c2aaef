#include "wshub/ws/outbound_queue.hpp"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using wshub::ws::outbound_queue;

// A frame whose text is `bytes` long.
wshub::hub::frame_ptr frame_of(std::size_t bytes, std::uint64_t id = 0) {
  wshub::hub::frame f;
  f.id = id;
  f.channels = {"system"};
  f.set_text(std::string(bytes, 'x'));
  return std::make_shared<const wshub::hub::frame>(std::move(f));
}

TEST(outbound_queue, counts_the_bytes_of_pending_frames) {
  outbound_queue q(1000);
  EXPECT_EQ(q.bytes(), 0u);
  ASSERT_TRUE(q.push(frame_of(10)));
  ASSERT_TRUE(q.push(frame_of(20)));
  ASSERT_TRUE(q.push(frame_of(30)));
  EXPECT_EQ(q.bytes(), 60u);
  EXPECT_EQ(q.pending(), 3u);
  EXPECT_FALSE(q.in_flight());
}

TEST(outbound_queue, fills_up_to_exactly_max_bytes) {
  outbound_queue q(100);
  ASSERT_TRUE(q.push(frame_of(60)));
  EXPECT_TRUE(q.push(frame_of(40)));
  EXPECT_EQ(q.bytes(), 100u);
}

TEST(outbound_queue, overflow_is_refused_and_leaves_the_queue_unchanged) {
  outbound_queue q(100);
  ASSERT_TRUE(q.push(frame_of(60)));
  ASSERT_TRUE(q.push(frame_of(30)));
  EXPECT_FALSE(q.push(frame_of(11)));
  EXPECT_EQ(q.bytes(), 90u);
  EXPECT_EQ(q.pending(), 2u);
  EXPECT_TRUE(q.push(frame_of(10)));  // what still fits is taken
}

TEST(outbound_queue, empty_queue_takes_one_oversized_frame) {
  outbound_queue q(10);
  ASSERT_TRUE(q.push(frame_of(500)));
  EXPECT_EQ(q.bytes(), 500u);
  EXPECT_FALSE(q.push(frame_of(1)));
  EXPECT_EQ(q.pending(), 1u);
}

TEST(outbound_queue, take_batch_moves_the_oldest_frames_into_flight) {
  outbound_queue q(1000);
  ASSERT_TRUE(q.push(frame_of(10, 1)));
  ASSERT_TRUE(q.push(frame_of(20, 2)));
  ASSERT_TRUE(q.push(frame_of(30, 3)));
  std::vector<wshub::hub::frame_ptr> batch;
  ASSERT_EQ(q.take_batch(batch, 2), 2u);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0]->id, 1u);
  EXPECT_EQ(batch[1]->id, 2u);
  EXPECT_TRUE(q.in_flight());
  EXPECT_EQ(q.pending(), 1u);
  EXPECT_EQ(q.bytes(), 60u);  // still counted until written
  q.written();
  EXPECT_FALSE(q.in_flight());
  EXPECT_EQ(q.bytes(), 30u);
  batch.clear();
  ASSERT_EQ(q.take_batch(batch, 32), 1u);
  EXPECT_EQ(batch[0]->id, 3u);
}

TEST(outbound_queue, take_batch_returns_nothing_while_a_batch_is_in_flight) {
  outbound_queue q(1000);
  ASSERT_TRUE(q.push(frame_of(10)));
  std::vector<wshub::hub::frame_ptr> batch;
  ASSERT_EQ(q.take_batch(batch, 32), 1u);
  ASSERT_TRUE(q.push(frame_of(10)));
  EXPECT_EQ(q.take_batch(batch, 32), 0u);
  EXPECT_EQ(q.pending(), 1u);
  EXPECT_EQ(batch.size(), 1u);
}

TEST(outbound_queue, take_batch_returns_nothing_when_nothing_is_pending) {
  outbound_queue q(1000);
  std::vector<wshub::hub::frame_ptr> batch;
  EXPECT_EQ(q.take_batch(batch, 32), 0u);
  EXPECT_FALSE(q.in_flight());
}

TEST(outbound_queue, keeps_arrival_order_across_many_batches) {
  outbound_queue q(1'000'000);
  std::uint64_t next_id = 1, expected = 1;
  std::vector<wshub::hub::frame_ptr> batch;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 7; ++i) ASSERT_TRUE(q.push(frame_of(10, next_id++)));
    batch.clear();
    q.take_batch(batch, 5);
    for (const auto& f : batch) EXPECT_EQ(f->id, expected++);
    q.written();
  }
  while (q.pending() != 0) {
    batch.clear();
    q.take_batch(batch, 5);
    for (const auto& f : batch) EXPECT_EQ(f->id, expected++);
    q.written();
  }
  EXPECT_EQ(expected, next_id);
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(outbound_queue, frames_in_flight_count_toward_the_limit) {
  outbound_queue q(50);
  ASSERT_TRUE(q.push(frame_of(40)));
  std::vector<wshub::hub::frame_ptr> batch;
  ASSERT_EQ(q.take_batch(batch, 32), 1u);
  EXPECT_FALSE(q.push(frame_of(20)));  // nothing pending, but 40 bytes are being written
  EXPECT_TRUE(q.push(frame_of(10)));
}

TEST(outbound_queue, clear_pending_keeps_the_batch_in_flight) {
  outbound_queue q(1000);
  ASSERT_TRUE(q.push(frame_of(10)));
  ASSERT_TRUE(q.push(frame_of(20)));
  ASSERT_TRUE(q.push(frame_of(30)));
  std::vector<wshub::hub::frame_ptr> batch;
  ASSERT_EQ(q.take_batch(batch, 1), 1u);
  q.clear_pending();
  EXPECT_EQ(q.pending(), 0u);
  EXPECT_TRUE(q.in_flight());
  EXPECT_EQ(q.bytes(), 10u);
  q.written();
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(outbound_queue, push_unbounded_ignores_the_limit_and_counts_the_bytes) {
  outbound_queue q(100);
  ASSERT_TRUE(q.push(frame_of(90)));
  q.push_unbounded(frame_of(50));
  EXPECT_EQ(q.bytes(), 140u);
  EXPECT_EQ(q.pending(), 2u);
  EXPECT_FALSE(q.push(frame_of(1)));  // the limit still holds for push()
}

TEST(outbound_queue, written_without_a_batch_in_flight_changes_nothing) {
  outbound_queue q(1000);
  ASSERT_TRUE(q.push(frame_of(10)));
  q.written();
  EXPECT_EQ(q.bytes(), 10u);
  EXPECT_EQ(q.pending(), 1u);
}

}  // namespace
