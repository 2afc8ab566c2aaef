#pragma once
// One HTTP connection: reads requests, asks the router, writes responses; hands the socket to a
// websocket_session for an upgrade on the WebSocket path.
#include <chrono>
#include <memory>
#include <optional>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <spdlog/logger.h>

#include "wshub/http/router.hpp"
#include "wshub/hub/connection_limit.hpp"
#include "wshub/ws/websocket_session.hpp"

namespace wshub::net {

struct http_settings {
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 1024 * 1024;
  std::chrono::seconds request_timeout{10};
  std::chrono::seconds keep_alive_timeout{30};
};

// Shared by all HTTP sessions; owned by the app.
struct http_services {
  const http::router& router;
  ws::session_services* websocket;  // never null
  const http::live_access& access;  // the router's: Host names, origins, tokens
  ws::listener_site site;  // set once the listener is bound
  hub::counters& counters;
  std::shared_ptr<spdlog::logger> log;
  http_settings settings;
  ws::connect_rules connect;
};

// Stream is ws::plain_stream or ws::tls_stream (both instantiated in the source); a TLS session
// completes the TLS handshake before its first request.
template <class Stream>
class http_session : public std::enable_shared_from_this<http_session<Stream>>, private ws::send_ring::sender {
 public:
  // Without a slot (`refused` says which limit), the session answers 503 (all connections) or 429
  // (this address) at once, without waiting for a request, and is gone within refusal_timeout.
  // At most max_refusals_in_flight refused connections are answered at a time; beyond that a
  // refused connection is closed unanswered.
  http_session(Stream&& stream, http_services& services, hub::connection_limit::slot slot,
               hub::connection_limit::refusal refused = hub::connection_limit::refusal::none);
  ~http_session();
  void run();

  static constexpr std::chrono::seconds refusal_timeout{1};
  static constexpr std::size_t max_refusals_in_flight = 256;

 private:
  void start();
  void do_read();
  void read_header();
  void on_header(boost::beast::error_code ec);
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  // Checks the upgrade by `rules` (origin, token), then hands the socket to a websocket_session.
  void upgrade(const http::access_rules& rules);
  void refuse();
  void write(http::response res);
  void sent(boost::system::error_code ec, std::size_t bytes) override;
  void write_rest();
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);
  void close();
  void drain();

  Stream stream_;
  // Every byte read and not yet parsed: the header being read, a chunk-size line with its
  // extensions, a trailer block. Capped at settings.header_limit, so none of them can hold more.
  boost::beast::flat_buffer buffer_;  // worker thread only
  http_services& services_;
  hub::connection_limit::slot slot_;
  hub::connection_limit::refusal refused_;
  bool counted_refusal_ = false;  // holds one of the max_refusals_in_flight
  std::string remote_ip_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body, http::fields::allocator_type>> parser_;  // worker thread only
  // The answer being written and its serializer, kept here (not on the heap) for the write.
  std::optional<http::response> response_;  // worker thread only
  std::optional<boost::beast::http::response_serializer<boost::beast::http::string_body, http::fields>> serializer_;  // worker thread only
  bool first_request_ = true;     // worker thread only
  bool answer_keep_alive_ = false;  // worker thread only: the answer being written keeps the connection
  bool request_started_ = false;  // worker thread only: a byte of the current request has arrived
};

extern template class http_session<ws::plain_stream>;
extern template class http_session<ws::tls_stream>;

}  // namespace wshub::net
