#pragma once
// Comma-separated header values (Sec-WebSocket-Protocol, If-None-Match, ...).
#include <string_view>
#include <vector>

namespace wshub::util {

// The items of `value`, split at commas, spaces and tabs trimmed, empty items dropped. The views
// point into `value`.
std::vector<std::string_view> split_header_list(std::string_view value);

}  // namespace wshub::util
