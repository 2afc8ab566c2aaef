#pragma once
// Reads the frames a client sends (RFC 6455 section 5) from its socket's bytes as they arrive:
// checks each header, unmasks the payload, joins the fragments of a message and validates text.
// It holds bytes only while a frame or a message is incomplete, so an idle socket costs nothing
// here beyond the object itself.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace wshub::ws {

class frame_reader {
 public:
  enum class kind {
    need_more,  // every byte given was used; nothing complete yet
    text,       // a whole text message (valid UTF-8) in payload
    binary,     // a whole binary message in payload
    ping,       // payload: what the pong must carry
    pong,
    close,      // code: the peer's close code (1005 when it sent none); payload: its reason
    fail,       // the peer broke the protocol: close with `code` (1002, 1007 or 1009), reason in payload
  };
  struct event {
    kind what = kind::need_more;
    std::string payload;
    std::uint16_t code = 0;
    bool compressed = false;  // text or binary sent with permessage-deflate: still to inflate (and,
                              // for text, to check as UTF-8 once inflated)
  };

  explicit frame_reader(std::size_t max_message_size) : max_message_size_(max_message_size) {}

  // permessage-deflate was negotiated: a message's first frame may set RSV1 (RFC 7692).
  void accept_compressed() { compressed_ok_ = true; }

  // Consumes bytes from the front of `in` until one event is complete, or all of `in` is used
  // (need_more). After a fail or a close, the reader takes no more bytes.
  event next(std::string_view& in);

  // True while part of a frame or of a fragmented message is held.
  bool mid_message() const { return header_size_ != 0 || in_frame_ || in_message_; }

 private:
  // What a reader holds while a frame or a message is incomplete; allocated only then.
  struct held_bytes {
    std::string message;  // the data message so far
    std::string control;  // the current control frame's payload
  };
  event take_header();
  event finish_frame();
  event failure(std::uint16_t code, std::string reason);
  std::size_t message_size() const { return held_ ? held_->message.size() : 0; }
  // Drops the held bytes once nothing is incomplete.
  void release_if_idle();

  // Packed: an idle socket's reader is part of its session (websocket_session_size_test bounds it).
  std::size_t max_message_size_;
  std::uint64_t remaining_ = 0;              // payload bytes of the current frame still to come
  std::unique_ptr<held_bytes> held_;
  std::array<std::uint8_t, 14> header_{};
  std::array<std::uint8_t, 4> mask_{};
  std::uint8_t header_size_ = 0;             // header bytes held so far
  std::uint8_t opcode_ = 0;
  std::uint8_t message_opcode_ = 0;
  std::uint8_t mask_at_ = 0;                 // payload bytes of the current frame read, modulo 4
  bool in_frame_ : 1 = false;                // the header is read, the payload goes on
  bool fin_ : 1 = false;
  bool in_message_ : 1 = false;              // a fragmented data message goes on
  bool message_compressed_ : 1 = false;
  bool compressed_ok_ : 1 = false;
  bool done_ : 1 = false;                    // failed or closed
};

// The payload of a message sent with permessage-deflate and client_no_context_takeover (each
// message compressed alone, RFC 7692 7.2.2), inflated; nullopt with the close code to send (1009
// above `max_size`, 1007 for data that does not inflate).
std::optional<std::string> inflate_message(std::string_view compressed, std::size_t max_size, std::uint16_t& fail_code);

}  // namespace wshub::ws
