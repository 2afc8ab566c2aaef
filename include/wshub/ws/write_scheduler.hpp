#pragma once
// Starts the write loops of sessions that have new frames, for one worker's io_context (run by
// one thread).
//
// Fan-out runs on the store's writer thread. Posting one handler per recipient puts a whole
// fan-out ahead of everything else the I/O thread has to do, the next publish request included,
// so publishing and writing never overlap and every frame costs its own send. Here the sessions
// to wake are listed, and one handler wakes them a slice at a time, letting the I/O thread read
// sockets between slices: a session not reached yet gathers the next message's frame as well,
// and writes both with one send.
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/io_context.hpp>

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
  explicit write_scheduler(boost::asio::io_context& ioc, std::size_t slice = 64) : ioc_(ioc), slice_(slice) {}
  write_scheduler(const write_scheduler&) = delete;
  write_scheduler& operator=(const write_scheduler&) = delete;

  // Any thread, never blocks for long: c->flush() runs on the I/O thread after this call.
  void add(std::shared_ptr<client> c);

  // Any thread: calls `then` on the I/O thread once every session added before this call has
  // been flushed (its queued frames handed to its socket, or its write started).
  void after_flushed(std::function<void()> then);

 private:
  void run();

  boost::asio::io_context& ioc_;
  const std::size_t slice_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<client>> waiting_;  // guarded by mutex_
  bool posted_ = false;                           // guarded by mutex_: run() is posted or running
  std::vector<std::shared_ptr<client>> running_;  // I/O thread only: being woken, from next_ on
  std::size_t next_ = 0;                          // I/O thread only
};

}  // namespace wshub::ws
