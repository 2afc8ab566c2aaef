#include "wshub/hub/frame.hpp"

#include <charconv>
#include <ctime>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "wshub/util/deflate.hpp"
#include "wshub/util/plain_bytes.hpp"
#include "wshub/util/utf8.hpp"

namespace wshub::hub {
namespace {

// The local time of `ts_ms`, converted once per second per thread. The view is valid until this
// thread asks for another second.
std::string_view local_time_of(std::int64_t ts_ms) {
  struct cached {
    std::int64_t second = INT64_MIN;
    char text[32] = {};
    std::size_t size = 0;
  };
  thread_local cached last;
  const std::int64_t second = ts_ms / 1000;
  if (second != last.second) {
    const auto seconds = static_cast<std::time_t>(second);
    std::tm local{};
    localtime_r(&seconds, &local);
    last.size = std::strftime(last.text, sizeof last.text, "%Y-%m-%d %H:%M:%S", &local);
    last.second = second;
  }
  return {last.text, last.size};
}

// The index of the first byte from `from` on that a JSON string cannot hold as it is (s.size()
// when there is none).
std::size_t next_to_escape(std::string_view s, std::size_t from) {
  return from + util::json_plain_prefix(s.substr(from), true);
}

// JSON string escapes as nlohmann/json writes them (ensure_ascii off): the two-character forms
// for \b \t \n \f \r " and backslash, \u00xx for the other control characters, the rest as is.
std::size_t escaped_size(std::string_view s) {
  std::size_t n = s.size() + 2;
  for (auto i = next_to_escape(s, 0); i < s.size(); i = next_to_escape(s, i + 1)) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\' || c == '\b' || c == '\t' || c == '\n' || c == '\f' || c == '\r') n += 1;
    else n += 5;
  }
  return n;
}

void append_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t plain = 0;  // start of the run not yet copied
  for (auto i = next_to_escape(s, 0); i < s.size(); i = next_to_escape(s, i + 1)) {
    const auto c = static_cast<unsigned char>(s[i]);
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out += '"';
}

// Stored text is checked as UTF-8 before it is stored; text that is not anyway is written with
// its invalid bytes replaced (U+FFFD), as nlohmann/json does, never thrown on.
std::string repaired(std::string_view s) {
  auto text = nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return nlohmann::json::parse(text).get<std::string>();
}

// The keys and values of a message's JSON object, without its opening brace, written after what
// `out` holds: "channel":...,"username":...}
class message_writer {
 public:
  explicit message_writer(const message& m) : m_(m), time_(local_time_of(m.ts_ms)) {
    if (!util::valid_utf8(m.username)) username_fix_ = repaired(m.username);
    if (!util::valid_utf8(m.body)) body_fix_ = repaired(m.body);
    for (const auto& c : m.channels)
      if (!util::valid_utf8(c)) {
        channels_fix_.reserve(m.channels.size());
        for (const auto& each : m.channels) channels_fix_.push_back(repaired(each));
        break;
      }
  }

  std::size_t size() const {
    const auto& channels = channel_list();
    std::size_t n = std::size(R"("channel":,"id":,"message":,"time":,"ts":,"username":})") - 1;
    n += escaped_size(channels.empty() ? std::string_view() : std::string_view(channels.front()));
    if (channels.size() > 1) {
      n += std::size(R"("channels":[],)") - 1 + channels.size() - 1;
      for (const auto& c : channels) n += escaped_size(c);
    }
    char digits[24];
    n += std::to_chars(digits, digits + sizeof digits, m_.id).ptr - digits;
    n += std::to_chars(digits, digits + sizeof digits, m_.ts_ms).ptr - digits;
    n += escaped_size(body()) + escaped_size(time_) + escaped_size(username());
    return n;
  }

  void write(std::string& out) const {
    const auto& channels = channel_list();
    out += R"("channel":)";
    append_escaped(out, channels.empty() ? std::string_view() : std::string_view(channels.front()));
    if (channels.size() > 1) {
      out += R"(,"channels":[)";
      for (std::size_t i = 0; i < channels.size(); ++i) {
        if (i) out += ',';
        append_escaped(out, channels[i]);
      }
      out += ']';
    }
    out += R"(,"id":)";
    append_number(out, m_.id);
    out += R"(,"message":)";
    append_escaped(out, body());
    out += R"(,"time":)";
    append_escaped(out, time_);
    out += R"(,"ts":)";
    append_number(out, m_.ts_ms);
    out += R"(,"username":)";
    append_escaped(out, username());
    out += '}';
  }

 private:
  template <typename Number>
  static void append_number(std::string& out, Number n) {
    char digits[24];
    out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
  }
  const std::vector<std::string>& channel_list() const { return channels_fix_.empty() ? m_.channels : channels_fix_; }
  std::string_view body() const { return body_fix_ ? std::string_view(*body_fix_) : std::string_view(m_.body); }
  std::string_view username() const {
    return username_fix_ ? std::string_view(*username_fix_) : std::string_view(m_.username);
  }

  const message& m_;
  const std::string_view time_;
  std::optional<std::string> username_fix_, body_fix_;
  std::vector<std::string> channels_fix_;
};

constexpr std::string_view v1_start = R"({"type":"message",)";

}  // namespace

std::string format_local_time(std::int64_t ts_ms) { return std::string(local_time_of(ts_ms)); }

std::string encode_message_json(const message& m) {
  const message_writer w(m);
  std::string text;
  text.reserve(1 + w.size());
  text += '{';
  w.write(text);
  return text;
}

frame_header make_frame_header(std::size_t payload_size, std::uint8_t opcode) {
  frame_header h;
  h.bytes[0] = static_cast<std::uint8_t>(0x80 | opcode);  // FIN; no mask bit: servers never mask
  if (payload_size < 126) {
    h.bytes[1] = static_cast<std::uint8_t>(payload_size);
    h.size = 2;
  } else if (payload_size <= 0xFFFF) {
    h.bytes[1] = 126;
    h.bytes[2] = static_cast<std::uint8_t>(payload_size >> 8);
    h.bytes[3] = static_cast<std::uint8_t>(payload_size);
    h.size = 4;
  } else {
    h.bytes[1] = 127;
    for (int i = 0; i < 8; ++i)
      h.bytes[2 + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(payload_size) >> (56 - 8 * i));
    h.size = 10;
  }
  return h;
}

struct deflate_cache {
  std::once_flag made[2];
  deflated_payload forms[2];  // [0] of text, [1] of text_v1
};

namespace {

// Everything of a message frame but its routing (channels, target).
frame_ptr make_frame_text(const message& m, std::shared_ptr<frame> f) {
  f->deflatable = true;
  f->id = m.id;
  f->to_conn = m.to_conn;
  // One allocation of the exact size: {<fields>}{"type":"message",<fields>}, the fields written
  // once and copied.
  const message_writer w(m);
  const auto fields = w.size();
  f->data.reserve(1 + fields + v1_start.size() + fields);
  f->data += '{';
  w.write(f->data);
  f->text_size = f->data.size();
  f->v1_begin = f->text_size;
  f->data += v1_start;
  f->data.append(f->data, 1, f->text_size - 1);
  f->header = make_frame_header(f->text_size);
  f->header_v1 = make_frame_header(f->data.size() - f->v1_begin);
  return f;
}

}  // namespace

frame_ptr make_frame(const message& m) {
  auto f = std::make_shared<frame>();
  f->channels = m.channels;
  f->to_user = m.to_user;
  return make_frame_text(m, std::move(f));
}

frame_ptr make_frame(message&& m) {
  auto f = std::make_shared<frame>();
  auto framed = make_frame_text(m, f);  // the text is written before the routing is moved out
  f->channels = std::move(m.channels);
  f->to_user = std::move(m.to_user);
  return framed;
}

const deflated_payload* frame::deflated(bool v1) const {
  if (!deflatable) return nullptr;
  auto* cache = deflated_forms_.load(std::memory_order_acquire);
  if (!cache) {
    auto made = std::make_unique<deflate_cache>();
    if (deflated_forms_.compare_exchange_strong(cache, made.get(), std::memory_order_acq_rel))
      cache = made.release();  // ours is the one; otherwise `cache` is the winner's
  }
  auto& c = *cache;
  const auto i = v1 ? 1 : 0;
  std::call_once(c.made[i], [&] {
    auto& d = c.forms[i];
    const auto plain = v1 ? text_v1() : text();
    d.bytes = util::deflate_message(plain);
    d.smaller = !d.bytes.empty() && d.bytes.size() < plain.size();
    if (!d.smaller) return std::string().swap(d.bytes);
    d.header = make_frame_header(d.bytes.size());
    d.header.bytes[0] |= 0x40;  // RSV1: this message is compressed
  });
  return &c.forms[i];
}

frame::~frame() { delete deflated_forms_.load(std::memory_order_acquire); }

frame_ptr make_control_frame(std::string json_text) {
  auto f = std::make_shared<frame>();
  f->set_text(std::move(json_text));
  f->header = make_frame_header(f->text_size);
  f->header_v1 = f->header;
  return f;
}

}  // namespace wshub::hub
