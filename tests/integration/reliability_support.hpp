#pragma once
// What the reliability tests share (reliability_test.cpp, hostile_clients_test.cpp): the wshub
// binary as a child process with a hook run before exec, a keep-alive HTTP client, a WebSocket
// client that writes raw frames, and the probe that measures how fast well-behaved clients are
// served. Every wait here has a deadline.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "support/eventually.hpp"
#include "support/run_with_timeout.hpp"
#include "support/test_clients.hpp"
#include "support/test_server.hpp"
#include "support/ws_frame.hpp"

namespace wshub::test::reliability {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using json = nlohmann::json;

// The wshub binary in a child process. Its output is read all along by a thread (a failing store
// logs every refused publish; a full pipe would stall the server).
class spawned_server {
 public:
  // `before_exec` runs in the child between fork and exec, so only async-signal-safe calls
  // (setrlimit, signal, unshare, mount); when it returns false the child exits with 97.
  explicit spawned_server(const std::vector<std::string>& args, const std::function<bool()>& before_exec = {}) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const auto bin = wshub_binary();
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(bin.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      dup2(out[1], STDERR_FILENO);
      if (before_exec && !before_exec()) _exit(97);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    out_fd_ = out[0];
    reader_ = std::thread([this] { read_output(); });
    std::smatch m;
    const std::regex listening(R"(listening on 127\.0\.0\.1:(\d+))");
    std::string text;
    if (!wait_for_output([&](const std::string& o) { return std::regex_search(o, listening); }, 30s))
      throw std::runtime_error("wshub did not report listening; output:\n" + output());
    text = output();
    std::regex_search(text, m, listening);
    port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
  }
  ~spawned_server() {
    kill_now();
    if (reader_.joinable()) reader_.join();
    close(out_fd_);
  }
  spawned_server(const spawned_server&) = delete;
  spawned_server& operator=(const spawned_server&) = delete;

  int pid() const { return pid_; }
  std::uint16_t port() const { return port_; }
  std::string output() const {
    std::lock_guard lock(mutex_);
    return output_;
  }
  bool wait_for_output(const std::function<bool(const std::string&)>& match, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return match(output_) || eof_; }) && match(output_);
  }

  // SIGKILL; returns once the process is reaped.
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // SIGTERM, then the exit code; -1 when it died of a signal or did not exit in time (then it is
  // killed).
  int stop(std::chrono::milliseconds timeout = 20s) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    const int code = wait_for_exit(pid_, timeout);
    pid_ = -1;
    return code;
  }

 private:
  void read_output() {
    char buf[4096];
    for (;;) {
      const auto n = ::read(out_fd_, buf, sizeof buf);
      std::lock_guard lock(mutex_);
      if (n <= 0) {
        eof_ = true;
        changed_.notify_all();
        return;
      }
      output_.append(buf, static_cast<std::size_t>(n));
      if (output_.size() > (1u << 20)) output_.erase(0, output_.size() - (1u << 19));  // keep the tail
      changed_.notify_all();
    }
  }

  int pid_ = -1;
  int out_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string output_;  // guarded by mutex_
  bool eof_ = false;    // guarded by mutex_
};

// A blocking loopback socket whose reads and writes give up after `timeout`; bound first to
// `source` (another loopback address such as 127.0.0.2) when given.
inline int connect_loopback(std::uint16_t port, std::chrono::milliseconds timeout = 10s, const std::string& source = {}) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (!source.empty()) {
    if (inet_pton(AF_INET, source.c_str(), &addr.sin_addr) != 1 ||
        bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      throw std::runtime_error("cannot bind to " + source);
    }
  }
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    throw std::runtime_error("connect failed");
  }
  return fd;
}

// Closes with a TCP reset instead of a FIN.
inline void reset_and_close(int fd) {
  const linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

inline bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The status of an HTTP answer in `raw` (0 when there is none) and its JSON error code.
inline std::pair<int, int> status_and_code(const std::string& raw) {
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return {0, 0};
  const int status = std::stoi(raw.substr(9, 3));
  const auto body_at = raw.find("\r\n\r\n");
  if (body_at == std::string::npos) return {status, 0};
  const auto body = json::parse(raw.substr(body_at + 4), nullptr, false);
  return {status, body.is_object() && body.contains("code") ? body["code"].get<int>() : 0};
}

// Sends `bytes`, then reads the answer until the server closes (or `timeout`).
inline std::string exchange(std::uint16_t port, const std::string& bytes, std::chrono::milliseconds timeout = 10s) {
  const int fd = connect_loopback(port, timeout);
  send_all(fd, bytes);  // may stop early: the server answers and closes before reading it all
  std::string out;
  char buf[4096];
  for (;;) {
    const auto n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return out;
}

// Several requests on one connection (keep-alive), as a real publisher would.
class http_connection {
 public:
  explicit http_connection(std::uint16_t port, std::chrono::milliseconds timeout = 10s, const std::string& source = {})
      : port_(port), timeout_(timeout), socket_(ioc_) {
    socket_.assign(boost::asio::ip::tcp::v4(), connect_loopback(port, timeout, source));
  }
  // nullopt when the connection failed (reset, closed by the server, timed out): it is then
  // unusable.
  std::optional<http_reply> request(const std::string& method, const std::string& target, const std::string& body = {},
                                    const std::map<std::string, std::string>& headers = {}) {
    namespace bhttp = boost::beast::http;
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port_));
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    if (run_with_timeout(ioc_, socket_, timeout_, [&](auto done) { bhttp::async_write(socket_, req, done); }))
      return std::nullopt;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (run_with_timeout(ioc_, socket_, timeout_, [&](auto done) { bhttp::async_read(socket_, buffer_, parser, done); }))
      return std::nullopt;
    http_reply reply;
    reply.status = static_cast<int>(parser.get().result_int());
    for (const auto& f : parser.get()) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      reply.headers[name] = std::string(f.value());
    }
    reply.body = parser.get().body();
    return reply;
  }
  std::optional<http_reply> publish(const std::string& message, const std::string& channel = {}) {
    json body = {{"message", message}};
    if (!channel.empty()) body["channel"] = channel;
    return request("POST", "/api/tool/send_message", body.dump(), {{"Content-Type", "application/json"}});
  }

 private:
  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

// A WebSocket client that writes frames byte by byte as the test says, valid or not, and reads
// the server's frames as they are.
class raw_ws {
 public:
  struct frame {
    int opcode = 0;
    bool fin = true;
    std::string payload;
  };

  // Connects and upgrades; throws unless the server answers 101.
  explicit raw_ws(std::uint16_t port, const std::string& target = "/socket/system/message",
                  const std::string& protocol = {}, int receive_buffer = 0)
      : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (receive_buffer > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("connect failed");
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const timeval send_timeout{10, 0};  // a server that stopped reading fails the send, never hangs it
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    if (!protocol.empty()) req += "Sec-WebSocket-Protocol: " + protocol + "\r\n";
    send_all(fd_, req + "\r\n");
    const auto deadline = steady::now() + 10s;
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos)
      if (!receive_some(deadline)) throw std::runtime_error("no upgrade answer");
    if (in_.rfind("HTTP/1.1 101", 0) != 0) throw std::runtime_error("upgrade refused: " + in_.substr(0, end));
    in_.erase(0, end + 4);
  }
  ~raw_ws() {
    if (fd_ >= 0) close(fd_);
  }
  raw_ws(const raw_ws&) = delete;
  raw_ws& operator=(const raw_ws&) = delete;

  int fd() const { return fd_; }
  // False once the server has closed or reset the connection.
  bool send_raw(std::string_view bytes) { return send_all(fd_, bytes); }
  // `first` is the frame's first byte as sent: FIN, RSV1-3 and the opcode.
  bool send_frame(std::uint8_t first, std::string_view payload, bool masked = true) {
    return send_raw(encode(first, payload, masked));
  }
  bool send_text(std::string_view text) { return send_frame(0x81, text); }

  // Masked with a random key unless `masked` is false.
  static std::string encode(std::uint8_t first, std::string_view payload, bool masked = true) {
    static thread_local std::mt19937 random{std::random_device{}()};
    return encode_frame(first, payload, masked, masked ? static_cast<std::uint32_t>(random()) : 0);
  }

  // The next frame, or nullopt when the connection ended or `timeout` passed.
  std::optional<frame> read_frame(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = steady::now() + timeout;
    for (;;) {
      if (auto f = parse()) return f;
      if (!receive_some(deadline)) return std::nullopt;
    }
  }
  // Reads until the server's close frame and returns its code (1005 when it had none), or -1 when
  // the connection ended without one or `timeout` passed. Frames before it go to `before`, the
  // close frame's reason to `reason`.
  int read_until_close(std::chrono::milliseconds timeout = 10s, std::vector<frame>* before = nullptr,
                       std::string* reason = nullptr) {
    const auto deadline = steady::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
      auto f = read_frame(std::max(left, 0ms));
      if (!f) return -1;
      if (f->opcode == 0x8) {
        if (f->payload.size() < 2) return 1005;
        if (reason) *reason = f->payload.substr(2);
        return (static_cast<std::uint8_t>(f->payload[0]) << 8) | static_cast<std::uint8_t>(f->payload[1]);
      }
      if (before) before->push_back(std::move(*f));
    }
  }
  void reset() {
    reset_and_close(fd_);
    fd_ = -1;
  }

 private:
  std::optional<frame> parse() {
    if (in_.size() < 2) return std::nullopt;
    const auto b0 = static_cast<std::uint8_t>(in_[0]), b1 = static_cast<std::uint8_t>(in_[1]);
    std::size_t n = b1 & 0x7F, at = 2;
    if (n == 126 || n == 127) {
      const std::size_t bytes = n == 126 ? 2 : 8;
      if (in_.size() < at + bytes) return std::nullopt;
      n = 0;
      for (std::size_t k = 0; k < bytes; ++k) n = (n << 8) | static_cast<std::uint8_t>(in_[at + k]);
      at += bytes;
    }
    if (in_.size() < at + n) return std::nullopt;
    frame f{b0 & 0x0F, (b0 & 0x80) != 0, in_.substr(at, n)};
    in_.erase(0, at + n);
    return f;
  }
  bool receive_some(steady::time_point deadline) {
    // A deadline already passed still takes what has arrived (a zero timeout drains).
    const auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()), 0ms);
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[65536];
    const auto n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  std::string in_;
};

// The id of a message frame (its "id" field, found without parsing the whole JSON); 0 when it
// has none.
inline std::uint64_t frame_id(std::string_view text) {
  std::uint64_t id = 0;
  const auto at = text.find("\"id\":");
  if (at == std::string_view::npos) return 0;
  const char* digits = text.data() + at + 5;
  if (std::from_chars(digits, text.data() + text.size(), id).ec != std::errc()) return 0;
  return id;
}

// How fast well-behaved clients are served: `subscribers` sockets on `channel` while
// `publishers` keep-alive connections publish messages of `size` bytes, at least `messages` of
// them and for at least `min_seconds` (so that a fast build still measures a while), then an end
// marker. The rate is counted from the first publish to the end marker's arrival.
struct probe_result {
  bool complete = false;         // every message acknowledged and received by every subscriber, in order
  std::string problem;           // why not
  long messages = 0;             // published, end marker excluded
  double seconds = 0;
  double messages_per_second = 0;
  double deliveries_per_second = 0;  // messages x subscribers per second
};

// `rate`: messages per second over all publishers at most (0: each publishes when answered).
inline probe_result run_probe(std::uint16_t port, int messages = 400, std::size_t size = 64, double rate = 0,
                              const std::string& channel = "probe", double min_seconds = 1.0, int subscribers = 4,
                              int publishers = 2) {
  static const std::string end_marker = "probe end";
  constexpr long max_messages = 1'000'000;
  probe_result result;
  std::vector<std::unique_ptr<ws_client>> sockets;
  ws_client::options opts;
  opts.target = "/socket/system/message?channel=" + channel;
  opts.timeout = 30s;
  for (int i = 0; i < subscribers; ++i) sockets.push_back(std::make_unique<ws_client>(port, opts));
  std::mutex mutex;
  std::vector<steady::time_point> finished(subscribers);
  std::vector<long> received(subscribers, 0);
  std::vector<std::thread> readers;
  for (int i = 0; i < subscribers; ++i)
    readers.emplace_back([&, i] {
      std::uint64_t last = 0;
      for (long n = 0; n <= max_messages; ++n) {
        const auto text = sockets[i]->read();
        std::lock_guard lock(mutex);
        if (!text) {
          result.problem = "subscriber " + std::to_string(i) + " stopped receiving after " + std::to_string(n);
          return;
        }
        // Only the id and the end marker are read, not the whole JSON: the readers must keep up
        // with the server in every build, sanitizers included.
        const std::uint64_t id = frame_id(*text);
        if (id == 0) {
          result.problem = "not a message frame: " + text->substr(0, 200);
          return;
        }
        if (id <= last) {
          result.problem = "out of order";
          return;
        }
        last = id;
        if (text->find("\"message\":\"" + end_marker + "\"") != std::string::npos) {
          finished[i] = steady::now();
          return;
        }
        ++received[i];
      }
    });
  const auto started = steady::now();
  std::atomic<long> sent{0};
  auto enough = [&] {
    return sent >= max_messages ||
           (sent >= messages && std::chrono::duration<double>(steady::now() - started).count() >= min_seconds);
  };
  auto fail = [&](const std::optional<http_reply>& reply) {
    std::lock_guard lock(mutex);
    result.problem = "publish answered " + (reply ? std::to_string(reply->status) + " " + reply->body : "nothing");
  };
  std::vector<std::thread> senders;
  const std::string payload(size, 'p');
  for (int p = 0; p < publishers; ++p)
    senders.emplace_back([&] {
      std::optional<http_connection> connection;
      try {
        connection.emplace(port, 30s);
      } catch (const std::exception&) {
        return fail(std::nullopt);
      }
      auto& c = *connection;
      while (!enough()) {
        if (rate > 0)  // pacing: the n-th message of all is due n / rate seconds after the start
          std::this_thread::sleep_until(started + std::chrono::duration_cast<steady::duration>(
                                                      std::chrono::duration<double>(sent.load() / rate)));
        const auto reply = c.publish(payload, channel);
        if (!reply || reply->status != 200) return fail(reply);
        ++sent;
      }
    });
  for (auto& t : senders) t.join();
  try {
    if (const auto reply = http_connection(port, 30s).publish(end_marker, channel); !reply || reply->status != 200)
      fail(reply);
  } catch (const std::exception&) {
    fail(std::nullopt);
  }
  for (auto& t : readers) t.join();
  if (!result.problem.empty()) return result;
  for (int i = 0; i < subscribers; ++i)
    if (received[i] != sent) {
      result.problem = "subscriber " + std::to_string(i) + " got " + std::to_string(received[i]) + " of " +
                       std::to_string(sent.load());
      return result;
    }
  const auto last = *std::max_element(finished.begin(), finished.end());
  result.messages = sent;
  result.seconds = std::chrono::duration<double>(last - started).count();
  result.messages_per_second = static_cast<double>(sent) / result.seconds;
  result.deliveries_per_second = static_cast<double>(sent) * subscribers / result.seconds;
  result.complete = true;
  return result;
}

// Well-behaved subscribers whose reading clocks the publisher: message n is published only once
// every subscriber has read message n - window, so none of them ever has more than `window`
// messages waiting for it at the server, however slow the machine. Every message carries its
// sequence number; each subscriber must read all of them, in order, then the end marker.
struct clocked_fan_out_result {
  bool complete = false;  // every message acknowledged and read by every subscriber, in order
  std::string problem;    // why not
  long messages = 0;      // published, end marker excluded
  long messages_when_done = -1;  // published when `done` first held (-1: never)
  double seconds = 0;     // from the first publish to the last subscriber's end marker
  double deliveries_per_second = 0;  // messages x subscribers per second
};

class clocked_fan_out {
 public:
  struct options {
    int subscribers = 4;
    std::string channel = "probe";
    std::size_t size = 64;  // message bytes
    long window = 8;
    long messages = 300;  // published at most
    // Checked before each publish: once it holds, `after_done` more messages are published, then
    // the end marker.
    std::function<bool()> done;
    long after_done = 0;
    std::chrono::milliseconds stall_timeout = 30s;  // longest wait for the subscribers to catch up
  };

  clocked_fan_out(std::uint16_t port, options opts) : port_(port), opts_(std::move(opts)) {
    ws_client::options ws;
    ws.target = "/socket/system/message?channel=" + opts_.channel;
    ws.timeout = opts_.stall_timeout;
    for (int i = 0; i < opts_.subscribers; ++i) sockets_.push_back(std::make_unique<ws_client>(port, ws));
  }

  clocked_fan_out_result run() {
    read_.assign(opts_.subscribers, 0);
    finished_.assign(opts_.subscribers, {});
    std::vector<std::thread> readers;
    for (int i = 0; i < opts_.subscribers; ++i) readers.emplace_back([this, i] { read_all(i); });
    started_ = steady::now();
    publish_all();
    for (auto& t : readers) t.join();
    std::lock_guard lock(mutex_);
    if (result_.problem.empty()) {
      for (int i = 0; i < opts_.subscribers; ++i)
        if (read_[i] != result_.messages)
          fail_locked("subscriber " + std::to_string(i) + " read " + std::to_string(read_[i]) + " of " +
                      std::to_string(result_.messages));
    }
    if (!result_.problem.empty()) return result_;
    const auto last = *std::max_element(finished_.begin(), finished_.end());
    result_.seconds = std::chrono::duration<double>(last - started_).count();
    result_.deliveries_per_second = static_cast<double>(result_.messages) * opts_.subscribers / result_.seconds;
    result_.complete = true;
    return result_;
  }

 private:
  static constexpr std::string_view end_marker = "fan-out end";

  void fail_locked(const std::string& why) {
    if (result_.problem.empty()) result_.problem = why;
    changed_.notify_all();
  }

  void publish_all() {
    std::optional<http_connection> connection;
    try {
      connection.emplace(port_, opts_.stall_timeout);
    } catch (const std::exception&) {
      std::lock_guard lock(mutex_);
      return fail_locked("cannot connect to publish");
    }
    const std::string padding(opts_.size, 'p');
    long stop_at = opts_.messages, when_done = -1, n = 0;
    auto record = [&] {
      std::lock_guard lock(mutex_);
      result_.messages = n;
      result_.messages_when_done = when_done;
    };
    for (; n < stop_at; ++n) {
      if (opts_.done && when_done < 0 && opts_.done()) {
        when_done = n;
        stop_at = std::min(stop_at, n + opts_.after_done);
        if (n >= stop_at) break;
      }
      {
        std::unique_lock lock(mutex_);
        const bool caught_up = changed_.wait_for(lock, opts_.stall_timeout, [&] {
          return !result_.problem.empty() || *std::min_element(read_.begin(), read_.end()) >= n - opts_.window;
        });
        if (!result_.problem.empty()) return;
        if (!caught_up) return fail_locked("the subscribers stopped reading at message " + std::to_string(n));
      }
      const auto reply = connection->publish(std::to_string(n) + " " + padding, opts_.channel);
      if (!reply || reply->status != 200) {
        std::lock_guard lock(mutex_);
        return fail_locked("publish answered " + (reply ? std::to_string(reply->status) + " " + reply->body : "nothing"));
      }
    }
    record();
    const auto reply = connection->publish(std::string(end_marker), opts_.channel);
    if (!reply || reply->status != 200) {
      std::lock_guard lock(mutex_);
      fail_locked("the end marker was not accepted");
    }
  }

  // Reads until the end marker (or a failure, or the socket's timeout).
  void read_all(int i) {
    static const std::string message_field = "\"message\":\"";
    std::uint64_t last_id = 0;
    for (long n = 0;; ++n) {
      const auto text = sockets_[i]->read();
      std::lock_guard lock(mutex_);
      if (!result_.problem.empty()) return;
      if (!text) return fail_locked("subscriber " + std::to_string(i) + " stopped receiving after " + std::to_string(n));
      const auto id = frame_id(*text);
      const auto at = text->find(message_field);
      if (id == 0 || at == std::string::npos) return fail_locked("not a message frame: " + text->substr(0, 200));
      if (id <= last_id) return fail_locked("subscriber " + std::to_string(i) + ": ids out of order");
      last_id = id;
      const auto body = std::string_view(*text).substr(at + message_field.size());
      if (body.substr(0, end_marker.size() + 1) == std::string(end_marker) + "\"") {
        finished_[i] = steady::now();
        return;
      }
      long seq = -1;
      std::from_chars(body.data(), body.data() + body.size(), seq);
      if (seq != n)
        return fail_locked("subscriber " + std::to_string(i) + " read message " + std::to_string(seq) + " where " +
                           std::to_string(n) + " was due");
      read_[i] = n + 1;
      changed_.notify_all();
    }
  }

  std::uint16_t port_;
  options opts_;
  std::vector<std::unique_ptr<ws_client>> sockets_;  // socket i: reader thread i only
  steady::time_point started_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<long> read_;                 // guarded by mutex_: messages read, per subscriber
  std::vector<steady::time_point> finished_;  // guarded by mutex_: when reader i read the end marker
  clocked_fan_out_result result_;          // guarded by mutex_
};

}  // namespace wshub::test::reliability
