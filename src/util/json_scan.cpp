#include "wshub/util/json_scan.hpp"

#include <cstdint>

#include "wshub/util/plain_bytes.hpp"

namespace wshub::util {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The length of the UTF-8 sequence at `s` (RFC 3629: no overlong forms, no surrogates, nothing
// past U+10FFFF), or 0 when it is not one.
std::size_t utf8_sequence(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto c = byte(0);
  if (c < 0x80) return 1;
  auto in = [&](std::size_t i, unsigned lo, unsigned hi) { return i < s.size() && byte(i) >= lo && byte(i) <= hi; };
  if (c >= 0xC2 && c <= 0xDF) return in(1, 0x80, 0xBF) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return in(1, lo, hi) && in(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return in(1, lo, hi) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Walks one JSON text; every read_ function returns false on the first fault, leaving pos_ where
// it stopped.
class scanner {
 public:
  scanner(std::string_view text, std::size_t max_depth) : s_(text), max_depth_(max_depth) {}

  bool at_end() {
    skip_space();
    return pos_ == s_.size();
  }
  void skip_bom() {
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
  }
  bool peek(char c) {
    skip_space();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  bool take(char c) {
    if (!peek(c)) return false;
    ++pos_;
    return true;
  }

  // A string at pos_; its contents decoded into `out` when it is not null.
  bool read_string(std::string* out) {
    if (!take('"')) return false;
    for (;;) {
      if (pos_ >= s_.size()) return false;
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        if (!read_escape(out)) return false;
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;  // control characters must be escaped
      if (static_cast<unsigned char>(c) < 0x80) {
        // A run of plain ASCII (most of any text) is taken whole.
        const auto run = json_plain_prefix(s_.substr(pos_), false);
        if (out) out->append(s_.data() + pos_, run);
        pos_ += run;
        continue;
      }
      const auto n = utf8_sequence(s_.substr(pos_));
      if (n == 0) return false;
      if (out) out->append(s_.data() + pos_, n);
      pos_ += n;
    }
  }

  // Any value at pos_, nested at most `depth` more levels (an array or object is one).
  bool read_value(json_value& v, std::size_t depth) {
    skip_space();
    if (pos_ >= s_.size()) return false;
    const auto start = pos_;
    bool ok = false;
    switch (s_[pos_]) {
      case '"': v.kind = json_kind::string; ok = read_string(nullptr); break;
      case '{': v.kind = json_kind::object; ok = depth > 0 && read_object(depth - 1, nullptr); break;
      case '[': v.kind = json_kind::array; ok = depth > 0 && read_array(depth - 1, nullptr); break;
      case 't': v.kind = json_kind::boolean; ok = read_literal("true"); break;
      case 'f': v.kind = json_kind::boolean; ok = read_literal("false"); break;
      case 'n': v.kind = json_kind::null; ok = read_literal("null"); break;
      default: ok = read_number(v.kind);
    }
    v.text = s_.substr(start, pos_ - start);
    return ok;
  }

  // An object at pos_ whose members are nested at most `depth` more levels; each member goes to
  // `member` when it is not null.
  bool read_object(std::size_t depth, function_ref<void(std::string_view, const json_value&)>* member) {
    if (!take('{')) return false;
    if (take('}')) return true;
    std::string key;
    do {
      skip_space();
      key.clear();
      if (!read_string(member ? &key : nullptr) || !take(':')) return false;
      json_value v;
      if (!read_value(v, depth)) return false;
      if (member) (*member)(key, v);
    } while (take(','));
    return take('}');
  }

  bool read_array(std::size_t depth, function_ref<bool(const json_value&)>* element) {
    if (!take('[')) return false;
    if (take(']')) return true;
    bool wanted = true;
    do {
      json_value v;
      if (!read_value(v, depth)) return false;
      if (element && wanted) wanted = (*element)(v);
    } while (take(','));
    return take(']');
  }

  std::size_t max_depth() const { return max_depth_; }

 private:
  void skip_space() {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
  }

  bool read_literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool read_hex4(std::uint32_t& cp) {
    if (s_.size() - pos_ < 4) return false;
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hex_value(s_[pos_++]);
      if (h < 0) return false;
      cp = cp << 4 | static_cast<std::uint32_t>(h);
    }
    return true;
  }

  // At a backslash: one escape (a surrogate pair of \u escapes counts as one).
  bool read_escape(std::string* out) {
    if (++pos_ >= s_.size()) return false;
    const char e = s_[pos_++];
    char plain = 0;
    switch (e) {
      case '"': plain = '"'; break;
      case '\\': plain = '\\'; break;
      case '/': plain = '/'; break;
      case 'b': plain = '\b'; break;
      case 'f': plain = '\f'; break;
      case 'n': plain = '\n'; break;
      case 'r': plain = '\r'; break;
      case 't': plain = '\t'; break;
      case 'u': {
        std::uint32_t cp = 0;
        if (!read_hex4(cp)) return false;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate alone
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          std::uint32_t low = 0;
          if (s_.substr(pos_, 2) != "\\u") return false;
          pos_ += 2;
          if (!read_hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        if (out) append_utf8(*out, cp);
        return true;
      }
      default: return false;
    }
    if (out) *out += plain;
    return true;
  }

  // A number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, typed as nlohmann/json types it.
  bool read_number(json_kind& kind) {
    const auto start = pos_;
    const bool negative = pos_ < s_.size() && s_[pos_] == '-';
    if (negative) ++pos_;
    if (pos_ >= s_.size() || !is_digit(s_[pos_])) return false;
    if (s_[pos_] == '0') ++pos_;
    else
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    const auto int_end = pos_;
    bool integral = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      integral = false;
      if (++pos_ >= s_.size() || !is_digit(s_[pos_])) return false;
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (pos_ >= s_.size() || !is_digit(s_[pos_])) return false;
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    }
    kind = json_kind::number_float;
    if (integral) {
      const auto digits = s_.substr(start + (negative ? 1 : 0), int_end - start - (negative ? 1 : 0));
      // The magnitude's limit: 2^64 - 1, or 2^63 for a negative number.
      const std::string_view limit = negative ? "9223372036854775808" : "18446744073709551615";
      if (digits.size() < limit.size() || (digits.size() == limit.size() && digits <= limit))
        kind = negative ? json_kind::number_signed : json_kind::number_unsigned;
    }
    return true;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::size_t max_depth_;
};

}  // namespace

bool scan_json_object(std::string_view text, std::size_t max_depth,
                      function_ref<void(std::string_view key, const json_value& value)> member) {
  scanner s(text, max_depth);
  s.skip_bom();
  if (max_depth == 0 || !s.peek('{')) return false;
  return s.read_object(max_depth - 1, &member) && s.at_end();
}

void for_each_json_element(const json_value& array, function_ref<bool(const json_value& element)> element) {
  scanner s(array.text, SIZE_MAX);
  s.read_array(SIZE_MAX, &element);
}

std::string json_string_text(const json_value& string) {
  std::string out;
  out.reserve(string.text.size());  // decoding never lengthens the text
  scanner s(string.text, 0);
  s.read_string(&out);
  return out;
}

}  // namespace wshub::util
