#pragma once
// A published message and the immutable frame that carries it to every recipient.
#include <cstdint>
#include <memory>
#include <string>

namespace wshub::hub {

// One entry of the message log. `id` is assigned by the store and increases strictly.
struct message {
  std::uint64_t id = 0;
  std::int64_t ts_ms = 0;  // milliseconds since the Unix epoch, assigned when stored
  std::string channel;
  std::string username;
  std::string body;
};

// The JSON text a socket receives for a message, encoded once and shared by all recipients.
struct frame {
  std::uint64_t id = 0;
  std::string channel;
  std::string text;
};
using frame_ptr = std::shared_ptr<const frame>;

// {"id","channel","username","message","time","ts"}; `time` is local "YYYY-MM-DD HH:MM:SS".
std::string encode_message_json(const message& m);
frame_ptr make_frame(const message& m);

// go-gin-api's time format, in the server's local time zone.
std::string format_local_time(std::int64_t ts_ms);

}  // namespace wshub::hub
