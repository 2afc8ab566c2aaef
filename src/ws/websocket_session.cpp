#include "wshub/ws/websocket_session.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/version.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

namespace wshub::ws {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;

namespace {

// The first of our subprotocols that the client offered, or "".
std::string choose_subprotocol(std::string_view offered, const std::vector<std::string>& ours) {
  std::vector<std::string_view> theirs;
  while (!offered.empty()) {
    const auto comma = offered.find(',');
    auto item = offered.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) theirs.push_back(item);
    if (comma == std::string_view::npos) break;
    offered.remove_prefix(comma + 1);
  }
  for (const auto& p : ours)
    for (const auto t : theirs)
      if (t == p) return p;
  return {};
}

bool expected_disconnect(beast::error_code ec) {
  return ec == websocket::error::closed || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::operation_aborted || ec == beast::error::timeout || ec == net::error::broken_pipe;
}

}  // namespace

websocket_session::websocket_session(beast::tcp_stream&& stream, session_services& services,
                                     hub::connection_limit::slot slot)
    : ws_(std::move(stream)),
      services_(services),
      slot_(std::move(slot)),
      close_timer_(ws_.get_executor()),
      read_buffer_(services.settings.max_message_size + 1024),
      queue_(services.settings.max_queue_bytes) {}

websocket_session::~websocket_session() {
  // Normally the read loop left the hub already. This path runs only when the io_context was
  // stopped with the session's handlers still queued, when no fan-out can run any more.
  if (joined_) services_.hub.leave(id_);
}

void websocket_session::run(request req) {
  const auto& s = services_.settings;
  beast::get_lowest_layer(ws_).expires_never();  // the websocket stream has its own timeouts
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = s.handshake_timeout;
  timeouts.idle_timeout = s.idle_timeout;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.read_message_max(s.max_message_size);
  ws_.write_buffer_bytes(s.write_buffer_size);
  if (s.compression) {
    websocket::permessage_deflate pmd;
    pmd.server_enable = true;
    ws_.set_option(pmd);
  }
  subprotocol_ = choose_subprotocol(req[beast::http::field::sec_websocket_protocol], s.subprotocols);
  ws_.set_option(websocket::stream_base::decorator([protocol = subprotocol_](websocket::response_type& res) {
    res.set(beast::http::field::server, "wshub/" WSHUB_VERSION);
    if (!protocol.empty()) res.set(beast::http::field::sec_websocket_protocol, protocol);
  }));
  // Joined before the 101 goes out, so a message published once the client sees the upgrade
  // reaches it; frames queue until the handshake is done.
  id_ = services_.hub.join(*this, {services_.settings.default_channel});
  joined_ = true;
  ws_.async_accept(req, beast::bind_front_handler(&websocket_session::on_accept, shared_from_this()));
}

void websocket_session::on_accept(beast::error_code ec) {
  if (ec) {
    services_.log->debug("conn {} upgrade failed: {}", id_, ec.message());
    return finish();
  }
  accepted_ = true;
  services_.log->debug("conn {} open{}", id_, subprotocol_.empty() ? "" : " (" + subprotocol_ + ")");
  do_read();
  do_write();  // frames that arrived during the handshake
}

void websocket_session::do_read() {
  ws_.async_read(read_buffer_, beast::bind_front_handler(&websocket_session::on_read, shared_from_this()));
}

void websocket_session::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    if (!expected_disconnect(ec)) services_.log->debug("conn {} read: {}", id_, ec.message());
    return finish();
  }
  if (!ws_.got_text()) {
    read_buffer_.consume(read_buffer_.size());
    begin_close(close_reason(websocket::close_code::unknown_data, "binary frames are not supported"));
    return do_read();  // keep reading: the peer's close frame ends the loop
  }
  // Plain sockets have no commands yet: unknown text is ignored, as go-gin-api did.
  services_.log->debug("conn {} ignored a text frame of {} bytes", id_, read_buffer_.size());
  read_buffer_.consume(read_buffer_.size());
  do_read();
}

void websocket_session::finish() {
  close_timer_.cancel();
  if (joined_) {
    services_.hub.leave(id_);
    joined_ = false;
  }
  std::lock_guard lock(queue_mutex_);
  refusing_ = true;
  queue_.clear_pending();
  services_.log->debug("conn {} closed", id_);
}

bool websocket_session::deliver(const hub::frame_ptr& f) {
  std::unique_lock lock(queue_mutex_);
  if (refusing_) return false;
  if (!queue_.push(f)) {
    refusing_ = true;
    queue_.clear_pending();
    lock.unlock();
    services_.counters.slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
    services_.log->warn("conn {} closed as a slow consumer ({} bytes queued at most)", id_,
                        services_.settings.max_queue_bytes);
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      self->begin_close(close_reason(websocket::close_code::policy_error, "slow consumer"));
    });
    return false;
  }
  if (!write_scheduled_) {
    write_scheduled_ = true;
    net::post(ws_.get_executor(), beast::bind_front_handler(&websocket_session::do_write, shared_from_this()));
  }
  return true;
}

void websocket_session::shutdown() {
  net::post(ws_.get_executor(), [self = shared_from_this()] {
    self->begin_close(close_reason(websocket::close_code::going_away, "server shutting down"));
  });
}

void websocket_session::do_write() {
  if (!accepted_) return;  // on_accept starts the writes
  hub::frame_ptr f;
  {
    std::lock_guard lock(queue_mutex_);
    if (queue_.in_flight()) return;  // on_write continues the loop
    f = queue_.next();
    if (!f) {
      write_scheduled_ = false;
      if (!close_pending_) return;
    }
  }
  if (!f) {
    // The queue drained while a close waited for it.
    auto reason = *close_pending_;
    close_pending_.reset();
    close_started_ = true;
    ws_.async_close(reason, [self = shared_from_this()](beast::error_code) {});
    return;
  }
  ws_.text(true);
  ws_.async_write(net::buffer(f->text),
                  [self = shared_from_this(), f](beast::error_code ec, std::size_t n) { self->on_write(ec, n); });
}

void websocket_session::on_write(beast::error_code ec, std::size_t) {
  {
    std::lock_guard lock(queue_mutex_);
    queue_.written();
  }
  if (ec) {
    if (!expected_disconnect(ec)) services_.log->debug("conn {} write: {}", id_, ec.message());
    return;  // the read loop sees the failure too and ends the session
  }
  do_write();
}

// Strand only. Stops taking frames, lets the frame in flight finish, then sends the close frame.
// A peer that does not complete the close within close_timeout is cut.
void websocket_session::begin_close(close_reason reason) {
  if (close_started_ || close_pending_) return;
  bool writing = false;
  {
    std::lock_guard lock(queue_mutex_);
    refusing_ = true;
    queue_.clear_pending();
    writing = queue_.in_flight();
  }
  if (accepted_ && !ws_.is_open()) return;  // already closed
  close_pending_ = reason;
  close_timer_.expires_after(services_.settings.close_timeout);
  close_timer_.async_wait(beast::bind_front_handler(&websocket_session::on_close_timeout, shared_from_this()));
  if (!writing) do_write();  // before the handshake ends, on_accept does it
}

void websocket_session::on_close_timeout(beast::error_code ec) {
  if (ec) return;  // cancelled: the session ended in time
  services_.log->debug("conn {} did not close in time; cutting it", id_);
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

}  // namespace wshub::ws
