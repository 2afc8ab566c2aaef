#pragma once
// The subscriber sockets of one generator process, and the processes themselves: with --procs P
// the parent forks P-1 children, each holding its share of the sockets from its own source address.
// Protocol over two pipes per child (the same binary on both ends, so results travel as raw bytes):
//   child -> parent  'R' when its connects are done; later 'D' + worker_result + samples
//   parent -> child  'E' + expected messages per socket + drain deadline (now_ns clock)
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "event_loop.hpp"
#include "options.hpp"
#include "ws_reader.hpp"

namespace wshub::bench {

// What one process reports about its sockets.
struct worker_result {
  std::uint64_t opened = 0, failed = 0, closed_by_server = 0, protocol_errors = 0;
  std::uint64_t messages = 0, lost = 0, extra = 0, out_of_order = 0, gaps = 0, unstamped = 0;
  std::uint64_t wire_bytes = 0;  // every byte read from the open sockets (frame headers included)
  std::uint64_t compressed = 0;  // messages that came deflated (RSV1)
  std::int64_t first_connect_ns = 0, last_open_ns = 0, last_message_ns = 0;
  double connect_cpu_s = 0;  // CPU time of the process while it connected its sockets
  double cpu_s = 0;          // CPU time of the process from the end of its connects to its report
  std::uint64_t latency_count = 0, connect_count = 0;
  char first_error[240] = {};
};

struct worker_samples {
  std::vector<std::int64_t> latency_ns, connect_ns;
};

// Which sockets a process holds: [first, first + count) of the run's sockets.
struct share {
  std::size_t index = 0, first = 0, count = 0;
};
std::vector<share> split_sockets(const options& o);

class subscriber_set {
 public:
  subscriber_set(const options& o, event_loop& loop, const share& s);
  // Starts connects up to the in-flight limit.
  void pump_connects();
  bool connects_done() const;
  // Closes sockets still connecting or handshaking (counted as failed).
  void abandon_connects();
  // Every socket that is still open has at least `expected` messages.
  bool drained(std::uint64_t expected) const;
  worker_result result(std::uint64_t expected) const;
  worker_samples take_samples();
  // The source address of this process's sockets, if any.
  const sockaddr_in* source() const { return has_source_ ? &source_ : nullptr; }

 private:
  ws_shared shared_;
  sockaddr_in target_{}, source_{};
  bool has_source_ = false;
  std::vector<std::unique_ptr<ws_reader>> readers_;
  std::size_t next_ = 0;
};

// A forked child and the parent's ends of its pipes.
struct child_pipes {
  pid_t pid = -1;
  int to_child = -1, from_child = -1;
};

// Forks the children for shares 1.. of `shares`, before the parent makes its event loop.
// Returns in the parent only; a child runs its share and exits.
std::vector<child_pipes> fork_children(const options& o, const std::vector<share>& shares);

// The parent's view of one child process.
class child_process final : public io_handler {
 public:
  child_process(const child_pipes& pipes, event_loop& loop);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  void on_io(std::uint32_t events) override;
  void send_end(std::uint64_t expected, std::int64_t drain_until_ns);
  // Waits up to `wait_ms` for the exit, then kills it.
  void reap(int wait_ms);

  bool ready() const { return ready_ || gone_; }
  bool done() const { return done_ || gone_; }
  bool gone() const { return gone_ && !done_; }  // exited or broke without a result
  const worker_result& result() const { return result_; }
  worker_samples& samples() { return samples_; }

 private:
  void parse();

  pid_t pid_;
  int to_child_, from_child_;
  event_loop& loop_;
  std::string in_;
  bool ready_ = false, done_ = false, gone_ = false;
  worker_result result_;
  worker_samples samples_;
};

// User + system CPU seconds of this process.
double own_cpu_seconds();

}  // namespace wshub::bench
