#include "wshub/hub/channel_name.hpp"

#include <algorithm>
#include <cctype>

namespace wshub::hub {

bool valid_channel_name(std::string_view name) {
  return !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == ':';
  });
}

}  // namespace wshub::hub
