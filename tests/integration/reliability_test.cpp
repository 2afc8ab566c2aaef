// Crash safety and back-end faults, on the real binary in a child process:
// - SIGKILL at a random moment while publishing as fast as possible, restart, repeat: every
//   message that got a 2xx is in the history with its body, ids only grow, the database is intact.
// - The message log becoming unwritable (a file size limit, immutable files, a full filesystem):
//   publishing answers 503 with code 10101, live sockets stay up, and publishing recovers without
//   a restart once the fault is gone.
// docs/RELIABILITY.md explains each mechanism and lists the figures these tests print.
#include <gtest/gtest.h>

#include <linux/fs.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "reliability_support.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using namespace reliability;

// Figures go to stdout with this prefix (docs/RELIABILITY.md quotes them).
void report(const std::string& line) { std::cout << "[reliability] " << line << std::endl; }

std::vector<std::string> server_args(const std::filesystem::path& data_dir) {
  // store.synchronous stays at its default, full: an acknowledged message is on disk.
  return {"--listen.port", "0", "--data-dir", data_dir.string(), "--log.level", "info", "--io-threads", "2"};
}

// Every stored message of `channel`, in the order the history API pages through them.
std::vector<std::pair<std::uint64_t, std::string>> history_of(std::uint16_t port, const std::string& channel) {
  std::vector<std::pair<std::uint64_t, std::string>> out;
  http_connection c(port);
  std::uint64_t after = 0;
  for (int page = 0; page < 10'000; ++page) {
    const auto reply =
        c.request("GET", "/api/tool/messages?channel=" + channel + "&after=" + std::to_string(after) + "&limit=1000");
    if (!reply || reply->status != 200) throw std::runtime_error("history: " + (reply ? reply->body : "no answer"));
    const auto body = json::parse(reply->body);
    for (const auto& m : body["messages"]) out.emplace_back(m["id"].get<std::uint64_t>(), m["message"].get<std::string>());
    if (!body["has_more"].get<bool>()) break;
    after = body["next_after"].get<std::uint64_t>();
  }
  return out;
}

// PRAGMA integrity_check, and every message that is not targeted is indexed by its channels.
void expect_database_intact(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  auto one_text = [&](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    std::string text = "(no row)";
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
      text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return text;
  };
  EXPECT_EQ(one_text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(one_text("SELECT COUNT(*) FROM messages m WHERE to_conn = 0 AND to_user = '' AND NOT EXISTS"
                     " (SELECT 1 FROM message_channels c WHERE c.id = m.id)"),
            "0")
      << "a stored message is missing from its channel index";
  EXPECT_EQ(one_text("SELECT COUNT(*) FROM message_channels c WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = c.id)"),
            "0")
      << "the channel index names a message that is not stored";
  sqlite3_close(db);
}

// What one publish call acknowledged: (id, body) pairs, in the order the call sent them.
using acknowledged_list = std::vector<std::pair<std::uint64_t, std::string>>;

struct crash_options {
  std::vector<std::string> extra_args;
  // False with a small store.retention_count: retention deletes a prefix of ids, so only the
  // acknowledged messages from the oldest stored id on must be there.
  bool keeps_everything = true;
  // One publish request on `c` of messages whose bodies start with `prefix`: what it
  // acknowledged, or nullopt when the server is gone. Sets `problem` on an unexpected answer.
  std::function<std::optional<acknowledged_list>(http_connection& c, const std::string& prefix, std::string& problem)>
      publish;
  // Checks the whole stored history of each life, acknowledged or not (may be empty).
  std::function<void(const acknowledged_list& history)> check_stored;
};

std::optional<acknowledged_list> publish_one(http_connection& c, const std::string& prefix, std::string& problem) {
  const auto reply = c.publish(prefix, "crash");
  if (!reply) return std::nullopt;
  if (reply->status != 200) {
    problem = std::to_string(reply->status) + " " + reply->body;
    return acknowledged_list{};
  }
  return acknowledged_list{{json::parse(reply->body)["id"].get<std::uint64_t>(), prefix}};
}

// A batch of 1 to 40 messages to send_messages: every message of an acknowledged batch is
// acknowledged, with ids increasing in the batch's order.
std::optional<acknowledged_list> publish_batch(http_connection& c, const std::string& prefix, std::string& problem) {
  thread_local std::mt19937 random(std::random_device{}());
  const int n = std::uniform_int_distribution<int>(1, 40)(random);
  json messages = json::array();
  for (int i = 0; i < n; ++i)
    messages.push_back({{"message", prefix + "." + std::to_string(i) + "/" + std::to_string(n)}, {"channel", "crash"}});
  const auto reply = c.request("POST", "/api/tool/send_messages", json{{"messages", messages}}.dump(),
                               {{"Content-Type", "application/json"}});
  if (!reply) return std::nullopt;
  if (reply->status != 200) {
    problem = std::to_string(reply->status) + " " + reply->body;
    return acknowledged_list{};
  }
  const auto results = json::parse(reply->body)["results"];
  if (results.size() != static_cast<std::size_t>(n)) {
    problem = "a batch of " + std::to_string(n) + " got " + std::to_string(results.size()) + " results";
    return acknowledged_list{};
  }
  acknowledged_list out;
  for (int i = 0; i < n; ++i) {
    const auto id = results[i]["id"].get<std::uint64_t>();
    if (i > 0 && id <= out.back().first) problem = "the ids of a batch do not increase in its order";
    out.emplace_back(id, messages[i]["message"].get<std::string>());
  }
  return out;
}

// Every batch in the log is whole: its messages ("<prefix>.<i>/<n>") are all there, or none.
void expect_whole_batches(const acknowledged_list& history) {
  std::map<std::string, std::pair<int, int>> batches;  // prefix -> (stored, size)
  for (const auto& [id, body] : history) {
    const auto dot = body.rfind('.'), slash = body.rfind('/');
    ASSERT_TRUE(dot != std::string::npos && slash != std::string::npos && dot < slash) << body;
    auto& b = batches[body.substr(0, dot)];
    ++b.first;
    b.second = std::stoi(body.substr(slash + 1));
  }
  for (const auto& [prefix, b] : batches) EXPECT_EQ(b.first, b.second) << "batch " << prefix << " was stored in part";
}

// Eight lives, each: start on the same data folder; check the history (every message that ever
// got a 2xx is there with its body, ids strictly increase); publish as fast as possible from 4
// keep-alive connections; SIGKILL once a random number (20 to 1000) of messages were
// acknowledged; check the database (integrity, the channel index agrees with the messages) and
// that no id acknowledged in this life was given before. A last life checks once more and stops
// with SIGTERM.
void sigkill_lives(const crash_options& opts) {
  temp_dir dir;
  auto args = server_args(dir.path());
  args.insert(args.end(), opts.extra_args.begin(), opts.extra_args.end());
  const auto db_file = dir.path() / "wshub.db";
  std::mt19937 random(std::random_device{}());
  std::map<std::uint64_t, std::string> acknowledged;  // every 2xx of every life: id -> body
  constexpr int lives = 8, publishers = 4;

  // Everything acknowledged (from the oldest stored id on, when retention deletes) is there,
  // with its body, in strictly increasing id order; the rest of the history was committed
  // without its answer getting out.
  auto check_history = [&](const acknowledged_list& history, int life) {
    std::map<std::uint64_t, std::string> stored;
    for (std::size_t i = 0; i < history.size(); ++i) {
      if (i > 0) {
        ASSERT_GT(history[i].first, history[i - 1].first) << "ids must strictly increase";
      }
      stored.emplace(history[i]);
    }
    const std::uint64_t oldest = opts.keeps_everything || history.empty() ? 0 : history.front().first;
    for (const auto& [id, body] : acknowledged) {
      if (id < oldest) continue;
      const auto it = stored.find(id);
      ASSERT_NE(it, stored.end()) << "acknowledged message " << id << " was lost (life " << life << ")";
      ASSERT_EQ(it->second, body) << "message " << id << " changed";
    }
  };

  for (int life = 0; life < lives; ++life) {
    spawned_server server(args);
    const auto port = server.port();
    const auto history = history_of(port, "crash");
    check_history(history, life);
    if (opts.check_stored) opts.check_stored(history);
    if (::testing::Test::HasFatalFailure()) return;
    std::uint64_t floor = history.empty() ? 0 : history.back().first;
    if (!acknowledged.empty()) floor = std::max(floor, acknowledged.rbegin()->first);

    // Publish as fast as possible from several connections; kill at a random acknowledged count.
    const int kill_after = std::uniform_int_distribution<int>(20, 1000)(random);
    std::mutex mutex;
    std::condition_variable progressed;
    std::map<std::uint64_t, std::string> acked;  // guarded by mutex
    std::string unexpected;                      // guarded by mutex
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int p = 0; p < publishers; ++p)
      threads.emplace_back([&, p] {
        std::optional<http_connection> connection;
        try {
          connection.emplace(port);
        } catch (const std::exception&) {
          return;  // killed before this publisher got going
        }
        for (int i = 0; i < 100'000 && !stop; ++i) {
          const auto prefix = "life " + std::to_string(life) + " publisher " + std::to_string(p) + " #" + std::to_string(i);
          std::string problem;
          const auto got = opts.publish(*connection, prefix, problem);
          if (!got) return;  // the server is gone
          std::lock_guard lock(mutex);
          if (!problem.empty()) {
            unexpected = problem;
            progressed.notify_all();
            return;
          }
          for (const auto& [id, body] : *got)
            if (!acked.emplace(id, body).second) unexpected = "an id was given twice";
          progressed.notify_all();
        }
      });
    {
      std::unique_lock lock(mutex);
      progressed.wait_for(lock, 120s, [&] { return static_cast<int>(acked.size()) >= kill_after || !unexpected.empty(); });
    }
    server.kill_now();
    stop = true;
    for (auto& t : threads) t.join();
    ASSERT_EQ(unexpected, "");
    ASSERT_GE(static_cast<int>(acked.size()), kill_after) << "publishing stalled";
    for (const auto& [id, body] : acked) {
      ASSERT_GT(id, floor) << "an id at or below one given before the restart was given again";
      ASSERT_TRUE(acknowledged.emplace(id, body).second);
    }
    expect_database_intact(db_file);
    report("crash life " + std::to_string(life) + ": killed after " + std::to_string(acked.size()) +
           " acknowledged messages (aimed at " + std::to_string(kill_after) + "), " + std::to_string(history.size()) +
           " stored before");
  }

  // A last life: everything acknowledged is there, then a clean stop.
  spawned_server server(args);
  const auto history = history_of(server.port(), "crash");
  check_history(history, lives);
  if (opts.check_stored) opts.check_stored(history);
  if (::testing::Test::HasFatalFailure()) return;
  std::size_t unacknowledged = 0;
  for (const auto& [id, body] : history) unacknowledged += acknowledged.count(id) == 0;
  EXPECT_EQ(server.stop(), 0) << server.output();
  expect_database_intact(db_file);
  report("crash: " + std::to_string(lives) + " SIGKILLs, " + std::to_string(acknowledged.size()) +
         " acknowledged messages, " + std::to_string(history.size()) + " stored at the end; " +
         std::to_string(unacknowledged) + " of those were committed without their answer getting out");
}

TEST(crash_safety_test, sigkill_while_publishing_loses_no_acknowledged_message) {
  sigkill_lives({{}, true, publish_one, {}});
}

TEST(crash_safety_test, sigkill_while_publishing_batches_loses_no_acknowledged_message) {
  // Batches are stored in one transaction each: a kill leaves a batch whole or absent, never
  // acknowledged in part.
  sigkill_lives({{}, true, publish_batch, expect_whole_batches});
}

TEST(crash_safety_test, sigkill_with_retention_deleting_never_gives_an_id_twice) {
  // Retention deletes old messages in each life (after its first commit, then every 5 s), in
  // transactions a kill can interrupt: ids still only grow across restarts, and the channel
  // index stays in step with the messages.
  sigkill_lives({{"--store.retention_count", "50"}, false, publish_one, {}});
}

// --- back-end faults ---

struct fault_figures {
  int accepted_before_refusal = 0;
  double refusal_ms = 0;  // how long the first refused publish took to answer
};

// What a fault of the message log looks like from outside, whatever its cause: publishing
// answers 503 with code 10101 and says the message was not stored; a refused message is neither
// stored nor delivered; sockets stay up and usable (commands answered, new sockets accepted,
// history readable); /readyz says not ready. Once `clear` ran, publishing works again without a
// restart. `inject` starts the fault, or the fault comes by itself as messages fill the space.
fault_figures expect_store_fault_and_recovery(std::uint16_t port, const std::function<void()>& inject,
                                              const std::function<void()>& clear, std::size_t message_size) {
  fault_figures figures;
  ws_client::options v1;
  v1.target = "/socket/system/message?channel=faults";
  v1.headers["Sec-WebSocket-Protocol"] = "wshub.v1";
  ws_client live(port, v1);
  EXPECT_EQ(json::parse(live.read().value())["type"], "welcome");
  ws_client::options plain_opts;
  plain_opts.target = v1.target;
  ws_client plain(port, plain_opts);

  http_connection publisher(port);
  std::vector<std::uint64_t> accepted;
  std::vector<std::string> accepted_bodies;
  auto publish = [&](const std::string& body) { return publisher.publish(body, "faults"); };
  for (int i = 0; i < 3; ++i) {
    const auto reply = publish("before the fault " + std::to_string(i));
    EXPECT_TRUE(reply && reply->status == 200);
    accepted.push_back(json::parse(reply->body)["id"].get<std::uint64_t>());
    accepted_bodies.push_back("before the fault " + std::to_string(i));
  }

  inject();
  std::optional<http_reply> refused;
  for (int i = 0; i < 5000 && !refused; ++i) {
    const auto body = std::to_string(i) + " " + std::string(message_size, 'f');
    const auto started = steady::now();
    auto reply = publish(body);
    if (!reply) throw std::runtime_error("the server dropped the publisher");
    if (reply->status == 200) {
      accepted.push_back(json::parse(reply->body)["id"].get<std::uint64_t>());
      accepted_bodies.push_back(body);
      continue;
    }
    figures.refusal_ms = std::chrono::duration<double, std::milli>(steady::now() - started).count();
    refused = std::move(reply);
  }
  figures.accepted_before_refusal = static_cast<int>(accepted.size()) - 3;
  if (!refused) {
    ADD_FAILURE() << "the fault never made a publish fail";
    return figures;
  }
  EXPECT_EQ(refused->status, 503) << refused->body;
  auto error = json::parse(refused->body);
  EXPECT_EQ(error["code"], 10101);
  EXPECT_NE(error["message"].get<std::string>().find("could not be stored"), std::string::npos) << refused->body;
  for (int i = 0; i < 3; ++i) {
    // As large as the refused one: under a size limit a smaller commit may still fit.
    const auto again = publish("while the fault lasts " + std::to_string(i) + " " + std::string(message_size, 'f'));
    if (!again) {
      ADD_FAILURE() << "the server dropped the publisher during the fault";
      return figures;
    }
    EXPECT_EQ(again->status, 503) << "the fault is still there: " << again->body;
  }

  const auto ready = http_request(port, "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(json::parse(ready.body)["checks"]["store"], "unwritable");
  EXPECT_EQ(http_request(port, "GET", "/healthz").status, 200);
  EXPECT_EQ(http_request(port, "GET", "/api/tool/messages?channel=faults").status, 200) << "history stays readable";

  // The sockets got exactly the accepted messages, and still answer commands.
  for (std::size_t i = 0; i < accepted.size(); ++i) {
    EXPECT_EQ(json::parse(live.read().value())["id"], accepted[i]);
    EXPECT_EQ(json::parse(plain.read().value())["id"], accepted[i]);
  }
  live.send_text(R"({"type":"ping","ref":7})");
  const auto pong = json::parse(live.read().value());
  EXPECT_EQ(pong["type"], "pong");
  EXPECT_EQ(pong["ref"], 7);
  ws_client newcomer(port, v1);
  EXPECT_EQ(json::parse(newcomer.read().value())["type"], "welcome") << "new sockets are accepted during the fault";

  clear();
  const auto recovered = publish("after the fault");
  EXPECT_TRUE(recovered && recovered->status == 200) << "publishing recovers without a restart: "
                                                     << (recovered ? recovered->body : "no answer");
  if (!recovered || recovered->status != 200) return figures;
  const auto id = json::parse(recovered->body)["id"].get<std::uint64_t>();
  EXPECT_GT(id, accepted.back());
  for (auto* socket : {&live, &plain, &newcomer}) {
    const auto frame = json::parse(socket->read().value());
    EXPECT_EQ(frame["id"], id);
    EXPECT_EQ(frame["message"], "after the fault");
  }
  EXPECT_EQ(http_request(port, "GET", "/readyz").status, 200);

  accepted.push_back(id);
  accepted_bodies.push_back("after the fault");
  const auto history = history_of(port, "faults");
  EXPECT_EQ(history.size(), accepted.size()) << "only accepted messages are stored";
  for (std::size_t i = 0; i < std::min(history.size(), accepted.size()); ++i) {
    EXPECT_EQ(history[i].first, accepted[i]);
    EXPECT_EQ(history[i].second, accepted_bodies[i]);
  }
  return figures;
}

// A full disk as a size limit: RLIMIT_FSIZE makes every write past the limit fail with EFBIG
// (SIGXFSZ is ignored, as a server would). Raising the soft limit back to the hard one needs no
// privilege, so this runs everywhere.
TEST(store_fault_test, a_file_size_limit_answers_503_until_it_is_lifted) {
  temp_dir dir;
  constexpr rlim_t limit = 256 * 1024;
  spawned_server server(server_args(dir.path()), [] {
    signal(SIGXFSZ, SIG_IGN);
    rlimit r{};
    if (getrlimit(RLIMIT_FSIZE, &r) != 0) return false;
    r.rlim_cur = limit;
    return setrlimit(RLIMIT_FSIZE, &r) == 0;
  });
  const int pid = server.pid();
  const auto figures = expect_store_fault_and_recovery(
      server.port(), [] {},
      [pid] {
        rlimit r{};
        ASSERT_EQ(prlimit(pid, RLIMIT_FSIZE, nullptr, &r), 0);
        r.rlim_cur = r.rlim_max;
        ASSERT_EQ(prlimit(pid, RLIMIT_FSIZE, &r, nullptr), 0) << std::strerror(errno);
      },
      4096);
  report("file size limit (" + std::to_string(limit / 1024) + " KiB): " +
         std::to_string(figures.accepted_before_refusal) + " messages of 4 KiB accepted, then 503 in " +
         std::to_string(figures.refusal_ms) + " ms; recovered without restart");
  EXPECT_EQ(server.stop(), 0) << server.output();
  expect_database_intact(dir.path() / "wshub.db");
}

// Sets or clears the immutable attribute; false (errno set) where the file system or the
// process's privileges do not allow it.
bool set_immutable(const std::filesystem::path& file, bool on) {
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  int flags = 0;
  bool ok = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok) {
    flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    ok = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  const int saved = errno;
  close(fd);
  errno = saved;
  return ok;
}

// Clears the attribute whatever happens, so the temporary folder can be removed.
class immutable_files {
 public:
  explicit immutable_files(std::vector<std::filesystem::path> files) : files_(std::move(files)) {}
  ~immutable_files() { set(false); }
  void set(bool on) {
    for (const auto& f : files_) set_immutable(f, on);
  }

 private:
  std::vector<std::filesystem::path> files_;
};

// A read-only log. Root ignores permission bits (tests and CI run as root), so the files are made
// immutable instead (chattr +i): no process may write them, root included. Needs a file system
// with the attribute (ext4, xfs, btrfs, tmpfs) and CAP_LINUX_IMMUTABLE; skipped elsewhere.
TEST(store_fault_test, read_only_log_files_answer_503_until_writable_again) {
  temp_dir dir;
  {
    const auto probe = dir.path() / "probe";
    std::ofstream(probe) << "x";
    if (!set_immutable(probe, true))
      GTEST_SKIP() << "cannot make a file immutable here (" << std::strerror(errno)
                   << "): needs CAP_LINUX_IMMUTABLE and ext4/xfs/btrfs/tmpfs";
    set_immutable(probe, false);
  }
  spawned_server server(server_args(dir.path()));
  immutable_files files({dir.path() / "wshub.db", dir.path() / "wshub.db-wal"});
  const auto figures = expect_store_fault_and_recovery(
      server.port(), [&] { files.set(true); }, [&] { files.set(false); }, 64);
  report("read-only (immutable) log files: 503 in " + std::to_string(figures.refusal_ms) +
         " ms; recovered without restart");
  EXPECT_EQ(server.stop(), 0) << server.output();
  expect_database_intact(dir.path() / "wshub.db");
}

// Forks a single-threaded child that runs `step` (async-signal-safe calls only) and returns its
// success.
bool in_child(const std::function<bool()>& step) {
  const int pid = fork();
  if (pid == 0) _exit(step() ? 0 : 1);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// A new mount namespace in which `dir` is a tmpfs of `size`: what the server sees, no one else.
bool private_tmpfs(const char* dir, const char* size_option) {
  return unshare(CLONE_NEWNS) == 0 && mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
         mount("tmpfs", dir, "tmpfs", 0, size_option) == 0;
}

// A really full disk: the data folder is a 512 KiB tmpfs in a mount namespace of the server's own,
// so writes fail with ENOSPC; growing it to 64 MiB (a remount from inside that namespace) is the
// fault going away. Needs CAP_SYS_ADMIN (root in CI); skipped elsewhere.
TEST(store_fault_test, a_full_file_system_answers_503_until_space_is_freed) {
  temp_dir dir;
  const auto data = dir.path() / "data";
  std::filesystem::create_directories(data);
  const std::string data_dir = data.string();
  if (!in_child([&] { return private_tmpfs(data_dir.c_str(), "size=64k"); }))
    GTEST_SKIP() << "cannot mount a tmpfs in a mount namespace here (needs CAP_SYS_ADMIN)";
  spawned_server server(server_args(data), [&] { return private_tmpfs(data_dir.c_str(), "size=512k"); });
  const int pid = server.pid();
  const auto figures = expect_store_fault_and_recovery(
      server.port(), [] {},
      [&] {
        const auto ns = "/proc/" + std::to_string(pid) + "/ns/mnt";
        ASSERT_TRUE(in_child([&] {
          const int fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
          return fd >= 0 && setns(fd, CLONE_NEWNS) == 0 &&
                 mount("tmpfs", data_dir.c_str(), nullptr, MS_REMOUNT, "size=64m") == 0;
        })) << "could not grow the server's tmpfs";
      },
      4096);
  report("full tmpfs (512 KiB): " + std::to_string(figures.accepted_before_refusal) +
         " messages of 4 KiB accepted, then 503 in " + std::to_string(figures.refusal_ms) +
         " ms; recovered without restart");
  EXPECT_EQ(server.stop(), 0) << server.output();
}

}  // namespace
}  // namespace wshub::test
