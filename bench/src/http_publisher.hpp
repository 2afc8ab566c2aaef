#pragma once
// One keep-alive HTTP connection that POSTs stamped messages, one request at a time.
#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "event_loop.hpp"

namespace wshub::bench {

// What the publishers of a run share (one thread: no locking).
struct publish_shared {
  std::string head;                 // request line and headers up to "Content-Length: "
  bool json_body = false;
  std::size_t batch = 1;            // messages per request
  std::size_t message_bytes = 100;
  bool words = false;  // pad with words instead of x
  sockaddr_in target{};
  std::optional<sockaddr_in> source;

  // Messages (a batch counts each of its messages):
  std::uint64_t sent = 0, acked = 0;     // acked: answered 2xx
  std::uint64_t rejected = 0;            // answered otherwise
  std::uint64_t broken = 0;              // no answer: the connection failed or closed first
  std::map<int, std::uint64_t> statuses; // every status seen, with its count
  std::int64_t first_send_ns = 0, last_answer_ns = 0;
  std::vector<std::int64_t> latency_ns;  // request written -> answer read
  std::string first_error;

  void note_error(const std::string& what);
};

// Builds the head of every publish request (shared by all publishers).
std::string publish_request_head(const std::string& host, std::uint16_t port, const std::string& path, bool json,
                                 const std::vector<std::string>& extra_headers);

// The first whole HTTP response at the start of `in`: its status and size in bytes (with body).
// Returns false while incomplete; throws std::runtime_error when it cannot be a response.
struct response_head {
  int status = 0;
  std::size_t size = 0;
  bool close = false;
};
bool parse_response(std::string_view in, response_head& out);

class http_publisher final : public io_handler {
 public:
  // Called after each answer (or failure) when the publisher can take the next message.
  using idle_callback = std::function<void(http_publisher&)>;

  http_publisher(event_loop& loop, publish_shared& shared, std::uint32_t index, idle_callback on_idle)
      : loop_(loop), shared_(shared), index_(index), on_idle_(std::move(on_idle)) {}
  ~http_publisher();
  http_publisher(const http_publisher&) = delete;
  http_publisher& operator=(const http_publisher&) = delete;

  // Sends the next message of this publisher (connecting first if needed). Only when !busy().
  void publish();
  bool busy() const { return busy_; }
  // True after 100 connections in a row that got no answer: the publisher takes no more messages.
  bool dead() const { return dead_; }
  // Gives up on a request still unanswered (end of the run): counted as broken.
  void abandon();
  void on_io(std::uint32_t events) override;

 private:
  void connect();
  void write_request();
  void flush();
  void on_readable();
  void on_answer(const response_head& r);
  void drop_connection(const std::string& why);

  event_loop& loop_;
  publish_shared& shared_;
  std::uint32_t index_;
  idle_callback on_idle_;
  int fd_ = -1;
  bool connecting_ = false;
  bool busy_ = false;        // a message is waiting to be written or answered
  bool written_ = false;     // the request of the busy message went out
  bool dead_ = false;
  bool want_write_ = false;
  std::uint64_t seq_ = 0;    // the next message's sequence number
  std::uint32_t reconnects_ = 0;
  std::int64_t sent_ns_ = 0;
  std::string body_, out_, in_;
  std::size_t out_done_ = 0;
};

}  // namespace wshub::bench
