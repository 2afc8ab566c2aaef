#include "wshub/ws/timer_wheel.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using wshub::ws::timer_wheel;
using clock_type = timer_wheel::clock;

// Records when it was called; may reschedule itself a number of times.
class recording_entry final : public timer_wheel::entry {
 public:
  recording_entry(timer_wheel& wheel, std::vector<std::string>& log, std::string name)
      : wheel_(wheel), log_(log), name_(std::move(name)) {}
  ~recording_entry() = default;
  using timer_wheel::entry::cancel;
  std::vector<clock_type::time_point> called;
  int again = 0;                   // reschedules left
  clock_type::duration step{};     // how far each reschedule goes

 private:
  void on_due() override {
    called.push_back(clock_type::now());
    log_.push_back(name_);
    if (again-- > 0) wheel_.schedule(*this, clock_type::now() + step);
  }
  timer_wheel& wheel_;
  std::vector<std::string>& log_;
  std::string name_;
};

TEST(timer_wheel, calls_entries_in_deadline_order_never_before_their_deadline_and_stops_when_empty) {
  boost::asio::io_context ioc;
  timer_wheel wheel(ioc, 10ms, 8);
  std::vector<std::string> log;
  recording_entry late(wheel, log, "late"), early(wheel, log, "early"), lapped(wheel, log, "lapped");
  const auto start = clock_type::now();
  wheel.schedule(late, start + 60ms);
  wheel.schedule(early, start + 20ms);
  wheel.schedule(lapped, start + 150ms);  // more than one lap (8 × 10 ms) away
  ioc.run();  // returns only once the wheel's timer stops: nothing left to wait for
  EXPECT_EQ(log, (std::vector<std::string>{"early", "late", "lapped"}));
  ASSERT_EQ(late.called.size(), 1u);
  EXPECT_GE(early.called.at(0), start + 20ms);
  EXPECT_GE(late.called.at(0), start + 60ms);
  EXPECT_GE(lapped.called.at(0), start + 150ms);
  EXPECT_TRUE(wheel.empty());
}

TEST(timer_wheel, after_a_stall_longer_than_a_lap_due_entries_are_still_called_earliest_first) {
  boost::asio::io_context ioc;
  timer_wheel wheel(ioc, 10ms, 8);
  std::vector<std::string> log;
  recording_entry late(wheel, log, "late"), early(wheel, log, "early"), lapped(wheel, log, "lapped");
  const auto start = clock_type::now();
  wheel.schedule(late, start + 60ms);
  wheel.schedule(early, start + 20ms);
  wheel.schedule(lapped, start + 150ms);
  // The worker is busy for longer than the wheel's lap (80 ms) and past every deadline before
  // the wheel's timer gets its turn: the stall this test is about, not a wait for the result.
  boost::asio::post(ioc, [&] { std::this_thread::sleep_until(start + 200ms); });
  ioc.run();
  EXPECT_EQ(log, (std::vector<std::string>{"early", "late", "lapped"}));
  EXPECT_TRUE(wheel.empty());
}

TEST(timer_wheel, a_rescheduled_entry_keeps_only_its_last_deadline_and_a_cancelled_one_is_not_called) {
  boost::asio::io_context ioc;
  timer_wheel wheel(ioc, 10ms, 16);
  std::vector<std::string> log;
  recording_entry moved(wheel, log, "moved"), cancelled(wheel, log, "cancelled"), kept(wheel, log, "kept");
  const auto start = clock_type::now();
  wheel.schedule(moved, start + 20ms);
  wheel.schedule(moved, start + 70ms);
  wheel.schedule(cancelled, start + 30ms);
  cancelled.cancel();
  EXPECT_FALSE(cancelled.scheduled());
  wheel.schedule(kept, start + 40ms);
  ioc.run();
  EXPECT_EQ(log, (std::vector<std::string>{"kept", "moved"}));
  EXPECT_GE(moved.called.at(0), start + 70ms);
}

TEST(timer_wheel, an_entry_may_reschedule_itself_from_its_call_and_a_past_deadline_runs_on_the_next_tick) {
  boost::asio::io_context ioc;
  timer_wheel wheel(ioc, 5ms, 4);
  std::vector<std::string> log;
  recording_entry repeating(wheel, log, "r"), past(wheel, log, "past");
  repeating.again = 3;
  repeating.step = 7ms;
  wheel.schedule(repeating, clock_type::now());
  wheel.schedule(past, clock_type::now() - 1s);
  ioc.run();
  EXPECT_EQ(repeating.called.size(), 4u);
  for (std::size_t i = 1; i < repeating.called.size(); ++i)
    EXPECT_GE(repeating.called[i] - repeating.called[i - 1], 7ms);
  EXPECT_EQ(past.called.size(), 1u);
}

TEST(timer_wheel, entries_outliving_the_wheel_and_entries_destroyed_while_scheduled_are_safe) {
  std::vector<std::string> log;
  auto ioc = std::make_unique<boost::asio::io_context>();
  auto wheel = std::make_unique<timer_wheel>(*ioc, 10ms, 8);
  auto outliving = std::make_unique<recording_entry>(*wheel, log, "outliving");
  {
    recording_entry destroyed(*wheel, log, "destroyed");
    wheel->schedule(destroyed, clock_type::now() + 10ms);
  }
  wheel->schedule(*outliving, clock_type::now() + 1h);
  ioc->run_for(40ms);
  EXPECT_TRUE(log.empty());
  wheel.reset();
  EXPECT_FALSE(outliving->scheduled());
  outliving.reset();  // its destructor must not touch the wheel
  ioc.reset();
}

}  // namespace
