#pragma once
// A published message and the immutable frame that carries it to every recipient.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace wshub::hub {

// One entry of the message log. `id` is assigned by the store and increases strictly.
struct message {
  std::uint64_t id = 0;
  std::int64_t ts_ms = 0;                 // milliseconds since the Unix epoch, assigned when stored
  std::vector<std::string> channels;      // at least one; the first is the frame's "channel"
  std::string username;
  std::string body;
  std::uint64_t to_conn = 0;              // targeted: only this connection receives it
  std::string to_user;                    // targeted: only this user's connections receive it

  bool targeted() const { return to_conn != 0 || !to_user.empty(); }
};

// The header of an unmasked, final WebSocket frame (RFC 6455 5.2), as sent by a server: text by
// default, or another opcode (a ping, pong or close).
struct frame_header {
  std::array<std::uint8_t, 10> bytes{};
  std::uint8_t size = 0;
};
inline constexpr std::uint8_t text_opcode = 0x1;
frame_header make_frame_header(std::size_t payload_size, std::uint8_t opcode = text_opcode);

// A message frame's payload as permessage-deflate sends it (RFC 7692): `header` has RSV1 set and
// counts `bytes`. Deflated with no context takeover, so the same bytes suit every socket that
// negotiated server_no_context_takeover with the server's full 15-bit window.
struct deflated_payload {
  frame_header header;
  std::string bytes;
  bool smaller = false;  // false when deflating did not shrink the text: send the text instead
};
struct deflate_cache;  // the deflated forms of one frame, made once each

// A message encoded once and shared, immutable, by every recipient. A socket sends `text()`
// (go-gin-api's shape) or, when it negotiated wshub.v1, `text_v1()` (the same object with
// "type":"message" first). Both live in one buffer, `data`, written in one pass by make_frame:
// the text, then the v1 text. Control frames for one socket (welcome, ack) have one text for
// both (`v1_begin` 0). `header` and `header_v1` are the WebSocket frame headers of the two texts,
// built once, so a socket writes the frame as two shared buffers.
struct frame {
  std::uint64_t id = 0;  // 0 for control frames
  std::vector<std::string> channels;
  std::uint64_t to_conn = 0;
  std::string to_user;
  std::string data;          // text(), then text_v1() unless v1_begin is 0
  std::size_t text_size = 0;
  std::size_t v1_begin = 0;
  frame_header header;
  frame_header header_v1;
  bool deflatable = false;  // message frames (make_frame); others always go out as text

  frame() = default;
  frame(const frame&) = delete;
  frame& operator=(const frame&) = delete;
  ~frame();

  // The deflated form of text() (or of text_v1()), made by the first caller and then shared.
  // Any thread. Null for frames that are not deflatable.
  const deflated_payload* deflated(bool v1) const;

  std::string_view text() const { return {data.data(), text_size}; }
  std::string_view text_v1() const { return std::string_view(data).substr(v1_begin); }
  // One text for both protocols; the headers are left to the caller.
  void set_text(std::string json_text) {
    data = std::move(json_text);
    text_size = data.size();
    v1_begin = 0;
  }

 private:
  // Made by the first deflated() call: nothing is allocated for it while no socket compresses.
  mutable std::atomic<deflate_cache*> deflated_forms_{nullptr};
};
using frame_ptr = std::shared_ptr<const frame>;

// {"channel","channels" (only when there are several),"id","message","time","ts","username"},
// keys in that order; `time` is local "YYYY-MM-DD HH:MM:SS".
std::string encode_message_json(const message& m);
frame_ptr make_frame(const message& m);
// The same, taking over m's channels and target instead of copying them.
frame_ptr make_frame(message&& m);
// A frame for one socket only (welcome, ack, error, resume): the same text in both protocols.
frame_ptr make_control_frame(std::string json_text);

// go-gin-api's time format, in the server's local time zone. The text of the last second asked
// for is kept per thread: the frames of one second share one conversion.
std::string format_local_time(std::int64_t ts_ms);

}  // namespace wshub::hub
