// Query strings: util::parse_query_string (Boost.URL) and what a WebSocket upgrade asks for,
// ws::parse_connect_params. Input: a request target ("/socket/system/message?channel=a&...").
//
// Properties: no crash or sanitizer report; a parsed query survives a round trip (every pair
// percent-encoded again parses back to the same pairs); accepted connect parameters hold only
// valid, distinct channels, at most max_channels of them; parse_id accepts exactly the decimal
// numbers from 0 to 2^63-1 (the ids SQLite can hold).
#include <charconv>
#include <string>

#include "fuzz_check.hpp"
#include "wshub/hub/channel_name.hpp"
#include "wshub/util/query_string.hpp"
#include "wshub/ws/connect_params.hpp"

namespace {

using wshub::fuzz::require;

std::string percent_encode(const std::string& text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

void check_id(std::string_view text) {
  const auto id = wshub::ws::parse_id(text);
  bool digits = !text.empty();
  for (const char c : text) digits = digits && c >= '0' && c <= '9';
  if (!digits) return require(!id, "parse_id accepts only digits");
  std::uint64_t expected = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), expected);
  const bool fits = ec == std::errc() && ptr == text.data() + text.size() && expected <= wshub::ws::max_id;
  require(id.has_value() == fits, "parse_id accepts every decimal from 0 to 2^63-1");
  if (id) require(*id == expected, "parse_id reads the number");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto target = wshub::fuzz::as_text(data, size);
  const auto query = wshub::util::query_of(target);
  const auto path = wshub::util::path_of(target);
  require(path.size() + (target.find('?') == std::string_view::npos ? 0 : query.size() + 1) == target.size(),
          "path and query split the target");

  if (const auto params = wshub::util::parse_query_string(query)) {
    std::string again;
    for (const auto& [name, value] : *params) {
      if (!again.empty()) again += '&';
      again += percent_encode(name) + "=" + percent_encode(value);
    }
    const auto reparsed = wshub::util::parse_query_string(again);
    require(reparsed.has_value(), "an encoded query parses");
    if (!params->empty()) require(*reparsed == *params, "a query survives a round trip");
    for (const auto& [name, value] : *params) check_id(value);
  }

  for (const bool user_from_query : {false, true}) {
    wshub::ws::connect_rules rules;
    rules.max_channels = 4;
    rules.user_from_query = user_from_query;
    std::string error;
    const auto params = wshub::ws::parse_connect_params(target, rules, error);
    if (!params) {
      require(!error.empty(), "a refused upgrade says why");
      continue;
    }
    require(!params->channels.empty() && params->channels.size() <= rules.max_channels,
            "1 to max_channels channels");
    for (std::size_t i = 0; i < params->channels.size(); ++i) {
      require(wshub::hub::valid_channel_name(params->channels[i]), "only valid channel names");
      for (std::size_t j = 0; j < i; ++j) require(params->channels[i] != params->channels[j], "no duplicate channel");
    }
    if (!user_from_query) require(params->user.empty(), "the user comes from the query only when trusted");
    else require(params->user.size() <= 128, "a user name is at most 128 bytes");
  }
  check_id(target);
  return 0;
}
