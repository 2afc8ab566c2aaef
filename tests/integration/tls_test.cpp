// https and wss on the same port, with a self-signed certificate made by the test.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include "support/test_clients.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

class tls_test : public ::testing::Test {
 protected:
  void SetUp() override {
    cert = (dir.path() / "cert.pem").string();
    key = (dir.path() / "key.pem").string();
    const auto command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
                         " -addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert + " 2>/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << "openssl could not make a certificate";
    start();
    client_ctx.load_verify_file(cert);
    client_ctx.set_verify_mode(asio::ssl::verify_peer);
  }
  // (Re)starts the server with TLS, changed by `adjust`.
  void start(const std::function<void(app::config&)>& adjust = {}) {
    server.reset();
    auto cfg = test_config(dir.path());
    cfg.tls.cert = cert;
    cfg.tls.key = key;
    if (adjust) adjust(cfg);
    server = std::make_unique<running_app>(cfg);
  }

  // Runs the io_context for one operation, at most 10 s.
  void run(beast::error_code& ec, const std::function<void(std::function<void(beast::error_code)>)>& start) {
    bool done = false;
    start([&](beast::error_code e) {
      ec = e;
      done = true;
    });
    ioc.restart();
    ioc.run_for(std::chrono::seconds(10));
    if (!done) ec = asio::error::timed_out;
  }

  temp_dir dir;
  std::string cert, key;
  std::unique_ptr<running_app> server;
  asio::io_context ioc;
  asio::ssl::context client_ctx{asio::ssl::context::tls_client};
};

TEST_F(tls_test, https_and_wss_are_served_on_the_same_port) {
  const tcp::endpoint where(asio::ip::make_address("127.0.0.1"), server->port());
  beast::error_code ec;

  // https
  beast::ssl_stream<tcp::socket> https(ioc, client_ctx);
  https.next_layer().connect(where);
  run(ec, [&](auto done) { https.async_handshake(asio::ssl::stream_base::client, done); });
  ASSERT_FALSE(ec) << ec.message();
  beast::http::request<beast::http::empty_body> req{beast::http::verb::get, "/healthz", 11};
  req.set(beast::http::field::host, "127.0.0.1");
  run(ec, [&](auto done) { beast::http::async_write(https, req, [done](beast::error_code e, std::size_t) { done(e); }); });
  ASSERT_FALSE(ec) << ec.message();
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> res;
  run(ec, [&](auto done) { beast::http::async_read(https, buffer, res, [done](beast::error_code e, std::size_t) { done(e); }); });
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 200u);

  // wss: a socket receives a published message
  beast::websocket::stream<beast::ssl_stream<tcp::socket>> wss(ioc, client_ctx);
  beast::get_lowest_layer(wss).connect(where);
  run(ec, [&](auto done) { wss.next_layer().async_handshake(asio::ssl::stream_base::client, done); });
  ASSERT_FALSE(ec) << ec.message();
  run(ec, [&](auto done) { wss.async_handshake("127.0.0.1", "/socket/system/message", done); });
  ASSERT_FALSE(ec) << ec.message();
  // Publishing over https too: the plain helper cannot, so use the open websocket's server.
  beast::http::request<beast::http::string_body> post{beast::http::verb::post, "/api/tool/send_message", 11};
  post.set(beast::http::field::host, "127.0.0.1");
  post.set(beast::http::field::content_type, "application/x-www-form-urlencoded");
  post.body() = "message=over+tls";
  post.prepare_payload();
  run(ec, [&](auto done) { beast::http::async_write(https, post, [done](beast::error_code e, std::size_t) { done(e); }); });
  ASSERT_FALSE(ec);
  beast::http::response<beast::http::string_body> posted;
  run(ec, [&](auto done) { beast::http::async_read(https, buffer, posted, [done](beast::error_code e, std::size_t) { done(e); }); });
  ASSERT_FALSE(ec);
  EXPECT_EQ(posted.result_int(), 200u) << posted.body();
  beast::flat_buffer frame;
  run(ec, [&](auto done) { wss.async_read(frame, [done](beast::error_code e, std::size_t) { done(e); }); });
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(nlohmann::json::parse(beast::buffers_to_string(frame.data()))["message"], "over tls");
}

TEST_F(tls_test, plain_http_on_the_tls_port_gets_no_answer) {
  const auto answer = raw_exchange(server->port(), "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", std::chrono::seconds(3));
  EXPECT_EQ(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
  // And the server still serves TLS clients afterwards.
  const tcp::endpoint where(asio::ip::make_address("127.0.0.1"), server->port());
  beast::ssl_stream<tcp::socket> https(ioc, client_ctx);
  https.next_layer().connect(where);
  beast::error_code ec;
  run(ec, [&](auto done) { https.async_handshake(asio::ssl::stream_base::client, done); });
  EXPECT_FALSE(ec) << ec.message();
}

TEST_F(tls_test, a_missing_certificate_stops_the_start) {
  std::string errors;
  EXPECT_EQ(run_binary({"--tls.cert", (dir.path() / "none.pem").string(), "--tls.key", key, "--data-dir",
                        (dir.path() / "other").string(), "--listen.port", "0"},
                       &errors),
            2);
  EXPECT_NE(errors.find("tls.cert: cannot load"), std::string::npos) << errors;
  EXPECT_EQ(run_binary({"--tls.cert", cert}, &errors), 2) << "cert without key";
  EXPECT_NE(errors.find("tls."), std::string::npos) << errors;
}

// Past http.max_connections_per_ip, a TLS client gets its 429 right after the handshake, before
// it asks anything; a client that never even starts the handshake is closed after the refusal's
// 1 s deadline, not held for request_timeout (120 s here).
TEST_F(tls_test, a_refused_tls_connection_is_answered_after_the_handshake_and_closed) {
  start([](app::config& cfg) {
    cfg.http.max_connections_per_ip = 1;
    cfg.http.request_timeout = std::chrono::seconds(120);
  });
  const tcp::endpoint where(asio::ip::make_address("127.0.0.1"), server->port());
  beast::error_code ec;
  beast::ssl_stream<tcp::socket> holder(ioc, client_ctx);
  holder.next_layer().connect(where);
  run(ec, [&](auto done) { holder.async_handshake(asio::ssl::stream_base::client, done); });
  ASSERT_FALSE(ec) << ec.message();

  beast::ssl_stream<tcp::socket> refused(ioc, client_ctx);
  refused.next_layer().connect(where);
  run(ec, [&](auto done) { refused.async_handshake(asio::ssl::stream_base::client, done); });
  ASSERT_FALSE(ec) << ec.message();
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> res;
  run(ec, [&](auto done) { beast::http::async_read(refused, buffer, res, [done](beast::error_code e, std::size_t) { done(e); }); });
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 429u);
  EXPECT_EQ(nlohmann::json::parse(res.body())["code"], 10102);

  const auto started = std::chrono::steady_clock::now();
  const auto silent = raw_exchange(server->port(), "", std::chrono::seconds(60));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(silent, "");
  EXPECT_LT(seconds, 30.0) << "a silent refused TLS connection was held";
}

}  // namespace
}  // namespace wshub::test
