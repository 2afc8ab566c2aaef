#include "wshub/http/publish_form.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "wshub/util/query_string.hpp"

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

// Sets a field from a name=value pair, only where the body has not set it yet.
void take(publish_fields& out, std::string_view name, std::string value) {
  if (name == "message" && !out.message) out.message = std::move(value);
  else if (name == "channel" && !out.channel) out.channel = std::move(value);
  else if (name == "to_conn" && !out.to_conn) out.to_conn = std::move(value);
  else if (name == "to_user" && !out.to_user) out.to_user = std::move(value);
  else if (name == "channels" || name == "channels[]") {
    std::size_t start = 0;
    while (start <= value.size()) {
      const auto comma = std::min(value.find(',', start), value.size());
      if (comma > start) out.channels.push_back(value.substr(start, comma - start));
      start = comma + 1;
    }
  }
}

std::optional<error> parse_urlencoded(std::string_view text, publish_fields& out) {
  auto params = util::parse_query_string(text);
  if (!params) return bad("the form is not valid application/x-www-form-urlencoded");
  for (auto& [name, value] : *params) take(out, name, std::move(value));
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

std::optional<error> parse_multipart(std::string_view content_type, std::string_view body, publish_fields& out) {
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
    if (!has_filename && !name.empty()) take(out, name, std::string(body.substr(content_start, next - content_start)));
    pos = next + 2;
  }
}

std::optional<error> parse_json(std::string_view body, publish_fields& out) {
  const auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return bad("the body is not a JSON object");
  for (const char* name : {"message", "channel", "to_user"}) {
    const auto it = doc.find(name);
    if (it == doc.end() || it->is_null()) continue;
    if (!it->is_string()) return bad(std::string("'") + name + "' must be a string");
    take(out, name, it->get<std::string>());
  }
  if (const auto it = doc.find("to_conn"); it != doc.end() && !it->is_null()) {
    if (it->is_number_unsigned()) out.to_conn = std::to_string(it->get<std::uint64_t>());
    else if (it->is_string()) out.to_conn = it->get<std::string>();
    else return bad("'to_conn' must be a connection id");
  }
  if (const auto it = doc.find("channels"); it != doc.end() && !it->is_null()) {
    if (!it->is_array()) return bad("'channels' must be a list of channel names");
    for (const auto& c : *it) {
      if (!c.is_string()) return bad("'channels' must be a list of channel names");
      if (c.get_ref<const std::string&>().empty()) return bad("'channels' holds an empty channel name");
      out.channels.push_back(c.get<std::string>());
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<error> parse_publish_fields(std::string_view content_type, std::string_view body,
                                          std::string_view query, publish_fields& out) {
  const auto media = lower(trim(content_type.substr(0, content_type.find(';'))));
  std::optional<error> failure;
  if (media == "application/x-www-form-urlencoded") failure = parse_urlencoded(body, out);
  else if (media == "multipart/form-data") failure = parse_multipart(content_type, body, out);
  else if (media == "application/json") failure = parse_json(body, out);
  else if (!body.empty())
    return error{status::unsupported_media_type, codes::unsupported_media,
                 "Content-Type must be application/x-www-form-urlencoded, multipart/form-data or application/json"};
  if (failure) return failure;
  publish_fields from_query;
  if (parse_urlencoded(query, from_query)) return bad("the query string is malformed");
  // The query only fills what the body left unset.
  if (!out.message) out.message = std::move(from_query.message);
  if (!out.channel) out.channel = std::move(from_query.channel);
  if (!out.to_conn) out.to_conn = std::move(from_query.to_conn);
  if (!out.to_user) out.to_user = std::move(from_query.to_user);
  if (out.channels.empty()) out.channels = std::move(from_query.channels);
  return std::nullopt;
}


}  // namespace wshub::http
