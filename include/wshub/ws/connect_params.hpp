#pragma once
// What a client asks for in the upgrade's query string: ?channel=a&channel=b&last_id=N.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wshub::ws {

struct connect_params {
  std::vector<std::string> channels;    // validated, no duplicates; the default when none given
  std::optional<std::uint64_t> last_id;  // resume after this id
  std::string user;                      // from a token, or ?user= when the settings trust it
  std::string token;                     // ?token=, checked by the caller
  std::optional<std::vector<std::string>> allowed_channels;  // set by a token that limits them
  std::optional<std::int64_t> token_expires_at;  // the token's `exp` (seconds since the epoch), if one was checked
};

struct connect_rules {
  std::string default_channel = "system";
  std::size_t max_channels = 64;
  bool user_from_query = false;
};

// Parses the query of `target`. On bad input returns nullopt and sets `error` to a message that
// names the parameter.
std::optional<connect_params> parse_connect_params(std::string_view target, const connect_rules& rules,
                                                   std::string& error);

// Ids (messages, connections) are SQLite integers: never above 2^63 - 1.
inline constexpr std::uint64_t max_id = 0x7FFF'FFFF'FFFF'FFFFull;

// A decimal id from 0 to max_id with no sign or spaces; nullopt otherwise (also on overflow).
std::optional<std::uint64_t> parse_id(std::string_view text);

}  // namespace wshub::ws
