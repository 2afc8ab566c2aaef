#pragma once
// Reading send_message's fields from a form (urlencoded or multipart), a JSON body, or the
// query string, the way go-gin-api's form binding did.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wshub/http/error.hpp"

namespace wshub::http {

struct publish_fields {
  std::optional<std::string> message;
  std::optional<std::string> channel;
  // `channels`: repeated, comma separated, or a JSON array; each name once, in first-seen order.
  std::vector<std::string> channels;
  std::optional<std::string> to_conn;  // as sent; the handler checks it is a number
  std::optional<std::string> to_user;
};

// Fields from the body take precedence over the same fields in the query. Returns a 400 error
// for a malformed body and a 415 error for a body of another content type. Reading `channels`
// stops at the first name past max_channels distinct ones (so `channels` then holds
// max_channels + 1 and the caller refuses the message): the work is linear in the input and
// stops early on a long list.
std::optional<error> parse_publish_fields(std::string_view content_type, std::string_view body,
                                          std::string_view query, publish_fields& out,
                                          std::size_t max_channels);

// send_messages: a JSON body {"messages":[{...}, ...]}, each item read as the JSON body of
// send_message (the query string is not read). 1 to max_batch items, else a 400. The first
// malformed item refuses the whole batch: a 400 whose message starts with "messages[i]: ".
std::optional<error> parse_publish_batch(std::string_view content_type, std::string_view body,
                                         std::vector<publish_fields>& out, std::size_t max_batch,
                                         std::size_t max_channels);

}  // namespace wshub::http
