#pragma once
// One subscriber socket: connect, WebSocket handshake, then reads. Frames are counted from their
// 2-14 byte headers only; payloads are kept (and the message stamp decoded) on sampled sockets
// and for control frames, so the generator does not become the bottleneck.
#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "event_loop.hpp"

namespace wshub::bench {

// What every reader of one process shares (one thread: no locking).
struct ws_shared {
  std::string request;               // the upgrade request; its key is replaced per socket
  std::size_t key_offset = 0;        // where the 24-character Sec-WebSocket-Key starts in `request`
  std::vector<char> buffer = std::vector<char>(256 * 1024);  // one read buffer for all sockets
  std::size_t connect_limit = 200;   // connects + handshakes in flight at most

  std::size_t in_flight = 0;         // connects + handshakes not finished
  std::uint64_t opened = 0, failed = 0, closed_by_server = 0, protocol_errors = 0;
  std::uint64_t messages = 0;        // complete data messages on all sockets
  std::uint64_t wire_bytes = 0;      // bytes read after the handshakes
  std::uint64_t compressed = 0;      // data messages sent deflated (RSV1)
  std::uint64_t out_of_order = 0;    // sampled: a stamp not above the last one from the same publisher
  std::uint64_t gaps = 0;            // sampled: stamps skipped (lost, or never acknowledged)
  std::uint64_t unstamped = 0;       // sampled: messages without a wsb: stamp
  std::int64_t first_connect_ns = 0, last_open_ns = 0;
  std::int64_t last_message_ns = 0;
  std::vector<std::int64_t> latency_ns;   // publish -> receive, sampled sockets
  std::vector<std::int64_t> connect_ns;   // connect start -> 101 received
  std::string first_error;

  // With `deflate`, the upgrade offers permessage-deflate with client_no_context_takeover.
  ws_shared(const std::string& host, std::uint16_t port, const std::string& path, bool deflate = false);
  void note_error(const std::string& what);
};

class ws_reader final : public io_handler {
 public:
  ws_reader(event_loop& loop, ws_shared& shared, bool sampled) : loop_(loop), shared_(shared), sampled_(sampled) {}
  ~ws_reader();
  ws_reader(const ws_reader&) = delete;
  ws_reader& operator=(const ws_reader&) = delete;

  // Starts a non-blocking connect; a failure is counted in shared.failed.
  void connect(const sockaddr_in& to, const sockaddr_in* from);
  // Closes the socket; one still connecting or handshaking counts as failed.
  void close();
  void on_io(std::uint32_t events) override;

  bool is_open() const { return state_ == state::open; }
  bool was_opened() const { return was_opened_; }
  std::uint64_t messages() const { return messages_; }

 private:
  enum class state : std::uint8_t { idle, connecting, handshaking, open, closed };

  void on_connected();
  void on_readable();
  void on_handshake_bytes(const char* data, std::size_t size, std::int64_t now);
  void consume(const char* data, std::size_t size, std::int64_t now);
  void end_of_frame(std::int64_t now);
  void on_message(std::int64_t now);
  void send(const char* data, std::size_t size);
  void flush();
  void finish_connect(bool ok);
  void fail(const std::string& what);

  event_loop& loop_;
  ws_shared& shared_;
  int fd_ = -1;
  state state_ = state::idle;
  bool sampled_;
  bool want_write_ = false;
  bool was_opened_ = false;
  std::int64_t started_ns_ = 0;
  std::uint64_t messages_ = 0;

  // Frame parser: the header so far, then the payload bytes left of the current frame.
  std::array<unsigned char, 14> header_{};
  std::uint8_t header_len_ = 0;
  bool in_payload_ = false;
  std::uint8_t opcode_ = 0;
  bool fin_ = false;
  bool message_deflated_ = false;  // the current message's first frame had RSV1
  std::uint64_t left_ = 0;
  std::string message_;   // data payload of the current message (sampled sockets only)
  std::string control_;   // payload of the current control frame
  std::string pending_;   // bytes the socket did not take yet
  std::string response_;  // the handshake response, until its blank line
  std::vector<std::int64_t> last_seq_;  // per publisher, sampled sockets only
};

}  // namespace wshub::bench
