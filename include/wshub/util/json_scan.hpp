#pragma once
// Reading JSON in place, without building a document: checks a text as nlohmann/json's parser
// does (RFC 8259; UTF-8 checked; a leading byte order mark skipped; nothing but white space after
// the value) and reports the members of the top-level object as spans of the text. Used where a
// request's body is a flat object read once (send_message), so that no tree is allocated.
#include <cstddef>
#include <string>
#include <string_view>

#include "wshub/util/function_ref.hpp"

namespace wshub::util {

// What a JSON value is, as nlohmann/json types it: a number without fraction or exponent is
// unsigned (no '-') or signed when it fits 64 bits, else a float.
enum class json_kind { null, boolean, number_unsigned, number_signed, number_float, string, array, object };

struct json_value {
  json_kind kind = json_kind::null;
  std::string_view text;  // the value as written (a string with its quotes)
};

// Calls `member(key, value)` for each member of the object in `text`, in order (a repeated key
// once per time it is written; the caller keeps the last, as nlohmann/json does), then returns
// true. False when `text` is not valid JSON, not an object, or nests arrays and objects more than
// `max_depth` deep; `member` may have been called for members before the fault. The key is
// decoded (escapes resolved) into a buffer reused between calls.
bool scan_json_object(std::string_view text, std::size_t max_depth,
                      function_ref<void(std::string_view key, const json_value& value)> member);

// The elements of an array value that scan_json_object reported (so known valid), in order;
// stops early when `element` returns false.
void for_each_json_element(const json_value& array, function_ref<bool(const json_value& element)> element);

// The text of a string value that scan_json_object reported (so known valid), escapes resolved.
std::string json_string_text(const json_value& string);

}  // namespace wshub::util
