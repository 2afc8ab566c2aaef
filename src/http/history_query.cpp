#include "wshub/http/history_query.hpp"

#include <array>

#include "wshub/hub/channel_name.hpp"
#include "wshub/util/query_string.hpp"
#include "wshub/ws/connect_params.hpp"

namespace wshub::http {

std::optional<history_query> parse_history_query(std::string_view target, const std::string& default_channel,
                                                 std::string& error) {
  auto fail = [&](std::string message) -> std::optional<history_query> {
    error = std::move(message);
    return std::nullopt;
  };
  const auto params = util::parse_query_string(util::query_of(target), history_query::max_params);
  if (!params) return fail("the query string is malformed");
  if (params->size() > history_query::max_params)
    return fail("at most " + std::to_string(history_query::max_params) + " query parameters");
  // `token` is read by the access check (a connection token allowed on the channel).
  constexpr std::array<std::string_view, 6> known = {"channel", "after", "before", "limit", "order", "token"};
  std::array<bool, known.size()> seen{};
  history_query q;
  q.channel = default_channel;
  for (const auto& [name, value] : *params) {
    std::size_t index = 0;
    while (index < known.size() && known[index] != name) ++index;
    if (index == known.size())
      return fail("unknown parameter '" + name.substr(0, 64) + "' (known: channel, after, before, limit, order, token)");
    if (seen[index]) return fail("parameter '" + name + "' is given more than once");
    seen[index] = true;
    if (name == "channel") {
      if (!hub::valid_channel_name(value)) return fail("channel must be " + std::string(hub::channel_name_rule));
      q.channel = value;
    } else if (name == "after" || name == "before") {
      const auto id = ws::parse_id(value);
      if (!id) return fail(name + " must be a message id (0 to 2^63-1)");
      if (name == "after") q.after = *id;
      else q.before = *id;
    } else if (name == "limit") {
      const auto n = ws::parse_id(value);
      if (!n || *n == 0 || *n > history_query::max_limit)
        return fail("limit must be between 1 and " + std::to_string(history_query::max_limit));
      q.limit = static_cast<std::size_t>(*n);
    } else if (name == "token") {
      continue;
    } else if (value == "asc" || value == "desc") {
      q.newest_first = value == "desc";
    } else {
      return fail("order must be asc or desc");
    }
  }
  return q;
}

}  // namespace wshub::http
