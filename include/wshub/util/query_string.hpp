#pragma once
// Decoding application/x-www-form-urlencoded text (query strings and form bodies).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wshub::util {

using query_params = std::vector<std::pair<std::string, std::string>>;

// Name/value pairs in order, percent-decoded, '+' as space; nullopt when malformed. Decoding
// stops after max_params + 1 pairs: a caller that gets more than max_params refuses the input
// without having decoded the rest of it.
std::optional<query_params> parse_query_string(std::string_view text, std::size_t max_params = SIZE_MAX);

// The query part of a request target ("" when there is none), and the path part.
std::string_view query_of(std::string_view target);
std::string_view path_of(std::string_view target);

}  // namespace wshub::util
