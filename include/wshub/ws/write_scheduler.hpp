#pragma once
// Starts the write loops of sessions that have new frames, for one worker's io_context (run by
// one thread).
//
// A delivery wakes many sessions at once. Writing each one where it is woken would put a whole
// fan-out ahead of everything else the worker has to do, the next publish request included, and
// every frame would cost its own send. Here the sessions to wake are listed, and one handler wakes
// them a slice at a time, letting the worker read sockets between slices: a session not reached
// yet gathers the next message's frame as well, and writes both with one send. The sends of a
// slice go to the kernel together, in one system call (send_ring).
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "wshub/ws/send_ring.hpp"

namespace wshub::ws {

class write_scheduler {
 public:
  class client {
   public:
    // On the I/O thread: write what is queued.
    virtual void flush() = 0;

   protected:
    ~client() = default;
  };

  // Only for an io_context that one thread runs: flush() is called without a strand.
  explicit write_scheduler(boost::asio::io_context& ioc, std::size_t slice = 64,
                           send_ring::mode sends = send_ring::mode::io_uring)
      : ioc_(ioc), slice_(slice), sends_(static_cast<unsigned>(slice) * 2, sends) {}
  write_scheduler(const write_scheduler&) = delete;
  write_scheduler& operator=(const write_scheduler&) = delete;

  // Any thread, never blocks for long: c->flush() runs on the I/O thread after this call.
  void add(std::shared_ptr<client> c);

  // Any thread: calls `then` on the I/O thread once every session added before this call has
  // been flushed (its queued frames handed to its socket, or its write started).
  void after_flushed(std::function<void()> then);

  // The worker's sends (owner thread only): a session's write goes through it, and the sends of
  // one slice go to the kernel together.
  send_ring& sends() { return sends_; }

 private:
  void run();

  boost::asio::io_context& ioc_;
  const std::size_t slice_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<client>> waiting_;  // guarded by mutex_
  bool posted_ = false;                           // guarded by mutex_: run() is posted or running
  std::vector<std::shared_ptr<client>> running_;  // I/O thread only: being woken, from next_ on
  std::size_t next_ = 0;                          // I/O thread only
  send_ring sends_;                               // I/O thread only
};

}  // namespace wshub::ws
