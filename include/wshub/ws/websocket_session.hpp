#pragma once
// One upgraded connection: the read loop and its commands, the bounded outbound queue, resume,
// and the close logic.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <nlohmann/json_fwd.hpp>
#include <spdlog/logger.h>

#include "wshub/cache/cache.hpp"
#include "wshub/cache/cached_log.hpp"
#include "wshub/hub/connection_limit.hpp"
#include "wshub/hub/counters.hpp"
#include "wshub/hub/hub.hpp"
#include "wshub/security/token_verifier.hpp"
#include "wshub/store/message_log.hpp"
#include "wshub/util/blocking_reads.hpp"
#include "wshub/util/recycling_allocator.hpp"
#include "wshub/ws/connect_params.hpp"
#include "wshub/ws/frame_buffers.hpp"
#include "wshub/ws/frame_reader.hpp"
#include "wshub/ws/outbound_queue.hpp"
#include "wshub/ws/timer_wheel.hpp"
#include "wshub/ws/write_scheduler.hpp"

namespace wshub::ws {

using plain_stream = boost::beast::tcp_stream;
using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// What a session's websocket stream runs on: a plain socket leaves Beast's tcp_stream (its
// timer state; the websocket stream has timeouts of its own) behind at the upgrade, and its
// type-erased executor (56 bytes per socket) for its worker's io_context executor (8 bytes).
template <class Stream>
struct session_layer {
  using type = Stream;
};
template <>
struct session_layer<plain_stream> {
  using type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;
};

inline constexpr const char* protocol_v1 = "wshub.v1";
inline constexpr std::uint16_t close_by_operator = 4001;
inline constexpr std::uint16_t close_token_expired = 4003;

struct session_settings {
  std::chrono::seconds handshake_timeout{5};
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds close_timeout{5};
  std::size_t read_buffer_size = 512;  // bytes read from a socket at a time
  std::size_t max_message_size = 64 * 1024;
  std::size_t max_queue_bytes = 1024 * 1024;
  std::size_t max_channels = 64;
  std::size_t max_resume_messages = 10'000;
  bool compression = false;
  std::size_t compression_min_bytes = 256;  // message frames at least this long go out deflated
  std::vector<std::string> subprotocols;
};

// The shared services every session holds a handle to; owned by the app, outlive all sessions.
struct session_services {
  // The session's worker's registry (never null once a session runs); used on that worker only.
  hub::registry* registry;
  hub::counters& counters;
  store::message_log& store;
  cache::cache& cache;
  std::shared_ptr<spdlog::logger> log;
  // Reads the store off the I/O threads and hands each page back to the session's worker.
  util::blocking_reads reads;
  session_settings settings;
  // The session's worker's scheduler (never null once a session runs): wakes write loops in
  // slices instead of a post per frame.
  write_scheduler* writes = nullptr;
  // The session's worker's deadlines (never null once a session runs): keep-alive, token expiry
  // and the close timeout, with no timer per socket.
  timer_wheel* timers = nullptr;
  // This node's id in a cluster (sent in the wshub.v1 welcome frame); empty on a single node.
  std::string node{};
  // Checks a token a socket sends to refresh its own (security::token_verifier::verify); empty
  // when tokens are not configured.
  std::function<std::optional<security::token_claims>(std::string_view token, std::string& error)> verify_token{};
};

// Stream is plain_stream or tls_stream (both instantiated in the source).
//
// Beast's websocket stream does the handshake (it checks the upgrade and writes the 101) and is
// then dropped: the session keeps only the socket. It reads frames with its frame_reader and
// writes every frame queued for it (messages, its own control frames, pongs, pings, the close)
// in one gather write, each message's frame built once (hub::frame's header and text) and shared
// by all recipients; one write is in flight at a time. On plain TCP an idle socket waits for
// readability with no buffer at all, so an idle connection holds the session, its socket and its
// pending wait, nothing more (its deadline is an entry of the worker's timer_wheel).
template <class Stream>
class websocket_session : public std::enable_shared_from_this<websocket_session<Stream>>,
                          public hub::subscriber,
                          private write_scheduler::client,
                          private send_ring::sender,
                          private timer_wheel::entry {
 public:
  // The request as the HTTP session parsed it (its header fields in recycled blocks).
  using request = boost::beast::http::request<boost::beast::http::string_body,
                                              boost::beast::http::basic_fields<util::recycling_allocator<char>>>;

  websocket_session(Stream&& stream, session_services& services, hub::connection_limit::slot slot,
                    connect_params params);
  ~websocket_session() override;

  // Completes the upgrade of `req` and starts the read loop. Call once, right after creation.
  void run(request req);

  // The worker thread only, like every member. Queues the frame unless the session is closing or would exceed its queue limit;
  // in that case the session is closed with 1008 "slow consumer".
  bool deliver(const hub::frame_ptr& f) override;
  // Worker thread. Closes once the frame in flight, if any, is written.
  void close(std::uint16_t code, const std::string& reason) override;
  std::size_t queued_bytes() const override;

 private:
  using layer = typename session_layer<Stream>::type;
  using handshake_stream = boost::beast::websocket::stream<layer>;

  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_readable(boost::beast::error_code ec);
  void on_bytes(boost::beast::error_code ec, std::string_view bytes);
  void on_message(frame_reader::event message);
  void on_text(const std::string& text);
  void on_peer_close(std::uint16_t code);
  void start_idle_timer();
  void arm_idle_timer();
  void on_due() override;
  void on_idle_tick();
  std::optional<std::chrono::system_clock::time_point> token_expires_at() const;
  void refresh_token(const nlohmann::json& command, const nlohmann::json& ref);
  void send_protocol_frame(std::uint8_t opcode, std::string payload);
  void queue_own(hub::frame_ptr f);
  void answer_ping(std::string payload);
  void on_command(const nlohmann::json& command);
  void send_control(const nlohmann::json& frame);
  void send_error(const nlohmann::json& ref, int code, const std::string& message);
  void start_replay(std::uint64_t after_id, const nlohmann::json& ref);
  void plan_replay();
  void request_replay_page();
  void on_replay_page(std::vector<hub::frame_ptr> page);
  cache::cached_log replay_log() const;
  void finish_replay();
  void schedule_write();
  void flush() override;
  void do_write();
  void write_batch();
  void sent(boost::system::error_code ec, std::size_t bytes) override;
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  bool written(boost::beast::error_code ec, std::size_t bytes);
  void begin_close(std::uint16_t code, std::string reason);
  void cut();
  void finish();
  std::string close_summary() const;
  void overflowed();

  static layer to_layer(Stream&& stream);
  auto& socket();
  boost::asio::any_io_executor executor();
  bool closing() const { return close_started_ || (close_ && close_->pending); }
  std::size_t deflate_from() const { return deflate_frames_ ? services_.settings.compression_min_bytes : never_deflate; }

  // What a socket's token said, kept only when a token was checked.
  struct token_state {
    std::optional<std::vector<std::string>> allowed_channels;  // nullopt: any
    std::optional<std::int64_t> expires_at;  // the token's `exp` (seconds since the epoch)
  };
  // The close handshake, from the first close frame (ours or the peer's) on.
  struct close_state {
    hub::frame_ptr pending;                     // our close frame, sent once the queue drains
    timer_wheel::clock::time_point due{};       // when a peer that did not answer is cut
    std::uint16_t sent = 0;                     // the code of our close frame, 0 if none
    std::uint16_t received = 0;                 // the code of the peer's close frame, 0 if none
    bool peer_closed_first = false;             // the peer's close came before ours
  };
  // A resume: stored messages replayed a page at a time while live frames are held.
  struct replay_state {
    std::vector<std::string> channels;
    std::uint64_t cursor = 0;  // the last id queued by the replay
    bool recovered = true;
    bool page_pending = false;   // a page is being read, or waits for the queue to drain
    std::string ref_json;        // the resume command's ref, as JSON ("" for ?last_id)
    std::vector<hub::frame_ptr> held;  // live frames that came meanwhile
    std::size_t held_bytes = 0;
  };
  close_state& close_record();
  void drop_held();
  struct no_buffer {};

  // Every member is the worker thread's. What an idle socket does not use lives in objects
  // allocated when needed (the handshake, the token, a resume, the close), so an idle session is
  // a few hundred bytes (websocket_session_size_test states the bound).
  std::unique_ptr<handshake_stream> handshake_;  // until the 101 is written; then stream_
  std::unique_ptr<connect_params> params_;       // until run() has joined the registry, which keeps them
  std::optional<layer> stream_;
  session_services& services_;
  hub::connection_limit::slot slot_;
  frame_reader reader_;
  hub::conn_id id_ = 0;
  // The wheel entry wakes the session at the first of: the next keep-alive tick (idle_due_), the
  // token's expiry, the close timeout (once a close started).
  timer_wheel::clock::time_point idle_due_{};
  std::unique_ptr<token_state> token_;            // null: no token was checked
  std::unique_ptr<close_state> close_;
  std::unique_ptr<replay_state> replay_;          // a resume is running: live frames are held in it
  std::unique_ptr<std::string> next_pong_;        // the latest ping's payload, pinged meanwhile
  // TLS reads need a buffer while they wait; plain TCP reads into the worker's.
  [[no_unique_address]] std::conditional_t<std::is_same_v<Stream, plain_stream>, no_buffer, std::unique_ptr<char[]>> tls_buffer_;
  outbound_queue queue_;
  std::vector<hub::frame_ptr> batch_;             // the frames being written
  std::uint64_t replayed_up_to_ = 0;              // live frames up to here are dropped
  std::uint8_t pongs_queued_ = 0;                 // pongs waiting to be written
  bool v1_ : 1 = false;                 // set before the accept, then read-only
  bool joined_ : 1 = false;             // in the hub from run() until finish()
  bool accepted_ : 1 = false;           // the handshake is done
  bool deflate_ : 1 = false;            // permessage-deflate was negotiated
  bool deflate_frames_ : 1 = false;     // large message frames go out deflated (see frame_buffers)
  bool heard_ : 1 = false;              // bytes came since the last idle tick
  bool pinged_ : 1 = false;             // a keep-alive ping is unanswered
  bool close_started_ : 1 = false;      // the close frame is written or being written
  bool peer_done_ : 1 = false;          // the peer closed or broke the protocol
  bool cut_ : 1 = false;                // cut() closed the socket
  bool writing_ : 1 = false;            // a write is in flight on the socket
  bool write_failed_ : 1 = false;       // the socket cannot be written any more
  bool write_scheduled_ : 1 = false;    // a do_write is posted or running
  bool refusing_ : 1 = false;           // closing: deliver() refuses frames
};

extern template class websocket_session<plain_stream>;
extern template class websocket_session<tls_stream>;

}  // namespace wshub::ws
