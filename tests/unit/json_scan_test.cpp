// util::scan_json_object: the in-place JSON reader of send_message bodies agrees with
// nlohmann/json on what is valid and on what each member holds.
#include "wshub/util/json_scan.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wshub/util/bounded_json.hpp"
#include "wshub/util/recycling_allocator.hpp"

namespace {

using wshub::util::json_kind;
using wshub::util::json_value;

json_kind kind_of(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return json_kind::null;
    case nlohmann::json::value_t::boolean: return json_kind::boolean;
    case nlohmann::json::value_t::number_unsigned: return json_kind::number_unsigned;
    case nlohmann::json::value_t::number_integer: return json_kind::number_signed;
    case nlohmann::json::value_t::number_float: return json_kind::number_float;
    case nlohmann::json::value_t::string: return json_kind::string;
    case nlohmann::json::value_t::array: return json_kind::array;
    default: return json_kind::object;
  }
}

// Scans `text` and checks it against nlohmann/json's document: the same verdict, and for every
// key (the last of its name) the same kind, and for strings the same text.
void expect_agrees(const std::string& text) {
  SCOPED_TRACE(text);
  std::map<std::string, json_value> members;
  const bool ok = wshub::util::scan_json_object(text, wshub::util::max_json_depth,
                                                [&](std::string_view key, const json_value& v) { members[std::string(key)] = v; });
  const auto doc = wshub::util::parse_bounded_json(text);
  const bool reference = !doc.is_discarded() && doc.is_object();
  ASSERT_EQ(ok, reference);
  if (!ok) return;
  ASSERT_EQ(members.size(), doc.size());
  for (const auto& [key, value] : doc.items()) {
    ASSERT_TRUE(members.count(key)) << key;
    const auto& v = members[key];
    EXPECT_EQ(v.kind, kind_of(value)) << key;
    if (value.is_string()) {
      EXPECT_EQ(wshub::util::json_string_text(v), value.get<std::string>()) << key;
    }
    if (value.is_array()) {
      std::size_t n = 0;
      wshub::util::for_each_json_element(v, [&](const json_value& e) {
        EXPECT_EQ(e.kind, kind_of(value[n])) << key << "[" << n << "]";
        if (value[n].is_string()) {
          EXPECT_EQ(wshub::util::json_string_text(e), value[n].get<std::string>());
        }
        ++n;
        return true;
      });
      EXPECT_EQ(n, value.size()) << key;
    }
  }
}

TEST(json_scan, agrees_with_nlohmann_on_valid_objects) {
  for (const std::string text : {
           R"({})", R"(  {"message":"hi"}  )", R"({"message": "hi \"there\"", "channel": "news", "extra": 1})",
           R"({"a":null,"b":true,"c":false,"d":0,"e":-0,"f":1.5,"g":-2e10,"h":1E+2,"i":12345678901234567890})",
           R"({"big":18446744073709551615,"bigger":18446744073709551616,"low":-9223372036854775808,"lower":-9223372036854775809})",
           R"({"s":"\u00e9\u4e2d\ud83d\ude00\n\t\\\/\b\f\r","raw":"é中😀"})", R"({"mess\u0061ge":"escaped key"})",
           R"({"message":"first","message":"last"})", R"({"channels":["a","b",["c"],{"d":1}],"to_conn":12})",
           "\xEF\xBB\xBF{\"bom\":1}", R"({"nested":{"a":[[[[{"b":[]}]]]]}})", R"({"zero":"\u0000"})", "{\"tab\"\t:\r\n1}"}) {
    expect_agrees(text);
  }
}

TEST(json_scan, refuses_what_nlohmann_refuses) {
  for (const std::string text : {
           "", " ", "[]", "\"text\"", "1", "null", "{", "}", R"({"a"})", R"({"a":})", R"({"a":1,})", R"({"a":1 "b":2})",
           R"({"a":01})", R"({"a":-})", R"({"a":1.})", R"({"a":.5})", R"({"a":1e})", R"({"a":+1})", R"({"a":tru})",
           R"({"a":nul})", R"({"a":"\x"})", R"({"a":"\u12"})", R"({"a":"\ud800"})", R"({"a":"\udc00"})",
           R"({"a":"\ud800\u0041"})", "{\"a\":\"\x01\"}", "{\"a\":\"\xC0\xAF\"}", "{\"a\":\"\xED\xA0\x80\"}",
           "{\"a\":\"\xF4\x90\x80\x80\"}", "{\"a\":\"\xE2\x82\"}", R"({"a":1} x)", R"({"a":1}{})", R"({a:1})", R"({'a':1})",
           R"({"a":[1,]})", R"({"a":[,1]})", "{\"a\":1}\x00", "\xEF\xBB{}", R"({"a":"unterminated)"}) {
    expect_agrees(text);
  }
}

TEST(json_scan, bounds_nesting_like_the_bounded_parser) {
  const auto nested = [](std::size_t levels) {
    return std::string("{\"a\":") + std::string(levels - 1, '[') + std::string(levels - 1, ']') + "}";
  };
  expect_agrees(nested(wshub::util::max_json_depth));
  expect_agrees(nested(wshub::util::max_json_depth + 1));
  EXPECT_FALSE(wshub::util::scan_json_object(nested(wshub::util::max_json_depth + 1), wshub::util::max_json_depth,
                                             [](std::string_view, const json_value&) {}));
}

TEST(recycling_allocator, gives_a_freed_block_back_to_the_next_request_of_its_size) {
  wshub::util::recycling_allocator<char> a;
  char* first = a.allocate(100);
  a.deallocate(first, 100);
  char* second = a.allocate(97);  // the same size class (97 to 128 bytes)
  EXPECT_EQ(first, second);
  a.deallocate(second, 97);
  char* large = a.allocate(wshub::util::max_recycled_size + 1);  // not recycled: straight from the heap
  a.deallocate(large, wshub::util::max_recycled_size + 1);
}

}  // namespace
