#pragma once
#include <string_view>

namespace wshub::hub {

// A channel name: 1..128 characters of letters, digits, '_', '-', '.', ':'.
bool valid_channel_name(std::string_view name);

inline constexpr const char* channel_name_rule = "1-128 characters of letters, digits, '_', '-', '.', ':'";

}  // namespace wshub::hub
