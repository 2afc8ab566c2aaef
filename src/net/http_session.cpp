#include "wshub/net/http_session.hpp"

#include <algorithm>
#include <atomic>

#include <boost/asio/dispatch.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "wshub/net/request_rules.hpp"
#include "wshub/util/recycling_allocator.hpp"

namespace wshub::net {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace asio = boost::asio;

static_assert(std::is_same_v<http::request, ws::websocket_session<ws::plain_stream>::request>,
              "an upgrade hands the parsed request over as it is");

namespace {

// Refused connections being answered, over all sessions of the process.
std::atomic<std::size_t> refusals_in_flight{0};

}  // namespace

template <class Stream>
http_session<Stream>::http_session(Stream&& stream, http_services& services, hub::connection_limit::slot slot,
                                   hub::connection_limit::refusal refused)
    : stream_(std::move(stream)),
      buffer_(services.settings.header_limit),
      services_(services),
      slot_(std::move(slot)),
      refused_(refused) {
  beast::error_code ec;
  const auto remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
  if (!ec) remote_ip_ = remote.address().to_string();
}

template <class Stream>
http_session<Stream>::~http_session() {
  if (counted_refusal_) refusals_in_flight.fetch_sub(1, std::memory_order_relaxed);
}

template <class Stream>
void http_session<Stream>::run() {
  auto timeout = services_.settings.request_timeout;
  if (refused_ != hub::connection_limit::refusal::none) {
    if (refusals_in_flight.fetch_add(1, std::memory_order_relaxed) >= max_refusals_in_flight) {
      refusals_in_flight.fetch_sub(1, std::memory_order_relaxed);
      return;  // the last reference goes: the socket closes now
    }
    counted_refusal_ = true;
    timeout = refusal_timeout;
  }
  asio::dispatch(stream_.get_executor(), [self = this->shared_from_this(), timeout] {
    beast::get_lowest_layer(self->stream_).expires_after(timeout);
    if constexpr (std::is_same_v<Stream, ws::tls_stream>) {
      self->stream_.async_handshake(asio::ssl::stream_base::server, [self](beast::error_code ec) {
        if (ec) {
          self->services_.log->debug("TLS handshake with {} failed: {}", self->remote_ip_, ec.message());
          return;  // nothing to answer: the peer does not speak TLS to us
        }
        self->start();
      });
    } else {
      self->start();
    }
  });
}

template <class Stream>
void http_session<Stream>::start() {
  if (refused_ != hub::connection_limit::refusal::none) return refuse();
  do_read();
}

// Each request must arrive whole within request_timeout, so a client trickling bytes (slowloris)
// is cut by then however slowly it sends. The first request's clock starts at the accept; a later
// one's with its first byte (until then the connection is idle, allowed keep_alive_timeout).
template <class Stream>
void http_session<Stream>::do_read() {
  const auto& s = services_.settings;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(s.header_limit));
  parser_->body_limit(s.body_limit);
  request_started_ = first_request_;
  beast::get_lowest_layer(stream_).expires_after(first_request_ ? s.request_timeout : s.keep_alive_timeout);
  first_request_ = false;
  read_header();
}

// The header is read here rather than with http::async_read_header so that its raw bytes are
// checked (request_problem) before Beast unfolds them, and so that the request's clock starts
// with its first byte. Beast takes a header whole: `put` uses nothing until the empty line is in
// the buffer, and then exactly the header's bytes.
template <class Stream>
void http_session<Stream>::read_header() {
  if (buffer_.size() > 0) {
    if (!request_started_) {
      request_started_ = true;
      beast::get_lowest_layer(stream_).expires_after(services_.settings.request_timeout);
    }
    beast::error_code ec;
    const auto used = parser_->put(buffer_.data(), ec);
    if (ec != bhttp::error::need_more) {
      std::string problem;
      if (!ec)
        problem = request_problem(parser_->get().base(),
                                  {static_cast<const char*>(buffer_.data().data()), used});
      buffer_.consume(used);
      if (!problem.empty())
        return write(http::make_error({http::status::bad_request, http::codes::bad_request, problem},
                                      parser_->get().version(), false));
      return on_header(ec);
    }
    buffer_.consume(used);
  }
  const auto room = beast::read_size(buffer_, 65536);
  if (room == 0) return on_read(bhttp::error::header_limit, 0);
  stream_.async_read_some(buffer_.prepare(room), [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
    self->buffer_.commit(n);
    if (ec) return self->on_read(ec, n);
    self->read_header();
  });
}

// Answers "Expect: 100-continue" (curl sends it for bodies over 1 KiB) before reading the body.
template <class Stream>
void http_session<Stream>::on_header(beast::error_code ec) {
  if (ec) return on_read(ec, 0);
  auto read_body = [this] {
    bhttp::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&http_session<Stream>::on_read, this->shared_from_this()));
  };
  const auto& req = parser_->get();
  if (!beast::iequals(req[bhttp::field::expect], "100-continue") || parser_->is_done()) return read_body();
  auto interim = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, req.version());
  bhttp::async_write(stream_, *interim, [self = this->shared_from_this(), interim, read_body](beast::error_code wec, std::size_t) {
    if (wec) return self->close();
    read_body();
  });
}

template <class Stream>
void http_session<Stream>::on_read(beast::error_code ec, std::size_t) {
  if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset ||
      ec == asio::error::eof || ec == asio::error::operation_aborted)
    return close();
  const auto header_limit = std::to_string(services_.settings.header_limit);
  // The read buffer overflows only when something unparsed outgrows it: the header, or in a
  // chunked body a chunk-size line (with its extensions) or the trailer.
  if (ec == bhttp::error::header_limit || (ec == bhttp::error::buffer_overflow && !parser_->is_header_done())) {
    services_.counters.refused(hub::refusal_reason::headers_too_large);
    return write(http::make_error({http::status::request_header_fields_too_large, http::codes::header_too_large,
                                   "request headers are larger than " + header_limit + " bytes"}));
  }
  if (ec == bhttp::error::buffer_overflow) {
    services_.counters.refused(hub::refusal_reason::too_large);
    return write(http::make_error({http::status::payload_too_large, http::codes::payload_too_large,
                                   "a chunk-size line or the trailer of the request body is larger than " +
                                       header_limit + " bytes"}));
  }
  if (ec == bhttp::error::body_limit) {
    services_.counters.refused(hub::refusal_reason::too_large);
    return write(http::make_error({http::status::payload_too_large, http::codes::payload_too_large,
                                   "request body is larger than " + std::to_string(services_.settings.body_limit) +
                                       " bytes"}));
  }
  if (ec) {
    if (ec.category() != beast::error_code(bhttp::error::bad_target).category()) return close();  // not a parse error
    return write(http::make_error({http::status::bad_request, http::codes::bad_request,
                                   "malformed HTTP request: " + ec.message()}));
  }

  const auto& req = parser_->get();
  const auto rules = services_.access.current();
  if (!rules->hosts.allows(req[bhttp::field::host]))
    return write(http::make_error({http::status::misdirected_request, http::codes::misdirected_request,
                                   "this server does not serve the host '" + std::string(req[bhttp::field::host]) +
                                       "' (http.allowed_hosts)"},
                                  req.version(), false));
  const auto target = req.target();
  if (target.substr(0, target.find('?')) == http::websocket_path && beast::websocket::is_upgrade(req))
    return upgrade(*rules);

  services_.router.handle(
      req,
      // Called once, on any thread (the store writer, the blocking pool, the cluster's threads),
      // by one of the copies a handler may make. Every copy shares one slot, and the answer moves
      // the session's reference out of it back to the worker: a copy dropped on another thread
      // never holds the last reference, so the session (and its socket) dies on its own worker.
      // The slot is a recycled block of the thread that frees it (no heap allocation after warm-up).
      [slot = std::allocate_shared<std::shared_ptr<http_session>>(util::recycling_allocator<http_session>{},
                                                                this->shared_from_this())](http::response res) {
        auto self = std::move(*slot);
        if (!self) return;  // answered already
        // Inside a pass of its own worker's send ring (a commit's answers, a paced answer), the
        // answer joins the pass; else it goes back to the worker in a handler of its own.
        if (ws::send_ring::open_here() == &self->services_.websocket->writes->sends()) return self->write(std::move(res));
        const auto home = self->stream_.get_executor();
        asio::post(home, [self = std::move(self), res = std::move(res)]() mutable { self->write(std::move(res)); });
      },
      http::request_context{remote_ip_,
                            rules->origins.allows(req[bhttp::field::origin], req[bhttp::field::host], services_.site),
                            rules});
}

// Answered before any request arrives (the answer does not depend on it), so a refused client
// that never sends is not waited for.
template <class Stream>
void http_session<Stream>::refuse() {
  auto res = refused_ == hub::connection_limit::refusal::per_ip
                 ? http::make_error({http::status::too_many_requests, http::codes::too_many_requests,
                                     "too many connections from this address"})
                 : http::make_error({http::status::service_unavailable, http::codes::server_error,
                                     "the server has too many connections"});
  res.set(bhttp::field::retry_after, "1");
  write(std::move(res));
}

template <class Stream>
void http_session<Stream>::upgrade(const http::access_rules& rules) {
  const auto& req = parser_->get();
  if (!rules.origins.allows(req[bhttp::field::origin], req[bhttp::field::host], services_.site)) {
    services_.counters.refused(hub::refusal_reason::origin);
    services_.log->info("refused a WebSocket upgrade from origin '{}'", std::string(req[bhttp::field::origin]));
    return write(http::make_error(
        {http::status::forbidden, http::codes::socket_connect, "origin not allowed"}, req.version(), false));
  }
  std::string problem;
  auto params = ws::parse_connect_params(req.target(), services_.connect, problem);
  if (!params)
    return write(http::make_error({http::status::bad_request, http::codes::bad_parameter, problem}, req.version(), false));
  if (rules.tokens.enabled()) {
    // A token from ?token= or the subprotocol "bearer.<token>" (browsers cannot set headers).
    auto token = params->token.empty() ? std::string(security::token_from_protocols(req[bhttp::field::sec_websocket_protocol]))
                                       : params->token;
    if (!token.empty() || rules.require_token) {
      const auto claims = rules.tokens.verify(token, problem);
      if (!claims) {
        services_.counters.refused(hub::refusal_reason::token);
        return write(http::make_error({http::status::unauthorized, http::codes::authorization, problem}, req.version(), false));
      }
      params->user = claims->user;
      params->allowed_channels = claims->channels;
      params->token_expires_at = claims->expires_at;
      if (claims->channels)
        for (const auto& c : params->channels)
          if (std::find(claims->channels->begin(), claims->channels->end(), c) == claims->channels->end()) {
            services_.counters.refused(hub::refusal_reason::token);
            return write(http::make_error({http::status::forbidden, http::codes::authorization,
                                           "the token does not allow channel " + c},
                                          req.version(), false));
          }
    }
  }
  beast::get_lowest_layer(stream_).expires_never();
  std::make_shared<ws::websocket_session<Stream>>(std::move(stream_), *services_.websocket, std::move(slot_),
                                                  std::move(*params))
      ->run(parser_->release());
}

// One answer at a time: the next request is read only once this one is written.
template <class Stream>
void http_session<Stream>::write(http::response res) {
  const bool keep_alive = res.keep_alive();
  response_.emplace(std::move(res));
  serializer_.emplace(*response_);
  // A refusal keeps the deadline it got at the accept.
  if (refused_ == hub::connection_limit::refusal::none)
    beast::get_lowest_layer(stream_).expires_after(services_.settings.request_timeout);
  answer_keep_alive_ = keep_alive;
  if constexpr (std::is_same_v<Stream, ws::plain_stream>) {
    // On plain TCP the answer goes to the worker's send_ring like a socket's frames: answers made
    // in one pass (a commit's publishes) reach the kernel in one system call. sent() follows.
    // The pass holds the send until next() has returned: sent() ends the serializer.
    auto& sends = services_.websocket->writes->sends();
    const ws::send_pass pass(sends);
    beast::error_code ec;
    bool queued = false;
    serializer_->next(ec, [&](beast::error_code&, const auto& buffers) {
      sends.send(stream_.socket().native_handle(), buffers,
                 std::shared_ptr<ws::send_ring::sender>(this->shared_from_this(), this));
      queued = true;
    });
    if (queued) return;
  }
  write_rest();
}

// Worker thread only (plain TCP): the kernel took `n` bytes of the answer; the rest, if any, is
// written asynchronously.
template <class Stream>
void http_session<Stream>::sent(boost::system::error_code ec, std::size_t n) {
  if (ec) return on_write(answer_keep_alive_, ec, 0);
  serializer_->consume(n);
  if (serializer_->is_done()) return on_write(answer_keep_alive_, {}, n);
  write_rest();
}

// Writes what the serializer has left, with the stream's deadline.
template <class Stream>
void http_session<Stream>::write_rest() {
  bhttp::async_write(stream_, *serializer_,
                     [self = this->shared_from_this(), keep_alive = answer_keep_alive_](beast::error_code ec, std::size_t n) {
                       self->on_write(keep_alive, ec, n);
                     });
}

template <class Stream>
void http_session<Stream>::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  serializer_.reset();
  response_.reset();
  if (ec) return close();
  if (!keep_alive) return close();
  do_read();
}

template <class Stream>
void http_session<Stream>::close() {
  if constexpr (std::is_same_v<Stream, ws::tls_stream>) {
    // Send TLS close_notify (bounded by the timeout), then the TCP close follows.
    if (refused_ == hub::connection_limit::refusal::none)
      beast::get_lowest_layer(stream_).expires_after(services_.settings.request_timeout);
    stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    });
  } else {
    beast::error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    if (refused_ != hub::connection_limit::refusal::none) drain();
  }
}

// A refused client may still be sending its request: closing with unread bytes would reset the
// connection, and a reset can cost the client the answer. So what it sends is read and dropped
// (into the capped buffer) until it closes or the refusal's deadline passes.
template <class Stream>
void http_session<Stream>::drain() {
  buffer_.clear();
  stream_.async_read_some(buffer_.prepare(beast::read_size(buffer_, 65536)),
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                            if (!ec) self->drain();
                          });
}

template class http_session<ws::plain_stream>;
template class http_session<ws::tls_stream>;

}  // namespace wshub::net
