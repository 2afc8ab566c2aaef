#pragma once
// Real clients over loopback for the integration tests: HTTP requests and WebSocket sockets,
// each with a receive timeout so a broken server fails a test instead of hanging it.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <nlohmann/json.hpp>

namespace wshub::test {

struct http_reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// One request on a fresh connection. Throws on connection errors.
http_reply http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body = {}, const std::map<std::string, std::string>& headers = {});
// POST /api/tool/send_message with the form field message (and channel when given).
http_reply publish_form(std::uint16_t port, const std::string& message, const std::string& channel = {});

// Sends raw bytes and returns everything the server answers until it closes or `timeout`.
std::string raw_exchange(std::uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));

class ws_client {
 public:
  struct options {
    std::string target = "/socket/system/message";
    std::map<std::string, std::string> headers;  // e.g. Origin, Sec-WebSocket-Protocol
    int receive_buffer = 0;                      // SO_RCVBUF before connect; 0: default
    std::string source_address;                  // bind to this loopback address first (e.g. 127.0.0.2)
    bool deflate = false;                        // offer permessage-deflate and compress what is sent
    std::chrono::milliseconds timeout = std::chrono::seconds(10);
  };
  // Connects and upgrades; throws boost::system::system_error when the upgrade fails (the
  // status of a refused upgrade is in handshake_status()).
  explicit ws_client(std::uint16_t port);
  ws_client(std::uint16_t port, const options& opts);
  ~ws_client();

  // The next text message, or nullopt when the socket closed or timed out (a timeout leaves the
  // socket unusable).
  std::optional<std::string> read();
  // Bytes the kernel has received for this socket that no read() has taken yet (what the
  // server has written so far), without waiting.
  std::size_t bytes_waiting();
  void send_text(const std::string& text);
  void send_binary(const std::string& bytes);
  void close();
  // The close code the server sent (0 if none yet).
  int close_code() const;
  std::string close_reason() const;
  std::string subprotocol() const { return subprotocol_; }

 private:
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::beast::websocket::stream<boost::asio::ip::tcp::socket>> ws_;
  std::string subprotocol_;
  std::chrono::milliseconds timeout_;
};

// The next text message parsed as JSON; throws when none arrives.
nlohmann::json next_json(ws_client& c);
// A socket that negotiated wshub.v1 on /socket/system/message + `query`; its welcome frame is
// read (and returned through `welcome`); throws when the first frame is not a welcome.
std::unique_ptr<ws_client> v1_client(std::uint16_t port, const std::string& query = "",
                                     nlohmann::json* welcome = nullptr);

// An upgrade attempt that returns the HTTP status the server answered (101 on success). Host is
// 127.0.0.1:<port> unless `headers` name one.
int try_upgrade(std::uint16_t port, const std::map<std::string, std::string>& headers,
                const std::string& target = "/socket/system/message");

}  // namespace wshub::test
