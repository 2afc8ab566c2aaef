#include "wshub/hub/frame.hpp"

#include <ctime>

#include <nlohmann/json.hpp>

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
  const nlohmann::json j = {
      {"id", m.id},
      {"channel", m.channel},
      {"username", m.username},
      {"message", m.body},
      {"time", format_local_time(m.ts_ms)},
      {"ts", m.ts_ms},
  };
  // Invalid UTF-8 cannot reach here (inputs are validated), but never throw on the hot path.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

frame_ptr make_frame(const message& m) {
  return std::make_shared<const frame>(frame{m.id, m.channel, encode_message_json(m)});
}

}  // namespace wshub::hub
