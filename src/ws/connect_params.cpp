#include "wshub/ws/connect_params.hpp"

#include <charconv>
#include <unordered_set>

#include "wshub/hub/channel_name.hpp"
#include "wshub/util/query_string.hpp"

namespace wshub::ws {

std::optional<std::uint64_t> parse_id(std::string_view text) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value > max_id) return std::nullopt;
  return value;
}

std::optional<connect_params> parse_connect_params(std::string_view target, const connect_rules& rules,
                                                   std::string& error) {
  // Beyond the channels, a handful of parameters at most: the rest is never decoded.
  const auto max_params = rules.max_channels + 16;
  const auto params = util::parse_query_string(util::query_of(target), max_params);
  if (!params) {
    error = "the query string is malformed";
    return std::nullopt;
  }
  if (params->size() > max_params) {
    error = "the query string has more than " + std::to_string(max_params) + " parameters";
    return std::nullopt;
  }
  connect_params out;
  std::unordered_set<std::string_view> seen;  // views into *params
  for (const auto& [name, value] : *params) {
    if (name == "channel") {
      if (!hub::valid_channel_name(value)) {
        error = "channel must be " + std::string(hub::channel_name_rule);
        return std::nullopt;
      }
      if (!seen.insert(value).second) continue;
      if (seen.size() > rules.max_channels) {
        error = "at most " + std::to_string(rules.max_channels) + " channels per connection";
        return std::nullopt;
      }
      out.channels.push_back(value);
    } else if (name == "last_id") {
      out.last_id = parse_id(value);
      if (!out.last_id) {
        error = "last_id must be a message id";
        return std::nullopt;
      }
    } else if (name == "token") {
      out.token = value;
    } else if (name == "user" && rules.user_from_query) {
      if (value.empty() || value.size() > 128) {
        error = "user must be 1-128 characters";
        return std::nullopt;
      }
      out.user = value;
    }
  }
  if (out.channels.empty()) out.channels.push_back(rules.default_channel);
  return out;
}

}  // namespace wshub::ws
