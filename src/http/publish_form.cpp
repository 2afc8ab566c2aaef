#include "wshub/http/publish_form.hpp"

#include <algorithm>
#include <cctype>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "wshub/util/bounded_json.hpp"
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

// Pairs past this many are not decoded: every field but `channels` is read once, and `channels`
// needs at most max_channels + 1 names.
std::size_t max_form_params(std::size_t max_channels) { return max_channels + 16; }

// `what` names the text in errors: "the form" or "the query string".
std::optional<error> parse_urlencoded(std::string_view text, field_reader& fields, const std::string& what) {
  const auto max_params = max_form_params(fields.max_channels());
  auto params = util::parse_query_string(text, max_params);
  if (!params) return bad(what + " is not valid application/x-www-form-urlencoded");
  if (params->size() > max_params) return bad(what + " has more than " + std::to_string(max_params) + " fields");
  for (auto& [name, value] : *params) fields.take(name, std::move(value));
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

// The fields of a JSON send_message body, `doc` an object.
std::optional<error> read_json_fields(const nlohmann::json& doc, field_reader& fields) {
  for (const char* name : {"message", "channel", "to_user"}) {
    const auto it = doc.find(name);
    if (it == doc.end() || it->is_null()) continue;
    if (!it->is_string()) return bad(std::string("'") + name + "' must be a string");
    fields.take(name, it->get<std::string>());
  }
  auto& out = fields.out();
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
      fields.add_channel(c.get<std::string>());
      if (fields.channels_full()) break;  // refused by the caller
    }
  }
  return std::nullopt;
}

std::optional<error> parse_json(std::string_view body, field_reader& fields) {
  const auto doc = util::parse_bounded_json(body);
  if (doc.is_discarded() || !doc.is_object()) return bad(not_json_object());
  return read_json_fields(doc, fields);
}

}  // namespace

std::optional<error> parse_publish_batch(std::string_view content_type, std::string_view body,
                                         std::vector<publish_fields>& out, std::size_t max_batch,
                                         std::size_t max_channels) {
  if (lower(trim(content_type.substr(0, content_type.find(';')))) != "application/json")
    return error{status::unsupported_media_type, codes::unsupported_media, "Content-Type must be application/json"};
  const auto doc = util::parse_bounded_json(body);
  if (doc.is_discarded() || !doc.is_object()) return bad(not_json_object());
  const auto messages = doc.find("messages");
  if (messages == doc.end() || !messages->is_array()) return bad("'messages' must be a list of messages");
  if (messages->empty()) return bad("'messages' is empty");
  if (messages->size() > max_batch) return bad("at most " + std::to_string(max_batch) + " messages per batch");
  out.clear();
  out.reserve(messages->size());
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const auto& item = (*messages)[i];
    auto& fields = out.emplace_back();
    field_reader reader(fields, max_channels);
    auto failure = item.is_object() ? read_json_fields(item, reader) : bad("not a JSON object");
    if (failure) {
      failure->message = "messages[" + std::to_string(i) + "]: " + failure->message;
      return failure;
    }
  }
  return std::nullopt;
}

std::optional<error> parse_publish_fields(std::string_view content_type, std::string_view body,
                                          std::string_view query, publish_fields& out, std::size_t max_channels) {
  const auto media = lower(trim(content_type.substr(0, content_type.find(';'))));
  std::optional<error> failure;
  field_reader fields(out, max_channels);
  if (media == "application/x-www-form-urlencoded") failure = parse_urlencoded(body, fields, "the form");
  else if (media == "multipart/form-data") failure = parse_multipart(content_type, body, fields);
  else if (media == "application/json") failure = parse_json(body, fields);
  else if (!body.empty())
    return error{status::unsupported_media_type, codes::unsupported_media,
                 "Content-Type must be application/x-www-form-urlencoded, multipart/form-data or application/json"};
  if (failure) return failure;
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
