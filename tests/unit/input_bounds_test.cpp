// Client-fed lists, ids and JSON: each is read in one linear pass that stops at its bound.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wshub/http/publish_form.hpp"
#include "wshub/util/bounded_json.hpp"
#include "wshub/util/query_string.hpp"
#include "wshub/ws/connect_params.hpp"

namespace wshub {
namespace {

// "c0,c1,...,c<n-1>": the 400 KB list of the report at n = 60000.
std::string channel_list(int n, const std::string& separator = ",") {
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? separator : "") + ("c" + std::to_string(i));
  return out;
}

TEST(input_bounds, a_long_channel_list_is_read_only_up_to_one_past_the_limit) {
  const auto list = channel_list(60000);
  ASSERT_GT(list.size(), 400'000u);
  struct source {
    const char* name;
    std::string content_type, body, query;
  };
  std::string json_list = "[";
  for (int i = 0; i < 60000; ++i) json_list += (i ? ",\"c" : "\"c") + std::to_string(i) + "\"";
  json_list += "]";
  const std::string multipart = "--B\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nm\r\n"
                                "--B\r\nContent-Disposition: form-data; name=\"channels\"\r\n\r\n" +
                                list + "\r\n--B--\r\n";
  for (const auto& s : {source{"form", "application/x-www-form-urlencoded", "message=m&channels=" + list, ""},
                        source{"json", "application/json", R"({"message":"m","channels":)" + json_list + "}", ""},
                        source{"multipart", "multipart/form-data; boundary=B", multipart, ""},
                        source{"query", "", "", "message=m&channels=" + list}}) {
    http::publish_fields fields;
    const auto error = http::parse_publish_fields(s.content_type, s.body, s.query, fields, 64);
    EXPECT_FALSE(error) << s.name << ": " << (error ? error->message : "");
    EXPECT_EQ(fields.channels.size(), 65u) << s.name;
    EXPECT_EQ(fields.channels.back(), "c64") << s.name;
  }
}

TEST(input_bounds, repeated_channel_names_count_once) {
  std::string list;
  for (int i = 0; i < 1000; ++i) list += "a,b,";
  http::publish_fields fields;
  ASSERT_FALSE(http::parse_publish_fields("application/x-www-form-urlencoded", "message=m&channels=" + list + "c", "",
                                          fields, 3));
  EXPECT_EQ(fields.channels, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(input_bounds, a_form_with_too_many_fields_is_refused_before_it_is_decoded) {
  http::publish_fields fields;
  const auto error = http::parse_publish_fields("application/x-www-form-urlencoded",
                                                "message=m&channels=" + channel_list(60000, "&channels="), "", fields, 64);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->http_status, http::status::bad_request);
  EXPECT_NE(error->message.find("more than 80 fields"), std::string::npos) << error->message;
}

TEST(input_bounds, the_query_parser_stops_one_past_max_params) {
  const auto params = util::parse_query_string("channel=" + channel_list(60000, "&channel="), 10);
  ASSERT_TRUE(params);
  EXPECT_EQ(params->size(), 11u);
  EXPECT_EQ(util::parse_query_string("a=1&b=2")->size(), 2u);  // unbounded by default
}

TEST(input_bounds, socket_channel_lists_stop_at_the_limit) {
  ws::connect_rules rules;
  rules.max_channels = 64;
  std::string error;
  auto params = ws::parse_connect_params("/s?channel=" + channel_list(60000, "&channel="), rules, error);
  EXPECT_FALSE(params);
  EXPECT_NE(error.find("parameters"), std::string::npos) << error;
  // Within the parameter bound but past the channel bound: refused by the channel count.
  params = ws::parse_connect_params("/s?channel=" + channel_list(70, "&channel="), rules, error);
  EXPECT_FALSE(params);
  EXPECT_EQ(error, "at most 64 channels per connection");
  // Repeats count once.
  params = ws::parse_connect_params("/s?channel=a&channel=a&channel=b&channel=a", rules, error);
  ASSERT_TRUE(params) << error;
  EXPECT_EQ(params->channels, (std::vector<std::string>{"a", "b"}));
}

TEST(input_bounds, ids_past_2_to_the_63_are_refused) {
  EXPECT_EQ(ws::parse_id("9223372036854775807"), 9223372036854775807ull);
  EXPECT_EQ(ws::parse_id("0"), 0u);
  for (const char* bad : {"9223372036854775808", "18446744073709551615", "18446744073709551616",
                          "99999999999999999999999", "-1", "+1", " 1", "1 ", "0x10", "", "1e3", "abc"})
    EXPECT_FALSE(ws::parse_id(bad)) << bad;
  std::string error;
  EXPECT_FALSE(ws::parse_connect_params("/s?last_id=18446744073709551615", {}, error));
  EXPECT_EQ(error, "last_id must be a message id");
}

TEST(input_bounds, json_depth_is_counted_outside_strings) {
  EXPECT_TRUE(util::json_depth_within(R"({"a":[1,{"b":[]}]})", 4));
  EXPECT_FALSE(util::json_depth_within(R"({"a":[1,{"b":[]}]})", 3));
  EXPECT_TRUE(util::json_depth_within(R"({"a":"[[[[[[{{{{"})", 1));
  EXPECT_TRUE(util::json_depth_within(R"({"a":"\"[[[[\\"})", 1));
  EXPECT_FALSE(util::json_depth_within(R"({"a":"\\"[[})", 2)) << "an escaped backslash ends the string";
  EXPECT_TRUE(util::json_depth_within("", 0));
}

TEST(input_bounds, deep_json_is_discarded_without_being_built) {
  const std::string deep = R"({"type":"ping","ref":)" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  EXPECT_TRUE(util::parse_bounded_json(deep).is_discarded());
  const std::string at_limit = std::string(util::max_json_depth, '[') + std::string(util::max_json_depth, ']');
  EXPECT_TRUE(util::parse_bounded_json(at_limit).is_array());
  EXPECT_TRUE(util::parse_bounded_json("[" + at_limit + "]").is_discarded());
  EXPECT_TRUE(util::parse_bounded_json("{").is_discarded());
  EXPECT_EQ(util::parse_bounded_json(R"({"a":1})")["a"], 1);
}

// nlohmann/json alone stops at a NUL byte and would take the text before it as the document.
TEST(input_bounds, a_nul_byte_anywhere_makes_json_invalid) {
  using namespace std::string_literals;
  EXPECT_TRUE(util::parse_bounded_json("{\"a\":1}\0junk"s).is_discarded());
  EXPECT_TRUE(util::parse_bounded_json("{\"a\":1}\0"s).is_discarded());
  EXPECT_TRUE(util::parse_bounded_json("{\"a\":\"x\0y\"}"s).is_discarded());
  EXPECT_EQ(util::parse_bounded_json(R"({"a":"x\u0000y"})")["a"], "x\0y"s);
}

TEST(input_bounds, a_deep_publish_body_is_a_400) {
  http::publish_fields fields;
  const auto body = R"({"message":"m","x":)" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  const auto error = http::parse_publish_fields("application/json", body, "", fields, 64);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->http_status, http::status::bad_request);
  EXPECT_NE(error->message.find("nested at most 32 levels"), std::string::npos) << error->message;
}

}  // namespace
}  // namespace wshub
