#include "wshub/hub/frame.hpp"

#include <thread>

#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wshub/ws/frame_buffers.hpp"
#include "wshub/ws/frame_reader.hpp"

namespace {

using json = nlohmann::json;
using wshub::hub::message;

// 2024-06-15 12:34:56.789 UTC
constexpr std::int64_t sample_ts = 1718454896789;

message sample(std::string body = "hello") {
  message m;
  m.id = 42;
  m.ts_ms = sample_ts;
  m.channels = {"news"};
  m.username = "system";
  m.body = std::move(body);
  return m;
}

TEST(frame, message_json_has_exactly_the_six_fields) {
  const auto j = json::parse(wshub::hub::encode_message_json(sample()));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 6u);
  ASSERT_TRUE(j["id"].is_number_unsigned());
  EXPECT_EQ(j["id"].get<std::uint64_t>(), 42u);
  ASSERT_TRUE(j["channel"].is_string());
  EXPECT_EQ(j["channel"], "news");
  ASSERT_TRUE(j["username"].is_string());
  EXPECT_EQ(j["username"], "system");
  ASSERT_TRUE(j["message"].is_string());
  EXPECT_EQ(j["message"], "hello");
  ASSERT_TRUE(j["time"].is_string());
  EXPECT_EQ(j["time"], wshub::hub::format_local_time(sample_ts));
  ASSERT_TRUE(j["ts"].is_number_integer());
  EXPECT_EQ(j["ts"].get<std::int64_t>(), sample_ts);
}

TEST(frame, time_is_local_date_and_time_to_the_second) {
  const auto time = wshub::hub::format_local_time(sample_ts);
  EXPECT_TRUE(std::regex_match(time, std::regex(R"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})"))) << time;
  EXPECT_EQ(time.substr(0, 8), "2024-06-");  // whatever the time zone, still mid June 2024
  EXPECT_EQ(time.substr(17), "56");          // zones differ by whole minutes
  // Milliseconds are dropped, not rounded.
  EXPECT_EQ(wshub::hub::format_local_time(sample_ts - 789), time);
  EXPECT_EQ(wshub::hub::format_local_time(sample_ts + 210), time);
  EXPECT_NE(wshub::hub::format_local_time(sample_ts + 211), time);
}

TEST(frame, special_characters_are_escaped) {
  const std::string body = "say \"hi\"\nnext line\t<script>&\\ \x01 caf\xC3\xA9";
  const auto text = wshub::hub::encode_message_json(sample(body));
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(text.find('\x01'), std::string::npos);
  EXPECT_NE(text.find(R"(say \"hi\"\nnext line\t)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(\\)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(\u0001)"), std::string::npos) << text;
  // JSON needs no escape for '<' (the page renders with textContent); it must survive exactly.
  EXPECT_EQ(json::parse(text)["message"], body);
}

TEST(frame, several_channels_add_a_channels_field) {
  auto m = sample();
  m.channels = {"news", "sports"};
  const auto j = json::parse(wshub::hub::encode_message_json(m));
  EXPECT_EQ(j.size(), 7u);
  EXPECT_EQ(j["channel"], "news");
  EXPECT_EQ(j["channels"], json::array({"news", "sports"}));
}

TEST(frame, make_frame_keeps_id_channels_and_targets) {
  auto m = sample();
  m.to_user = "alice";
  const auto f = wshub::hub::make_frame(m);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->id, 42u);
  EXPECT_EQ(f->channels, std::vector<std::string>{"news"});
  EXPECT_EQ(f->to_user, "alice");
  EXPECT_EQ(f->to_conn, 0u);
  EXPECT_EQ(f->text(), wshub::hub::encode_message_json(m));
}

TEST(frame, v1_text_is_the_same_object_with_type_first) {
  const auto f = wshub::hub::make_frame(sample("say \"hi\""));
  EXPECT_TRUE(f->text_v1().starts_with(R"({"type":"message",)")) << f->text_v1();
  auto v1 = json::parse(f->text_v1());
  EXPECT_EQ(v1["type"], "message");
  v1.erase("type");
  EXPECT_EQ(v1, json::parse(f->text()));
}

TEST(frame, control_frame_has_one_text_for_both_protocols) {
  const auto f = wshub::hub::make_control_frame(R"({"type":"welcome"})");
  EXPECT_EQ(f->id, 0u);
  EXPECT_EQ(f->text(), R"({"type":"welcome"})");
  EXPECT_EQ(f->text_v1(), f->text());
  EXPECT_TRUE(f->channels.empty());
}

TEST(frame, frame_header_uses_the_shortest_length_form) {
  using wshub::hub::make_frame_header;
  const auto small = make_frame_header(125);
  ASSERT_EQ(small.size, 2);
  EXPECT_EQ(small.bytes[0], 0x81);  // FIN, text
  EXPECT_EQ(small.bytes[1], 125);   // no mask bit
  const auto medium = make_frame_header(126);
  ASSERT_EQ(medium.size, 4);
  EXPECT_EQ(medium.bytes[1], 126);
  EXPECT_EQ(medium.bytes[2], 0);
  EXPECT_EQ(medium.bytes[3], 126);
  const auto top16 = make_frame_header(65535);
  ASSERT_EQ(top16.size, 4);
  EXPECT_EQ(top16.bytes[2], 0xFF);
  EXPECT_EQ(top16.bytes[3], 0xFF);
  const auto large = make_frame_header(65536);
  ASSERT_EQ(large.size, 10);
  EXPECT_EQ(large.bytes[1], 127);
  for (int i = 2; i < 7; ++i) EXPECT_EQ(large.bytes[i], 0) << i;
  EXPECT_EQ(large.bytes[7], 1);
  EXPECT_EQ(large.bytes[8], 0);
  EXPECT_EQ(large.bytes[9], 0);
}

TEST(frame, frames_carry_the_headers_of_both_texts) {
  const auto f = wshub::hub::make_frame(sample(std::string(300, 'x')));
  const auto h = wshub::hub::make_frame_header(f->text().size());
  const auto h1 = wshub::hub::make_frame_header(f->text_v1().size());
  EXPECT_EQ(f->header.size, h.size);
  EXPECT_EQ(f->header.bytes, h.bytes);
  EXPECT_EQ(f->header_v1.bytes, h1.bytes);
  const auto c = wshub::hub::make_control_frame(R"({"type":"welcome"})");
  EXPECT_EQ(c->header.size, 2);
  EXPECT_EQ(c->header.bytes[1], c->text().size());
}


// What the frames held when they were built with nlohmann/json (a tree per message, then dump):
// the hand-written encoder must give the same bytes.
std::string reference_json(const message& m) {
  json j = {{"id", m.id},
            {"channel", m.channels.empty() ? std::string() : m.channels.front()},
            {"username", m.username},
            {"message", m.body},
            {"time", wshub::hub::format_local_time(m.ts_ms)},
            {"ts", m.ts_ms}};
  if (m.channels.size() > 1) j["channels"] = m.channels;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

TEST(frame, the_text_is_byte_for_byte_what_nlohmann_json_writes) {
  std::vector<message> cases;
  for (std::string body : {std::string("hello"), std::string("say \"hi\"\nnext\tline\\ \x01\x1f\x7f caf\xC3\xA9 \xF0\x9F\x98\x80"),
                           std::string("\b\f\r/"), std::string(70'000, 'x'), std::string("bad \xC3 utf-8 \xFF end")})
    cases.push_back(sample(body));
  auto several = sample("two");
  several.channels = {"news", "sport", "a.b-c_d"};
  several.username = "key \"one\"";
  several.id = 18446744073709551615ull;
  several.ts_ms = 0;
  cases.push_back(several);
  auto targeted = sample("private");
  targeted.to_conn = 7;
  cases.push_back(targeted);
  for (const auto& m : cases) {
    const auto expected = reference_json(m);
    EXPECT_EQ(wshub::hub::encode_message_json(m), expected);
    const auto f = wshub::hub::make_frame(m);
    EXPECT_EQ(f->text(), expected);
    EXPECT_EQ(f->text_v1(), R"({"type":"message",)" + expected.substr(1));
    EXPECT_EQ(f->data.size(), f->data.capacity()) << "one allocation of the exact size";
  }
}

TEST(frame, a_character_to_escape_is_escaped_at_every_position_of_a_long_text) {
  // The encoder skips plain runs eight bytes at a time: each escape must be found wherever it is.
  for (const std::string special : {"\"", "\\", "\n", "\x01", "\x1f", "\x7f", "\xC3\xA9", "/"}) {
    for (std::size_t at = 0; at < 20; ++at) {
      std::string body(20, 'p');
      body.replace(at, 1, special);
      const auto m = sample(body);
      EXPECT_EQ(wshub::hub::encode_message_json(m), reference_json(m)) << "at " << at;
    }
  }
}

TEST(frame, a_cached_time_is_the_time_of_its_own_second) {
  // One second's text is kept per thread: asking for another second, then the first again,
  // gives each its own.
  const auto a = wshub::hub::format_local_time(sample_ts);
  const auto b = wshub::hub::format_local_time(sample_ts + 1000);
  EXPECT_NE(a, b);
  EXPECT_EQ(wshub::hub::format_local_time(sample_ts), a);
  EXPECT_EQ(b.substr(17), "57");
}

TEST(frame, deflated_forms_inflate_to_the_texts_and_are_made_once) {
  const auto f = wshub::hub::make_frame(sample(std::string(2000, 'x') + "\u00fc"));
  const wshub::hub::deflated_payload* seen[4] = {};
  std::thread a([&] { seen[0] = f->deflated(false); seen[1] = f->deflated(true); });
  std::thread b([&] { seen[2] = f->deflated(false); seen[3] = f->deflated(true); });
  a.join();
  b.join();
  EXPECT_EQ(seen[0], seen[2]) << "one deflated form shared by every caller";
  EXPECT_EQ(seen[1], seen[3]);
  for (const bool v1 : {false, true}) {
    const auto* d = f->deflated(v1);
    ASSERT_NE(d, nullptr);
    ASSERT_TRUE(d->smaller);
    EXPECT_LT(d->bytes.size(), 200u) << "2 KB of JSON that repeats one letter";
    EXPECT_EQ(d->header.bytes[0], 0xC1) << "FIN, RSV1 and the text opcode";
    const auto plain = wshub::hub::make_frame_header(d->bytes.size());
    EXPECT_EQ(d->header.size, plain.size);
    EXPECT_EQ(d->header.bytes[1], plain.bytes[1]);
    std::uint16_t code = 0;
    const auto inflated = wshub::ws::inflate_message(d->bytes, 1 << 20, code);
    ASSERT_TRUE(inflated) << code;
    EXPECT_EQ(*inflated, v1 ? f->text_v1() : f->text());
  }
}

TEST(frame, sockets_get_deflated_bytes_only_above_their_threshold_and_when_smaller) {
  const auto big = wshub::hub::make_frame(sample(std::string(1000, 'y')));
  const auto w = wshub::ws::wire_form(*big, false, 256);
  EXPECT_EQ(w.header->bytes[0], 0xC1);
  EXPECT_EQ(w.payload, big->deflated(false)->bytes);
  EXPECT_EQ(wshub::ws::wire_form(*big, false, wshub::ws::never_deflate).payload, big->text());
  EXPECT_EQ(wshub::ws::wire_form(*big, true, 5000).payload, big->text_v1()) << "below the threshold";
  const auto control = wshub::hub::make_control_frame(std::string(1000, 'z'));
  EXPECT_EQ(control->deflated(false), nullptr);
  EXPECT_EQ(wshub::ws::wire_form(*control, false, 0).payload, control->text()) << "control frames go out as they are";
}

}  // namespace
