// Hostile HTTP against the real server: requests that break RFC 9112's framing rules, requests
// that never end (a chunk-size line, a chunk extension, a trailer), silent connections beyond
// the connection limits and beyond the file descriptor limit. The memory tests run the wshub
// binary as a child process and read its /proc/<pid>/status (VmRSS, VmHWM) and /proc/<pid>/fd;
// docs/RELIABILITY.md derives the bounds they check and quotes the figures they print.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "reliability_support.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using namespace reliability;

void report(const std::string& line) { std::cout << "[reliability] " << line << std::endl; }

// A field of /proc/<pid>/status in KiB (VmRSS, VmHWM), 0 when absent.
long status_kb(int pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return 0;
}

long open_descriptors(int pid) {
  std::error_code ec;
  long n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

// Samples the child's descriptor count until stopped; keeps the highest.
class descriptor_watch {
 public:
  explicit descriptor_watch(int pid)
      : thread_([this, pid] {
          for (int i = 0; i < 100'000 && !stop_; ++i) {
            highest_ = std::max(highest_.load(), open_descriptors(pid));
            std::this_thread::sleep_for(5ms);  // a sampling period, not a synchronization
          }
        }) {}
  ~descriptor_watch() { stop(); }
  long stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return highest_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> highest_{0};
  std::thread thread_;
};

std::vector<std::string> server_args(const std::filesystem::path& data_dir, std::vector<std::string> extra) {
  std::vector<std::string> args = {"--listen.port", "0", "--data_dir", data_dir.string(), "--log.level", "info",
                                   "--io_threads", "2", "--http.request_timeout", "120"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// A subscriber on `channel` and a keep-alive publisher, both from `source`: every one of
// `messages` publishes is acknowledged and arrives, in order. Empty when so, else what went wrong.
std::string well_behaved_round(std::uint16_t port, const std::string& channel, int messages,
                               const std::string& source = {}) {
  ws_client::options opts;
  opts.target = "/socket/system/message?channel=" + channel;
  opts.source_address = source;
  opts.timeout = 60s;
  ws_client subscriber(port, opts);
  http_connection publisher(port, 60s, source);
  for (int i = 0; i < messages; ++i) {
    const auto reply = publisher.publish("calm " + std::to_string(i), channel);
    if (!reply || reply->status != 200) return "publish " + std::to_string(i) + " answered " + (reply ? reply->body : "nothing");
  }
  for (int i = 0; i < messages; ++i) {
    const auto text = subscriber.read();
    if (!text) return "the subscriber got " + std::to_string(i) + " of " + std::to_string(messages);
    if (json::parse(*text)["message"] != "calm " + std::to_string(i)) return "out of order: " + *text;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// RFC 9112 framing: what Beast 1.81 accepts and a server must not.

TEST(hostile_http_test, requests_that_break_rfc9112_framing_get_400_and_change_nothing) {
  temp_dir dir;
  running_app server(test_config(dir.path()));
  const std::string form = "Content-Type: application/x-www-form-urlencoded\r\n";
  const std::string post = "POST /api/tool/send_message HTTP/1.1\r\nHost: localhost\r\n" + form;
  const std::string chunked_body = "10\r\nmessage=smuggled\r\n0\r\n\r\n";
  const std::pair<std::string, std::string> refused[] = {
      {"Transfer-Encoding gzip with Content-Length",
       post + "Transfer-Encoding: gzip\r\nContent-Length: 16\r\n\r\nmessage=smuggled"},
      {"Content-Length, then Transfer-Encoding gzip",
       post + "Content-Length: 16\r\nTransfer-Encoding: gzip\r\n\r\nmessage=smuggled"},
      {"Transfer-Encoding gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked_body},
      {"Transfer-Encoding chunked, chunked", post + "Transfer-Encoding: chunked, chunked\r\n\r\n" + chunked_body},
      {"two Transfer-Encoding headers",
       post + "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_body},
      {"Transfer-Encoding identity", post + "Transfer-Encoding: identity\r\n\r\nmessage=smuggled"},
      {"chunked on HTTP/1.0",
       "POST /api/tool/send_message HTTP/1.0\r\n" + form + "Transfer-Encoding: chunked\r\n\r\n" + chunked_body},
      {"HTTP/1.1 without Host",
       "POST /api/tool/send_message HTTP/1.1\r\n" + form + "Content-Length: 16\r\n\r\nmessage=smuggled"},
      {"HTTP/1.1 with two Host headers", post + "Host: y\r\nContent-Length: 16\r\n\r\nmessage=smuggled"},
      {"obs-fold in a header", post + "X-Folded: a\r\n b\r\nContent-Length: 16\r\n\r\nmessage=smuggled"},
      {"obs-fold with a tab", post + "Content-Length:\r\n\t16\r\n\r\nmessage=smuggled"},
      {"whitespace before the first header",
       "POST /api/tool/send_message HTTP/1.1\r\n Host: localhost\r\n" + form + "Content-Length: 16\r\n\r\nmessage=smuggled"},
  };
  for (const auto& [name, bytes] : refused) {
    const auto raw = exchange(server.port(), bytes);
    EXPECT_EQ(status_and_code(raw), std::make_pair(400, 10207)) << name << "\n" << raw;
  }
  EXPECT_EQ(server.get().counters().published.load(), 0u) << "a refused request published";

  // What the rules allow: HTTP/1.0 without Host, "chunked" in any case, one Host.
  EXPECT_EQ(status_and_code(exchange(server.port(), "POST /api/tool/send_message HTTP/1.0\r\n" + form +
                                                        "Content-Length: 10\r\n\r\nmessage=ok")),
            std::make_pair(200, 0));
  EXPECT_EQ(status_and_code(exchange(server.port(), post + "Transfer-Encoding: Chunked\r\nConnection: close\r\n\r\n" +
                                                        "a\r\nmessage=ok\r\n0\r\n\r\n")),
            std::make_pair(200, 0));
  EXPECT_EQ(server.get().counters().published.load(), 2u);
}

// A kept-alive connection waits up to keep_alive_timeout for its next request, but once that
// request's first byte arrives it has request_timeout to arrive whole.
TEST(hostile_http_test, a_kept_alive_connections_next_request_gets_the_request_timeout) {
  temp_dir dir;
  auto cfg = test_config(dir.path());
  cfg.http.request_timeout = 1s;
  cfg.http.keep_alive_timeout = 120s;
  running_app server(cfg);
  const int fd = connect_loopback(server.port(), 60s);
  ASSERT_TRUE(send_all(fd, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  std::string in;
  char buf[4096];
  while (in.find("{\"status\":\"ok\"}") == std::string::npos) {
    const auto n = recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "no answer to the first request";
    in.append(buf, static_cast<std::size_t>(n));
  }
  // Idle for longer than request_timeout: the connection stays (nothing must happen on it).
  pollfd idle{fd, POLLIN, 0};
  EXPECT_EQ(poll(&idle, 1, 2500), 0) << "an idle kept-alive connection was cut before keep_alive_timeout";

  const auto started = steady::now();
  ASSERT_TRUE(send_all(fd, "GET /heal"));
  const auto n = recv(fd, buf, sizeof buf, 0);  // waits for the server's close (or 60 s)
  const double seconds = std::chrono::duration<double>(steady::now() - started).count();
  EXPECT_EQ(n, 0) << "the server did not close the connection (errno " << errno << ")";
  EXPECT_LT(seconds, 30.0) << "the next request got keep_alive_timeout (120 s), not request_timeout (1 s)";
  EXPECT_GE(seconds, 0.9) << "cut before request_timeout";
  close(fd);
  report("a kept-alive connection's unfinished next request was cut " + std::to_string(seconds) +
         " s after its first byte (request_timeout 1 s, keep_alive_timeout 120 s)");
}

// ---------------------------------------------------------------------------------------------
// Memory and descriptors of the server process under attack.

struct endless_result {
  int status = 0;       // the answer's status, 0 when the connection was cut before one was read
  bool closed = false;  // the server closed or reset the connection
  double seconds = 0;   // from the first byte sent to the close
  std::size_t sent = 0;
};

// Sends `head`, then `filler` bytes in 64 KiB writes, up to `most` bytes or until the server
// stops the connection; then reads the answer until the server closes (or 60 s).
endless_result send_endless(std::uint16_t port, const std::string& head, char filler, std::size_t most) {
  endless_result r;
  const int fd = connect_loopback(port, 60s);
  const auto started = steady::now();
  const std::string piece(64 * 1024, filler);
  if (send_all(fd, head))
    while (r.sent < most && send_all(fd, piece)) r.sent += piece.size();
  std::string in;
  char buf[4096];
  for (;;) {
    const auto n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      in.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    r.closed = n == 0 || errno == ECONNRESET;
    break;
  }
  r.seconds = std::chrono::duration<double>(steady::now() - started).count();
  r.status = status_and_code(in).first;
  close(fd);
  return r;
}

// Every byte the server holds for a request is bounded by http.header_limit (the header, a
// chunk-size line with its extensions, the trailer) and http.body_limit (the body): 20
// connections that each send a chunk-size line, a chunk extension, a trailer or a header that
// never ends are answered 413/431 and closed once they pass header_limit, and the server's memory
// grows by less than what those limits allow them to hold.
TEST(hostile_http_memory_test, endless_chunk_lines_extensions_and_trailers_are_cut_at_the_header_limit) {
  temp_dir dir;
  constexpr long header_limit = 8 * 1024;
  spawned_server server(server_args(dir.path(), {"--http.header_limit", std::to_string(header_limit)}));
  const auto port = server.port();
  ASSERT_EQ(well_behaved_round(port, "calm", 5), "");  // warms the paths the attack takes
  const long rss_before = status_kb(server.pid(), "VmRSS");

  const std::string head = "POST /api/tool/send_message HTTP/1.1\r\nHost: localhost\r\n"
                           "Content-Type: application/x-www-form-urlencoded\r\n";
  const std::string chunked = head + "Transfer-Encoding: chunked\r\n\r\n";
  struct kind {
    std::string name;
    std::string start;
    char filler;
    int expected_status;
  } kinds[] = {
      {"an endless chunk-size line", chunked + "1", '0', 413},
      {"an endless chunk extension", chunked + "1;ext=", 'e', 413},
      {"an endless trailer", chunked + "5\r\nmessa\r\n0\r\nX-Trailer: ", 't', 413},
      {"an endless header", head + "X-Header: ", 'h', 431},
  };
  constexpr int per_kind = 5;
  constexpr std::size_t most = 8 * 1024 * 1024;  // per connection: what the server held before
  std::vector<endless_result> results(std::size(kinds) * per_kind);
  std::vector<std::thread> attackers;
  for (std::size_t i = 0; i < results.size(); ++i)
    attackers.emplace_back([&, i] {
      const auto& k = kinds[i / per_kind];
      try {
        results[i] = send_endless(port, k.start, k.filler, most);
      } catch (const std::exception&) {
      }
    });
  const auto calm = well_behaved_round(port, "calm", 20);
  for (auto& t : attackers) t.join();
  EXPECT_EQ(calm, "") << "a well-behaved client during the attack";

  double slowest = 0;
  int cut = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& k = kinds[i / per_kind];
    const auto& r = results[i];
    EXPECT_TRUE(r.closed) << k.name << ": the connection was held (" << r.sent << " bytes sent)";
    EXPECT_LT(r.seconds, 30.0) << k.name << ": not cut at once (request_timeout is 120 s)";
    // The answer is read unless the reset for the unread rest overtook it.
    if (r.status != 0) {
      EXPECT_EQ(r.status, k.expected_status) << k.name;
    }
    slowest = std::max(slowest, r.seconds);
    cut += r.closed;
  }
  // Per connection: the read buffer (header_limit), the parsed header and trailer fields (each
  // under header_limit of text, plus Beast's per-field overhead, small for these few fields), the
  // session, parser and socket objects (under 64 KiB); 16 MiB for the allocator and the threads.
  const long peak = status_kb(server.pid(), "VmHWM");
  const long growth = peak - rss_before;
  const long bound = static_cast<long>(results.size()) * (2 * header_limit + 64 * 1024) / 1024 + 16 * 1024;
  EXPECT_LT(growth, bound) << "KiB";
  std::ostringstream line;
  line << results.size() << " connections sending endless chunk-size lines, chunk extensions, trailers and headers "
       << "(header_limit " << header_limit / 1024 << " KiB): " << cut << " cut, the slowest after " << slowest
       << " s; server RSS " << rss_before / 1024 << " MiB before, peak +" << growth << " KiB (bound " << bound
       << " KiB)";
  report(line.str());
}

// Silent connections beyond http.max_connections_per_ip are answered 429 at once (a refusal does
// not wait for a request) and closed within refusal_timeout; at most max_refusals_in_flight are
// being answered at a time, the rest are closed unanswered. The server's descriptors and memory
// stay bounded by the limits, not by the attack, and a client from another address is served.
TEST(hostile_http_memory_test, silent_connections_beyond_the_limits_are_answered_and_closed_at_once) {
  temp_dir dir;
  constexpr int max_connections = 100, per_ip = 10, silent = 2000;
  spawned_server server(server_args(dir.path(), {"--http.max_connections", std::to_string(max_connections),
                                                 "--http.max_connections_per_ip", std::to_string(per_ip)}));
  const auto port = server.port();
  ASSERT_EQ(well_behaved_round(port, "calm", 5, "127.0.0.2"), "");
  const long rss_before = status_kb(server.pid(), "VmRSS");
  const long fds_before = open_descriptors(server.pid());

  // The address's allowance, held by silent connections (for request_timeout: 120 s).
  std::vector<int> holders;
  for (int i = 0; i < per_ip; ++i) holders.push_back(connect_loopback(port, 60s));
  // One more, that asks: the refusal is a JSON 429 and the connection closes.
  {
    const auto started = steady::now();
    const auto raw = exchange(port, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 60s);
    EXPECT_EQ(status_and_code(raw), std::make_pair(429, 10102)) << raw;
    EXPECT_NE(raw.find("Retry-After: 1"), std::string::npos) << raw;
    EXPECT_LT(std::chrono::duration<double>(steady::now() - started).count(), 30.0);
  }

  descriptor_watch watch(server.pid());
  std::vector<int> fds;
  const auto opened_at = steady::now();
  for (int i = 0; i < silent; ++i) fds.push_back(connect_loopback(port, 60s));
  const auto calm = well_behaved_round(port, "calm", 20, "127.0.0.2");

  // Each silent connection sees the server close it (after a 429, or without one).
  int closed = 0, answered = 0;
  std::vector<bool> done(fds.size(), false);
  const auto deadline = steady::now() + 60s;
  while (closed < silent && steady::now() < deadline) {
    std::vector<pollfd> polled;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (!done[i]) {
        polled.push_back({fds[i], POLLIN, 0});
        index.push_back(i);
      }
    if (poll(polled.data(), polled.size(), 100) <= 0) continue;
    for (std::size_t j = 0; j < polled.size(); ++j) {
      if (!polled[j].revents) continue;
      char buf[4096];
      const auto n = recv(fds[index[j]], buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        answered += std::string_view(buf, static_cast<std::size_t>(n)).rfind("HTTP/1.1 429", 0) == 0;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      done[index[j]] = true;
      ++closed;
    }
  }
  const double seconds = std::chrono::duration<double>(steady::now() - opened_at).count();
  EXPECT_EQ(calm, "") << "a client from another address during the attack";
  EXPECT_EQ(closed, silent) << "refused connections still open after " << seconds << " s (request_timeout 120 s)";
  // The server lets go of its side within refusal_timeout (1 s) of each refusal.
  EXPECT_TRUE(eventually([&] { return open_descriptors(server.pid()) <= fds_before + per_ip; }, 30s))
      << open_descriptors(server.pid()) << " descriptors, " << fds_before << " before";
  const long most_fds = watch.stop();
  const long peak = status_kb(server.pid(), "VmHWM");
  for (const int fd : fds) close(fd);
  for (const int fd : holders) close(fd);

  // Descriptors: those before, the allowance, the 2 well-behaved sockets, the refusals being
  // answered, and the few accepted but not yet handed to a session.
  const long fd_bound = fds_before + per_ip + 2 + 256 + 64;
  EXPECT_LE(most_fds, fd_bound);
  // Memory: a refused connection holds its session and socket objects, under 64 KiB each.
  const long growth = peak - rss_before;
  const long bound = (per_ip + 2 + 256) * 64 + 16 * 1024;
  EXPECT_LT(growth, bound) << "KiB";
  std::ostringstream line;
  line << silent << " silent connections beyond max_connections_per_ip " << per_ip << ": " << closed
       << " closed within " << seconds << " s (" << answered << " read their 429 first); server descriptors at most " << most_fds << " ("
       << fds_before << " before, bound " << fd_bound << "), RSS peak +" << growth << " KiB (bound " << bound << " KiB)";
  report(line.str());
}

// Out of file descriptors, the listener still takes each waiting connection and closes it, so
// clients learn at once instead of waiting in the backlog, and it warns once, not per event;
// once descriptors are free again, clients are served.
TEST(hostile_http_memory_test, out_of_descriptors_new_connections_are_closed_at_once) {
  temp_dir dir;
  constexpr rlim_t limit = 64;
  constexpr int connections = 300;
  spawned_server server(server_args(dir.path(), {}), [] {
    const rlimit l{limit, limit};
    return setrlimit(RLIMIT_NOFILE, &l) == 0;
  });
  const auto port = server.port();
  ASSERT_EQ(well_behaved_round(port, "calm", 3), "");

  const auto started = steady::now();
  std::vector<int> fds;
  for (int i = 0; i < connections; ++i) fds.push_back(connect_loopback(port, 60s));
  // The server can hold at most `limit` descriptors; every other connection must be closed.
  int closed = 0;
  std::vector<bool> done(fds.size(), false);
  EXPECT_TRUE(eventually(
      [&] {
        for (std::size_t i = 0; i < fds.size(); ++i) {
          if (done[i]) continue;
          char c;
          const auto n = recv(fds[i], &c, 1, MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            done[i] = true;
            ++closed;
          }
        }
        return closed >= connections - static_cast<int>(limit);
      },
      30s))
      << closed << " of " << connections << " closed (request_timeout 120 s)";
  const double seconds = std::chrono::duration<double>(steady::now() - started).count();
  for (const int fd : fds) close(fd);

  // Once the held connections are gone, the server serves again.
  EXPECT_TRUE(eventually([&] {
    try {
      return http_request(port, "GET", "/healthz").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }, 30s));
  const auto out = server.output();
  long warnings = 0;
  for (auto at = out.find("accept failed"); at != std::string::npos; at = out.find("accept failed", at + 1)) ++warnings;
  const double elapsed = std::chrono::duration<double>(steady::now() - started).count();
  EXPECT_GE(warnings, 1);
  EXPECT_LE(warnings, 1 + static_cast<long>(elapsed / 10)) << "one warning per 10 s at most";
  report(std::to_string(connections) + " connections to a server limited to " + std::to_string(limit) +
         " descriptors: " + std::to_string(closed) + " closed at once (within " + std::to_string(seconds) + " s), " +
         std::to_string(warnings) + " warning logged");
}

}  // namespace
}  // namespace wshub::test
