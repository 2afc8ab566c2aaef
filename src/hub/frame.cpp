#include "wshub/hub/frame.hpp"

#include <ctime>
#include <mutex>

#include <nlohmann/json.hpp>

#include "wshub/util/deflate.hpp"

namespace wshub::hub {

std::string format_local_time(std::int64_t ts_ms) {
  const std::time_t seconds = static_cast<std::time_t>(ts_ms / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  const auto n = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
  return std::string(text, n);
}

std::string encode_message_json(const message& m) {
  nlohmann::json j = {
      {"id", m.id},
      {"channel", m.channels.empty() ? std::string() : m.channels.front()},
      {"username", m.username},
      {"message", m.body},
      {"time", format_local_time(m.ts_ms)},
      {"ts", m.ts_ms},
  };
  if (m.channels.size() > 1) j["channels"] = m.channels;
  // Inputs are validated as UTF-8 before they are stored; never throw on the hot path anyway.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

frame_header make_frame_header(std::size_t payload_size, std::uint8_t opcode) {
  frame_header h;
  h.bytes[0] = static_cast<std::uint8_t>(0x80 | opcode);  // FIN; no mask bit: servers never mask
  if (payload_size < 126) {
    h.bytes[1] = static_cast<std::uint8_t>(payload_size);
    h.size = 2;
  } else if (payload_size <= 0xFFFF) {
    h.bytes[1] = 126;
    h.bytes[2] = static_cast<std::uint8_t>(payload_size >> 8);
    h.bytes[3] = static_cast<std::uint8_t>(payload_size);
    h.size = 4;
  } else {
    h.bytes[1] = 127;
    for (int i = 0; i < 8; ++i)
      h.bytes[2 + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(payload_size) >> (56 - 8 * i));
    h.size = 10;
  }
  return h;
}

namespace {

frame_ptr finish(frame f) {
  f.header = make_frame_header(f.text.size());
  f.header_v1 = make_frame_header(f.text_v1.size());
  return std::make_shared<const frame>(std::move(f));
}

}  // namespace

struct deflate_cache {
  std::once_flag made[2];
  deflated_payload forms[2];  // [0] of text, [1] of text_v1
};

frame_ptr make_frame(const message& m) {
  auto text = encode_message_json(m);
  // {"channel":...} -> {"type":"message","channel":...}: the same object with its type first.
  auto text_v1 = R"({"type":"message",)" + text.substr(1);
  return finish(frame{m.id, m.channels, m.to_conn, m.to_user, std::move(text), std::move(text_v1), {}, {},
                      std::make_shared<deflate_cache>()});
}

const deflated_payload* frame::deflated(bool v1) const {
  if (!deflated_forms) return nullptr;
  auto& c = *deflated_forms;
  const auto i = v1 ? 1 : 0;
  std::call_once(c.made[i], [&] {
    auto& d = c.forms[i];
    const auto& plain = v1 ? text_v1 : text;
    d.bytes = util::deflate_message(plain);
    d.smaller = !d.bytes.empty() && d.bytes.size() < plain.size();
    if (!d.smaller) return std::string().swap(d.bytes);
    d.header = make_frame_header(d.bytes.size());
    d.header.bytes[0] |= 0x40;  // RSV1: this message is compressed
  });
  return &c.forms[i];
}

frame_ptr make_control_frame(std::string json_text) {
  auto copy = json_text;
  return finish(frame{0, {}, 0, {}, std::move(json_text), std::move(copy), {}, {}, nullptr});
}

}  // namespace wshub::hub
