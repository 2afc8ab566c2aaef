#include "wshub/http/publish_form.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "wshub/hub/channel_name.hpp"
#include "wshub/util/utf8.hpp"

namespace {

namespace http = wshub::http;

struct parsed {
  std::optional<http::error> error;
  http::publish_fields fields;
};

parsed parse(std::string_view content_type, std::string_view body, std::string_view query = {}) {
  parsed p;
  p.error = http::parse_publish_fields(content_type, body, query, p.fields, 64);
  return p;
}

void expect_error(const parsed& p, http::status status, int code) {
  ASSERT_TRUE(p.error.has_value());
  EXPECT_EQ(p.error->http_status, status);
  EXPECT_EQ(p.error->code, code);
  EXPECT_FALSE(p.error->message.empty());
}

constexpr std::string_view urlencoded = "application/x-www-form-urlencoded";

// A two-part form: a file part named "message" (must be ignored) and the real fields.
const std::string multipart_body =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"message\"; filename=\"m.txt\"\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "from the file\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"message\"\r\n"
    "\r\n"
    "hello\r\nworld\r\n"
    "--XyZ\r\n"
    "content-disposition: form-data; name=channel\r\n"
    "\r\n"
    "news\r\n"
    "--XyZ--\r\n";

TEST(publish_form, urlencoded_decodes_plus_and_percent_escapes) {
  const auto p = parse(urlencoded, "message=hello+world%21%20%C3%A9&channel=news");
  ASSERT_FALSE(p.error);
  EXPECT_EQ(p.fields.message, "hello world! \xC3\xA9");
  EXPECT_EQ(p.fields.channel, "news");
}

TEST(publish_form, urlencoded_with_charset_parameter) {
  const auto p = parse("Application/X-WWW-Form-Urlencoded; charset=UTF-8", "message=a%2Bb");
  ASSERT_FALSE(p.error);
  EXPECT_EQ(p.fields.message, "a+b");
  EXPECT_FALSE(p.fields.channel);
}

TEST(publish_form, multipart_with_unquoted_boundary) {
  const auto p = parse("multipart/form-data; boundary=XyZ", multipart_body);
  ASSERT_FALSE(p.error) << p.error->message;
  EXPECT_EQ(p.fields.message, "hello\r\nworld");  // the file part is ignored
  EXPECT_EQ(p.fields.channel, "news");
}

TEST(publish_form, multipart_with_quoted_boundary) {
  const auto p = parse("multipart/form-data; boundary=\"XyZ\"", multipart_body);
  ASSERT_FALSE(p.error) << p.error->message;
  EXPECT_EQ(p.fields.message, "hello\r\nworld");
  EXPECT_EQ(p.fields.channel, "news");
}

TEST(publish_form, multipart_without_boundary_is_400) {
  expect_error(parse("multipart/form-data", multipart_body), http::status::bad_request,
               http::codes::bad_parameter);
}

TEST(publish_form, unterminated_multipart_is_400) {
  const std::string body =
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"message\"\r\n"
      "\r\n"
      "hello";
  expect_error(parse("multipart/form-data; boundary=XyZ", body), http::status::bad_request,
               http::codes::bad_parameter);
}

TEST(publish_form, multipart_without_any_delimiter_is_400) {
  expect_error(parse("multipart/form-data; boundary=XyZ", "message=hello"), http::status::bad_request,
               http::codes::bad_parameter);
}

TEST(publish_form, json_object) {
  const auto p = parse("application/json", R"({"message": "hi \"there\"", "channel": "news", "extra": 1})");
  ASSERT_FALSE(p.error);
  EXPECT_EQ(p.fields.message, "hi \"there\"");
  EXPECT_EQ(p.fields.channel, "news");
}

TEST(publish_form, json_null_field_counts_as_absent) {
  const auto p = parse("application/json", R"({"message": "hi", "channel": null})");
  ASSERT_FALSE(p.error);
  EXPECT_FALSE(p.fields.channel);
}

TEST(publish_form, json_non_string_message_is_400) {
  expect_error(parse("application/json", R"({"message": 5})"), http::status::bad_request, http::codes::bad_parameter);
}

TEST(publish_form, json_that_is_not_an_object_is_400) {
  expect_error(parse("application/json", R"(["message"])"), http::status::bad_request, http::codes::bad_parameter);
  expect_error(parse("application/json", R"({"message": )"), http::status::bad_request, http::codes::bad_parameter);
}

TEST(publish_form, other_content_type_with_a_body_is_415) {
  expect_error(parse("text/plain", "message=hi"), http::status::unsupported_media_type,
               http::codes::unsupported_media);
  expect_error(parse("", "message=hi"), http::status::unsupported_media_type, http::codes::unsupported_media);
}

TEST(publish_form, empty_body_reads_the_query) {
  const auto p = parse("", "", "message=x&channel=news");
  ASSERT_FALSE(p.error);
  EXPECT_EQ(p.fields.message, "x");
  EXPECT_EQ(p.fields.channel, "news");
}

TEST(publish_form, body_field_wins_over_query) {
  const auto p = parse(urlencoded, "message=from-body", "message=from-query&channel=from-query");
  ASSERT_FALSE(p.error);
  EXPECT_EQ(p.fields.message, "from-body");
  EXPECT_EQ(p.fields.channel, "from-query");  // the query still fills what the body lacks
}

TEST(publish_form, bytes_past_the_end_of_the_views_are_not_read) {
  // The views end right after the value; the bytes that follow in memory must not be parsed.
  const std::string query_buffer = "message=from-query+LEAKED";
  const auto q = parse("", "", std::string_view(query_buffer).substr(0, 18));
  ASSERT_FALSE(q.error);
  EXPECT_EQ(q.fields.message, "from-query");

  const std::string body_buffer = "message=from-body+LEAKED";
  const auto b = parse(urlencoded, std::string_view(body_buffer).substr(0, 17));
  ASSERT_FALSE(b.error);
  EXPECT_EQ(b.fields.message, "from-body");
}

TEST(publish_form, channels_repeated_or_comma_separated) {
  const auto p = parse(urlencoded, "message=m&channels=a,b&channels%5B%5D=c&channels=,d,");
  ASSERT_FALSE(p.error);
  EXPECT_EQ(p.fields.channels, (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(publish_form, query_channels_are_used_when_the_body_has_none) {
  const auto p = parse(urlencoded, "message=m", "channels=q,r");
  ASSERT_FALSE(p.error);
  EXPECT_EQ(p.fields.channels, (std::vector<std::string>{"q", "r"}));
}

TEST(publish_form, body_channels_win_over_query_channels) {
  // publish_form.hpp: "Fields from the body take precedence over the same fields in the query."
  const auto form = parse(urlencoded, "message=m&channels=a,b", "channels=q");
  ASSERT_FALSE(form.error);
  EXPECT_EQ(form.fields.channels, (std::vector<std::string>{"a", "b"}));
  const auto json = parse("application/json", R"({"message": "m", "channels": ["a"]})", "channels=q");
  ASSERT_FALSE(json.error);
  EXPECT_EQ(json.fields.channels, std::vector<std::string>{"a"});
}

TEST(publish_form, json_channels_and_targets) {
  const auto p = parse("application/json", R"({"message": "m", "channels": ["a", "b"], "to_conn": 12, "to_user": "alice"})");
  ASSERT_FALSE(p.error);
  EXPECT_EQ(p.fields.channels, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.fields.to_conn, "12");
  EXPECT_EQ(p.fields.to_user, "alice");
}

TEST(publish_form, json_with_malformed_channels_or_target_is_400) {
  for (const auto* body : {R"({"channels": "a"})", R"({"channels": ["a", 1]})", R"({"to_conn": -1})",
                           R"({"to_conn": [1]})", R"({"to_user": 5})",
                           R"({"channels": [""]})", R"({"channels": ["a", ""]})"})
    expect_error(parse("application/json", body), http::status::bad_request, http::codes::bad_parameter);
}

TEST(publish_form, form_targets_are_kept_as_sent) {
  const auto p = parse(urlencoded, "message=m&to_conn=abc&to_user=b%C3%B6b");
  ASSERT_FALSE(p.error);
  EXPECT_EQ(p.fields.to_conn, "abc");  // the handler checks it is a number
  EXPECT_EQ(p.fields.to_user, "b\xC3\xB6" "b");
}

TEST(publish_form, malformed_percent_escape_is_400) {
  expect_error(parse(urlencoded, "message=%zz"), http::status::bad_request, http::codes::bad_parameter);
  expect_error(parse("", "", "message=%zz"), http::status::bad_request, http::codes::bad_parameter);
}

TEST(publish_form, valid_utf8) {
  struct row {
    std::string text;
    bool valid;
  };
  const row table[] = {
      {"", true},
      {"plain ASCII", true},
      {"\xC3\xA9", true},                  // U+00E9, 2 bytes
      {"\xE2\x82\xAC", true},              // U+20AC, 3 bytes
      {"\xF0\x9F\x98\x80", true},          // U+1F600, 4 bytes
      {"\xF4\x8F\xBF\xBF", true},          // U+10FFFF, the last code point
      {"\xEF\xBF\xBF", true},              // U+FFFF
      {"\xC0\xAF", false},                 // overlong '/'
      {"\xE0\x80\xAF", false},             // overlong, 3 bytes
      {"\xF0\x80\x80\xAF", false},         // overlong, 4 bytes
      {"\xED\xA0\x80", false},             // U+D800, a surrogate
      {"\xED\xBF\xBF", false},             // U+DFFF, a surrogate
      {"\xF4\x90\x80\x80", false},         // U+110000, past the last code point
      {"\xC3", false},                     // truncated 2-byte sequence
      {"ab\xE2\x82", false},               // truncated 3-byte sequence
      {"\xF0\x9F\x98", false},             // truncated 4-byte sequence
      {"\x80", false},                     // lone continuation byte
      {"\xC3\x28", false},                 // bad continuation byte
      {"\xFF", false},                     // never valid in UTF-8
      {"\xF8\x88\x80\x80\x80", false},     // 5-byte form
      {std::string("a\0b", 3), true},      // NUL is U+0000
  };
  for (const auto& r : table) EXPECT_EQ(wshub::util::valid_utf8(r.text), r.valid) << ::testing::PrintToString(r.text);
}

TEST(publish_form, valid_channel_name) {
  struct row {
    std::string name;
    bool valid;
  };
  const row table[] = {
      {"system", true},
      {"a", true},
      {"Room_1-2.x:y", true},
      {std::string(128, 'c'), true},
      {std::string(129, 'c'), false},
      {"", false},
      {"has space", false},
      {"slash/name", false},
      {"hash#", false},
      {"caf\xC3\xA9", false},
      {"new\nline", false},
  };
  for (const auto& r : table) EXPECT_EQ(wshub::hub::valid_channel_name(r.name), r.valid) << r.name;
}

}  // namespace
