#pragma once
// A WebSocket frame as a client puts it on the wire (RFC 6455 section 5.2), whatever the test or
// fuzz input says it should hold: valid or not. Header-only and standard C++ only, so the fuzz
// targets use it too.
#include <cstdint>
#include <string>
#include <string_view>

namespace wshub::test {

// `first` is the frame's first byte as sent: FIN, RSV1-3 and the opcode. The length takes the
// shortest encoding; when `masked`, the payload is masked with `mask_key` (0 leaves it as it is).
inline std::string encode_frame(std::uint8_t first, std::string_view payload, bool masked, std::uint32_t mask_key) {
  std::string out(1, static_cast<char>(first));
  const std::uint8_t mask_bit = masked ? 0x80 : 0;
  const auto n = payload.size();
  if (n < 126) {
    out += static_cast<char>(mask_bit | n);
  } else if (n <= 0xFFFF) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xFF);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xFF);
  }
  if (!masked) return out.append(payload);
  const char key[4] = {static_cast<char>(mask_key), static_cast<char>(mask_key >> 8),
                       static_cast<char>(mask_key >> 16), static_cast<char>(mask_key >> 24)};
  out.append(key, 4);
  for (std::size_t i = 0; i < n; ++i) out += static_cast<char>(payload[i] ^ key[i % 4]);
  return out;
}

}  // namespace wshub::test
