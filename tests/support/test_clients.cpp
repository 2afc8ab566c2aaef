#include "support/test_clients.hpp"

#include <algorithm>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "support/run_with_timeout.hpp"

namespace wshub::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

tcp::socket connect(asio::io_context& ioc, std::uint16_t port, int receive_buffer = 0,
                    const std::string& source_address = {}) {
  tcp::socket s(ioc);
  s.open(tcp::v4());
  if (receive_buffer > 0) s.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
  if (!source_address.empty()) s.bind(tcp::endpoint(asio::ip::make_address(source_address), 0));
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

http_reply http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body, const std::map<std::string, std::string>& headers) {
  asio::io_context ioc;
  auto s = connect(ioc, port);
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  if (!body.empty() || method == "POST") req.prepare_payload();
  bhttp::write(s, req);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (method == "HEAD") parser.skip(true);
  const auto ec = run_with_timeout(ioc, s, std::chrono::seconds(10), [&](auto done) { bhttp::async_read(s, buffer, parser, done); });
  if (ec) throw boost::system::system_error(ec, "reading the HTTP response");
  http_reply reply;
  const auto& res = parser.get();
  reply.status = static_cast<int>(res.result_int());
  for (const auto& f : res) reply.headers[lower(std::string(f.name_string()))] = std::string(f.value());
  reply.body = res.body();
  return reply;
}

http_reply publish_form(std::uint16_t port, const std::string& message, const std::string& channel) {
  auto escape = [](const std::string& text) {
    std::string out;
    for (unsigned char c : text) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
      else {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%%%02X", c);
        out += hex;
      }
    }
    return out;
  };
  std::string body = "message=" + escape(message);
  if (!channel.empty()) body += "&channel=" + escape(channel);
  return http_request(port, "POST", "/api/tool/send_message", body,
                      {{"Content-Type", "application/x-www-form-urlencoded"}});
}

std::string raw_exchange(std::uint16_t port, const std::string& bytes, std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  auto s = connect(ioc, port);
  boost::system::error_code ec;
  asio::write(s, asio::buffer(bytes), ec);
  std::string out;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    std::size_t n = 0;
    ec = run_with_timeout(ioc, s, left, [&](auto done) {
      s.async_read_some(asio::buffer(buf), [&n, done](boost::system::error_code e, std::size_t got) {
        n = got;
        done(e, got);
      });
    });
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

ws_client::ws_client(std::uint16_t port) : ws_client(port, options{}) {}

ws_client::ws_client(std::uint16_t port, const options& opts) {
  timeout_ = opts.timeout;
  ws_ = std::make_unique<beast::websocket::stream<tcp::socket>>(
      connect(ioc_, port, opts.receive_buffer, opts.source_address));
  if (opts.deflate) {
    beast::websocket::permessage_deflate pmd;
    pmd.client_enable = true;
    ws_->set_option(pmd);
  }
  ws_->set_option(beast::websocket::stream_base::decorator([headers = opts.headers](beast::websocket::request_type& req) {
    for (const auto& [k, v] : headers) req.set(k, v);
  }));
  beast::websocket::response_type res;
  const auto ec = run_with_timeout(ioc_, ws_->next_layer(), timeout_, [&](auto done) {
    ws_->async_handshake(res, "127.0.0.1:" + std::to_string(port), opts.target, done);
  });
  if (ec) throw boost::system::system_error(ec, "WebSocket handshake");
  subprotocol_ = std::string(res[bhttp::field::sec_websocket_protocol]);
}

ws_client::~ws_client() {
  boost::system::error_code ec;
  ws_->next_layer().close(ec);
}

std::optional<std::string> ws_client::read() {
  beast::flat_buffer buffer;
  const auto ec = run_with_timeout(ioc_, ws_->next_layer(), timeout_, [&](auto done) { ws_->async_read(buffer, done); });
  if (ec) return std::nullopt;
  return beast::buffers_to_string(buffer.data());
}

void ws_client::send_text(const std::string& text) {
  ws_->text(true);
  ws_->write(asio::buffer(text));
}

void ws_client::send_binary(const std::string& bytes) {
  ws_->binary(true);
  ws_->write(asio::buffer(bytes));
}

void ws_client::close() {
  boost::system::error_code ec;
  ws_->close(beast::websocket::close_code::normal, ec);
}

std::size_t ws_client::bytes_waiting() { return ws_->next_layer().available(); }

int ws_client::close_code() const { return static_cast<int>(ws_->reason().code); }
std::string ws_client::close_reason() const { return std::string(ws_->reason().reason.c_str()); }

int try_upgrade(std::uint16_t port, const std::map<std::string, std::string>& headers, const std::string& target) {
  asio::io_context ioc;
  auto s = connect(ioc, port);
  std::string req = "GET " + target + " HTTP/1.1\r\n";
  if (!headers.contains("Host")) req += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  req += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  req += "\r\n";
  asio::write(s, asio::buffer(req));
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  const auto ec = run_with_timeout(ioc, s, std::chrono::seconds(10), [&](auto done) { bhttp::async_read_header(s, buffer, parser, done); });
  if (ec) throw boost::system::system_error(ec, "reading the upgrade response");
  return static_cast<int>(parser.get().result_int());
}

nlohmann::json next_json(ws_client& c) {
  const auto text = c.read();
  if (!text) throw std::runtime_error("no frame arrived");
  return nlohmann::json::parse(*text);
}

std::unique_ptr<ws_client> v1_client(std::uint16_t port, const std::string& query, nlohmann::json* welcome) {
  ws_client::options o;
  o.target = "/socket/system/message" + query;
  o.headers["Sec-WebSocket-Protocol"] = "wshub.v1";
  auto c = std::make_unique<ws_client>(port, o);
  const auto first = next_json(*c);
  if (first.value("type", "") != "welcome") throw std::runtime_error("expected a welcome frame, got " + first.dump());
  if (welcome) *welcome = first;
  return c;
}

}  // namespace wshub::test
