// WebSocket sessions end to end: queues, close codes, origins, subprotocols, limits.
#include <gtest/gtest.h>

#include <thread>

#include <boost/system/system_error.hpp>
#include <nlohmann/json.hpp>

#include "support/test_clients.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;

class websocket_test : public ::testing::Test {
 protected:
  void start(const std::function<void(app::config&)>& adjust = {}) {
    auto cfg = test_config(dir.path());
    if (adjust) adjust(cfg);
    server = std::make_unique<running_app>(cfg);
  }
  std::uint16_t port() const { return server->port(); }

  temp_dir dir;
  std::unique_ptr<running_app> server;
};

TEST_F(websocket_test, a_client_that_never_reads_is_closed_as_slow_while_others_get_everything) {
  start([](app::config& cfg) {
    cfg.websocket.max_queue_bytes = 256 * 1024;
    cfg.publish.max_message_bytes = 64 * 1024;
    cfg.websocket.close_timeout = std::chrono::seconds(120);  // the close frame waits for the reader
  });
  ws_client::options slow_options;
  slow_options.receive_buffer = 4096;
  ws_client slow(port(), slow_options);
  ws_client fast(port());

  constexpr int messages = 400;  // 400 x 60 KiB: far past the socket buffers and the queue limit
  const std::string payload(60 * 1024, 'p');
  std::vector<std::string> received;
  std::thread reader([&] {
    for (int i = 0; i < messages; ++i) {
      auto frame = fast.read();
      if (!frame) return;
      received.push_back(std::move(*frame));
    }
  });
  for (int i = 0; i < messages; ++i) ASSERT_EQ(publish_form(port(), std::to_string(i) + payload).status, 200);
  reader.join();

  ASSERT_EQ(received.size(), static_cast<std::size_t>(messages)) << "the fast client missed messages";
  for (int i = 0; i < messages; ++i)
    EXPECT_EQ(json::parse(received[i])["message"], std::to_string(i) + payload) << "out of order at " << i;
  EXPECT_EQ(server->get().counters().slow_consumer_closes.load(), 1u);

  // The slow client finally reads: what was in flight, then the close frame with 1008.
  while (slow.read()) {
  }
  EXPECT_EQ(slow.close_code(), 1008);
  EXPECT_EQ(slow.close_reason(), "slow consumer");
}

TEST_F(websocket_test, cross_site_origins_are_refused_and_allowed_ones_accepted) {
  start([](app::config& cfg) { cfg.websocket.allowed_origins = {"https://app.example.com", "https://localhost"}; });
  const std::string self = "http://127.0.0.1:" + std::to_string(port());
  EXPECT_EQ(try_upgrade(port(), {}), 101) << "no Origin: not a browser, allowed";
  EXPECT_EQ(try_upgrade(port(), {{"Origin", self}}), 101) << "same host";
  EXPECT_EQ(try_upgrade(port(), {{"Origin", "https://app.example.com"}}), 101) << "allow-listed";
  EXPECT_EQ(try_upgrade(port(), {{"Origin", "http://evil.example"}}), 403);
  EXPECT_EQ(try_upgrade(port(), {{"Origin", "https://localhost.attacker.tld"}}), 403);
  EXPECT_EQ(try_upgrade(port(), {{"Origin", "http://app.example.com"}}), 403) << "scheme must match";
  EXPECT_EQ(try_upgrade(port(), {{"Origin", "null"}}), 403);
  EXPECT_EQ(server->get().counters().refusal_count(hub::refusal_reason::origin), 4u);
}

TEST_F(websocket_test, a_refused_upgrade_answers_json) {
  start();
  const auto reply = http_request(port(), "GET", "/socket/system/message", "",
                                  {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Version", "13"},
                                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}, {"Origin", "http://evil.example"}});
  EXPECT_EQ(reply.status, 403);
  EXPECT_EQ(json::parse(reply.body)["code"], 10120);
}

TEST_F(websocket_test, the_upgrade_happens_only_on_the_socket_path) {
  start();
  EXPECT_EQ(try_upgrade(port(), {}, "/other"), 404);
  EXPECT_EQ(try_upgrade(port(), {}, "/socket/system/message?channel=system"), 101);
}

TEST_F(websocket_test, binary_frames_close_with_1003) {
  start();
  ws_client c(port());
  c.send_binary("\x01\x02");
  EXPECT_FALSE(c.read());
  EXPECT_EQ(c.close_code(), 1003);
}

TEST_F(websocket_test, oversized_inbound_messages_close_with_1009) {
  start([](app::config& cfg) { cfg.websocket.max_message_size = 1024; });
  ws_client c(port());
  c.send_text(std::string(2048, 'a'));
  EXPECT_FALSE(c.read());
  EXPECT_EQ(c.close_code(), 1009);
}

TEST_F(websocket_test, the_configured_subprotocol_is_negotiated) {
  start();
  ws_client::options with;
  with.headers["Sec-WebSocket-Protocol"] = "chat, wshub.v1";
  EXPECT_EQ(ws_client(port(), with).subprotocol(), "wshub.v1");
  ws_client::options unknown;
  unknown.headers["Sec-WebSocket-Protocol"] = "chat";
  EXPECT_EQ(ws_client(port(), unknown).subprotocol(), "");
}

TEST_F(websocket_test, compression_is_negotiated_when_enabled) {
  start([](app::config& cfg) { cfg.websocket.compression = true; });
  const auto reply = raw_exchange(port(),
                                  "GET /socket/system/message HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                                  std::chrono::milliseconds(500));
  EXPECT_NE(reply.find("Sec-WebSocket-Extensions: permessage-deflate"), std::string::npos) << reply;
  // Each client message is compressed alone, so no inflater is kept per socket.
  EXPECT_NE(reply.find("client_no_context_takeover"), std::string::npos) << reply;
}

// A client that compresses what it sends: its commands are inflated and answered, message after
// message; a compressed text that is not UTF-8 once inflated closes the socket with 1007.
TEST_F(websocket_test, compressed_commands_are_inflated_and_answered) {
  start([](app::config& cfg) { cfg.websocket.compression = true; });
  ws_client::options opts;
  opts.deflate = true;
  opts.headers["Sec-WebSocket-Protocol"] = "wshub.v1";
  ws_client c(port(), opts);
  ASSERT_EQ(next_json(c)["type"], "welcome");
  for (int i = 0; i < 3; ++i) {
    const std::string channel = "room" + std::to_string(i) + std::string(100, 'x');
    c.send_text(json{{"type", "subscribe"}, {"channel", channel.substr(0, 64)}, {"ref", i}}.dump());
    const auto ack = next_json(c);
    EXPECT_EQ(ack["type"], "ack");
    EXPECT_EQ(ack["ref"], i);
    EXPECT_EQ(ack["channel"], channel.substr(0, 64));
  }
  c.send_text(std::string("{\"type\":\"ping\",\"ref\":\"\xC3\x28\"}"));
  EXPECT_FALSE(c.read());
  EXPECT_EQ(c.close_code(), 1007);
}

TEST_F(websocket_test, connections_past_the_limit_are_refused) {
  start([](app::config& cfg) { cfg.http.max_connections = 2; });
  ws_client a(port()), b(port());
  EXPECT_THROW(ws_client{port()}, boost::system::system_error);
  EXPECT_GE(server->get().counters().refusal_count(hub::refusal_reason::connection_limit), 1u);
  a.close();
  // The slot frees when the session ends; a new client then gets in.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool connected = false;
  while (!connected && std::chrono::steady_clock::now() < deadline) {
    try {
      ws_client c(port());
      connected = true;
    } catch (const boost::system::system_error&) {
    }
  }
  EXPECT_TRUE(connected);
}

TEST_F(websocket_test, a_slowloris_request_is_cut_after_the_request_timeout) {
  start([](app::config& cfg) { cfg.http.request_timeout = std::chrono::seconds(1); });
  const auto started = std::chrono::steady_clock::now();
  // Half a request, never finished: the server must hang up by itself.
  const auto answer = raw_exchange(port(), "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ", std::chrono::seconds(10));
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(answer, "");
  EXPECT_LT(waited, std::chrono::seconds(5)) << "the half request was held open";
}

}  // namespace
}  // namespace wshub::test
