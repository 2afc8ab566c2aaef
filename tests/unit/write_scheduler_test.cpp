#include "wshub/ws/write_scheduler.hpp"

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

namespace {

using wshub::ws::write_scheduler;
using events = std::vector<std::string>;

// A session as the scheduler sees it: records when it is flushed.
class recording_client final : public write_scheduler::client {
 public:
  recording_client(events& log, std::string name) : log_(log), name_(std::move(name)) {}
  void flush() override { log_.push_back(name_); }

 private:
  events& log_;
  std::string name_;
};

void add(write_scheduler& writes, events& log, const std::string& name) {
  writes.add(std::make_shared<recording_client>(log, name));
}

TEST(write_scheduler, flushes_in_the_order_added_with_other_work_between_slices) {
  boost::asio::io_context ioc;
  write_scheduler writes(ioc, 2);
  events log;
  for (const auto* name : {"a", "b", "c", "d"}) add(writes, log, name);
  boost::asio::post(ioc, [&] { log.push_back("other"); });
  ioc.run();
  EXPECT_EQ(log, (events{"a", "b", "other", "c", "d"}));
}

TEST(write_scheduler, after_flushed_continues_once_everything_added_before_it_is_flushed) {
  boost::asio::io_context ioc;
  write_scheduler writes(ioc, 2);
  events log;
  for (const auto* name : {"a", "b", "c"}) add(writes, log, name);
  writes.after_flushed([&] { log.push_back("answer"); });
  add(writes, log, "d");
  ioc.run();
  EXPECT_EQ(log, (events{"a", "b", "c", "answer", "d"}));
}

TEST(write_scheduler, after_flushed_with_nothing_queued_still_runs_on_the_io_thread) {
  boost::asio::io_context ioc;
  write_scheduler writes(ioc);
  bool ran = false;
  writes.after_flushed([&] { ran = true; });
  EXPECT_FALSE(ran);
  ioc.run();
  EXPECT_TRUE(ran);
}

}  // namespace
