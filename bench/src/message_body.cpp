#include "message_body.hpp"

#include <charconv>

namespace wshub::bench {

namespace {
constexpr std::string_view marker = "wsb:";

template <typename T>
void append_number(std::string& out, T v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Reads "<digits>:" at `pos`; advances `pos` past the colon.
template <typename T>
bool read_field(std::string_view s, std::size_t& pos, T& v) {
  const char* first = s.data() + pos;
  const char* last = s.data() + s.size();
  const auto r = std::from_chars(first, last, v);
  if (r.ec != std::errc() || r.ptr == last || *r.ptr != ':') return false;
  pos = static_cast<std::size_t>(r.ptr - s.data()) + 1;
  return true;
}
}  // namespace

void append_body(std::string& out, const body_stamp& stamp, std::size_t size) {
  const auto start = out.size();
  out += marker;
  append_number(out, stamp.publisher);
  out += ':';
  append_number(out, stamp.seq);
  out += ':';
  append_number(out, stamp.send_ns);
  out += ':';
  const auto written = out.size() - start;
  if (written < size) out.append(size - written, 'x');
}

std::optional<body_stamp> find_stamp(std::string_view message) {
  auto pos = message.find(marker);
  if (pos == std::string_view::npos) return std::nullopt;
  pos += marker.size();
  body_stamp s;
  if (!read_field(message, pos, s.publisher) || !read_field(message, pos, s.seq) || !read_field(message, pos, s.send_ns))
    return std::nullopt;
  return s;
}

void append_form_encoded(std::string& out, std::string_view in) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (const char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
}

}  // namespace wshub::bench
