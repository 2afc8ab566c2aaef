#pragma once
// Decoding application/x-www-form-urlencoded text (query strings and form bodies).
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wshub::util {

using query_params = std::vector<std::pair<std::string, std::string>>;

// Name/value pairs in order, percent-decoded, '+' as space; nullopt when malformed.
std::optional<query_params> parse_query_string(std::string_view text);

// The query part of a request target ("" when there is none), and the path part.
std::string_view query_of(std::string_view target);
std::string_view path_of(std::string_view target);

}  // namespace wshub::util
