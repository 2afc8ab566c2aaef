#include "ws_reader.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <boost/beast/zlib/inflate_stream.hpp>

#include "message_body.hpp"

namespace wshub::bench {

namespace {

constexpr std::size_t max_response_bytes = 16 * 1024;
constexpr std::size_t max_control_bytes = 125;           // RFC 6455 5.5
constexpr std::size_t max_sampled_message = 16 << 20;
constexpr int reads_per_event = 4;                       // then let the other sockets have their turn

std::uint64_t next_random() {
  static std::uint64_t state = static_cast<std::uint64_t>(now_ns()) ^ (static_cast<std::uint64_t>(getpid()) << 32);
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

// 16 random bytes in base64: 24 characters, the last two "==".
void random_key(char* out) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char raw[18] = {};
  const std::uint64_t a = next_random(), b = next_random();
  std::memcpy(raw, &a, 8);
  std::memcpy(raw + 8, &b, 8);
  for (int i = 0; i < 6; ++i) {  // 18 bytes -> 24 characters; the last 2 bytes are padding
    const unsigned v = (raw[3 * i] << 16) | (raw[3 * i + 1] << 8) | raw[3 * i + 2];
    for (int j = 0; j < 4; ++j) out[4 * i + j] = alphabet[(v >> (18 - 6 * j)) & 63];
  }
  out[22] = '=';
  out[23] = '=';
}

// A message sent with permessage-deflate and no context takeover, inflated ("" when it does not
// inflate: then it has no stamp and is counted as unstamped).
std::string inflate_message(const std::string& deflated) {
  namespace zlib = boost::beast::zlib;
  static zlib::inflate_stream inflater;  // one thread; each message alone
  inflater.reset(15);
  std::string in = deflated;
  in.append("\x00\x00\xff\xff", 4);  // RFC 7692 7.2.2
  std::string out;
  std::array<char, 64 * 1024> chunk;
  zlib::z_params zs{};
  zs.next_in = in.data();
  zs.avail_in = in.size();
  for (int i = 0; i < 1024; ++i) {  // at most 64 MiB out
    zs.next_out = chunk.data();
    zs.avail_out = chunk.size();
    boost::beast::error_code ec;
    inflater.write(zs, zlib::Flush::sync, ec);
    out.append(chunk.data(), chunk.size() - zs.avail_out);
    if (ec && ec != zlib::error::need_buffers && ec != zlib::error::end_of_stream) return {};
    if (zs.avail_in == 0 && zs.avail_out != 0) break;
  }
  return out;
}

std::size_t header_size(unsigned char b1) {
  const unsigned len7 = b1 & 0x7f;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
}

}  // namespace

ws_shared::ws_shared(const std::string& host, std::uint16_t port, const std::string& path, bool deflate) {
  request = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
            (deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n" : "") +
            "Sec-WebSocket-Key: ";
  key_offset = request.size();
  request += std::string(24, 'A') + "\r\n\r\n";
}

void ws_shared::note_error(const std::string& what) {
  if (first_error.empty()) first_error = what;
}

ws_reader::~ws_reader() {
  if (fd_ >= 0) ::close(fd_);
}

void ws_reader::connect(const sockaddr_in& to, const sockaddr_in* from) {
  started_ns_ = now_ns();
  if (shared_.first_connect_ns == 0) shared_.first_connect_ns = started_ns_;
  ++shared_.in_flight;
  state_ = state::connecting;
  bool connected = false;
  fd_ = start_connect(to, from, &connected);
  if (fd_ < 0) return fail(std::string("connect: ") + std::strerror(errno));
  loop_.add(fd_, EPOLLOUT, this);
  if (connected) on_connected();
}

void ws_reader::close() {
  if (state_ == state::connecting || state_ == state::handshaking) finish_connect(false);
  if (fd_ >= 0) {
    loop_.remove(fd_);
    ::close(fd_);
    fd_ = -1;
  }
  state_ = state::closed;
}

void ws_reader::finish_connect(bool ok) {
  --shared_.in_flight;
  if (!ok) {
    ++shared_.failed;
    return;
  }
  const auto now = now_ns();
  ++shared_.opened;
  shared_.last_open_ns = now;
  shared_.connect_ns.push_back(now - started_ns_);
  state_ = state::open;
  was_opened_ = true;
}

void ws_reader::fail(const std::string& what) {
  shared_.note_error(what);
  if (state_ == state::open) ++shared_.protocol_errors;
  close();
}

void ws_reader::on_io(std::uint32_t events) {
  if (fd_ < 0) return;  // closed earlier in this batch
  if (state_ == state::connecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected();
    return;
  }
  if (events & EPOLLOUT) flush();
  if (fd_ >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable();
}

void ws_reader::on_connected() {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return fail(std::string("connect: ") + std::strerror(err));
  state_ = state::handshaking;
  std::string req = shared_.request;
  random_key(req.data() + shared_.key_offset);
  loop_.modify(fd_, EPOLLIN, this);
  send(req.data(), req.size());
}

void ws_reader::send(const char* data, std::size_t size) {
  if (pending_.empty()) {
    const long n = write_some(fd_, data, size);
    if (n < 0) return fail(std::string("write: ") + std::strerror(errno));
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  if (size == 0) return;
  pending_.append(data, size);
  if (!want_write_) {
    want_write_ = true;
    loop_.modify(fd_, EPOLLIN | EPOLLOUT, this);
  }
}

void ws_reader::flush() {
  const long n = write_some(fd_, pending_.data(), pending_.size());
  if (n < 0) return fail(std::string("write: ") + std::strerror(errno));
  pending_.erase(0, static_cast<std::size_t>(n));
  if (pending_.empty() && want_write_) {
    want_write_ = false;
    loop_.modify(fd_, EPOLLIN, this);
  }
}

void ws_reader::on_readable() {
  char* buf = shared_.buffer.data();
  const std::size_t cap = shared_.buffer.size();
  for (int i = 0; i < reads_per_event && fd_ >= 0; ++i) {
    const ssize_t n = ::read(fd_, buf, cap);
    if (n > 0) {
      const auto now = now_ns();
      if (state_ == state::handshaking) on_handshake_bytes(buf, static_cast<std::size_t>(n), now);
      else {
        shared_.wire_bytes += static_cast<std::uint64_t>(n);
        consume(buf, static_cast<std::size_t>(n), now);
      }
      if (static_cast<std::size_t>(n) < cap) return;
    } else if (n == 0) {
      if (state_ == state::open) ++shared_.closed_by_server;
      else shared_.note_error("the server closed the connection during the handshake");
      return close();
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else {
      shared_.note_error(std::string("read: ") + std::strerror(errno));
      if (state_ == state::open) ++shared_.closed_by_server;
      return close();
    }
  }
}

void ws_reader::on_handshake_bytes(const char* data, std::size_t size, std::int64_t now) {
  const auto old = response_.size();
  response_.append(data, size);
  const auto end = response_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
  if (end == std::string::npos) {
    if (response_.size() > max_response_bytes) fail("handshake response too large");
    return;
  }
  if (response_.compare(0, 13, "HTTP/1.1 101 ") != 0)
    return fail("handshake refused: " + response_.substr(0, response_.find("\r\n")));
  finish_connect(true);
  const auto body = end + 4;
  std::string rest = response_.substr(body);
  response_.clear();
  response_.shrink_to_fit();
  shared_.wire_bytes += rest.size();
  if (!rest.empty()) consume(rest.data(), rest.size(), now);
}

// Walks the frames in `data`: headers are parsed, payloads skipped or kept.
void ws_reader::consume(const char* data, std::size_t size, std::int64_t now) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  const auto* end = p + size;
  while (p < end && fd_ >= 0) {
    if (!in_payload_) {
      if (header_len_ < 2) header_[header_len_++] = *p++;
      if (header_len_ < 2) continue;
      const auto need = header_size(header_[1]);
      while (header_len_ < need && p < end) header_[header_len_++] = *p++;
      if (header_len_ < need) break;
      if (header_[1] & 0x80) return fail("the server sent a masked frame");
      fin_ = header_[0] & 0x80;
      opcode_ = header_[0] & 0x0f;
      if (opcode_ == 0x1 || opcode_ == 0x2) message_deflated_ = (header_[0] & 0x40) != 0;
      const unsigned len7 = header_[1] & 0x7f;
      left_ = len7;
      if (len7 >= 126) {
        left_ = 0;
        for (std::size_t i = 2; i < need; ++i) left_ = (left_ << 8) | header_[i];
      }
      if (opcode_ >= 8 && left_ > max_control_bytes) return fail("control frame over 125 bytes");
      header_len_ = 0;
      in_payload_ = true;
      control_.clear();
    }
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(left_, static_cast<std::uint64_t>(end - p)));
    if (opcode_ >= 8) control_.append(reinterpret_cast<const char*>(p), take);
    else if (sampled_ && message_.size() + take <= max_sampled_message) message_.append(reinterpret_cast<const char*>(p), take);
    p += take;
    left_ -= take;
    if (left_ == 0) end_of_frame(now);
  }
}

void ws_reader::end_of_frame(std::int64_t now) {
  in_payload_ = false;
  switch (opcode_) {
    case 0x8:  // close: the server ends this socket
      ++shared_.closed_by_server;
      if (control_.size() >= 2) {
        const int code = (static_cast<unsigned char>(control_[0]) << 8) | static_cast<unsigned char>(control_[1]);
        shared_.note_error("the server closed a socket with code " + std::to_string(code));
      }
      close();
      return;
    case 0x9: {  // ping: answer with a masked pong carrying the same payload (a zero mask)
      std::string pong;
      pong += static_cast<char>(0x8a);
      pong += static_cast<char>(0x80 | control_.size());
      pong.append(4, '\0');
      pong += control_;
      send(pong.data(), pong.size());
      return;
    }
    case 0xa:
      return;
    default:
      if (opcode_ > 2) return fail("unknown opcode " + std::to_string(opcode_));
      if (fin_) on_message(now);
  }
}

void ws_reader::on_message(std::int64_t now) {
  ++messages_;
  ++shared_.messages;
  if (message_deflated_) ++shared_.compressed;
  shared_.last_message_ns = now;
  if (!sampled_) return;
  if (message_deflated_) message_ = inflate_message(message_);
  const auto stamp = find_stamp(message_);
  message_.clear();
  if (!stamp) {
    ++shared_.unstamped;
    return;
  }
  shared_.latency_ns.push_back(now - stamp->send_ns);
  if (stamp->publisher >= last_seq_.size()) last_seq_.resize(stamp->publisher + 1, -1);
  auto& last = last_seq_[stamp->publisher];
  const auto seq = static_cast<std::int64_t>(stamp->seq);
  if (seq <= last) {
    ++shared_.out_of_order;
  } else {
    shared_.gaps += static_cast<std::uint64_t>(seq - last - 1);
    last = seq;
  }
}

}  // namespace wshub::bench
