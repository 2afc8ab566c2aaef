#pragma once
// A stream layer under Beast's websocket stream that makes the session's writer the only one
// writing to the socket. Beast still does the handshake, the reading, and answers pings and
// closes; what it writes (the 101 answer, pongs, pings, close frames) is held here and handed to
// the session, which writes it between its own gather writes of data frames. So exactly one
// write is in flight on the socket at any time, plain TCP or TLS alike.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace wshub::ws {

// Told (on the session's strand) that Beast has something to write.
class gate_listener {
 public:
  virtual void on_gate_write() = 0;

 protected:
  ~gate_listener() = default;
};

template <class Next>
class write_gate {
 public:
  using next_layer_type = Next;
  using executor_type = typename Next::executor_type;

  explicit write_gate(Next&& next) : next_(std::move(next)) {}

  executor_type get_executor() noexcept { return next_.get_executor(); }
  Next& next_layer() noexcept { return next_; }
  const Next& next_layer() const noexcept { return next_; }
  // Before the first operation: who writes what Beast hands over.
  void set_listener(gate_listener* listener) { listener_ = listener; }

  template <class MutableBuffers, class ReadHandler>
  auto async_read_some(const MutableBuffers& buffers, ReadHandler&& handler) {
    return next_.async_read_some(buffers, std::forward<ReadHandler>(handler));
  }

  // Beast's writes: the bytes are copied (they are few: control frames and the 101 answer) and
  // the handler completes once the session has written them, with their full size.
  template <class ConstBuffers, class WriteHandler>
  auto async_write_some(const ConstBuffers& buffers, WriteHandler&& handler) {
    return boost::asio::async_initiate<WriteHandler, void(boost::beast::error_code, std::size_t)>(
        [this](auto h, const ConstBuffers& b) {
          held_.resize(boost::asio::buffer_size(b));
          boost::asio::buffer_copy(boost::asio::buffer(held_), b);
          // Server frames are unmasked, so a close frame starts with 0x88 (FIN, opcode 8); the
          // 101 answer starts with 'H'. After a close frame no data frame may follow.
          if (!held_.empty() && static_cast<std::uint8_t>(held_.front()) == 0x88) close_sent_ = true;
          // Swapped in: the move assignment of Asio 1.81's any_completion_handler recurses.
          handler_type held(std::move(h));
          handler_.swap(held);
          listener_->on_gate_write();
        },
        handler, buffers);
  }

  // The session's side, on its strand.
  bool holding() const { return static_cast<bool>(handler_); }
  const std::string& held() const { return held_; }
  // The held bytes were written (or failed): completes Beast's write.
  void complete(boost::beast::error_code ec) {
    handler_type handler(std::move(handler_));  // leaves handler_ empty
    const auto n = ec ? 0 : held_.size();
    std::string().swap(held_);  // gives the storage back (assigning an empty string keeps it)
    std::move(handler)(ec, n);
  }
  // Beast wrote a close frame: the session sends no data frame after it.
  bool close_sent() const { return close_sent_; }

 private:
  Next next_;
  gate_listener* listener_ = nullptr;
  std::string held_;  // Beast's bytes waiting to be written
  using handler_type = boost::asio::any_completion_handler<void(boost::beast::error_code, std::size_t)>;
  handler_type handler_;
  bool close_sent_ = false;
};

// Beast's websocket stream ends a connection through these (found by argument-dependent lookup).
template <class Next>
void teardown(boost::beast::role_type role, write_gate<Next>& stream, boost::beast::error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, stream.next_layer(), ec);
}

template <class Next, class TeardownHandler>
void async_teardown(boost::beast::role_type role, write_gate<Next>& stream, TeardownHandler&& handler) {
  using boost::beast::websocket::async_teardown;
  async_teardown(role, stream.next_layer(), std::forward<TeardownHandler>(handler));
}

}  // namespace wshub::ws
