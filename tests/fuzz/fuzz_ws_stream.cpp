// The bytes a client can send to a real server: wshub runs in this process on 127.0.0.1:0 and
// every input is played on a fresh loopback connection.
//
// Input: the first byte picks the mode. 'r': the rest goes out raw (HTTP, upgrades, frames, junk).
// Otherwise the client upgrades (wshub.v1 when the mode byte is odd) to
// /socket/system/message?<first line>, then the rest is a list of frames, each
//   [byte 0: FIN, RSV1-3 and opcode, sent as is]
//   [byte 1: bit 7 set = unmasked; bits 0-6 = length, 126: 2 bytes follow, 127: 2 bytes x 16 follow]
//   [the payload, cut to what is left]
// and sent masked with the key 0 (so the payload bytes are what the server reads) unless bit 7
// says otherwise. The client then half-closes and reads until the server closes.
//
// Properties: no crash or sanitizer report in the server; the server ends the session by itself
// once the client is done; what it sends is well-formed: an HTTP error is JSON with a code; after
// a 101, unmasked frames whose text messages are JSON objects, a close code from the documented
// set, and nothing after the close frame.
#include <cstdlib>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "support/ws_frame.hpp"
#include "wshub/app/app.hpp"
#include "wshub/app/config.hpp"

namespace {

using wshub::fuzz::require;
using json = nlohmann::json;

constexpr auto session_deadline = std::chrono::seconds(20);

struct server {
  std::string dir;
  std::unique_ptr<wshub::app::app> app;
  std::uint16_t port = 0;

  server() {
    std::string pattern = (std::filesystem::temp_directory_path() / "wshub-fuzz-XXXXXX").string();
    require(mkdtemp(pattern.data()) != nullptr, "mkdtemp");
    dir = pattern;
    wshub::app::config cfg;
    cfg.listen.port = 0;
    cfg.data_dir = dir;
    cfg.io_threads = 2;
    cfg.log.level = "off";
    cfg.store.synchronous = "normal";
    cfg.store.retention_count = 1000;
    cfg.websocket.close_timeout = std::chrono::seconds(2);
    cfg.websocket.handshake_timeout = std::chrono::seconds(5);
    cfg.websocket.max_message_size = 16 * 1024;
    cfg.websocket.max_queue_bytes = 64 * 1024;
    cfg.websocket.compression = true;  // a client may offer permessage-deflate
    cfg.http.request_timeout = std::chrono::seconds(5);
    app = std::make_unique<wshub::app::app>(cfg);
    app->start();
    port = app->endpoint().port();
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(instance().dir, ignored);
    });
  }
  static server& instance() {
    static auto* s = new server();  // never destroyed: its threads run until the process ends
    return *s;
  }
};

int connect_to(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  require(fd >= 0, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  require(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "the server accepts connections");
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Sends while reading what comes back, so neither side's buffers can block the other.
class connection {
 public:
  explicit connection(std::uint16_t port) : fd_(connect_to(port)) {}
  ~connection() { close(fd_); }

  void send(std::string_view bytes) {
    while (!bytes.empty() && !peer_gone_) {
      pollfd p{fd_, POLLIN | POLLOUT, 0};
      require(poll(&p, 1, 10000) > 0, "the server keeps reading or closes");
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) receive_some();
      if (p.revents & POLLOUT) {
        const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) peer_gone_ = true;  // reset by the server: it refused the rest
        else bytes.remove_prefix(static_cast<std::size_t>(n));
      }
    }
  }
  // Half-closes, then reads until the server closes; false if it kept the connection open.
  bool finish() {
    shutdown(fd_, SHUT_WR);
    const auto deadline = std::chrono::steady_clock::now() + session_deadline;
    while (!eof_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      receive_some();
    }
    return true;
  }
  const std::string& received() const { return in_; }

 private:
  void receive_some() {
    char buf[16384];
    const auto n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) in_.append(buf, static_cast<std::size_t>(n));
    else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) eof_ = peer_gone_ = true;
  }

  int fd_;
  std::string in_;
  bool eof_ = false;
  bool peer_gone_ = false;
};

std::string frames_from(std::string_view input) {
  std::string out;
  std::size_t i = 0;
  while (i + 2 <= input.size()) {
    const auto first = static_cast<std::uint8_t>(input[i]);
    const auto second = static_cast<std::uint8_t>(input[i + 1]);
    i += 2;
    std::size_t n = second & 0x7F;
    if (n >= 126 && i + 2 <= input.size()) {
      n = (static_cast<std::uint8_t>(input[i]) << 8) | static_cast<std::uint8_t>(input[i + 1]);
      if ((second & 0x7F) == 127) n *= 16;
      i += 2;
    }
    n = std::min(n, input.size() - i);
    out += wshub::test::encode_frame(first, input.substr(i, n), !(second & 0x80), 0);  // key 0: payload as it is
    i += n;
  }
  return out;
}

// The first HTTP answer: a whole header, and a JSON body with a code when it is an error.
// Returns the bytes after the header; `upgraded` says whether it was a 101.
std::string_view check_http_response(std::string_view in, bool head, bool& upgraded) {
  upgraded = false;
  const auto end = in.find("\r\n\r\n");
  require(end != std::string_view::npos, "the server answers with a whole HTTP header");
  require(in.rfind("HTTP/1.1 ", 0) == 0 || in.rfind("HTTP/1.0 ", 0) == 0, "the answer is HTTP");
  const int status = std::atoi(std::string(in.substr(9, 3)).c_str());
  upgraded = status == 101;
  if (status >= 400 && !head) {  // an answer to HEAD has no body
    // The body is Content-Length bytes (a pipelined answer may follow, and a message may itself
    // say "HTTP/1.1").
    const auto header = in.substr(0, end);
    const auto at = header.find("\r\nContent-Length: ");
    require(at != std::string_view::npos, "an HTTP error has a Content-Length");
    const auto length = std::strtoul(std::string(header.substr(at + 18, 12)).c_str(), nullptr, 10);
    const auto doc = json::parse(in.substr(end + 4, length), nullptr, false);
    require(doc.is_object() && doc.contains("code") && doc.contains("message"), "an HTTP error is JSON with a code");
  }
  return in.substr(end + 4);
}

bool documented_close_code(int code) {
  switch (code) {
    case 1000: case 1001: case 1002: case 1003: case 1007: case 1008: case 1009: case 1011: case 4001:
      return true;
    default:
      return false;
  }
}

// The server's frames after a 101.
void check_frames(std::string_view in) {
  std::string message;
  bool in_message = false, compressed = false, closed = false;
  std::size_t i = 0;
  while (i + 2 <= in.size()) {
    require(!closed, "nothing follows the server's close frame");
    const auto b0 = static_cast<std::uint8_t>(in[i]), b1 = static_cast<std::uint8_t>(in[i + 1]);
    i += 2;
    require((b1 & 0x80) == 0, "server frames are not masked");
    std::size_t n = b1 & 0x7F;
    if (n == 126 || n == 127) {
      const std::size_t bytes = n == 126 ? 2 : 8;
      if (i + bytes > in.size()) return;  // cut by the end of the session
      n = 0;
      for (std::size_t k = 0; k < bytes; ++k) n = (n << 8) | static_cast<std::uint8_t>(in[i + k]);
      i += bytes;
    }
    if (i + n > in.size()) return;
    const auto payload = in.substr(i, n);
    i += n;
    const int opcode = b0 & 0x0F;
    const bool fin = b0 & 0x80;
    switch (opcode) {
      case 0x1:
      case 0x0:
        require((opcode == 0x1) != in_message, "continuations follow a started message");
        if (opcode == 0x1) compressed = (b0 & 0x40) != 0;  // permessage-deflate: not inflated here
        message.append(payload);
        in_message = !fin;
        if (fin && !compressed && !message.empty()) {
          const auto doc = json::parse(message, nullptr, false);
          require(doc.is_object(), "the server's text messages are JSON objects");
        }
        if (fin) message.clear();
        break;
      case 0x8:
        closed = true;
        if (payload.size() >= 2)
          require(documented_close_code((static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1])),
                  "the close code is a documented one");
        break;
      case 0x9:
      case 0xA:
        require(fin && n <= 125, "control frames are whole and short");
        break;
      default:
        require(false, "the server sends only text and control frames");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& s = server::instance();
  if (size == 0 || size > 256 * 1024) return 0;
  auto input = wshub::fuzz::as_text(data, size);
  const char mode = input[0];
  input.remove_prefix(1);

  connection c(s.port);
  bool upgrading = mode != 'r';
  if (!upgrading) {
    c.send(input);
  } else {
    const auto query = wshub::fuzz::take_line(input);
    std::string req = "GET /socket/system/message?" + std::string(query.substr(0, 1024)) +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    if (mode & 1) req += "Sec-WebSocket-Protocol: wshub.v1\r\n";
    if (mode & 2) req += "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    req += "\r\n";
    c.send(req + frames_from(input));
  }
  require(c.finish(), "the server ends the session once the client is done");

  std::string_view in = c.received();
  if (in.empty()) return 0;  // cut before answering (e.g. a reset): nothing to check
  bool upgraded = false;
  const bool head = !upgrading && input.rfind("HEAD", 0) == 0;
  const auto after = check_http_response(in, head, upgraded);
  if (upgrading && upgraded) check_frames(after);
  return 0;
}
