#include "wshub/http/publish_form.hpp"

#include <algorithm>
#include <cctype>
#include <unordered_set>

#include "wshub/util/bounded_json.hpp"
#include "wshub/util/json_scan.hpp"

namespace wshub::http {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

error bad(std::string message) { return error{status::bad_request, codes::bad_parameter, std::move(message)}; }

// Collects the fields of one source (the body, or the query). Channel names are kept once each
// and collecting stops past max_channels of them.
class field_reader {
 public:
  field_reader(publish_fields& out, std::size_t max_channels) : out_(out), max_channels_(max_channels) {}

  bool channels_full() const { return out_.channels.size() > max_channels_; }

  void add_channel(std::string name) {
    if (channels_full()) return;
    if (seen_.insert(name).second) out_.channels.push_back(std::move(name));
  }

  // Sets a field from a name=value pair, only where the body has not set it yet.
  void take(std::string_view name, std::string value) {
    if (name == "message" && !out_.message) out_.message = std::move(value);
    else if (name == "channel" && !out_.channel) out_.channel = std::move(value);
    else if (name == "to_conn" && !out_.to_conn) out_.to_conn = std::move(value);
    else if (name == "to_user" && !out_.to_user) out_.to_user = std::move(value);
    else if (name == "channels" || name == "channels[]") {
      std::size_t start = 0;
      while (start <= value.size() && !channels_full()) {
        const auto comma = std::min(value.find(',', start), value.size());
        if (comma > start) add_channel(value.substr(start, comma - start));
        start = comma + 1;
      }
    }
  }

  publish_fields& out() { return out_; }
  std::size_t max_channels() const { return max_channels_; }

 private:
  publish_fields& out_;
  const std::size_t max_channels_;
  std::unordered_set<std::string> seen_;
};

// A form or query of more pairs is refused before any is decoded: every field but `channels` is
// read once, and `channels` needs at most max_channels + 1 names.
std::size_t max_form_params(std::size_t max_channels) { return max_channels + 16; }

int hex_digit(char h) {
  if (h >= '0' && h <= '9') return h - '0';
  if (h >= 'a' && h <= 'f') return h - 'a' + 10;
  if (h >= 'A' && h <= 'F') return h - 'A' + 10;
  return -1;
}

// Every '%' is followed by two hex digits.
bool valid_percent_escapes(std::string_view text) {
  for (auto pct = text.find('%'); pct != std::string_view::npos; pct = text.find('%', pct + 3))
    if (pct + 2 >= text.size() || hex_digit(text[pct + 1]) < 0 || hex_digit(text[pct + 2]) < 0) return false;
  return true;
}

// application/x-www-form-urlencoded decoding of one name or value (escapes already checked) into
// `out`: '+' is a space, %XX a byte.
void form_decode(std::string_view text, std::string& out) {
  out.clear();
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      out += static_cast<char>(hex_digit(text[i + 1]) << 4 | hex_digit(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
}

// `what` names the text in errors: "the form" or "the query string". Pairs are separated by '&'
// (empty ones count), a name from its value by the first '='.
std::optional<error> parse_urlencoded(std::string_view text, field_reader& fields, std::string_view what) {
  if (text.empty()) return std::nullopt;
  if (!valid_percent_escapes(text)) return bad(std::string(what) + " is not valid application/x-www-form-urlencoded");
  const auto max_params = max_form_params(fields.max_channels());
  if (static_cast<std::size_t>(std::count(text.begin(), text.end(), '&')) + 1 > max_params)
    return bad(std::string(what) + " has more than " + std::to_string(max_params) + " fields");
  std::string name, value;
  for (std::size_t start = 0; start <= text.size();) {
    const auto end = std::min(text.find('&', start), text.size());
    const auto pair = text.substr(start, end - start);
    const auto eq = std::min(pair.find('='), pair.size());
    form_decode(pair.substr(0, eq), name);
    form_decode(pair.substr(std::min(eq + 1, pair.size())), value);
    fields.take(name, std::move(value));
    start = end + 1;
  }
  return std::nullopt;
}

// The value of `name` among a header's ;-separated parameters, unquoted.
std::string header_parameter(std::string_view header, std::string_view name) {
  std::size_t pos = 0;
  while ((pos = header.find(';', pos)) != std::string_view::npos) {
    auto param = header.substr(pos + 1);
    const auto end = param.find(';');
    param = trim(param.substr(0, end));
    const auto eq = param.find('=');
    if (eq != std::string_view::npos && lower(trim(param.substr(0, eq))) == name) {
      auto value = trim(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return std::string(value);
    }
    ++pos;
  }
  return {};
}

std::optional<error> parse_multipart(std::string_view content_type, std::string_view body, field_reader& fields) {
  const auto boundary = header_parameter(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 200) return bad("multipart/form-data needs a boundary");
  const std::string delimiter = "--" + boundary;
  auto pos = body.find(delimiter);
  if (pos == std::string_view::npos) return bad("the multipart body has no parts");
  for (;;) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return std::nullopt;  // closing delimiter
    if (body.substr(pos, 2) != "\r\n") return bad("malformed multipart body");
    pos += 2;
    const auto headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos) return bad("malformed multipart part headers");
    const auto headers = body.substr(pos, headers_end - pos);
    const auto content_start = headers_end + 4;
    const auto next = body.find("\r\n" + delimiter, content_start);
    if (next == std::string_view::npos) return bad("the multipart body is not terminated");
    std::string name, filename;
    bool has_filename = false;
    std::size_t line_start = 0;
    while (line_start <= headers.size()) {
      const auto line_end = std::min(headers.find("\r\n", line_start), headers.size());
      const auto line = headers.substr(line_start, line_end - line_start);
      const auto colon = line.find(':');
      if (colon != std::string_view::npos && lower(trim(line.substr(0, colon))) == "content-disposition") {
        const auto value = line.substr(colon + 1);
        name = header_parameter(value, "name");
        has_filename = lower(value).find("filename") != std::string::npos;
      }
      line_start = line_end + 2;
    }
    if (!has_filename && !name.empty()) fields.take(name, std::string(body.substr(content_start, next - content_start)));
    if (fields.channels_full()) return std::nullopt;  // refused by the caller
    pos = next + 2;
  }
}

std::string not_json_object() {
  return "the body is not a JSON object nested at most " + std::to_string(util::max_json_depth) + " levels deep";
}

// The members of a JSON send_message body that are read: the last one of each name, as
// written; kind null when absent (or null).
struct json_members {
  util::json_value message, channel, to_user, to_conn, channels;
};

// False when `text` is not a JSON object (nested at most max_json_depth levels).
bool scan_members(std::string_view text, json_members& m) {
  return util::scan_json_object(text, util::max_json_depth, [&m](std::string_view key, const util::json_value& v) {
    if (key == "message") m.message = v;
    else if (key == "channel") m.channel = v;
    else if (key == "to_user") m.to_user = v;
    else if (key == "to_conn") m.to_conn = v;
    else if (key == "channels") m.channels = v;
  });
}

std::optional<error> read_json_fields(const json_members& m, field_reader& fields) {
  using util::json_kind;
  const std::pair<const char*, const util::json_value*> texts[] = {
      {"message", &m.message}, {"channel", &m.channel}, {"to_user", &m.to_user}};
  for (const auto& [name, value] : texts) {
    if (value->kind == json_kind::null) continue;
    if (value->kind != json_kind::string) return bad(std::string("'") + name + "' must be a string");
    fields.take(name, util::json_string_text(*value));
  }
  auto& out = fields.out();
  if (m.to_conn.kind == json_kind::number_unsigned) out.to_conn = std::string(m.to_conn.text);
  else if (m.to_conn.kind == json_kind::string) out.to_conn = util::json_string_text(m.to_conn);
  else if (m.to_conn.kind != json_kind::null) return bad("'to_conn' must be a connection id");
  if (m.channels.kind == json_kind::null) return std::nullopt;
  if (m.channels.kind != json_kind::array) return bad("'channels' must be a list of channel names");
  std::optional<error> failure;
  util::for_each_json_element(m.channels, [&](const util::json_value& c) {
    if (c.kind != json_kind::string) failure = bad("'channels' must be a list of channel names");
    else if (c.text.size() == 2) failure = bad("'channels' holds an empty channel name");
    if (failure) return false;
    fields.add_channel(util::json_string_text(c));
    return !fields.channels_full();  // past max_channels: refused by the caller
  });
  return failure;
}

std::optional<error> parse_json(std::string_view body, field_reader& fields) {
  json_members m;
  if (!scan_members(body, m)) return bad(not_json_object());
  return read_json_fields(m, fields);
}

// The media type of a Content-Type header is `media` (compared without case).
bool media_type_is(std::string_view content_type, std::string_view media) {
  const auto type = trim(content_type.substr(0, content_type.find(';')));
  return type.size() == media.size() &&
         std::equal(type.begin(), type.end(), media.begin(), [](unsigned char a, unsigned char b) {
           return std::tolower(a) == b;
         });
}

}  // namespace

std::optional<error> parse_publish_batch(std::string_view content_type, std::string_view body,
                                         std::vector<publish_fields>& out, std::size_t max_batch,
                                         std::size_t max_channels) {
  if (!media_type_is(content_type, "application/json"))
    return error{status::unsupported_media_type, codes::unsupported_media, "Content-Type must be application/json"};
  util::json_value messages;
  const bool object = util::scan_json_object(body, util::max_json_depth, [&](std::string_view key, const util::json_value& v) {
    if (key == "messages") messages = v;
  });
  if (!object) return bad(not_json_object());
  if (messages.kind != util::json_kind::array) return bad("'messages' must be a list of messages");
  std::size_t count = 0;
  util::for_each_json_element(messages, [&count](const util::json_value&) { return ++count, true; });
  if (count == 0) return bad("'messages' is empty");
  if (count > max_batch) return bad("at most " + std::to_string(max_batch) + " messages per batch");
  out.clear();
  out.reserve(count);
  std::optional<error> failure;
  util::for_each_json_element(messages, [&](const util::json_value& item) {
    auto& fields = out.emplace_back();
    field_reader reader(fields, max_channels);
    json_members m;
    failure = item.kind == util::json_kind::object && scan_members(item.text, m) ? read_json_fields(m, reader)
                                                                                  : bad("not a JSON object");
    if (failure) failure->message = "messages[" + std::to_string(out.size() - 1) + "]: " + failure->message;
    return !failure;
  });
  return failure;
}

std::optional<error> parse_publish_fields(std::string_view content_type, std::string_view body,
                                          std::string_view query, publish_fields& out, std::size_t max_channels) {
  std::optional<error> failure;
  field_reader fields(out, max_channels);
  if (media_type_is(content_type, "application/x-www-form-urlencoded")) failure = parse_urlencoded(body, fields, "the form");
  else if (media_type_is(content_type, "multipart/form-data")) failure = parse_multipart(content_type, body, fields);
  else if (media_type_is(content_type, "application/json")) failure = parse_json(body, fields);
  else if (!body.empty())
    return error{status::unsupported_media_type, codes::unsupported_media,
                 "Content-Type must be application/x-www-form-urlencoded, multipart/form-data or application/json"};
  if (failure) return failure;
  if (query.empty()) return std::nullopt;
  publish_fields from_query;
  field_reader query_fields(from_query, max_channels);
  if (auto e = parse_urlencoded(query, query_fields, "the query string")) return e;
  // The query only fills what the body left unset.
  if (!out.message) out.message = std::move(from_query.message);
  if (!out.channel) out.channel = std::move(from_query.channel);
  if (!out.to_conn) out.to_conn = std::move(from_query.to_conn);
  if (!out.to_user) out.to_user = std::move(from_query.to_user);
  if (out.channels.empty()) out.channels = std::move(from_query.channels);
  return std::nullopt;
}


}  // namespace wshub::http
