// send_message bodies: form (urlencoded), multipart and JSON, with the query string beside them.
// Input: the Content-Type on the first line, the query string on the second, the body after.
//
// Properties: no crash or sanitizer report; an error is a 400 or a 415 with its code and a
// message; wshub's UTF-8 check agrees with nlohmann/json's (which refuses to serialize invalid
// UTF-8), on the body and on every field the parser returns; the in-place JSON reader of bodies
// agrees with nlohmann/json's parser on whether the body is a JSON object.
#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "wshub/http/publish_form.hpp"
#include "wshub/util/bounded_json.hpp"
#include "wshub/util/json_scan.hpp"
#include "wshub/util/utf8.hpp"

namespace {

using wshub::fuzz::require;

bool json_accepts_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

void check_utf8(const std::string& text) {
  require(wshub::util::valid_utf8(text) == json_accepts_utf8(text), "valid_utf8 disagrees with nlohmann/json");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto input = wshub::fuzz::as_text(data, size);
  const auto content_type = wshub::fuzz::take_line(input);
  const auto query = wshub::fuzz::take_line(input);
  const auto body = input;

  wshub::http::publish_fields fields;
  const auto error = wshub::http::parse_publish_fields(content_type, body, query, fields, 64);
  if (error) {
    const bool bad_request = error->http_status == wshub::http::status::bad_request &&
                             error->code == wshub::http::codes::bad_parameter;
    const bool unsupported = error->http_status == wshub::http::status::unsupported_media_type &&
                             error->code == wshub::http::codes::unsupported_media;
    require(bad_request || unsupported, "a body error is 400/10103 or 415/10204");
    require(!error->message.empty(), "a body error has a message");
  }
  check_utf8(std::string(body));
  const bool scanned = wshub::util::scan_json_object(body, wshub::util::max_json_depth,
                                                     [](std::string_view, const wshub::util::json_value&) {});
  const auto doc = wshub::util::parse_bounded_json(body);
  require(scanned == (!doc.is_discarded() && doc.is_object()), "the JSON reader disagrees with nlohmann/json");
  for (const auto* field : {&fields.message, &fields.channel, &fields.to_conn, &fields.to_user})
    if (*field) check_utf8(**field);
  for (const auto& c : fields.channels) {
    require(!c.empty(), "no empty channel comes out of 'channels'");
    check_utf8(c);
  }
  return 0;
}
