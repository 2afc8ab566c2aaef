#pragma once
// One upgraded connection: the read loop, the bounded outbound queue and the close logic.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <spdlog/logger.h>

#include "wshub/cache/cache.hpp"
#include "wshub/hub/connection_limit.hpp"
#include "wshub/hub/hub.hpp"
#include "wshub/store/message_log.hpp"
#include "wshub/ws/outbound_queue.hpp"

namespace wshub::ws {

struct session_settings {
  std::chrono::seconds handshake_timeout{5};
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds close_timeout{5};
  std::size_t read_buffer_size = 4096;
  std::size_t write_buffer_size = 4096;
  std::size_t max_message_size = 64 * 1024;
  std::size_t max_queue_bytes = 1024 * 1024;
  bool compression = false;
  std::vector<std::string> subprotocols;
  std::string default_channel = "system";
};

// The shared services every session holds a handle to; owned by the app, outlive all sessions.
struct session_services {
  hub::hub& hub;
  hub::counters& counters;
  store::message_log& store;
  cache::cache& cache;
  std::shared_ptr<spdlog::logger> log;
  session_settings settings;
};

class websocket_session : public std::enable_shared_from_this<websocket_session>, public hub::subscriber {
 public:
  using request = boost::beast::http::request<boost::beast::http::string_body>;

  websocket_session(boost::beast::tcp_stream&& stream, session_services& services, hub::connection_limit::slot slot);
  ~websocket_session() override;

  // Completes the upgrade of `req` and starts the read loop. Call once, right after creation.
  void run(request req);

  // Any thread. Queues the frame unless the session is closing or would exceed its queue limit;
  // in that case the session is closed with 1008 "slow consumer".
  bool deliver(const hub::frame_ptr& f) override;

  // Any thread. Closes with 1001 (going away) once the frame in flight, if any, is written.
  void shutdown() override;

 private:
  using close_reason = boost::beast::websocket::close_reason;

  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void do_write();
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  void begin_close(close_reason reason);
  void on_close_timeout(boost::beast::error_code ec);
  void finish();

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  session_services& services_;
  hub::connection_limit::slot slot_;
  boost::asio::steady_timer close_timer_;  // strand only
  boost::beast::flat_buffer read_buffer_;  // strand only
  std::string subprotocol_;                // set before the accept, then read-only
  hub::conn_id id_ = 0;
  bool joined_ = false;                     // strand only; in the hub from run() until finish()
  bool accepted_ = false;                   // strand only: the handshake is done
  std::optional<close_reason> close_pending_;  // strand only: close once the write in flight ends
  bool close_started_ = false;                 // strand only

  std::mutex queue_mutex_;
  outbound_queue queue_;        // guarded by queue_mutex_
  bool write_scheduled_ = false;  // guarded by queue_mutex_: a do_write is posted or running
  bool refusing_ = false;         // guarded by queue_mutex_: closing, deliver() refuses frames
};

}  // namespace wshub::ws
