#pragma once
// The parameters of GET /api/tool/messages (docs/API.md, "messages (history)").
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wshub::http {

struct history_query {
  std::string channel;
  std::uint64_t after = 0;       // ids above this one
  std::optional<std::uint64_t> before;  // ids below this one; none: no upper bound
  std::size_t limit = 100;       // 1 to max_limit
  bool newest_first = false;     // order=desc: the newest `limit` of the range, newest first

  static constexpr std::size_t max_limit = 1000;
  static constexpr std::size_t max_params = 8;
};

// Reads the query string of `target`: channel, after, before, limit, order (asc or desc), each
// at most once. Any other parameter, a repeated one or a bad value: nullopt, with `error` naming
// the parameter. Decodes at most max_params + 1 parameters.
std::optional<history_query> parse_history_query(std::string_view target, const std::string& default_channel,
                                                 std::string& error);

}  // namespace wshub::http
