// https and wss on the same port, with a self-signed certificate made by the test.
#include <gtest/gtest.h>

#include <cstdlib>

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
    auto cfg = test_config(dir.path());
    cfg.tls.cert = cert;
    cfg.tls.key = key;
    server = std::make_unique<running_app>(cfg);
    client_ctx.load_verify_file(cert);
    client_ctx.set_verify_mode(asio::ssl::verify_peer);
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

}  // namespace
}  // namespace wshub::test
