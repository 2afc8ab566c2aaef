#pragma once
// A level-triggered epoll loop on one thread, and the clock every timestamp uses.
#include <netinet/in.h>
#include <sys/epoll.h>

#include <cstdint>
#include <string>
#include <vector>

namespace wshub::bench {

// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine, so a send time
// written into a message by one generator process can be compared with a receive time in another.
std::int64_t now_ns();

// What the loop calls when a file descriptor is ready. Not owned by the loop; an object must stay
// alive (it may be closed) for the whole run, so that a late event never reaches freed memory.
class io_handler {
 public:
  virtual void on_io(std::uint32_t events) = 0;

 protected:
  ~io_handler() = default;
};

class event_loop {
 public:
  event_loop();
  ~event_loop();
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  void add(int fd, std::uint32_t events, io_handler* h);
  void modify(int fd, std::uint32_t events, io_handler* h);
  void remove(int fd);
  // Waits at most `timeout_ms` and dispatches every ready descriptor once.
  void run_once(int timeout_ms);

 private:
  int epoll_fd_ = -1;
  std::vector<epoll_event> ready_;
};

// "127.0.0.1", 9999 -> sockaddr_in; `offset` is added to the address (source address of process i).
sockaddr_in ipv4_endpoint(const std::string& ip, std::uint16_t port, std::uint32_t offset = 0);

// A non-blocking TCP socket connecting to `to` (from `from` when given, port chosen by the kernel).
// Returns the descriptor, or -1 with errno set. `*connected` is true when the connect finished at once.
int start_connect(const sockaddr_in& to, const sockaddr_in* from, bool* connected);

// Writes as much of `data` as the socket takes now; returns the bytes written, or -1 on an error
// other than "would block".
long write_some(int fd, const char* data, std::size_t size);

}  // namespace wshub::bench
