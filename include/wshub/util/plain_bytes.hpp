#pragma once
// Runs of bytes that need no attention, found eight bytes at a time: the JSON scanner, the frame
// writer's escaping and the UTF-8 check spend most of their time on such runs (a message is
// mostly plain text).
#include <cstdint>
#include <cstring>
#include <string_view>

namespace wshub::util {

namespace plain_bytes_detail {
inline constexpr std::uint64_t ones = 0x0101010101010101ull;
inline constexpr std::uint64_t highs = 0x8080808080808080ull;
// Nonzero when one of the eight bytes of `w` is zero (exact: a borrow can only mark bytes above
// a zero byte).
constexpr std::uint64_t has_zero(std::uint64_t w) { return (w - ones) & ~w & highs; }
inline std::uint64_t load(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}
constexpr bool json_plain(unsigned char c, bool high_bytes_plain) {
  return c >= 0x20 && c != '"' && c != '\\' && (high_bytes_plain || c < 0x80);
}
}  // namespace plain_bytes_detail

// How many bytes at the start of `s` a JSON string holds as they are: no control character
// (below 0x20), no '"' and no '\'; bytes from 0x80 count as plain only when `high_bytes_plain`.
inline std::size_t json_plain_prefix(std::string_view s, bool high_bytes_plain) {
  using namespace plain_bytes_detail;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    const auto w = load(s.data() + i);
    // A byte below 0x20: (w - 0x20 in each byte) borrows into its high bit, masked by ~w so
    // that bytes from 0x80 do not count here.
    auto special = has_zero(w ^ (ones * '"')) | has_zero(w ^ (ones * '\\')) | ((w - ones * 0x20) & ~w & highs);
    if (!high_bytes_plain) special |= w & highs;
    if (special) break;
  }
  while (i < s.size() && json_plain(static_cast<unsigned char>(s[i]), high_bytes_plain)) ++i;
  return i;
}

// How many bytes at the start of `s` are ASCII (below 0x80).
inline std::size_t ascii_prefix(std::string_view s) {
  using namespace plain_bytes_detail;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8)
    if (load(s.data() + i) & highs) break;
  while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80) ++i;
  return i;
}

}  // namespace wshub::util
