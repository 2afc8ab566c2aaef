#pragma once
// What the fuzz targets share: a check that stops the run with a message (libFuzzer then saves
// the input that broke it), and a few small input helpers. No sanitizer is needed to trigger it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace wshub::fuzz {

// A property every input must keep. On failure prints `what` and aborts: a finding.
inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "wshub fuzz check failed: %s\n", what);
  std::abort();
}

// Splits off the text before the first '\n' (the whole input when there is none).
inline std::string_view take_line(std::string_view& input) {
  const auto nl = input.find('\n');
  const auto line = input.substr(0, nl);
  input.remove_prefix(nl == std::string_view::npos ? input.size() : nl + 1);
  return line;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace wshub::fuzz
