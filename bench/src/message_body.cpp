#include "message_body.hpp"

#include <charconv>
#include <iterator>
#include <string_view>

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

void append_body(std::string& out, const body_stamp& stamp, std::size_t size, bool words) {
  const auto start = out.size();
  out += marker;
  append_number(out, stamp.publisher);
  out += ':';
  append_number(out, stamp.seq);
  out += ':';
  append_number(out, stamp.send_ns);
  out += ':';
  const auto written = out.size() - start;
  if (written >= size) return;
  if (!words) {
    out.append(size - written, 'x');
    return;
  }
  // Words drawn from a small vocabulary by a generator seeded with the stamp: text that deflates
  // about as well as prose does, different in every message.
  static constexpr std::string_view vocabulary[] = {
      "the", "order", "was", "shipped", "to", "customer", "with", "tracking", "number", "status",
      "update", "price", "changed", "from", "new", "message", "in", "channel", "alert", "sensor",
      "temperature", "reading", "above", "threshold", "user", "joined", "room", "left", "payment",
      "received", "for", "invoice", "and", "a", "of", "is", "ready", "at", "warehouse", "delayed"};
  std::uint64_t x = stamp.seq * 0x9E3779B97F4A7C15ull + stamp.publisher + 1;
  const auto end = start + size;
  while (out.size() < end) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out += vocabulary[x % std::size(vocabulary)];
    if (out.size() < end) out += (x >> 32) % 9 == 0 ? ". " : " ";
  }
  out.resize(end);
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
