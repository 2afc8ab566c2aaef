#pragma once
// Parsing JSON that a client (or a peer) sent, with its nesting depth bounded: a document nested
// deeper than the bound is refused before nlohmann/json builds it (copying, dumping or comparing
// a deeply nested value recurses once per level and ends the process on a deep enough input).
#include <cstddef>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace wshub::util {

// Deep enough for every document the server reads (commands, publish bodies, cluster records).
inline constexpr std::size_t max_json_depth = 32;

// True when no array or object in `text` is nested more than `max_depth` levels deep. Brackets
// inside strings (escapes included) do not count. One pass; stops at the first level too deep.
// Says nothing else about validity.
bool json_depth_within(std::string_view text, std::size_t max_depth = max_json_depth);

// The document in `text`, or a discarded value (is_discarded()) when it is not valid JSON (a raw
// NUL byte anywhere included) or is nested deeper than `max_depth`. Never throws.
nlohmann::json parse_bounded_json(std::string_view text, std::size_t max_depth = max_json_depth);

}  // namespace wshub::util
