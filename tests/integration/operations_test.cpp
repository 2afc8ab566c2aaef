// Running wshub as a service: systemd notifications, /metrics, /healthz and /readyz, and live
// reload on SIGHUP.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/eventually.hpp"
#include "support/test_clients.hpp"
#include "support/test_server.hpp"
#include "support/tokens.hpp"
#include "wshub/app/reload.hpp"
#include "wshub/hub/latency_histogram.hpp"

extern char** environ;

namespace wshub::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// A datagram socket playing systemd's NOTIFY_SOCKET.
class notify_socket {
 public:
  explicit notify_socket(const std::filesystem::path& path) : path_(path.string()) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (fd_ < 0 || path_.size() >= sizeof addr.sun_path) throw std::runtime_error("cannot make a notify socket");
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("cannot bind " + path_);
  }
  ~notify_socket() { close(fd_); }
  const std::string& path() const { return path_; }

  // The next datagram, or nullopt after `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buf[4096];
    const auto n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

  // Receives until a datagram equal to `want` (or starting with it, when `prefix`), skipping
  // others; the skipped ones are appended to `skipped` when given.
  std::optional<std::string> receive_until(const std::string& want, bool prefix, std::chrono::milliseconds timeout,
                                           std::vector<std::string>* skipped = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto m = receive(left);
      if (!m) return std::nullopt;
      if (prefix ? m->rfind(want, 0) == 0 : *m == want) return m;
      if (skipped) skipped->push_back(*m);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// The wshub binary as a child with extra environment variables; stdout and stderr are read as
// the test waits for lines, so a test can wait for what the server logs.
class service_process {
 public:
  service_process(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    const auto bin = wshub_binary();
    std::vector<std::string> env_strings;
    for (char** e = environ; e && *e; ++e) env_strings.emplace_back(*e);
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::vector<char*> argv{const_cast<char*>(bin.c_str())}, envp;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      dup2(out[1], STDERR_FILENO);
      execve(bin.c_str(), argv.data(), envp.data());
      _exit(127);
    }
    close(out[1]);
    out_fd_ = out[0];
    std::smatch m;
    if (!wait_for(R"(listening on 127\.0\.0\.1:(\d+))", 10s, &m))
      throw std::runtime_error("wshub did not report listening; output:\n" + output_);
    port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
  }
  ~service_process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_fd_);
  }

  std::uint16_t port() const { return port_; }
  const std::string& output() const { return output_; }
  void signal(int signo) { kill(pid_, signo); }

  // Reads output until `pattern` matches what arrived after the previous successful wait.
  bool wait_for(const std::string& pattern, std::chrono::milliseconds timeout, std::smatch* match = nullptr) {
    const std::regex re(pattern);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::smatch m;
      const std::string& text = output_;
      if (std::regex_search(text.begin() + static_cast<std::ptrdiff_t>(seen_), text.end(), m, re)) {
        seen_ = static_cast<std::size_t>(m[0].second - text.begin());
        if (match) *match = m;
        return true;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[4096];
      const auto n = read(out_fd_, buf, sizeof buf);
      if (n <= 0) return false;
      output_.append(buf, static_cast<std::size_t>(n));
    }
  }

  // The exit code, or -1 when it did not exit within `timeout` (it is killed) or died of a signal.
  int wait_exit(std::chrono::milliseconds timeout) {
    const int code = wait_for_exit(pid_, timeout);
    pid_ = -1;
    // What it wrote last (a sanitizer's report, say): the pipe ends once it has exited.
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{out_fd_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const auto n = read(out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      output_.append(buf, static_cast<std::size_t>(n));
    }
    return code;
  }

 private:
  int pid_ = -1;
  int out_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string output_;
  std::size_t seen_ = 0;  // output_ before this was matched by an earlier wait_for
};

// "name{labels}" -> value, for every sample line of a Prometheus text page.
std::map<std::string, double> parse_metrics(const std::string& page) {
  std::map<std::string, double> samples;
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) throw std::runtime_error("not a sample line: " + line);
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

std::map<std::string, double> scrape(std::uint16_t port) {
  const auto reply = http_request(port, "GET", "/metrics");
  if (reply.status != 200) throw std::runtime_error("/metrics answered " + std::to_string(reply.status));
  return parse_metrics(reply.body);
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(operations_test, latency_histogram_buckets_are_upper_inclusive) {
  hub::latency_histogram h;
  h.record(1ms);     // exactly 0.001: the le="0.001" bucket
  h.record(1500us);  // 0.0025
  h.record(60s);     // past every bound: +Inf only
  const auto s = h.read();
  EXPECT_EQ(s.count, 3u);
  EXPECT_EQ(s.counts[1], 1u);
  EXPECT_EQ(s.counts[2], 1u);
  EXPECT_EQ(s.counts.back(), 1u);
  EXPECT_NEAR(s.sum_seconds, 60.0025, 1e-9);
}

TEST(operations_test, metrics_count_known_traffic) {
  temp_dir dir;
  running_app server(test_config(dir.path()));
  const auto port = server.port();
  ws_client a(port), b(port);
  std::size_t bytes = 0;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(publish_form(port, "metered " + std::to_string(i)).status, 200);
  for (auto* client : {&a, &b}) {
    for (int i = 0; i < 3; ++i) {
      const auto frame = client->read();
      ASSERT_TRUE(frame);
      bytes += frame->size();
    }
  }
  EXPECT_EQ(try_upgrade(port, {{"Origin", "http://evil.example"}}), 403);

  const auto reply = http_request(port, "GET", "/metrics");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  for (const char* family : {"wshub_connections gauge", "wshub_messages_published_total counter",
                             "wshub_publish_store_seconds histogram", "wshub_refusals_total counter"})
    EXPECT_NE(reply.body.find(std::string("# TYPE ") + family), std::string::npos) << family;

  // The byte count lands in the server's write handlers, just after the clients read the frames.
  std::map<std::string, double> m;
  EXPECT_TRUE(eventually([&] {
    m = scrape(port);
    return m["wshub_bytes_sent_total"] == static_cast<double>(bytes);
  })) << m["wshub_bytes_sent_total"] << " != " << bytes;
  EXPECT_EQ(m["wshub_connections"], 2);
  EXPECT_EQ(m["wshub_subscriptions"], 2);
  EXPECT_EQ(m["wshub_messages_published_total"], 3);
  EXPECT_EQ(m["wshub_messages_delivered_total"], 6);
  EXPECT_EQ(m["wshub_publish_failures_total"], 0);
  EXPECT_EQ(m["wshub_slow_consumer_closes_total"], 0);
  EXPECT_EQ(m["wshub_refusals_total{reason=\"origin\"}"], 1);
  EXPECT_EQ(m["wshub_refusals_total{reason=\"connection_limit\"}"], 0);
  EXPECT_EQ(m["wshub_refusals_total{reason=\"token\"}"], 0);
  EXPECT_EQ(m["wshub_store_writable"], 1);
  EXPECT_EQ(m["wshub_store_last_id"], 3);
  EXPECT_GE(m["wshub_store_commits_total"], 1);  // three messages: one to three commits
  EXPECT_LE(m["wshub_store_commits_total"], 3);
  EXPECT_EQ(m["wshub_redis_configured"], 0);
  EXPECT_EQ(m["wshub_build_info{version=\"" WSHUB_VERSION "\"}"], 1);

  EXPECT_EQ(m["wshub_publish_store_seconds_count"], 3);
  EXPECT_GT(m["wshub_publish_store_seconds_sum"], 0);
  EXPECT_EQ(m["wshub_publish_store_seconds_bucket{le=\"+Inf\"}"], 3);
  double previous = 0;
  for (const double bound : hub::latency_histogram::bounds) {
    std::ostringstream key;
    key << "wshub_publish_store_seconds_bucket{le=\"" << bound << "\"}";
    ASSERT_TRUE(m.count(key.str())) << key.str();
    EXPECT_GE(m[key.str()], previous) << "buckets are cumulative";
    previous = m[key.str()];
  }

  EXPECT_EQ(http_request(port, "POST", "/metrics", "x").status, 405);
}

TEST(operations_test, refusals_over_the_connection_limit_are_counted) {
  temp_dir dir;
  auto cfg = test_config(dir.path());
  cfg.http.max_connections = 1;
  running_app server(cfg);
  {
    ws_client holder(server.port());
    EXPECT_EQ(http_request(server.port(), "GET", "/metrics").status, 503) << "over the limit";
    holder.close();
  }
  std::map<std::string, double> m;
  ASSERT_TRUE(eventually([&] {
    try {
      m = scrape(server.port());
      return true;
    } catch (const std::exception&) {
      return false;  // the holder's slot is not free yet (503)
    }
  }));
  EXPECT_GE(m["wshub_refusals_total{reason=\"connection_limit\"}"], 1);
}

TEST(operations_test, health_and_readiness_follow_the_store) {
  temp_dir dir;
  const auto cfg = test_config(dir.path());
  running_app server(cfg);
  const auto port = server.port();

  auto health = http_request(port, "GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(json::parse(health.body)["status"], "ok");
  auto ready = http_request(port, "GET", "/readyz");
  ASSERT_EQ(ready.status, 200) << ready.body;
  auto body = json::parse(ready.body);
  EXPECT_EQ(body["status"], "ready");
  EXPECT_EQ(body["checks"]["store"], "ok");
  EXPECT_EQ(body["checks"]["redis"], "not configured");
  ASSERT_EQ(publish_form(port, "while writable").status, 200);

  // Another connection holds the write lock: the server's next commit fails after SQLite's busy
  // timeout, as it would on a full or read-only disk.
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(cfg.store_path().c_str(), &blocker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_EQ(publish_form(port, "while locked").status, 503);
  ready = http_request(port, "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  body = json::parse(ready.body);
  EXPECT_EQ(body["status"], "not ready");
  EXPECT_EQ(body["checks"]["store"], "unwritable");
  EXPECT_EQ(body["code"], 10101);
  EXPECT_NE(body["message"].get<std::string>().find("not writable"), std::string::npos);
  EXPECT_EQ(http_request(port, "GET", "/healthz").status, 200) << "alive all the same";
  auto m = scrape(port);
  EXPECT_EQ(m["wshub_store_writable"], 0);
  EXPECT_EQ(m["wshub_publish_failures_total"], 1);

  ASSERT_EQ(sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(blocker);
  EXPECT_EQ(publish_form(port, "writable again").status, 200);
  EXPECT_EQ(http_request(port, "GET", "/readyz").status, 200);
}

TEST(operations_test, sd_notify_reports_ready_watchdog_reload_and_stopping) {
  temp_dir dir;
  notify_socket systemd(dir.path() / "notify");
  service_process server({"--listen.port", "0", "--data-dir", (dir.path() / "data").string()},
                         {{"NOTIFY_SOCKET", systemd.path()}, {"WATCHDOG_USEC", "400000"}});

  std::vector<std::string> before_ready;
  const auto ready = systemd.receive_until("READY=1\n", true, 5s, &before_ready);
  ASSERT_TRUE(ready) << server.output();
  EXPECT_EQ(*ready, "READY=1\nSTATUS=listening on 127.0.0.1:" + std::to_string(server.port()));
  for (const auto& m : before_ready) EXPECT_EQ(m, "WATCHDOG=1");

  // WATCHDOG_USEC is 400 ms: pings come every 200 ms, never as late as the interval.
  int pings = 0;
  auto last = std::chrono::steady_clock::now();
  auto longest = std::chrono::steady_clock::duration::zero();
  const auto until = last + 1200ms;
  while (std::chrono::steady_clock::now() < until) {
    const auto m = systemd.receive(400ms);
    ASSERT_TRUE(m) << "no watchdog ping within WATCHDOG_USEC";
    ASSERT_EQ(*m, "WATCHDOG=1");
    const auto now = std::chrono::steady_clock::now();
    longest = std::max(longest, now - last);
    last = now;
    ++pings;
  }
  EXPECT_GE(pings, 4);
  EXPECT_LT(longest, 400ms) << "a ping came later than WATCHDOG_USEC";

  server.signal(SIGHUP);
  ASSERT_TRUE(systemd.receive_until("RELOADING=1", false, 5s)) << server.output();
  const auto reloaded = systemd.receive_until("READY=1\n", true, 5s);
  ASSERT_TRUE(reloaded) << server.output();
  EXPECT_EQ(*reloaded, "READY=1\nSTATUS=configuration reloaded");

  server.signal(SIGTERM);
  EXPECT_TRUE(systemd.receive_until("STOPPING=1", false, 5s)) << server.output();
  EXPECT_EQ(server.wait_exit(10s), 0) << server.output();
}

TEST(operations_test, sighup_applies_log_level_and_origins_without_dropping_sockets) {
  temp_dir dir;
  const auto file = dir.path() / "wshub.json";
  write_file(file, R"({"log": {"level": "info"}, "store": {"synchronous": "normal"},
                       "http": {"max_connections": 10}, "websocket": {"allowed_origins": []}})");
  service_process server({"--config", file.string(), "--listen.port", "0", "--data-dir",
                          (dir.path() / "data").string(), "--http.max_connections", "50"},
                         {});
  const auto port = server.port();
  const std::map<std::string, std::string> from_app{{"Origin", "https://app.example.com"}};
  ws_client kept(port);
  EXPECT_EQ(try_upgrade(port, from_app), 403);

  // A reload that changes nothing logs no change, and nothing at debug level yet.
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for("configuration reloaded: 0 change", 5s)) << server.output();
  EXPECT_EQ(server.output().find(" debug "), std::string::npos) << server.output();

  write_file(file, R"({"log": {"level": "debug"}, "store": {"synchronous": "full"},
                       "http": {"max_connections": 10}, "websocket": {"allowed_origins": ["https://app.example.com"]}})");
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for("configuration reloaded: 2 change\\(s\\) applied, 1 need", 5s)) << server.output();
  const auto& out = server.output();
  EXPECT_NE(out.find(R"(reload: log.level changed from "info" to "debug")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"(reload: websocket.allowed_origins changed from [] to ["https://app.example.com"])"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(R"(store.synchronous changed from "normal" to "full", which needs a restart)"), std::string::npos)
      << out;
  EXPECT_EQ(out.find("http.max_connections"), std::string::npos) << "the flag keeps winning over the file";
  EXPECT_TRUE(server.wait_for(R"( debug \[wshub\] reload: compared)", 5s)) << out;

  EXPECT_EQ(try_upgrade(port, from_app), 101) << "the new allowed origin";
  ASSERT_EQ(publish_form(port, "after reload").status, 200);
  auto frame = kept.read();
  ASSERT_TRUE(frame) << "the socket opened before the reload is still open";
  EXPECT_EQ(json::parse(*frame)["message"], "after reload");

  // A bad configuration is refused whole; the running one stays.
  write_file(file, R"({"log": {"level": "loud"}, "websocket": {"allowed_origins": []}})");
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for("reload refused, keeping the running configuration: log.level", 5s)) << server.output();
  write_file(file, "{ not json");
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for("reload refused, keeping the running configuration: .*not valid JSON", 5s))
      << server.output();
  EXPECT_EQ(try_upgrade(port, from_app), 101) << "still the allowed origin of the last good configuration";
  ASSERT_EQ(publish_form(port, "after refusals").status, 200);
  frame = kept.read();
  ASSERT_TRUE(frame);
  EXPECT_EQ(json::parse(*frame)["message"], "after refusals");

  const auto m = scrape(port);
  EXPECT_EQ(m.at("wshub_config_reloads_total{result=\"applied\"}"), 2);
  EXPECT_EQ(m.at("wshub_config_reloads_total{result=\"refused\"}"), 2);
  kept.close();
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(10s), 0) << server.output();
}

// The security file of a rotation: publish keys (name -> secret; "ops" is the admin key), the
// JWT secret, the publish rate per key and the CORS origins.
std::string security_config(const std::map<std::string, std::string>& keys, const std::string& jwt_secret,
                            double rate_per_key = 0, const std::vector<std::string>& cors = {}) {
  auto list = json::array();
  for (const auto& [name, secret] : keys)
    list.push_back({{"name", name}, {"key", secret}, {"channels", {"*"}}, {"admin", name == "ops"}});
  return json{{"store", {{"synchronous", "normal"}}},
              {"http", {{"cors_origins", cors}}},
              {"security",
               {{"publish_keys", list},
                {"jwt_hs256_secret", jwt_secret},
                {"publish_rate_per_key", rate_per_key},
                {"publish_burst", 1}}}}
      .dump();
}

TEST(operations_test, sighup_rotates_keys_tokens_and_limits_without_dropping_sockets) {
  temp_dir dir;
  const auto file = dir.path() / "wshub.json";
  const std::string old_key = "old-backend-key-0123456789", new_key = "new-backend-key-0123456789";
  const std::string old_admin = "old-admin-key-0123456789", new_admin = "new-admin-key-0123456789";
  const std::string new_secret = "a-second-test-secret-long-enough-for-hs256";
  write_file(file, security_config({{"backend", old_key}, {"ops", old_admin}}, jwt_secret));
  service_process server({"--config", file.string(), "--listen.port", "0", "--data-dir",
                          (dir.path() / "data").string()},
                         {});
  const auto port = server.port();
  const auto publish = [port](const std::string& key, const std::string& message) {
    return http_request(port, "POST", "/api/tool/send_message", "message=" + message,
                        {{"X-API-Key", key}, {"Content-Type", "application/x-www-form-urlencoded"}})
        .status;
  };
  const auto metrics = [port](const std::string& key) {
    return http_request(port, "GET", "/metrics", "", {{"X-API-Key", key}}).status;
  };
  const auto token_for = [](const std::string& secret) {
    return "?token=" + make_token({{"sub", "ann"}, {"exp", now_s() + 3600}}, secret);
  };
  const auto upgrade_with = [port](const std::string& query) {
    return try_upgrade(port, {}, "/socket/system/message" + query);
  };
  const auto preflight = [port] {
    return http_request(port, "OPTIONS", "/api/tool/send_message", "",
                        {{"Origin", "https://app.example.com"}, {"Access-Control-Request-Method", "POST"}})
        .status;
  };
  // Open sockets: one plain, one with a token signed by the secret that is about to go.
  ws_client plain(port);
  auto with_token = v1_client(port, token_for(jwt_secret));
  const auto receives = [&](const std::string& message) {
    for (auto* c : {&plain, with_token.get()}) {
      const auto frame = c->read();
      if (!frame) return false;
      const auto j = json::parse(*frame);
      if (j.value("message", "") != message) return false;
    }
    return true;
  };
  ASSERT_EQ(publish(old_key, "before"), 200);
  ASSERT_TRUE(receives("before"));
  EXPECT_EQ(publish(new_key, "early"), 401) << "the new key before it is configured";
  EXPECT_EQ(preflight(), 405) << "no CORS yet";

  // Rotation, step 1: the old and the new key are both valid.
  write_file(file, security_config({{"backend", old_key}, {"backend2", new_key}, {"ops", old_admin}}, jwt_secret));
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for("configuration reloaded: 1 change", 5s)) << server.output();
  EXPECT_EQ(publish(old_key, "old"), 200);
  ASSERT_TRUE(receives("old"));
  EXPECT_EQ(publish(new_key, "new"), 200);
  ASSERT_TRUE(receives("new"));

  // Step 2: the old key, the old admin key and the old JWT secret go; a rate limit and a CORS
  // origin come.
  write_file(file, security_config({{"backend2", new_key}, {"ops", new_admin}}, new_secret, 0.001,
                                   {"https://app.example.com"}));
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for("configuration reloaded: 4 change", 5s)) << server.output();
  EXPECT_EQ(server.output().find(old_key), std::string::npos) << "a secret reached the log";
  EXPECT_EQ(publish(old_key, "removed"), 401);
  EXPECT_EQ(metrics(old_admin), 401);
  EXPECT_EQ(metrics(new_admin), 200);
  EXPECT_EQ(upgrade_with(token_for(jwt_secret)), 401) << "a token of the old secret";
  EXPECT_EQ(upgrade_with(token_for(new_secret)), 101);
  EXPECT_EQ(preflight(), 204);
  EXPECT_EQ(publish(new_key, "limited"), 200) << "the first publish of the burst";
  ASSERT_TRUE(receives("limited")) << "the sockets opened before both reloads are still open";
  EXPECT_EQ(publish(new_key, "too fast"), 429);

  // A broken file changes nothing: not a bad value (the old key back with a short JWT secret),
  // not bad JSON.
  write_file(file, security_config({{"backend", old_key}, {"ops", old_admin}}, "short"));
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for("reload refused, keeping the running configuration: security.jwt_hs256_secret", 5s))
      << server.output();
  write_file(file, "{\"security\": ");
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for("reload refused, keeping the running configuration: .*not valid JSON", 5s))
      << server.output();
  EXPECT_EQ(publish(old_key, "still removed"), 401);
  EXPECT_EQ(metrics(old_admin), 401);
  EXPECT_EQ(metrics(new_admin), 200);
  EXPECT_EQ(upgrade_with(token_for(new_secret)), 101);
  EXPECT_EQ(publish(new_key, "still limited"), 429);

  // A reload that keeps the rate and burst keeps what each key has used.
  write_file(file, security_config({{"backend2", new_key}, {"ops", new_admin}}, new_secret, 0.001,
                                   {"https://app.example.com", "https://other.example.com"}));
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for("configuration reloaded: 1 change", 5s)) << server.output();
  EXPECT_EQ(publish(new_key, "limited still"), 429) << "the limiter and its bucket were kept";

  const auto m = http_request(port, "GET", "/metrics", "", {{"X-API-Key", new_admin}}).body;
  EXPECT_NE(m.find("wshub_config_reloads_total{result=\"applied\"} 3\n"), std::string::npos) << m;
  EXPECT_NE(m.find("wshub_config_reloads_total{result=\"refused\"} 2\n"), std::string::npos) << m;
  EXPECT_EQ(http_request(port, "GET", "/api/tool/stats", "", {{"X-API-Key", new_admin}}).status, 200);
  plain.close();
  with_token->close();
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(10s), 0) << server.output();
}

TEST(operations_test, debug_log_shows_close_codes_and_no_descriptor_errors) {
  temp_dir dir;
  service_process server({"--listen.port", "0", "--data-dir", (dir.path() / "data").string(), "--log.level", "debug",
                          "--store.synchronous", "normal"},
                         {});
  const auto port = server.port();
  {
    ws_client by_client(port);  // the client closes with 1000; the server answers
    ASSERT_TRUE(server.wait_for(R"(conn (\d+) open from)", 5s)) << server.output();
    by_client.close();
    ASSERT_TRUE(server.wait_for(R"(conn \d+ closed: the peer sent 1000, answered 1000)", 5s)) << server.output();
  }
  {
    auto by_server = v1_client(port);  // the operator closes it with 4001; the client answers
    std::smatch m;
    ASSERT_TRUE(server.wait_for(R"(conn (\d+) open from)", 5s, &m)) << server.output();
    const auto id = m[1].str();
    ASSERT_EQ(http_request(port, "DELETE", "/api/tool/connections/" + id).status, 200);
    EXPECT_FALSE(by_server->read());
    EXPECT_EQ(by_server->close_code(), 4001);
    ASSERT_TRUE(server.wait_for("conn " + id + R"( closed: sent 4001, the peer answered 4001)", 5s)) << server.output();
  }
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(10s), 0) << server.output();
  EXPECT_EQ(server.output().find("Bad file descriptor"), std::string::npos) << server.output();
  EXPECT_EQ(server.output().find(" read: "), std::string::npos) << server.output();
}

// The engine users get by default hands a fan-out's sends to the kernel together (io_uring), and
// every socket still gets every message, whole and in order.
TEST(operations_test, the_default_engine_batches_its_sends_through_io_uring) {
  temp_dir dir;
  service_process server({"--listen.port", "0", "--data-dir", (dir.path() / "data").string(), "--store.synchronous",
                          "normal"},
                         {});
  const auto port = server.port();  // the start-up lines are read up to "listening on"
  ASSERT_NE(server.output().find("socket writes go to the kernel in batches through io_uring"), std::string::npos)
      << server.output();
  std::vector<std::unique_ptr<ws_client>> clients;
  for (int i = 0; i < 200; ++i) clients.push_back(std::make_unique<ws_client>(port));
  constexpr int messages = 20;
  for (int m = 0; m < messages; ++m)
    ASSERT_EQ(http_request(port, "POST", "/api/tool/send_message", "message=m" + std::to_string(m),
                           {{"Content-Type", "application/x-www-form-urlencoded"}})
                  .status,
              200);
  for (auto& c : clients)
    for (int m = 0; m < messages; ++m) {
      const auto frame = c->read();
      ASSERT_TRUE(frame);
      EXPECT_EQ(json::parse(*frame)["message"], "m" + std::to_string(m)) << *frame;
    }
  // A publish wakes the 200 sessions, and each slice of up to 64 of them is one system call.
  // Whatever the batching of messages per socket (200 to 4,000 writes), with the 20 answers
  // (a write and a call each at most) the calls stay under a fifth of the writes; one call per
  // write would not.
  const auto m = scrape(port);
  const auto writes = m.at("wshub_socket_writes_total");
  const auto calls = m.at("wshub_socket_write_calls_total");
  EXPECT_GE(writes, 200) << "every socket got at least one write";
  EXPECT_LT(calls * 5, writes) << writes << " writes in " << calls << " system calls";
}

TEST(operations_test, sighup_reopens_the_log_file) {
  temp_dir dir;
  const auto log = dir.path() / "wshub.log";
  service_process server({"--listen.port", "0", "--data-dir", (dir.path() / "data").string(), "--log.file",
                          log.string()},
                         {});
  // What logrotate does: move the file away, then ask for a reopen.
  const auto rotated = dir.path() / "wshub.log.1";
  std::filesystem::rename(log, rotated);
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for("configuration reloaded", 5s)) << server.output();
  server.signal(SIGTERM);
  ASSERT_EQ(server.wait_exit(10s), 0) << server.output();
  std::stringstream old_text, new_text;
  old_text << std::ifstream(rotated).rdbuf();
  new_text << std::ifstream(log).rdbuf();
  EXPECT_NE(old_text.str().find("listening on"), std::string::npos);
  EXPECT_EQ(old_text.str().find("stopped"), std::string::npos) << "nothing written to the moved file";
  EXPECT_NE(new_text.str().find("configuration reloaded"), std::string::npos) << new_text.str();
  EXPECT_NE(new_text.str().find("stopped"), std::string::npos) << new_text.str();
}

TEST(operations_test, reload_diff_names_live_and_restart_keys) {
  app::config running, next;
  next.log.level = "debug";
  next.websocket.allowed_origins = {"https://app.example.com"};
  next.listen.port = 8080;
  const auto changes = app::diff_config(running, next);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].key, "listen.port");
  EXPECT_FALSE(changes[0].live);
  EXPECT_EQ(changes[1].key, "log.level");
  EXPECT_TRUE(changes[1].live);
  EXPECT_EQ(changes[2].key, "websocket.allowed_origins");
  EXPECT_TRUE(changes[2].live);
  const auto merged = app::merge_live(running, next);
  EXPECT_EQ(merged.log.level, "debug");
  EXPECT_EQ(merged.websocket.allowed_origins, next.websocket.allowed_origins);
  EXPECT_EQ(merged.listen.port, running.listen.port) << "needs a restart: kept";
}

TEST(operations_test, reload_diff_never_shows_secrets) {
  app::config running, next;
  next.security.jwt_hs256_secret = "a-secret-that-must-not-be-logged";
  auto changes = app::diff_config(running, next);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].key, "security.jwt_hs256_secret");
  EXPECT_EQ(changes[0].to, "(hidden)");

  running.security.publish_keys = {{"backend", "first-secret-0123456789", {"*"}, false}};
  next = running;
  next.security.publish_keys[0].secret = "second-secret-0123456789";
  changes = app::diff_config(running, next);
  ASSERT_EQ(changes.size(), 1u) << "a rotated key is a change even though get() hides it";
  EXPECT_EQ(changes[0].key, "security.publish_keys");
  EXPECT_EQ(changes[0].from.find("secret"), std::string::npos);
  EXPECT_TRUE(changes[0].live);
  EXPECT_EQ(app::merge_live(running, next).security.publish_keys, next.security.publish_keys)
      << "the secrets get() hides are applied all the same";
}

}  // namespace
}  // namespace wshub::test
