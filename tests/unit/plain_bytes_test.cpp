// The eight-bytes-at-a-time scans agree with a byte-by-byte reading for every byte value at
// every position, on both sides of the eight-byte steps.
#include <gtest/gtest.h>

#include <string>

#include "wshub/util/plain_bytes.hpp"
#include "wshub/util/utf8.hpp"

namespace {

bool json_plain_byte(unsigned char c, bool high_bytes_plain) {
  return c >= 0x20 && c != '"' && c != '\\' && (high_bytes_plain || c < 0x80);
}

TEST(plain_bytes, the_plain_prefix_stops_at_the_first_byte_of_each_kind_at_every_position) {
  for (std::size_t length = 0; length <= 20; ++length) {
    for (std::size_t at = 0; at < length; ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string s(length, 'a');
        s[at] = static_cast<char>(b);
        const auto c = static_cast<unsigned char>(b);
        for (const bool high : {false, true}) {
          const auto expected = json_plain_byte(c, high) ? length : at;
          ASSERT_EQ(wshub::util::json_plain_prefix(s, high), expected) << "length " << length << " at " << at << " byte " << b;
        }
        ASSERT_EQ(wshub::util::ascii_prefix(s), c < 0x80 ? length : at) << "length " << length << " at " << at << " byte " << b;
      }
    }
    EXPECT_EQ(wshub::util::json_plain_prefix(std::string(length, 'z'), false), length);
  }
}

TEST(plain_bytes, a_later_special_byte_is_never_found_before_an_earlier_one) {
  // Two special bytes in one eight-byte word: the first one counts, whatever follows it.
  for (std::size_t first = 0; first < 16; ++first) {
    for (std::size_t second = first + 1; second < 17; ++second) {
      std::string s(17, '~');
      s[first] = '\x1f';
      s[second] = '"';
      EXPECT_EQ(wshub::util::json_plain_prefix(s, true), first);
      s[first] = '\x80';
      s[second] = '\xff';
      EXPECT_EQ(wshub::util::ascii_prefix(s), first);
      EXPECT_EQ(wshub::util::json_plain_prefix(s, false), first);
      EXPECT_EQ(wshub::util::json_plain_prefix(s, true), 17u);
    }
  }
}

TEST(plain_bytes, utf8_is_checked_after_a_long_ascii_run_at_every_position) {
  for (std::size_t at = 0; at < 24; ++at) {
    std::string valid(24, 'a');
    valid.replace(at, 2, "\xC3\xA9");
    EXPECT_TRUE(wshub::util::valid_utf8(valid)) << at;
    std::string lone(24, 'a');
    lone[at] = '\x80';
    EXPECT_FALSE(wshub::util::valid_utf8(lone)) << at;
    std::string overlong(24, 'a');
    overlong.replace(at, 2, "\xC0\xAF");
    EXPECT_FALSE(wshub::util::valid_utf8(overlong.substr(0, 24))) << at;
  }
}

}  // namespace
