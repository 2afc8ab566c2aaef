#pragma once
// One worker's socket sends, handed to the kernel together.
//
// A fan-out pass writes to hundreds of sockets, and on a plain socket each write is one
// `sendmsg`: the cost of a delivery is then mostly the system call around it, not the TCP work.
// Here the sends prepared during a pass (write_scheduler's slice) are queued, and flush() gives
// them to the kernel through io_uring in one system call; each send is non-blocking, so the kernel
// completes it there and then, and the results come back at once. When io_uring cannot be used
// (an old kernel, a seccomp filter, `kernel.io_uring_disabled`), flush() makes the same sends one
// `sendmsg` each: the results, and everything the sessions see, are the same.
//
// Owner thread only (the worker's), except for construction.
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

struct io_uring;

namespace wshub::hub {
class registry;
}

namespace wshub::ws {

class send_ring {
 public:
  // What is told the result of its send, on the owner thread.
  class sender {
   public:
    // `bytes` is what the kernel took: all of it, part of it, or 0 with no error when the socket's
    // buffer is full (the caller writes the rest asynchronously). `ec` is the socket's error.
    virtual void sent(boost::system::error_code ec, std::size_t bytes) = 0;

   protected:
    ~sender() = default;
  };

  enum class mode { io_uring, one_call_per_send };

  // At most `entries` sends go to the kernel per system call (more are split). `wanted` is
  // io_uring unless a test asks for the other mode.
  explicit send_ring(unsigned entries = 256, mode wanted = mode::io_uring);
  send_ring(const send_ring&) = delete;
  send_ring& operator=(const send_ring&) = delete;
  ~send_ring();

  mode used() const { return ring_ ? mode::io_uring : mode::one_call_per_send; }
  // Why io_uring is not used (empty when it is).
  const std::string& why_not_io_uring() const { return why_not_; }

  // Queues a non-blocking send of `buffers` on socket `fd`. Inside a pass, it goes to the kernel
  // with the others when the pass ends; outside one, at once. `s->sent()` follows in both cases
  // (never before send() returns inside a pass); `s` is held until then, and so must be the
  // buffers' memory.
  template <class ConstBufferSequence>
  void send(int fd, const ConstBufferSequence& buffers, std::shared_ptr<sender> s) {
    const auto first = iovecs_.size();
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      const boost::asio::const_buffer b = *it;
      if (b.size() != 0) iovecs_.push_back({const_cast<void*>(b.data()), b.size()});
    }
    queued_.push_back({fd, first, iovecs_.size() - first, std::move(s)});
    if (passes_ == 0) flush();  // a no-op inside flush(): its loop takes this send too
  }

  // Sends queued until the matching end_pass() go to the kernel together (passes nest).
  void begin_pass() {
    if (passes_++ == 0) open_here_ = this;
  }
  // Ends a pass; the outermost one flushes.
  void end_pass() {
    if (--passes_ != 0) return;
    flush();
    // A pass opened and closed while flush() tells its senders leaves the ring open here: the
    // flush goes on, and what is queued meanwhile still joins it.
    if (!flushing_) open_here_ = nullptr;
  }
  // The ring with a pass open on the calling thread, if any: a send made to it now waits for the
  // pass's end (an answer can be queued there directly instead of in a handler of its own).
  static send_ring* open_here() { return open_here_; }
  // Hands every queued send to the kernel now and tells each sender its result. Senders may queue
  // new sends from sent(): those go too, before flush() returns.
  void flush();

  // Start-up only: the worker's registry, whose counters (the metrics) get every flush's writes
  // and system calls.
  void count_into(hub::registry& r) { tally_ = &r; }

  // Sends given to the kernel, and system calls made for them (for the batching's figures).
  std::size_t sends() const { return sends_; }
  std::size_t system_calls() const { return calls_; }

 private:
  struct queued_send {
    int fd;
    std::size_t first_iovec;
    std::size_t iovec_count;
    std::shared_ptr<sender> to_tell;
  };

  // The sends of queued_[from, from + n) through the ring; their results into results_.
  void submit(std::size_t from, std::size_t n);

  std::unique_ptr<::io_uring> ring_;  // null: one sendmsg per send
  unsigned entries_;
  std::string why_not_;
  unsigned passes_ = 0;
  static thread_local send_ring* open_here_;
  bool flushing_ = false;  // in flush(): a send() queued from sent() does not flush again
  // The sends waiting for flush(), and their buffers; swapped with the spare ones while the
  // senders are told, so that new sends queued meanwhile wait for the next round.
  std::vector<queued_send> queued_, telling_;
  std::vector<iovec> iovecs_, telling_iovecs_;
  std::vector<msghdr> headers_;
  std::vector<int> results_;  // per send of the round: bytes sent, or -errno
  std::size_t sends_ = 0;
  std::size_t calls_ = 0;
  hub::registry* tally_ = nullptr;
};

// Holds a pass of `ring` open for a scope.
class send_pass {
 public:
  explicit send_pass(send_ring& ring) : ring_(ring) { ring_.begin_pass(); }
  send_pass(const send_pass&) = delete;
  send_pass& operator=(const send_pass&) = delete;
  ~send_pass() { ring_.end_pass(); }

 private:
  send_ring& ring_;
};

}  // namespace wshub::ws
