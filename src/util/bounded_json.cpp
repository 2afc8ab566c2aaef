#include "wshub/util/bounded_json.hpp"

#include <nlohmann/json.hpp>

namespace wshub::util {

bool json_depth_within(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return false;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;  // unbalanced: the parser refuses it
        break;
      default:
        break;
    }
  }
  return true;
}

nlohmann::json parse_bounded_json(std::string_view text, std::size_t max_depth) {
  // nlohmann/json reads a NUL byte as the end of the input, so `{"a":1}<NUL>junk` would parse as
  // `{"a":1}`. JSON allows no raw NUL anywhere (inside strings it is written \u0000): refused.
  if (text.find('\0') != std::string_view::npos || !json_depth_within(text, max_depth))
    return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text, nullptr, false);
}

}  // namespace wshub::util
