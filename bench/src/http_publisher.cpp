#include "http_publisher.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "message_body.hpp"

namespace wshub::bench {

namespace {

constexpr std::size_t max_head_bytes = 64 * 1024;
constexpr std::uint32_t max_reconnects = 100;

bool equals_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Size of a chunked body starting at `pos`, or npos while incomplete.
std::size_t chunked_end(std::string_view in, std::size_t pos) {
  for (;;) {
    const auto line_end = in.find("\r\n", pos);
    if (line_end == std::string_view::npos) return std::string_view::npos;
    std::size_t size = 0;
    const auto r = std::from_chars(in.data() + pos, in.data() + line_end, size, 16);
    if (r.ec != std::errc()) throw std::runtime_error("bad chunk size");
    pos = line_end + 2;
    if (size == 0) {  // trailers, then a blank line
      if (in.substr(pos, 2) == "\r\n") return pos + 2;
      const auto blank = in.find("\r\n\r\n", pos);
      return blank == std::string_view::npos ? blank : blank + 4;
    }
    pos += size + 2;
    if (pos > in.size()) return std::string_view::npos;
  }
}

}  // namespace

void publish_shared::note_error(const std::string& what) {
  if (first_error.empty()) first_error = what;
}

std::string publish_request_head(const std::string& host, std::uint16_t port, const std::string& path, bool json,
                                 const std::vector<std::string>& extra_headers) {
  std::string head = "POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) + "\r\nContent-Type: " +
                     (json ? "application/json" : "application/x-www-form-urlencoded") + "\r\n";
  for (const auto& h : extra_headers) head += h + "\r\n";
  head += "Content-Length: ";
  return head;
}

bool parse_response(std::string_view in, response_head& out) {
  const auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (in.size() > max_head_bytes) throw std::runtime_error("response head too large");
    return false;
  }
  if (in.size() < 12 || in.substr(0, 7) != "HTTP/1." || in[8] != ' ') throw std::runtime_error("not an HTTP response");
  int status = 0;
  if (std::from_chars(in.data() + 9, in.data() + 12, status).ec != std::errc()) throw std::runtime_error("bad status");
  out = response_head{status, 0, false};

  bool chunked = false;
  std::optional<std::size_t> length;
  auto pos = in.find("\r\n") + 2;
  while (pos < head_end) {
    const auto eol = in.find("\r\n", pos);
    const auto line = in.substr(pos, eol - pos);
    pos = eol + 2;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const auto name = line.substr(0, colon);
    const auto value = trim(line.substr(colon + 1));
    if (equals_nocase(name, "content-length")) {
      std::size_t n = 0;
      if (std::from_chars(value.data(), value.data() + value.size(), n).ec != std::errc())
        throw std::runtime_error("bad Content-Length");
      length = n;
    } else if (equals_nocase(name, "transfer-encoding")) {
      chunked = value.find("chunked") != std::string_view::npos;
    } else if (equals_nocase(name, "connection")) {
      out.close = equals_nocase(value, "close");
    }
  }
  const auto body = head_end + 4;
  if (chunked) {
    const auto end = chunked_end(in, body);
    if (end == std::string_view::npos) return false;
    out.size = end;
  } else if (length) {
    if (in.size() < body + *length) return false;
    out.size = body + *length;
  } else if (status / 100 == 1 || status == 204 || status == 304) {
    out.size = body;
  } else {
    throw std::runtime_error("a response without Content-Length or chunked encoding");
  }
  return true;
}

http_publisher::~http_publisher() {
  if (fd_ >= 0) ::close(fd_);
}

void http_publisher::publish() {
  busy_ = true;
  if (fd_ < 0) return connect();
  if (!connecting_) write_request();
}

void http_publisher::connect() {
  if (++reconnects_ > max_reconnects) {
    busy_ = false;
    dead_ = true;
    shared_.note_error("a publisher gave up after " + std::to_string(max_reconnects) + " connections");
    return;
  }
  bool connected = false;
  fd_ = start_connect(shared_.target, shared_.source ? &*shared_.source : nullptr, &connected);
  if (fd_ < 0) return drop_connection(std::string("connect: ") + std::strerror(errno));
  connecting_ = !connected;
  loop_.add(fd_, connected ? EPOLLIN : EPOLLOUT, this);
  if (connected) write_request();
}

void http_publisher::write_request() {
  sent_ns_ = now_ns();
  written_ = true;
  if (shared_.first_send_ns == 0) shared_.first_send_ns = sent_ns_;
  shared_.sent += shared_.batch;
  std::string content = shared_.batch > 1 ? "{\"messages\":[" : "";
  // Each message of a batch has its own stamp: receivers check order and gaps per message.
  for (std::size_t i = 0; i < shared_.batch; ++i) {
    body_.clear();
    append_body(body_, body_stamp{index_, seq_++, sent_ns_}, shared_.message_bytes, shared_.words);
    if (i) content += ',';
    if (shared_.json_body) {
      content += "{\"message\":\"" + body_ + "\"}";  // the body has no character JSON would escape
    } else {
      content += "message=";
      append_form_encoded(content, body_);
    }
  }
  if (shared_.batch > 1) content += "]}";
  out_ = shared_.head;
  out_ += std::to_string(content.size());
  out_ += "\r\n\r\n";
  out_ += content;
  out_done_ = 0;
  flush();
}

void http_publisher::flush() {
  const long n = write_some(fd_, out_.data() + out_done_, out_.size() - out_done_);
  if (n < 0) return drop_connection(std::string("write: ") + std::strerror(errno));
  out_done_ += static_cast<std::size_t>(n);
  const bool more = out_done_ < out_.size();
  if (more != want_write_) {
    want_write_ = more;
    loop_.modify(fd_, more ? EPOLLIN | EPOLLOUT : EPOLLIN, this);
  }
}

void http_publisher::on_io(std::uint32_t events) {
  if (fd_ < 0) return;
  if (connecting_) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return drop_connection(std::string("connect: ") + std::strerror(err));
    connecting_ = false;
    loop_.modify(fd_, EPOLLIN, this);
    if (busy_) write_request();
    return;
  }
  if ((events & EPOLLOUT) && want_write_) flush();
  if (fd_ >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable();
}

void http_publisher::on_readable() {
  char buf[16 * 1024];
  const ssize_t n = ::read(fd_, buf, sizeof buf);
  if (n == 0) return drop_connection("the server closed a publishing connection");
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    return drop_connection(std::string("read: ") + std::strerror(errno));
  }
  in_.append(buf, static_cast<std::size_t>(n));
  response_head r;
  try {
    if (!parse_response(in_, r)) return;
  } catch (const std::exception& e) {
    return drop_connection(e.what());
  }
  in_.erase(0, r.size);
  on_answer(r);
}

void http_publisher::on_answer(const response_head& r) {
  const auto now = now_ns();
  shared_.last_answer_ns = now;
  shared_.latency_ns.push_back(now - sent_ns_);
  ++shared_.statuses[r.status];
  if (r.status / 100 == 2) {
    shared_.acked += shared_.batch;
  } else {
    shared_.rejected += shared_.batch;
    shared_.note_error("publish answered " + std::to_string(r.status));
  }
  busy_ = false;
  written_ = false;
  reconnects_ = 0;  // the limit is on connections that fail in a row, not on keep-alive closes
  if (r.close || !in_.empty()) {  // the server closes, or answered more than asked: start afresh
    loop_.remove(fd_);
    ::close(fd_);
    fd_ = -1;
    in_.clear();
  }
  if (on_idle_) on_idle_(*this);
}

void http_publisher::drop_connection(const std::string& why) {
  if (fd_ >= 0) {
    loop_.remove(fd_);
    ::close(fd_);
    fd_ = -1;
  }
  connecting_ = false;
  want_write_ = false;
  in_.clear();
  if (busy_) shared_.note_error(why);  // an idle keep-alive connection may close: not an error
  if (busy_ && written_) shared_.broken += shared_.batch;
  busy_ = false;
  written_ = false;
}

void http_publisher::abandon() {
  if (busy_) drop_connection("no answer before the end of the run");
}

}  // namespace wshub::bench
