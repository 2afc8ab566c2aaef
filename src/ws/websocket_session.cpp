#include "wshub/ws/websocket_session.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>

#include "wshub/util/bounded_json.hpp"
#include "wshub/util/utf8.hpp"
#include "wshub/hub/channel_name.hpp"
#include "wshub/util/header_list.hpp"
#include "wshub/ws/frame_buffers.hpp"

namespace wshub::ws {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using json = nlohmann::json;

namespace {

// Error codes of `error` frames (docs/API.md).
constexpr int bad_parameter = 10103;
constexpr int forbidden = 10104;
constexpr int unknown_command = 10208;
constexpr int too_many_channels = 10209;
constexpr int not_subscribed = 10210;
constexpr int resume_running = 10211;

constexpr std::size_t replay_page_messages = 256;
constexpr std::size_t max_ref_bytes = 128;

// A command's `ref` is echoed in its answer: absent (null), an integer, or a short string.
bool valid_ref(const json& ref) {
  return ref.is_null() || ref.is_number_integer() || (ref.is_string() && ref.get_ref<const std::string&>().size() <= max_ref_bytes);
}
// Frames per gather write: 2 buffers each, and Asio passes at most 64 buffers to one sendmsg.
constexpr std::size_t max_batch_frames = 32;

// The first of our subprotocols that the client offered, or "".
std::string choose_subprotocol(std::string_view offered, const std::vector<std::string>& ours) {
  const auto theirs = util::split_header_list(offered);
  for (const auto& p : ours)
    for (const auto t : theirs)
      if (t == p) return p;
  return {};
}

// The allocator of the operation an idle socket keeps waiting (readability).
// Asio otherwise gives a handler with the default allocator a block from its per-thread cache of
// freed operations, and that block is as large as the largest operation freed before it: the
// 101 answer's write, about 800 bytes, kept as long as the socket stays idle. A distinct
// allocator type makes Asio allocate exactly what the operation needs.
template <class T>
struct exact_allocator {
  using value_type = T;
  exact_allocator() = default;
  template <class U>
  exact_allocator(const exact_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
  friend bool operator==(const exact_allocator&, const exact_allocator&) noexcept { return true; }
};

template <class Handler>
auto exactly_allocated(Handler&& handler) {
  return net::bind_allocator(exact_allocator<void>(), std::forward<Handler>(handler));
}

constexpr std::uint8_t text_frame_start = 0x81;  // FIN and the text opcode
constexpr std::uint8_t pong_frame_start = 0x8A;  // FIN and the pong opcode
constexpr std::uint8_t max_queued_pongs = 4;

// A ping, pong or close frame (RFC 6455 5.5): the same bytes whatever the socket's protocol.
hub::frame_ptr make_protocol_frame(std::uint8_t opcode, std::string payload) {
  auto f = std::make_shared<hub::frame>();
  f->header = hub::make_frame_header(payload.size(), opcode);
  f->header_v1 = f->header;
  f->set_text(std::move(payload));
  return f;
}

bool expected_disconnect(beast::error_code ec) {
  return ec == websocket::error::closed || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::operation_aborted || ec == beast::error::timeout || ec == net::error::broken_pipe;
}

template <class Socket>
std::string remote_of(Socket& socket) {
  beast::error_code ec;
  const auto ep = socket.remote_endpoint(ec);
  if (ec) return {};
  const auto address = ep.address().to_string();
  return (ep.address().is_v6() ? "[" + address + "]" : address) + ":" + std::to_string(ep.port());
}

}  // namespace

template <class Stream>
websocket_session<Stream>::websocket_session(Stream&& stream, session_services& services,
                                     hub::connection_limit::slot slot, connect_params params)
    : handshake_(std::make_unique<handshake_stream>(to_layer(std::move(stream)))),
      params_(std::make_unique<connect_params>(std::move(params))),
      services_(services),
      slot_(std::move(slot)),
      reader_(services.settings.max_message_size),
      queue_(services.settings.max_queue_bytes) {}

template <class Stream>
auto websocket_session<Stream>::to_layer(Stream&& stream) -> layer {
  if constexpr (std::is_same_v<Stream, plain_stream>) {
    // The same descriptor, registered again under the worker's io_context executor (every
    // socket here belongs to a worker's io_context). A failure leaves the socket closed: the
    // handshake then fails and the session ends.
    auto socket = stream.release_socket();
    auto& ioc = static_cast<net::io_context&>(net::query(socket.get_executor(), net::execution::context));
    layer out(ioc.get_executor());
    beast::error_code ec;
    const auto protocol = socket.local_endpoint(ec).protocol();
    if (ec) return out;
    const auto fd = socket.release(ec);
    if (!ec) out.assign(protocol, fd, ec);
    return out;
  } else {
    return std::move(stream);
  }
}

template <class Stream>
auto& websocket_session<Stream>::socket() {
  auto& l = handshake_ ? handshake_->next_layer() : *stream_;
  if constexpr (std::is_same_v<Stream, plain_stream>) return l;
  else return beast::get_lowest_layer(l).socket();
}

template <class Stream>
net::any_io_executor websocket_session<Stream>::executor() {
  return services_.timers->get_executor();
}

template <class Stream>
websocket_session<Stream>::~websocket_session() {
  // Normally finish() left the hub already. This path runs only when the io_context was stopped
  // with the session's handlers still queued, when no fan-out can run any more.
  if (joined_) services_.registry->leave(id_);
}

template <class Stream>
void websocket_session<Stream>::run(request req) {
  const auto& s = services_.settings;
  if constexpr (!std::is_same_v<Stream, plain_stream>)
    beast::get_lowest_layer(*handshake_).expires_never();  // the session has its own timeouts
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = s.handshake_timeout;
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  handshake_->set_option(timeouts);
  if (s.compression) {
    // No context takeover either way: clients compress each message alone, so no inflater is
    // kept per socket; the server deflates each message alone, once, for every socket that
    // negotiated it (hub::frame::deflated).
    websocket::permessage_deflate pmd;
    pmd.server_enable = true;
    pmd.client_no_context_takeover = true;
    pmd.server_no_context_takeover = true;
    handshake_->set_option(pmd);
  }
  const auto protocol = choose_subprotocol(req[beast::http::field::sec_websocket_protocol], s.subprotocols);
  v1_ = protocol == protocol_v1;
  handshake_->set_option(websocket::stream_base::decorator([this, protocol](websocket::response_type& res) {
    res.set(beast::http::field::server, "wshub/" WSHUB_VERSION);
    if (res.result() != beast::http::status::switching_protocols) {
      // Beast refused the handshake (bad Sec-WebSocket-Version or -Key) with a text body: answer
      // with the JSON error shape instead (found by fuzzing). 10206 upgrade required, 10207 bad request.
      const int code = res.result() == beast::http::status::upgrade_required ? 10206 : 10207;
      res.set(beast::http::field::content_type, "application/json");
      res.body() = json{{"code", code}, {"message", res.body()}}.dump();
      res.prepare_payload();
      return;
    }
    if (!protocol.empty()) res.set(beast::http::field::sec_websocket_protocol, protocol);
    // Beast has answered the client's offer by now: what it agreed to is what the reader accepts.
    const auto agreed = res[beast::http::field::sec_websocket_extensions];
    deflate_ = agreed.find("permessage-deflate") != std::string_view::npos;
    // The shared deflated bytes use a 15-bit window: a client that asked for a smaller one
    // (server_max_window_bits) gets text frames.
    deflate_frames_ = deflate_ && agreed.find("server_max_window_bits") == std::string_view::npos;
  }));

  // Joined before the 101 goes out, so a message published once the client sees the upgrade
  // reaches it. With ?last_id, live frames are held (in replay_) until the replay is queued.
  auto& p = *params_;
  if (p.last_id) {
    replay_ = std::make_unique<replay_state>();
    replay_->cursor = *p.last_id;
  }
  if (p.allowed_channels || p.token_expires_at)
    token_ = std::make_unique<token_state>(token_state{std::move(p.allowed_channels), p.token_expires_at});
  id_ = services_.registry->join(*this, p.channels,
                                 hub::member_info{remote_of(socket()), std::move(p.user), protocol, std::chrono::system_clock::now()});
  joined_ = true;
  if (v1_) {
    json welcome = {{"type", "welcome"}, {"conn_id", id_}, {"channels", p.channels},
                    {"last_id", services_.store.last_id()}};
    if (!services_.node.empty()) welcome["node"] = services_.node;
    queue_.push_unbounded(hub::make_control_frame(welcome.dump()));
  }
  params_.reset();  // the registry keeps the channels and the user; the token was checked at the upgrade
  if (!replay_) schedule_write();
  handshake_->async_accept(req, beast::bind_front_handler(&websocket_session<Stream>::on_accept, this->shared_from_this()));
}

// The 101 is written: Beast's stream is dropped, the socket stays.
template <class Stream>
void websocket_session<Stream>::on_accept(beast::error_code ec) {
  if (ec) {
    services_.log->debug("conn {} upgrade failed: {}", id_, ec.message());
    handshake_.reset();
    return finish();
  }
  stream_.emplace(std::move(handshake_->next_layer()));
  handshake_.reset();
  accepted_ = true;
  if (deflate_) reader_.accept_compressed();
  if (services_.log->should_log(spdlog::level::debug))
    services_.log->debug("conn {} open from {}{}", id_, remote_of(socket()), v1_ ? " (wshub.v1)" : "");
  start_idle_timer();
  do_read();
  if (replay_) plan_replay();
  do_write();  // frames queued during the handshake
}

// Plain TCP waits for readability without a buffer, then reads what is there into the I/O
// thread's buffer; TLS reads into the session's own (the TLS layer may hold decrypted bytes the
// socket no longer shows).
template <class Stream>
void websocket_session<Stream>::do_read() {
  if constexpr (std::is_same_v<Stream, plain_stream>) {
    stream_->async_wait(net::ip::tcp::socket::wait_read,
                        exactly_allocated([self = this->shared_from_this()](beast::error_code ec) {
                          self->on_readable(ec);  // a lambda: no member pointer held by every idle wait
                        }));
  } else {
    const auto size = services_.settings.read_buffer_size;
    if (!tls_buffer_) tls_buffer_ = std::make_unique<char[]>(size);  // kept: TLS sockets are not the idle target
    stream_->async_read_some(net::buffer(tls_buffer_.get(), size),
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                               self->on_bytes(ec, std::string_view(self->tls_buffer_.get(), n));
                             });
  }
}

template <class Stream>
void websocket_session<Stream>::on_readable(beast::error_code ec) {
  if (ec) return on_bytes(ec, {});
  if constexpr (std::is_same_v<Stream, plain_stream>) {
    // At most read_buffer_size bytes per wake-up, so a flooding client gets its turn like the
    // others and no more. The buffer is the I/O thread's, used within this call only.
    thread_local std::vector<char> scratch;
    const auto size = services_.settings.read_buffer_size;
    if (scratch.size() < size) scratch.resize(size);
    auto& s = *stream_;
    if (!s.non_blocking()) s.non_blocking(true, ec);
    const auto n = ec ? 0 : s.read_some(net::buffer(scratch.data(), size), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) return do_read();
    on_bytes(ec, std::string_view(scratch.data(), n));
  }
}

// Worker thread only: what the peer sent, frame by frame.
template <class Stream>
void websocket_session<Stream>::on_bytes(beast::error_code ec, std::string_view bytes) {
  if (ec) {
    // After cut() the read fails (bad descriptor, aborted): that is the close, not an error.
    if (!expected_disconnect(ec) && !cut_) services_.log->debug("conn {} read: {}", id_, ec.message());
    return finish();
  }
  heard_ = true;
  for (;;) {
    auto e = reader_.next(bytes);
    switch (e.what) {
      case frame_reader::kind::need_more:
        return do_read();
      case frame_reader::kind::text:
      case frame_reader::kind::binary:
        on_message(std::move(e));
        break;
      case frame_reader::kind::ping:
        answer_ping(std::move(e.payload));
        break;
      case frame_reader::kind::pong:
        pinged_ = false;
        break;
      case frame_reader::kind::close:
        on_peer_close(e.code);
        break;  // the reader takes nothing more; reading goes on until the socket is closed
      case frame_reader::kind::fail:
        services_.log->debug("conn {} broke the protocol: {}", id_, e.payload);
        peer_done_ = true;  // the socket closes once the close frame is out
        begin_close(e.code, std::move(e.payload));
        break;
    }
  }
}

template <class Stream>
void websocket_session<Stream>::on_message(frame_reader::event message) {
  if (message.what == frame_reader::kind::binary)
    return begin_close(static_cast<std::uint16_t>(websocket::close_code::unknown_data), "binary frames are not supported");
  if (message.compressed) {
    std::uint16_t code = 0;
    auto text = inflate_message(message.payload, services_.settings.max_message_size, code);
    if (!text) return begin_close(code, code == 1009 ? "message too big" : "compressed data does not inflate");
    if (!util::valid_utf8(*text)) return begin_close(1007, "text is not valid UTF-8");
    return on_text(*text);
  }
  on_text(message.payload);
}

// A plain socket gets only message frames, so what it sends is read and dropped (as go-gin-api
// did); commands need wshub.v1.
template <class Stream>
void websocket_session<Stream>::on_text(const std::string& text) {
  if (!v1_) return services_.log->debug("conn {} ignored a text frame (plain sockets send no commands)", id_);
  const auto command = util::parse_bounded_json(text);
  if (command.is_object() && command.contains("type") && command["type"].is_string()) return on_command(command);
  send_error(json(), unknown_command,
             "commands are JSON objects with a \"type\", nested at most " + std::to_string(util::max_json_depth) +
                 " levels deep");
}

// The peer's close frame: the close handshake ends here if ours went out first, else ours
// answers it (with the peer's code) and the socket closes once it is written.
template <class Stream>
void websocket_session<Stream>::on_peer_close(std::uint16_t code) {
  peer_done_ = true;
  auto& c = close_record();
  if (c.received == 0) c.received = code;
  c.peer_closed_first = !close_started_ && !c.pending;
  if (close_started_ && !writing_) return cut();
  if (close_started_) return;  // cut once our close frame is written
  begin_close(code == 1005 ? 1000 : code, {});
}

// Keep-alive: a ping after idle_timeout / 2 without a byte from the peer, and the connection
// cut after idle_timeout without one.
template <class Stream>
void websocket_session<Stream>::start_idle_timer() {
  idle_due_ = timer_wheel::clock::now() + services_.settings.idle_timeout / 2;
  arm_idle_timer();
}

// Worker thread only. The session's one entry in the worker's wheel serves the keep-alive, the
// token's expiry and the close timeout: it is due at whichever comes first.
template <class Stream>
void websocket_session<Stream>::arm_idle_timer() {
  auto at = timer_wheel::clock::time_point::max();
  if (accepted_) {  // keep-alive and the token's expiry start with the upgrade
    at = idle_due_;
    if (const auto expires = token_expires_at())
      at = std::min(at, timer_wheel::clock::now() + std::chrono::duration_cast<timer_wheel::clock::duration>(
                                                        *expires - std::chrono::system_clock::now()));
  }
  if (closing()) at = std::min(at, close_->due);
  if (at != timer_wheel::clock::time_point::max()) services_.timers->schedule(*this, at);
}

// Worker thread only: when the token the socket presented (or refreshed) expires; nullopt without one.
template <class Stream>
std::optional<std::chrono::system_clock::time_point> websocket_session<Stream>::token_expires_at() const {
  if (!token_ || !token_->expires_at) return std::nullopt;
  return std::chrono::system_clock::time_point(std::chrono::seconds(*token_->expires_at));
}

// Worker thread only: what the session holds on to while it is due is its pending read.
template <class Stream>
void websocket_session<Stream>::on_due() {
  const auto self = this->shared_from_this();
  if (closing() && timer_wheel::clock::now() >= close_->due) {
    services_.log->debug("conn {} did not close in time; cutting it", id_);
    return cut();
  }
  on_idle_tick();
}

// Worker thread only: keep-alive and the token's expiry, which start once the upgrade is done.
template <class Stream>
void websocket_session<Stream>::on_idle_tick() {
  if (!joined_ || !accepted_) return;
  if (const auto expires = token_expires_at(); expires && std::chrono::system_clock::now() >= *expires) {
    services_.log->debug("conn {}: its token expired", id_);
    return begin_close(close_token_expired, "token expired");
  }
  if (timer_wheel::clock::now() < idle_due_) return arm_idle_timer();  // woke for a token since refreshed, or a close
  if (heard_) {
    heard_ = false;
    pinged_ = false;
  } else if (pinged_) {
    services_.log->debug("conn {} was silent for the idle timeout; cutting it", id_);
    return cut();
  } else {
    pinged_ = true;
    send_protocol_frame(0x9, {});
  }
  start_idle_timer();
}

// Worker thread only. Each ping gets its pong, but at most max_queued_pongs wait to be written: pings
// that come past them are answered by one pong with the latest one's payload once the others are
// written (RFC 6455 5.5.3), so a ping flood costs a string copy per ping, not a frame.
template <class Stream>
void websocket_session<Stream>::answer_ping(std::string payload) {
  if (pongs_queued_ >= max_queued_pongs) {
    next_pong_ = std::make_unique<std::string>(std::move(payload));
    return;
  }
  ++pongs_queued_;
  send_protocol_frame(0xA, std::move(payload));
}

// Worker thread only: a ping or a pong (RFC 6455 5.5), queued like any frame for this socket.
template <class Stream>
void websocket_session<Stream>::send_protocol_frame(std::uint8_t opcode, std::string payload) {
  queue_own(make_protocol_frame(opcode, std::move(payload)));
}

// Worker thread only. A frame of this socket's own (an answer to its command, a ping, a pong): bounded
// like everything else, not held back during a resume.
template <class Stream>
void websocket_session<Stream>::queue_own(hub::frame_ptr f) {
  if (refusing_) return;
  if (!queue_.push(std::move(f))) {
    return overflowed();
  }
  schedule_write();
}

template <class Stream>
void websocket_session<Stream>::on_command(const json& command) {
  const auto& type = command["type"].get_ref<const std::string&>();
  const auto ref_it = command.find("ref");
  if (ref_it != command.end() && !valid_ref(*ref_it))
    return send_error(json(), bad_parameter,
                      "ref must be an integer or a string of at most " + std::to_string(max_ref_bytes) + " bytes");
  const json ref = ref_it != command.end() ? *ref_it : json();
  if (type == "subscribe" || type == "unsubscribe") {
    const auto it = command.find("channel");
    const std::string channel = it != command.end() && it->is_string() ? it->get<std::string>() : std::string();
    if (!hub::valid_channel_name(channel))
      return send_error(ref, bad_parameter, "channel must be " + std::string(hub::channel_name_rule));
    const auto presence_it = command.find("presence");
    if (presence_it != command.end() && !presence_it->is_boolean())
      return send_error(ref, bad_parameter, "presence must be true or false");
    const bool presence = type == "subscribe" && presence_it != command.end() && presence_it->get<bool>();
    if (presence && !v1_) return send_error(ref, bad_parameter, "presence frames need the wshub.v1 subprotocol");
    const auto channels = services_.registry->channels_of(id_);
    const auto pos = std::find(channels.begin(), channels.end(), channel);
    if (type == "subscribe" && pos == channels.end()) {
      const bool allowed = !token_ || !token_->allowed_channels ||
                           std::find(token_->allowed_channels->begin(), token_->allowed_channels->end(), channel) !=
                               token_->allowed_channels->end();
      if (!allowed) return send_error(ref, forbidden, "the token does not allow channel " + channel);
      if (channels.size() >= services_.settings.max_channels)
        return send_error(ref, too_many_channels,
                          "at most " + std::to_string(services_.settings.max_channels) + " channels per connection");
      services_.registry->subscribe(id_, channel);
    } else if (type == "unsubscribe") {
      if (pos == channels.end()) return send_error(ref, not_subscribed, "not subscribed to " + channel);
      services_.registry->unsubscribe(id_, channel);
    }
    json ack = {{"type", "ack"}, {"ref", ref}, {"command", type}, {"channel", channel}};
    // Join and leave frames of the other connections on the channel, from now on.
    if (presence) ack["presence"] = services_.registry->watch_presence(id_, channel);
    return send_control(ack);
  }
  if (type == "resume") {
    const auto it = command.find("last_id");
    if (it == command.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() > max_id)
      return send_error(ref, bad_parameter, "last_id must be a message id (0 to 2^63-1)");
    return start_replay(it->get<std::uint64_t>(), ref);
  }
  if (type == "ping") return send_control({{"type", "pong"}, {"ref", ref}});
  if (type == "refresh") return refresh_token(command, ref);
  send_error(ref, unknown_command, "unknown command type '" + type + "'");
}

// Worker thread only. {"type":"refresh","token":JWT}: the new token replaces the socket's own, which
// then closes at the new one's `exp`. It must name the same user and allow every channel the
// socket is subscribed to; its `channels` claim limits later subscriptions and targeted frames.
template <class Stream>
void websocket_session<Stream>::refresh_token(const json& command, const json& ref) {
  const auto it = command.find("token");
  if (it == command.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
    return send_error(ref, bad_parameter, "token must be a non-empty string");
  if (!token_ || !token_->expires_at || !services_.verify_token)
    return send_error(ref, forbidden, "this connection has no token to refresh");
  std::string problem;
  const auto claims = services_.verify_token(it->get_ref<const std::string&>(), problem);
  if (!claims) return send_error(ref, forbidden, problem);
  if (claims->user != services_.registry->user_of(id_)) return send_error(ref, forbidden, "the new token is for another user");
  if (claims->channels)
    for (const auto& c : services_.registry->channels_of(id_))
      if (std::find(claims->channels->begin(), claims->channels->end(), c) == claims->channels->end())
        return send_error(ref, forbidden, "the new token does not allow channel " + c + ", which this connection uses");
  token_->allowed_channels = claims->channels;
  token_->expires_at = claims->expires_at;
  arm_idle_timer();
  send_control({{"type", "ack"}, {"ref", ref}, {"command", "refresh"}, {"exp", claims->expires_at}});
}

template <class Stream>
void websocket_session<Stream>::send_error(const json& ref, int code, const std::string& message) {
  send_control({{"type", "error"}, {"ref", ref}, {"code", code}, {"message", message}});
}

// Worker thread only. Answers to this socket's own commands.
template <class Stream>
void websocket_session<Stream>::send_control(const json& frame) {
  queue_own(hub::make_control_frame(frame.dump(-1, ' ', false, json::error_handler_t::replace)));
}

// Worker thread only. Replays the stored messages of this socket's channels after `after_id` a page at a
// time (the next page is read once the queue drains), then queues the live frames held meanwhile
// that are newer than the last replayed id: no gap, no duplicate.
template <class Stream>
void websocket_session<Stream>::start_replay(std::uint64_t after_id, const json& ref) {
  if (replay_) return send_error(ref, resume_running, "a resume is already running");
  replay_ = std::make_unique<replay_state>();
  replay_->cursor = after_id;
  if (!ref.is_null()) replay_->ref_json = ref.dump();
  plan_replay();
}

// Worker thread only, replay_ set: finds where the replay starts (after replay_->cursor) and reads
// its first page off the worker.
template <class Stream>
void websocket_session<Stream>::plan_replay() {
  replay_->channels = services_.registry->channels_of(id_);
  replay_->page_pending = true;
  const auto page_bytes = std::max<std::size_t>(64 * 1024, services_.settings.max_queue_bytes / 2);
  struct first_page {
    store::message_log::resume_plan plan;
    std::vector<hub::frame_ptr> page;
  };
  // Both functions hold the session; read_then brings them back to this worker with the page, so
  // the pool never holds its last reference.
  services_.reads.read_then(
      this->executor(),
      [self = this->shared_from_this(), channels = replay_->channels, after_id = replay_->cursor, page_bytes] {
        const auto log = self->replay_log();
        const auto plan = log.plan_resume(channels, after_id, self->services_.settings.max_resume_messages);
        return first_page{plan, log.read_after(channels, plan.start_after, replay_page_messages, page_bytes)};
      },
      [self = this->shared_from_this()](first_page first) {
        if (!self->replay_) return;
        self->replay_->cursor = first.plan.start_after;
        self->replay_->recovered = first.plan.recovered;
        self->on_replay_page(std::move(first.page));
      });
}

template <class Stream>
void websocket_session<Stream>::request_replay_page() {
  replay_->page_pending = true;
  const auto page_bytes = std::max<std::size_t>(64 * 1024, services_.settings.max_queue_bytes / 2);
  services_.reads.read_then(
      this->executor(),
      [self = this->shared_from_this(), channels = replay_->channels, after = replay_->cursor, page_bytes] {
        return self->replay_log().read_after(channels, after, replay_page_messages, page_bytes);
      },
      [self = this->shared_from_this()](std::vector<hub::frame_ptr> page) { self->on_replay_page(std::move(page)); });
}

// Any thread: resume reads, from the cache when the range is in memory.
template <class Stream>
cache::cached_log websocket_session<Stream>::replay_log() const {
  return cache::cached_log(services_.store, &services_.cache);
}

template <class Stream>
void websocket_session<Stream>::on_replay_page(std::vector<hub::frame_ptr> page) {
  if (!replay_ || closing()) return;
  replay_->page_pending = false;
  if (page.empty()) return finish_replay();
  if (refusing_) return;
  replay_->cursor = page.back()->id;
  for (auto& f : page) queue_.push_unbounded(std::move(f));
  schedule_write();  // do_write asks for the next page when the queue drains
}

template <class Stream>
void websocket_session<Stream>::finish_replay() {
  if (v1_) {
    json resume = {{"type", "resume"}, {"recovered", replay_->recovered}, {"last_id", replay_->cursor}};
    if (!replay_->ref_json.empty()) resume["ref"] = json::parse(replay_->ref_json);
    queue_.push_unbounded(hub::make_control_frame(resume.dump()));
  }
  const auto cursor = replay_->cursor;
  for (auto& f : replay_->held)
    if (f->id > cursor) queue_.push_unbounded(std::move(f));
  // A message the replay read may still be on its way through fan-out (the store commits before
  // it fans out): anything live at or below the cursor is a duplicate from now on.
  replayed_up_to_ = cursor;
  replay_.reset();
  schedule_write();
}

// Worker thread only: the live frames a resume held are dropped (the session is closing).
template <class Stream>
void websocket_session<Stream>::drop_held() {
  if (!replay_) return;
  replay_->held = {};
  replay_->held_bytes = 0;
}

// Worker thread only: the close handshake's state, made by the first close frame.
template <class Stream>
auto websocket_session<Stream>::close_record() -> close_state& {
  if (!close_) close_ = std::make_unique<close_state>();
  return *close_;
}

// The worker's write scheduler wakes the write loop: when several messages
// arrive before it gets there, they go out in one write.
template <class Stream>
void websocket_session<Stream>::schedule_write() {
  if (write_scheduled_ || queue_.pending() == 0) return;
  write_scheduled_ = true;
  services_.writes->add(std::shared_ptr<write_scheduler::client>(this->shared_from_this(), this));
}

// On the session's worker thread, woken by services_.writes.
template <class Stream>
void websocket_session<Stream>::flush() {
  do_write();
}

template <class Stream>
void websocket_session<Stream>::finish() {
  timer_wheel::entry::cancel();
  if (joined_) {
    services_.registry->leave(id_);
    joined_ = false;
  }
  replay_.reset();
  refusing_ = true;
  queue_.clear_pending();
  if (services_.log->should_log(spdlog::level::debug)) services_.log->debug("conn {} closed: {}", id_, close_summary());
}

// Worker thread only: how the close went, with its codes, for the log.
template <class Stream>
std::string websocket_session<Stream>::close_summary() const {
  const auto sent_code = close_ ? close_->sent : 0, received_code = close_ ? close_->received : 0;
  const auto sent = std::to_string(sent_code);
  const auto received = std::to_string(received_code);
  if (received_code != 0 && sent_code != 0)
    return close_->peer_closed_first ? "the peer sent " + received + ", answered " + sent
                                     : "sent " + sent + ", the peer answered " + received;
  if (received_code != 0) return "the peer sent " + received + " (not answered)";
  if (sent_code != 0) return "sent " + sent + ", no answer from the peer";
  return "no close handshake (the connection ended)";
}

template <class Stream>
bool websocket_session<Stream>::deliver(const hub::frame_ptr& f) {
  if (refusing_) return false;
  if (f->id != 0 && f->id <= replayed_up_to_) return true;  // already sent by a replay
  if ((f->to_conn != 0 || !f->to_user.empty()) && token_ && token_->allowed_channels) {
    const auto& allowed = *token_->allowed_channels;
    if (std::none_of(f->channels.begin(), f->channels.end(), [&](const std::string& c) {
          return std::find(allowed.begin(), allowed.end(), c) != allowed.end();
        }))
      return false;  // targeted at this socket on a channel its token does not allow
  }
  if (replay_) {
    const auto size = f->text().size();
    if (replay_->held.empty() || replay_->held_bytes + size <= services_.settings.max_queue_bytes) {
      replay_->held.push_back(f);
      replay_->held_bytes += size;
      return true;
    }
  } else if (queue_.push(f)) {
    schedule_write();
    return true;
  }
  overflowed();
  return false;
}

// Worker thread only: the queue limit was passed. The close is posted: this may run inside a
// fan-out.
template <class Stream>
void websocket_session<Stream>::overflowed() {
  {
    if (refusing_) return;
    refusing_ = true;
    queue_.clear_pending();
    drop_held();
  }
  services_.counters.slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
  services_.log->warn("conn {} closed as a slow consumer ({} bytes queued at most)", id_,
                      services_.settings.max_queue_bytes);
  net::post(executor(), [self = this->shared_from_this()] {
    self->begin_close(static_cast<std::uint16_t>(websocket::close_code::policy_error), "slow consumer");
  });
}

template <class Stream>
void websocket_session<Stream>::close(std::uint16_t code, const std::string& reason) {
  net::post(executor(), [self = this->shared_from_this(), code, reason] {
    self->begin_close(code, reason);
  });
}

template <class Stream>
std::size_t websocket_session<Stream>::queued_bytes() const {
  return queue_.bytes() + (replay_ ? replay_->held_bytes : 0);
}

// Worker thread only. The write loop: every queued frame (up to max_batch_frames) in one gather write;
// when the queue drains, a close that waited for it, or the next replay page. One write is in
// flight at a time; its end (on_write) comes back here.
template <class Stream>
void websocket_session<Stream>::do_write() {
  if (writing_ || !accepted_ || write_failed_ || close_started_) return;  // on_accept starts the writes
  if (queue_.take_batch(batch_, max_batch_frames) == 0) {
    write_scheduled_ = false;
    batch_ = {};  // idle: no writer storage held
    if (close_ && close_->pending) {
      // The queue drained while a close waited for it: the close frame is the last one out.
      close_started_ = true;
      batch_.push_back(std::exchange(close_->pending, nullptr));
      writing_ = true;
      return write_batch();
    }
    if (replay_ && !replay_->page_pending) request_replay_page();
    return;
  }
  writing_ = true;
  write_batch();
}

// Worker thread only, writing_ set, batch_ not empty: starts the batch's write; on_write() follows.
// On plain TCP the batch goes to the worker's send_ring: a non-blocking send, made with the other
// sends of the write scheduler's slice in one system call; the kernel takes all of it unless the
// peer is slow, and what it does not take is written asynchronously (sent()). TLS always writes
// asynchronously (Beast's ssl_stream coalesces the buffers into one record).
template <class Stream>
void websocket_session<Stream>::write_batch() {
  if constexpr (std::is_same_v<Stream, plain_stream>) {
    services_.writes->sends().send(stream_->native_handle(), frame_buffers(batch_, v1_, deflate_from()),
                                   std::shared_ptr<send_ring::sender>(this->shared_from_this(), this));
  } else {
    net::async_write(*stream_, frame_buffers(batch_, v1_, deflate_from()),
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t bytes) {
                       self->on_write(ec, bytes);
                     });
  }
}

// Worker thread only (plain TCP): the kernel took `n` bytes of the batch; the rest, if any, is
// written asynchronously.
template <class Stream>
void websocket_session<Stream>::sent(boost::system::error_code ec, std::size_t n) {
  if constexpr (std::is_same_v<Stream, plain_stream>) {
    const frame_buffers buffers(batch_, v1_, deflate_from());
    if (ec || n == net::buffer_size(buffers)) return on_write(ec, n);
    beast::buffers_suffix<frame_buffers> rest(buffers);
    rest.consume(n);
    net::async_write(*stream_, rest, [self = this->shared_from_this(), n](beast::error_code ec2, std::size_t more) {
      self->on_write(ec2, n + more);
    });
  }
}

template <class Stream>
void websocket_session<Stream>::on_write(beast::error_code ec, std::size_t bytes) {
  if (written(ec, bytes)) do_write();
}

// Worker thread only: the batch in flight is done. Returns false when the socket failed or the close
// frame went out (nothing more is written then).
template <class Stream>
bool websocket_session<Stream>::written(beast::error_code ec, std::size_t) {
  writing_ = false;
  std::uint8_t pongs_written = 0;
  if (!ec) {
    std::size_t payload = 0;  // the metric counts message bytes as written (deflated or not), not frame headers
    for (const auto& f : batch_) {
      if (f->header.bytes[0] == text_frame_start) payload += wire_form(*f, v1_, deflate_from()).payload.size();
      if (f->header.bytes[0] == pong_frame_start) ++pongs_written;
    }
    services_.registry->count_bytes_sent(payload);
  }
  batch_.clear();
  if (pongs_written != 0) {
    pongs_queued_ = static_cast<std::uint8_t>(pongs_queued_ - std::min(pongs_queued_, pongs_written));
    if (next_pong_) answer_ping(std::move(*std::exchange(next_pong_, nullptr)));
  }
  {
    queue_.written();
  }
  if (ec) {
    if (!expected_disconnect(ec) && !cut_) services_.log->debug("conn {} write: {}", id_, ec.message());
    write_failed_ = true;
    batch_ = {};
    cut();  // the read loop sees it and ends the session
    return false;
  }
  if (close_started_) {
    batch_ = {};
    if (peer_done_) cut();  // the close handshake is complete, or the peer broke the protocol
    return false;
  }
  return true;
}

// Worker thread only. Stops taking frames, lets the frame in flight finish, then sends the close frame;
// the socket closes when the peer's close arrives. A peer that does not complete the close
// within close_timeout is cut.
template <class Stream>
void websocket_session<Stream>::begin_close(std::uint16_t code, std::string reason) {
  if (closing()) return;
  refusing_ = true;
  queue_.clear_pending();
  replay_.reset();
  if (!joined_ && accepted_) return;  // the session already ended
  if (reason.size() > 123) reason.resize(123);  // a control frame carries at most 125 bytes
  auto& c = close_record();
  c.sent = code;
  std::string payload{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  c.pending = make_protocol_frame(0x8, payload + reason);
  c.due = timer_wheel::clock::now() + services_.settings.close_timeout;
  arm_idle_timer();
  do_write();  // waits for the write in flight, if any; before the handshake ends, on_accept does it
}

// Worker thread only: closes the socket; the pending read fails and ends the session.
template <class Stream>
void websocket_session<Stream>::cut() {
  if (!handshake_ && !stream_) return;  // the upgrade failed: nothing is open
  cut_ = true;
  beast::error_code ignored;
  socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  socket().close(ignored);
}

template class websocket_session<plain_stream>;
template class websocket_session<tls_stream>;

}  // namespace wshub::ws
