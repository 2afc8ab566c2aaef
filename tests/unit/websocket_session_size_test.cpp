// An idle connection's memory is mostly its session object (docs/BENCHMARKS.md, "Idle memory"):
// these bounds keep what every socket carries from growing back unnoticed. State an idle socket
// does not use (the handshake, a token, a resume, the close) belongs in objects made on demand.
#include "wshub/ws/websocket_session.hpp"

#include <gtest/gtest.h>

namespace {

using wshub::ws::plain_stream;
using wshub::ws::websocket_session;

constexpr std::size_t max_session_bytes = 384;  // 752 before the idle-memory work; 352 after
constexpr std::size_t max_reader_bytes = 48;     // frame_reader: 136 before
constexpr std::size_t max_slot_bytes = 16;       // connection_limit::slot: 40 before

static_assert(sizeof(websocket_session<plain_stream>) <= max_session_bytes);
static_assert(sizeof(wshub::ws::frame_reader) <= max_reader_bytes);
static_assert(sizeof(wshub::hub::connection_limit::slot) <= max_slot_bytes);

TEST(websocket_session_size, a_plain_session_stays_within_its_stated_bound) {
  EXPECT_LE(sizeof(websocket_session<plain_stream>), max_session_bytes);
  EXPECT_LE(sizeof(wshub::ws::frame_reader), max_reader_bytes);
  EXPECT_LE(sizeof(wshub::hub::connection_limit::slot), max_slot_bytes);
}

}  // namespace
