#pragma once
// The I/O workers: N threads, each running its own io_context. A socket is bound to one worker's
// io_context when it is accepted and stays there for its life, so every handler of a session
// runs on that worker's thread: no strand, no handler of a session ever runs beside another.
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "wshub/ws/timer_wheel.hpp"
#include "wshub/ws/write_scheduler.hpp"

namespace wshub::engine {

// One thread's share of the I/O. Aligned so that no two workers share a cache line.
struct alignas(64) worker {
  explicit worker(std::size_t index) : index(index) {}
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // The owner thread runs this io_context; everything else posts to it.
  boost::asio::io_context ioc{1};
  // Wakes the write loops of this worker's sessions (add() and flush() on the owner thread);
  // after_flushed() markers come from any worker (publish pacing).
  ws::write_scheduler writes{ioc};
  // The deadlines of this worker's sessions (owner thread only): one timer for all of them.
  ws::timer_wheel timers{ioc};
  // A worker with no socket yet waits for one instead of returning from run().
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> busy{ioc.get_executor()};
  const std::size_t index;
  std::thread thread;  // start() and join() only
};

class workers {
 public:
  // Start-up only: makes `count` workers (at least one); no thread runs until start().
  explicit workers(std::size_t count);
  workers(const workers&) = delete;
  workers& operator=(const workers&) = delete;
  ~workers();

  std::size_t size() const { return workers_.size(); }
  worker& at(std::size_t i) { return *workers_[i]; }
  // The worker that owns the control timers and signals, and runs the accept loop.
  worker& first() { return *workers_.front(); }

  // Starts one thread per worker; returns at once.
  void start();
  // Any thread: makes every worker's run() return (pending handlers are dropped).
  void stop();
  // Blocks until every worker's thread has ended. Not from a worker thread.
  void join();

  // Any thread: calls `then` (on some worker's thread) once every worker's write scheduler has
  // flushed every session added to it before this call.
  void after_flushed(std::function<void()> then);

 private:
  std::vector<std::unique_ptr<worker>> workers_;
};

}  // namespace wshub::engine
