#include "wshub/ws/frame_reader.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/ws_frame.hpp"
#include "wshub/util/deflate.hpp"

namespace {

using wshub::test::encode_frame;
using wshub::ws::frame_reader;
using kind = frame_reader::kind;

constexpr std::uint8_t fin = 0x80;
constexpr std::uint8_t text = 0x1, binary = 0x2, continuation = 0x0, close = 0x8, ping = 0x9, pong = 0xA;
constexpr std::uint32_t key = 0x12345678;
constexpr std::uint8_t text_op() { return text; }

std::string masked(std::uint8_t first, std::string_view payload) { return encode_frame(first, payload, true, key); }

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return p.append(reason);
}

// Every event in `bytes`, fed `step` bytes at a time (0: all at once).
std::vector<frame_reader::event> read_all(frame_reader& r, const std::string& bytes, std::size_t step = 0) {
  std::vector<frame_reader::event> out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    const auto n = step == 0 ? bytes.size() - at : std::min(step, bytes.size() - at);
    std::string_view piece(bytes.data() + at, n);
    at += n;
    for (;;) {
      auto e = r.next(piece);
      if (e.what == kind::need_more) break;
      out.push_back(std::move(e));
    }
  }
  return out;
}

frame_reader::event only_event(const std::string& bytes, std::size_t max = 1024) {
  frame_reader r(max);
  auto events = read_all(r, bytes);
  EXPECT_EQ(events.size(), 1u);
  return events.empty() ? frame_reader::event{} : events.front();
}

TEST(frame_reader, reads_a_masked_text_message_whatever_the_bytes_per_read) {
  const std::string message = "{\"type\":\"subscribe\",\"channel\":\"news\"}";
  const auto bytes = masked(fin | text, message) + masked(fin | text, "second");
  for (const std::size_t step : {0, 1, 2, 3, 7, 64}) {
    frame_reader r(1024);
    const auto events = read_all(r, bytes, step);
    ASSERT_EQ(events.size(), 2u) << "step " << step;
    EXPECT_EQ(events[0].what, kind::text);
    EXPECT_EQ(events[0].payload, message);
    EXPECT_EQ(events[1].payload, "second");
    EXPECT_FALSE(r.mid_message());
  }
}

TEST(frame_reader, lengths_of_16_and_64_bits_and_empty_messages) {
  const std::string medium(300, 'm'), large(70'000, 'l');
  frame_reader r(100'000);
  const auto events = read_all(r, masked(fin | text, medium) + masked(fin | text, large) + masked(fin | text, ""), 1000);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].payload, medium);
  EXPECT_EQ(events[1].payload, large);
  EXPECT_EQ(events[2].what, kind::text);
  EXPECT_EQ(events[2].payload, "");
}

TEST(frame_reader, joins_fragments_with_control_frames_between_them) {
  const auto bytes = masked(text, "hel") + masked(fin | ping, "p") + masked(continuation, "lo ") +
                     masked(fin | pong, "") + masked(fin | continuation, "world");
  frame_reader r(1024);
  const auto events = read_all(r, bytes, 5);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].what, kind::ping);
  EXPECT_EQ(events[0].payload, "p");
  EXPECT_EQ(events[1].what, kind::pong);
  EXPECT_EQ(events[2].what, kind::text);
  EXPECT_EQ(events[2].payload, "hello world");
}

TEST(frame_reader, holds_nothing_between_messages) {
  frame_reader r(1024);
  std::string half = masked(fin | text, "abcdef");
  std::string_view first(half.data(), 4), rest(half.data() + 4, half.size() - 4);
  EXPECT_EQ(r.next(first).what, kind::need_more);
  EXPECT_TRUE(r.mid_message());
  EXPECT_EQ(r.next(rest).payload, "abcdef");
  EXPECT_FALSE(r.mid_message());
}

TEST(frame_reader, binary_messages_are_reported_as_binary) {
  const auto e = only_event(masked(fin | binary, std::string("\x00\xff", 2)));
  EXPECT_EQ(e.what, kind::binary);
  EXPECT_EQ(e.payload.size(), 2u);
}

TEST(frame_reader, close_with_code_and_reason_and_without_either) {
  auto e = only_event(masked(fin | close, close_payload(1000, "bye")));
  EXPECT_EQ(e.what, kind::close);
  EXPECT_EQ(e.code, 1000);
  EXPECT_EQ(e.payload, "bye");
  e = only_event(masked(fin | close, ""));
  EXPECT_EQ(e.what, kind::close);
  EXPECT_EQ(e.code, 1005);
}

TEST(frame_reader, takes_nothing_after_a_close) {
  frame_reader r(1024);
  const auto events = read_all(r, masked(fin | close, close_payload(1001)) + masked(fin | text, "late"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].what, kind::close);
}

struct broken {
  const char* what;
  std::string bytes;
  std::uint16_t code;
};

TEST(frame_reader, protocol_violations_fail_with_the_close_code_to_send) {
  const std::vector<broken> cases = {
      {"unmasked", encode_frame(fin | text, "hi", false, 0), 1002},
      {"reserved bit", masked(fin | 0x40 | text, "hi"), 1002},
      {"unknown opcode", masked(fin | 0x3, "hi"), 1002},
      {"fragmented ping", masked(ping, "x"), 1002},
      {"long ping", masked(fin | ping, std::string(126, 'x')), 1002},
      {"continuation first", masked(fin | continuation, "x"), 1002},
      {"text inside a fragmented text", masked(text, "a") + masked(fin | text, "b"), 1002},
      {"close payload of one byte", masked(fin | close, "x"), 1002},
      {"close code 1005", masked(fin | close, close_payload(1005)), 1002},
      {"close code 999", masked(fin | close, close_payload(999)), 1002},
      {"close code 2000", masked(fin | close, close_payload(2000)), 1002},
      {"invalid UTF-8 text", masked(fin | text, "\xC3\x28"), 1007},
      {"UTF-8 split across fragments, invalid", masked(text, "\xE2\x82") + masked(fin | continuation, "x"), 1007},
      {"invalid UTF-8 close reason", masked(fin | close, close_payload(1000, "\xFF")), 1007},
      {"too big in one frame", masked(fin | text, std::string(1025, 'x')), 1009},
      {"too big across fragments", masked(text, std::string(1000, 'x')) + masked(fin | continuation, std::string(25, 'x')), 1009},
  };
  for (const auto& c : cases) {
    frame_reader r(1024);
    const auto events = read_all(r, c.bytes + masked(fin | text, "after"));
    ASSERT_EQ(events.size(), 1u) << c.what;
    EXPECT_EQ(events[0].what, kind::fail) << c.what;
    EXPECT_EQ(events[0].code, c.code) << c.what;
    EXPECT_FALSE(events[0].payload.empty()) << c.what;
  }
}

TEST(frame_reader, utf8_split_across_fragments_is_valid) {
  frame_reader r(1024);
  const auto events = read_all(r, masked(text, "\xE2\x82") + masked(fin | continuation, "\xAC"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].what, kind::text);
  EXPECT_EQ(events[0].payload, "\xE2\x82\xAC");
}

TEST(frame_reader, a_64_bit_length_with_the_top_bit_set_fails_before_any_payload) {
  std::string bytes{static_cast<char>(fin | text), static_cast<char>(0x80 | 127)};
  bytes += std::string("\x80\x00\x00\x00\x00\x00\x00\x01", 8);
  bytes += std::string(4, '\x01');
  const auto e = only_event(bytes);
  EXPECT_EQ(e.what, kind::fail);
  EXPECT_EQ(e.code, 1002);
}

}  // namespace

namespace {

// What a client with permessage-deflate sends: the message deflated alone, flushed, without the
// final 00 00 FF FF (RFC 7692 7.2.1), as the server deflates what it sends.
std::string deflated(std::string_view text) {
  auto out = wshub::util::deflate_message(text);
  EXPECT_TRUE(!out.empty() || text.empty());
  return out;
}

constexpr std::uint8_t rsv1 = 0x40;

TEST(frame_reader, compressed_messages_are_marked_once_deflate_is_negotiated) {
  const std::string text = "{\"type\":\"subscribe\",\"channel\":\"news\"} " + std::string(200, 'a');
  const auto payload = deflated(text);
  frame_reader r(1024);
  r.accept_compressed();
  const auto events = read_all(r, masked(fin | rsv1 | text_op(), payload), 3);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].what, kind::text);
  EXPECT_TRUE(events[0].compressed);
  std::uint16_t code = 0;
  EXPECT_EQ(wshub::ws::inflate_message(events[0].payload, 1024, code), text);
}

TEST(frame_reader, compression_bits_where_they_may_not_be_fail_with_1002) {
  const auto payload = deflated("hello");
  EXPECT_EQ(only_event(masked(fin | rsv1 | text_op(), payload)).code, 1002);  // not negotiated
  for (const auto& bytes : {masked(rsv1 | text_op(), payload) + masked(fin | rsv1, "x"),  // on a continuation
                            masked(fin | rsv1 | ping, "p")}) {                          // on a control frame
    frame_reader r(1024);
    r.accept_compressed();
    const auto events = read_all(r, bytes);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].what, kind::fail);
    EXPECT_EQ(events[0].code, 1002);
  }
}

TEST(frame_reader, inflating_past_the_limit_is_1009_and_garbage_is_1007) {
  std::uint16_t code = 0;
  EXPECT_FALSE(wshub::ws::inflate_message(deflated(std::string(5000, 'z')), 4096, code));
  EXPECT_EQ(code, 1009);
  code = 0;
  EXPECT_FALSE(wshub::ws::inflate_message(std::string("\xff\xff\xff\xff garbage", 12), 4096, code));
  EXPECT_EQ(code, 1007);
  code = 0;
  EXPECT_EQ(wshub::ws::inflate_message(deflated(""), 4096, code), "");
}

}  // namespace
