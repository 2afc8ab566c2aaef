#include "wshub/store/message_log.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/eventually.hpp"
#include "temp_dir.hpp"
#include "wshub/store/schema.hpp"

namespace {

using namespace std::chrono_literals;
using wshub::hub::message;
using wshub::store::log_errc;
using wshub::store::message_log;

constexpr auto timeout = 10s;

wshub::store::log_settings settings_in(const wshub::unit::temp_dir& dir) {
  wshub::store::log_settings s;
  s.path = dir.file("messages.db");
  s.synchronous_full = false;  // fsync adds nothing to what these tests check
  return s;
}

message make_message(std::vector<std::string> channels, std::string body) {
  message m;
  m.channels = std::move(channels);
  m.username = "tester";
  m.body = std::move(body);
  return m;
}
message make_message(const std::string& channel, std::string body) {
  return make_message(std::vector<std::string>{channel}, std::move(body));
}

using channel_list = std::vector<std::string>;

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Appends and waits for the durable handler; returns the stored message (id 0 on failure).
message append_and_wait(message_log& log, message m) {
  auto done = std::make_shared<std::promise<message>>();
  auto stored = done->get_future();
  if (const auto ec = log.append(std::move(m), [done](std::error_code, const message& s) { done->set_value(s); })) {
    ADD_FAILURE() << "append failed: " << ec.message();
    return {};
  }
  if (stored.wait_for(timeout) != std::future_status::ready) {
    ADD_FAILURE() << "the durable handler was not called";
    return {};
  }
  return stored.get();
}

// Runs raw SQL on the file, as another program (or an older wshub) would.
void run_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

// A single number from the file, read as another program would.
std::int64_t query_count(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  std::int64_t n = -1;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
    n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n;
}

// A one-way gate: wait() blocks until open(); open() may be called any number of times.
class gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool wait_for(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [this] { return open_; });
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST(message_log, ids_start_at_one_and_increase) {
  wshub::unit::temp_dir dir;
  message_log log(settings_in(dir));
  EXPECT_EQ(log.last_id(), 0u);
  EXPECT_EQ(append_and_wait(log, make_message("a", "one")).id, 1u);
  EXPECT_EQ(append_and_wait(log, make_message("a", "two")).id, 2u);
  EXPECT_EQ(append_and_wait(log, make_message("b", "three")).id, 3u);
  EXPECT_EQ(log.last_id(), 3u);
  EXPECT_EQ(log.count(), 3u);
}

TEST(message_log, durable_handlers_run_in_id_order_on_one_thread) {
  struct call {
    std::thread::id thread;
    message stored;
    std::error_code ec;
  };
  std::mutex mutex;  // declared before the log: its handlers use them until it stops
  std::vector<call> calls;
  wshub::unit::temp_dir dir;
  message_log log(settings_in(dir));
  const auto before = now_ms();
  constexpr int n = 200;
  for (int i = 0; i < n; ++i)
    ASSERT_FALSE(log.append(make_message("a", "m" + std::to_string(i)), [&](std::error_code ec, const message& m) {
      std::lock_guard lock(mutex);
      calls.push_back({std::this_thread::get_id(), m, ec});
    }));
  log.stop();  // commits everything appended, then joins the writer
  const auto after = now_ms();

  std::lock_guard lock(mutex);
  ASSERT_EQ(calls.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto& c = calls[i];
    EXPECT_FALSE(c.ec);
    EXPECT_EQ(c.thread, calls[0].thread);
    EXPECT_EQ(c.stored.id, static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(c.stored.body, "m" + std::to_string(i));
    EXPECT_EQ(c.stored.channels, channel_list{"a"});
    EXPECT_EQ(c.stored.username, "tester");
    EXPECT_GE(c.stored.ts_ms, before);
    EXPECT_LE(c.stored.ts_ms, after);
    if (i > 0) {
      EXPECT_GE(c.stored.ts_ms, calls[i - 1].stored.ts_ms);
    }
  }
  EXPECT_NE(calls[0].thread, std::this_thread::get_id());
}

TEST(message_log, read_after_pages_through_one_channel) {
  wshub::unit::temp_dir dir;
  message_log log(settings_in(dir));
  std::vector<std::uint64_t> a_ids;
  for (int i = 0; i < 10; ++i) {
    const auto m = append_and_wait(log, make_message(i % 2 ? "b" : "a", "body" + std::to_string(i)));
    if (i % 2 == 0) a_ids.push_back(m.id);
  }

  const auto first = log.read_after({"a"}, 0, 3);
  ASSERT_EQ(first.size(), 3u);
  const auto second = log.read_after({"a"}, first.back().id, 3);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_TRUE(log.read_after({"a"}, second.back().id, 3).empty());

  std::vector<std::uint64_t> read_ids;
  for (const auto* page : {&first, &second})
    for (const auto& m : *page) {
      EXPECT_EQ(m.channels, channel_list{"a"});
      EXPECT_EQ(m.username, "tester");
      EXPECT_GT(m.ts_ms, 0);
      read_ids.push_back(m.id);
    }
  EXPECT_EQ(read_ids, a_ids);
  EXPECT_EQ(first.front().body, "body0");
  EXPECT_TRUE(log.read_after({"none"}, 0, 10).empty());
}

TEST(message_log, read_after_merges_channels_once_in_id_order) {
  wshub::unit::temp_dir dir;
  message_log log(settings_in(dir));
  append_and_wait(log, make_message("a", "only a"));                 // 1
  append_and_wait(log, make_message(channel_list{"b", "a"}, "both"));  // 2
  append_and_wait(log, make_message("c", "only c"));                 // 3
  append_and_wait(log, make_message("b", "only b"));                 // 4

  const auto merged = log.read_after({"a", "b"}, 0, 10);
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].id, 1u);
  EXPECT_EQ(merged[1].id, 2u);
  EXPECT_EQ(merged[1].channels, (channel_list{"b", "a"}));  // as published, first one first
  EXPECT_EQ(merged[2].id, 4u);
  EXPECT_EQ(log.read_after({"a", "b"}, 0, 2).size(), 2u);
}

TEST(message_log, read_after_stops_at_max_bytes_but_returns_at_least_one) {
  wshub::unit::temp_dir dir;
  message_log log(settings_in(dir));
  for (int i = 0; i < 4; ++i) append_and_wait(log, make_message("a", std::string(10, 'x')));
  EXPECT_EQ(log.read_after({"a"}, 0, 10, 25).size(), 2u);
  EXPECT_EQ(log.read_after({"a"}, 0, 10, 1).size(), 1u);
}

TEST(message_log, targeted_messages_are_stored_but_not_in_channel_history) {
  wshub::unit::temp_dir dir;
  message_log log(settings_in(dir));
  auto to_conn = make_message("a", "private");
  to_conn.to_conn = 7;
  auto to_user = make_message("a", "private too");
  to_user.to_user = "alice";
  EXPECT_EQ(append_and_wait(log, std::move(to_conn)).id, 1u);
  EXPECT_EQ(append_and_wait(log, std::move(to_user)).id, 2u);
  append_and_wait(log, make_message("a", "public"));
  const auto history = log.read_after({"a"}, 0, 10);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].body, "public");
  EXPECT_EQ(log.count(), 3u);
}

TEST(message_log, reopening_continues_ids) {
  wshub::unit::temp_dir dir;
  {
    message_log log(settings_in(dir));
    for (int i = 0; i < 3; ++i) append_and_wait(log, make_message("a", "x"));
  }
  message_log log(settings_in(dir));
  EXPECT_EQ(log.last_id(), 3u);
  EXPECT_EQ(log.count(), 3u);
  EXPECT_EQ(append_and_wait(log, make_message("a", "y")).id, 4u);
}

TEST(message_log, ids_continue_after_retention_emptied_the_log_and_a_restart) {
  // The writer gives ids after the newest row; when retention deleted every row, the high-water
  // mark it wrote in the same transaction keeps ids from being given again after a restart.
  wshub::unit::temp_dir dir;
  auto settings = settings_in(dir);
  settings.retention_count = 0;  // below what the config allows: retention deletes everything
  {
    message_log log(settings);
    std::vector<message> group;
    for (int i = 0; i < 3; ++i) group.push_back(make_message("a", "x"));
    ASSERT_FALSE(log.append_group(std::move(group), [](std::error_code, const message&) {}));
    log.stop();  // retention runs after the group's commit; stop() waits for it
    EXPECT_EQ(log.count(), 0u);
    EXPECT_EQ(log.last_id(), 3u);
    EXPECT_EQ(log.oldest_kept(), 4u);
  }
  settings.retention_count = 1'000;
  message_log log(settings);
  EXPECT_EQ(log.count(), 0u);
  EXPECT_EQ(log.last_id(), 3u);
  EXPECT_EQ(log.oldest_kept(), 4u);
  EXPECT_EQ(append_and_wait(log, make_message("a", "y")).id, 4u);
}

TEST(message_log, a_group_without_ids_gets_increasing_ids_in_one_commit) {
  std::mutex mutex;  // declared before the log: its handlers use them until it stops
  std::vector<message> stored;
  wshub::unit::temp_dir dir;
  message_log log(settings_in(dir));
  append_and_wait(log, make_message("a", "before"));
  std::vector<message> group;
  for (int i = 0; i < 5; ++i) group.push_back(make_message(i % 2 ? "b" : "a", "g" + std::to_string(i)));
  ASSERT_FALSE(log.append_group(std::move(group), [&](std::error_code ec, const message& m) {
    std::lock_guard lock(mutex);
    EXPECT_FALSE(ec);
    stored.push_back(m);
  }));
  log.stop();
  std::lock_guard lock(mutex);
  ASSERT_EQ(stored.size(), 5u);
  for (std::size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(stored[i].id, 2 + i);
    EXPECT_EQ(stored[i].body, "g" + std::to_string(i));
    EXPECT_EQ(stored[i].ts_ms, stored[0].ts_ms);  // one commit, one time
  }
  EXPECT_EQ(log.commits(), 2u) << "one for the message before, one for the group";
  EXPECT_EQ(log.read_after({"b"}, 0, 10).size(), 2u);
}

TEST(message_log, a_group_mixing_given_and_missing_ids_is_refused) {
  wshub::unit::temp_dir dir;
  message_log log(settings_in(dir));
  std::vector<message> group{make_message("a", "x"), make_message("a", "y")};
  group[1].id = 10;
  group[1].ts_ms = 1;
  EXPECT_EQ(log.append_group(std::move(group), [](std::error_code, const message&) {}), log_errc::write_failed);
  log.stop();
  EXPECT_EQ(log.count(), 0u);
}

TEST(message_log, retention_by_count_applies_after_the_first_batch) {
  // Retention runs on the writer thread at most every 5 s, and always after the first batch
  // following open: so fill the log, reopen it with a small retention_count, append once.
  wshub::unit::temp_dir dir;
  auto settings = settings_in(dir);
  {
    message_log log(settings);
    auto targeted = make_message("a", "old, private");
    targeted.to_user = "ann";
    append_and_wait(log, make_message("a", "old"));
    append_and_wait(log, make_message(channel_list{"a", "b"}, "old, in both"));
    append_and_wait(log, std::move(targeted));
    append_and_wait(log, make_message("b", "old"));
    append_and_wait(log, make_message("a", "old"));
  }
  settings.retention_count = 2;
  message_log log(settings);
  EXPECT_EQ(append_and_wait(log, make_message("a", "new")).id, 6u);
  log.stop();  // retention runs after the batch's handlers; stop() waits for the writer
  EXPECT_EQ(log.count(), 2u);
  EXPECT_EQ(log.oldest_kept(), 5u);
  const auto kept = log.read_after({"a"}, 0, 10);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].id, 5u);
  EXPECT_EQ(kept[1].id, 6u);
  EXPECT_TRUE(log.read_after({"b"}, 0, 10).empty());
  // The channel entries of the deleted messages went with them.
  EXPECT_EQ(query_count(settings.path, "SELECT COUNT(*) FROM message_channels"), 2);
}

TEST(message_log, retention_by_age_deletes_old_messages) {
  wshub::unit::temp_dir dir;
  const auto settings = settings_in(dir);
  {
    message_log log(settings);
    for (int i = 0; i < 3; ++i) append_and_wait(log, make_message("a", "old"));
  }
  run_sql(settings.path, "UPDATE messages SET ts = 1000");  // 1970: far older than retention_age
  message_log log(settings);
  EXPECT_EQ(append_and_wait(log, make_message("a", "new")).id, 4u);
  log.stop();
  EXPECT_EQ(log.count(), 1u);
}

TEST(message_log, retention_by_age_runs_while_no_message_is_written) {
  // The writer wakes once per retention interval (5 s) when idle: a message ages out although
  // nothing is published after it.
  wshub::unit::temp_dir dir;
  auto settings = settings_in(dir);
  settings.retention_age = std::chrono::seconds(1);
  message_log log(settings);
  const auto id = append_and_wait(log, make_message("a", "short-lived")).id;
  ASSERT_EQ(log.count(), 1u);
  EXPECT_TRUE(wshub::test::eventually([&] { return log.count() == 0; }, std::chrono::seconds(30)));
  EXPECT_EQ(log.oldest_kept(), id + 1);
  EXPECT_EQ(append_and_wait(log, make_message("a", "next")).id, id + 1);  // the id is not given twice
}

TEST(message_log, append_after_stop_is_refused) {
  wshub::unit::temp_dir dir;
  message_log log(settings_in(dir));
  log.stop();
  bool called = false;
  EXPECT_EQ(log.append(make_message("a", "late"), [&](std::error_code, const message&) { called = true; }),
            log_errc::stopped);
  log.stop();  // idempotent
  EXPECT_FALSE(called);
  EXPECT_EQ(log.count(), 0u);
}

// Holds the log's reporting thread inside the first message's handler, appends up to
// max_pending (3) more, then one too many. With `committed` set, waits until the writer committed
// the three (they left its queue, not the bound) before the last append.
void expect_max_pending_bound(wshub::store::log_settings settings, bool committed) {
  gate entered, release;  // declared before the log: its handlers use them until it stops
  std::atomic<int> handled{0};
  settings.max_pending = 3;
  message_log log(settings);
  auto count = [&](std::error_code, const message&) { handled.fetch_add(1); };
  ASSERT_FALSE(log.append(make_message("a", "blocker"), [&](std::error_code, const message&) {
    entered.open();
    release.wait();
    handled.fetch_add(1);
  }));
  const bool held = entered.wait_for(timeout);
  std::vector<std::error_code> results;
  bool stored = !committed;
  if (held) {
    for (int i = 0; i < 3; ++i) results.push_back(log.append(make_message("a", "waiting"), count));
    if (committed)
      stored = wshub::test::eventually(
          [&] { return query_count(settings.path, "SELECT COUNT(*) FROM messages") == 4; });
    results.push_back(log.append(make_message("a", "one too many"), count));
  }
  release.open();  // before any assertion can return, or stop() would wait forever
  ASSERT_TRUE(held);
  ASSERT_TRUE(stored);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_FALSE(results[0]);
  EXPECT_FALSE(results[1]);
  EXPECT_FALSE(results[2]);
  EXPECT_EQ(results[3], log_errc::overloaded);
  log.stop();
  EXPECT_EQ(handled.load(), 4);
  EXPECT_EQ(log.count(), 4u);
}

TEST(message_log, append_beyond_max_pending_is_overloaded) {
  wshub::unit::temp_dir dir;
  expect_max_pending_bound(settings_in(dir), false);  // the writer is held: they stay queued
}

// The default durability: every commit is fdatasync'ed by the syncer before it is reported.
wshub::store::log_settings synced_settings_in(const wshub::unit::temp_dir& dir) {
  auto s = settings_in(dir);
  s.synchronous_full = true;
  return s;
}

TEST(message_log, with_synchronous_full_no_message_is_reported_before_a_sync_of_the_wal) {
  struct call {
    std::thread::id thread;
    std::uint64_t id;
    std::uint64_t syncs;    // the log's syncs when the handler ran
    std::uint64_t last_id;  // what readers could see then
    std::error_code ec;
  };
  std::mutex mutex;  // declared before the log: its handlers use them until it stops
  std::vector<call> calls;
  wshub::unit::temp_dir dir;
  message_log log(synced_settings_in(dir));
  constexpr int n = 300;
  for (int i = 0; i < n; ++i)
    ASSERT_FALSE(log.append(make_message("a", "m" + std::to_string(i)), [&](std::error_code ec, const message& m) {
      std::lock_guard lock(mutex);
      calls.push_back({std::this_thread::get_id(), m.id, log.syncs(), log.last_id(), ec});
    }));
  log.stop();  // commits and syncs everything appended, then joins the writer and the syncer

  std::lock_guard lock(mutex);
  ASSERT_EQ(calls.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto& c = calls[i];
    EXPECT_FALSE(c.ec);
    EXPECT_EQ(c.id, static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(c.thread, calls[0].thread);
    EXPECT_GE(c.syncs, 1u) << "message " << c.id << " was reported before any sync";
    EXPECT_GE(c.last_id, c.id);
    if (i > 0) {
      EXPECT_GE(c.syncs, calls[i - 1].syncs);
    }
  }
  EXPECT_NE(calls[0].thread, std::this_thread::get_id());
  EXPECT_GE(log.syncs(), 1u);
  EXPECT_LE(log.syncs(), log.commits());  // one sync covers one commit or more
  EXPECT_EQ(log.count(), static_cast<std::uint64_t>(n));
}

TEST(message_log, with_synchronous_normal_nothing_waits_for_a_sync) {
  wshub::unit::temp_dir dir;
  message_log log(settings_in(dir));
  EXPECT_EQ(append_and_wait(log, make_message("a", "one")).id, 1u);
  EXPECT_EQ(log.commits(), 1u);
  EXPECT_EQ(log.syncs(), 0u);
}

TEST(message_log, a_commit_waiting_for_its_sync_is_neither_read_nor_counted) {
  // Hold the syncer inside the first message's report: the second is committed, not synced.
  gate entered, release;  // declared before the log: its handlers use them until it stops
  wshub::unit::temp_dir dir;
  const auto settings = synced_settings_in(dir);
  message_log log(settings);
  ASSERT_FALSE(log.append(make_message("a", "first"), [&](std::error_code, const message&) {
    entered.open();
    release.wait();
  }));
  const bool held = entered.wait_for(timeout);
  std::error_code second;
  bool committed = false;
  std::vector<message> seen;
  std::uint64_t counted = 0, last = 0;
  if (held) {
    second = log.append(make_message("a", "second"), [](std::error_code, const message&) {});
    // Another connection sees the commit: it is in the file, waiting for the sync.
    committed = wshub::test::eventually(
        [&] { return query_count(settings.path, "SELECT COUNT(*) FROM messages") == 2; });
    seen = log.read_after({"a"}, 0, 10);
    counted = log.count();
    last = log.last_id();
  }
  release.open();  // before any assertion can return, or stop() would wait forever
  ASSERT_TRUE(held);
  EXPECT_FALSE(second);
  ASSERT_TRUE(committed);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, "first");
  EXPECT_EQ(counted, 1u);
  EXPECT_EQ(last, 1u);
  log.stop();
  EXPECT_EQ(log.read_after({"a"}, 0, 10).size(), 2u);
  EXPECT_EQ(log.last_id(), 2u);
}

TEST(message_log, with_synchronous_full_commits_waiting_for_their_sync_count_toward_max_pending) {
  wshub::unit::temp_dir dir;
  expect_max_pending_bound(synced_settings_in(dir), true);  // the syncer is held, not the writer
}

TEST(message_log, a_failed_sync_fails_its_commit_and_every_later_append) {
  wshub::unit::temp_dir dir;
  const auto settings = synced_settings_in(dir);
  message_log log(settings);
  // SQLite keeps writing the WAL it has open; the syncer cannot open it to sync it, as when the
  // disk fails a sync: nothing this process writes from then on can be known durable.
  ASSERT_TRUE(std::filesystem::exists(settings.path + "-wal"));
  std::filesystem::remove(settings.path + "-wal");

  auto done = std::make_shared<std::promise<std::error_code>>();
  auto result = done->get_future();
  ASSERT_FALSE(log.append(make_message("a", "unsyncable"), [done](std::error_code ec, const message&) {
    done->set_value(ec);
  }));
  ASSERT_EQ(result.wait_for(timeout), std::future_status::ready);
  EXPECT_EQ(result.get(), log_errc::write_failed);
  EXPECT_FALSE(log.writable());
  EXPECT_EQ(log.last_id(), 0u);
  EXPECT_TRUE(log.read_after({"a"}, 0, 10).empty());
  EXPECT_EQ(log.syncs(), 0u);
  bool called = false;
  EXPECT_EQ(log.append(make_message("a", "later"), [&](std::error_code, const message&) { called = true; }),
            log_errc::write_failed);
  log.stop();
  EXPECT_FALSE(called);
}

TEST(message_log, newer_schema_version_is_refused) {
  wshub::unit::temp_dir dir;
  const auto settings = settings_in(dir);
  run_sql(settings.path, "PRAGMA user_version = " + std::to_string(wshub::store::current_schema_version() + 1));
  EXPECT_THROW(message_log{settings}, wshub::store::store_error);
}

TEST(message_log, new_file_gets_the_current_schema_version) {
  wshub::unit::temp_dir dir;
  const auto settings = settings_in(dir);
  { message_log log(settings); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(settings.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), wshub::store::current_schema_version());
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(message_log, missing_folder_is_a_store_error) {
  wshub::unit::temp_dir dir;
  auto settings = settings_in(dir);
  settings.path = dir.file("no-such-folder/messages.db");
  EXPECT_THROW(message_log{settings}, wshub::store::store_error);
}

TEST(message_log, concurrent_appends_get_distinct_ids) {
  constexpr int threads = 4;
  constexpr int each = 250;
  std::mutex mutex;  // declared before the log: its handlers use them until it stops
  std::vector<std::uint64_t> ids;
  wshub::unit::temp_dir dir;
  message_log log(settings_in(dir));
  std::atomic<int> refused{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t)
    writers.emplace_back([&] {
      for (int i = 0; i < each; ++i) {
        const auto ec = log.append(make_message("a", "x"), [&](std::error_code e, const message& m) {
          std::lock_guard lock(mutex);
          if (!e) ids.push_back(m.id);
        });
        if (ec) refused.fetch_add(1);
      }
    });
  for (auto& w : writers) w.join();
  log.stop();

  EXPECT_EQ(refused.load(), 0);
  std::lock_guard lock(mutex);
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(threads * each));
  const std::set<std::uint64_t> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), ids.size());
  EXPECT_EQ(*distinct.begin(), 1u);
  EXPECT_EQ(*distinct.rbegin(), static_cast<std::uint64_t>(threads * each));
  EXPECT_EQ(log.count(), static_cast<std::uint64_t>(threads * each));
  EXPECT_EQ(log.last_id(), static_cast<std::uint64_t>(threads * each));
}

// The schema a file of each version has, as its SQL, and what it holds.
std::string schema_of(const std::string& path) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return out;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name", -1, &stmt, nullptr) ==
      SQLITE_OK)
    while (sqlite3_step(stmt) == SQLITE_ROW) out += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)) + std::string("\n");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// What a migrated log must hold, whatever version it came from: the current version, no
// AUTOINCREMENT and no index on ts, every row and channel entry, and ids after the highest id
// ever given (`given_through`, which rows may no longer show).
void expect_migrated(const std::string& path, std::uint64_t given_through) {
  auto settings = wshub::store::log_settings{};
  settings.path = path;
  settings.synchronous_full = false;
  settings.retention_age = std::chrono::hours(24 * 365 * 100);  // the rows' ts are from the file's day
  message_log log(settings);
  const auto schema = schema_of(path);
  EXPECT_EQ(schema.find("AUTOINCREMENT"), std::string::npos) << schema;
  EXPECT_EQ(schema.find("messages_by_ts"), std::string::npos) << schema;
  EXPECT_EQ(log.last_id(), given_through);
  const auto news = log.read_after({"news"}, 0, 100);
  const auto sport = log.read_after({"sport"}, 0, 100);
  ASSERT_FALSE(news.empty());
  ASSERT_FALSE(sport.empty());
  const auto next = append_and_wait(log, make_message("news", "after the migration"));
  EXPECT_EQ(next.id, given_through + 1);
  const auto again = log.read_after({"news"}, 0, 100);
  ASSERT_EQ(again.size(), news.size() + 1);
  EXPECT_EQ(again.back().body, "after the migration");
}

TEST(message_log, a_version_2_file_written_by_the_previous_release_is_migrated) {
  // tests/unit/fixtures/wshub-schema-v2.db was written by wshub with schema 2 (AUTOINCREMENT,
  // messages_by_ts): ids 1-6 published (news; news to_user ann; sport; news+sport; to_conn 42;
  // news), then a restart with store.retention_count 4 and id 7 (news), after which retention
  // deleted ids 1-3.
  wshub::unit::temp_dir dir;
  const auto path = dir.file("wshub.db");
  std::filesystem::copy_file(std::filesystem::path(WSHUB_SOURCE_DIR) / "tests/unit/fixtures/wshub-schema-v2.db", path);
  ASSERT_NE(schema_of(path).find("AUTOINCREMENT"), std::string::npos) << "the fixture is not a version 2 file";
  {
    auto settings = settings_in(dir);
    settings.path = path;
    settings.retention_age = std::chrono::hours(24 * 365 * 100);
    message_log log(settings);
    EXPECT_EQ(log.last_id(), 7u);
    EXPECT_EQ(log.count(), 4u);
    EXPECT_EQ(log.oldest_kept(), 4u);
    const auto news = log.read_after({"news"}, 0, 100);
    ASSERT_EQ(news.size(), 3u);
    EXPECT_EQ(news[0].id, 4u);
    EXPECT_EQ(news[0].channels, (channel_list{"news", "sport"}));
    EXPECT_EQ(news[0].body, "news and sport");
    EXPECT_EQ(news[0].username, "system");
    EXPECT_EQ(news[1].body, "last on news");
    EXPECT_EQ(news[2].id, 7u);
    EXPECT_EQ(news[2].body, "after restart");
    EXPECT_LE(news[0].ts_ms, news[2].ts_ms);
    const auto sport = log.read_after({"sport"}, 0, 100);
    ASSERT_EQ(sport.size(), 1u);  // ids 1-3 were deleted; 5 (to_conn) is private
    EXPECT_EQ(sport[0].id, 4u);
    EXPECT_EQ(append_and_wait(log, make_message("sport", "new")).id, 8u);
  }
  // A copy whose newest rows are gone: sqlite_sequence still remembers id 7.
  const auto copy = dir.file("copy.db");
  std::filesystem::copy_file(std::filesystem::path(WSHUB_SOURCE_DIR) / "tests/unit/fixtures/wshub-schema-v2.db", copy);
  run_sql(copy, "DELETE FROM messages WHERE id >= 6; DELETE FROM message_channels WHERE id >= 6;");
  expect_migrated(copy, 7);
}

TEST(message_log, a_version_1_file_is_migrated) {
  // Version 1 as its release created it: one channel per message, AUTOINCREMENT, an index on
  // (channel, id) and one on ts. Id 4 was given and deleted: sqlite_sequence says 4.
  wshub::unit::temp_dir dir;
  const auto path = dir.file("wshub.db");
  run_sql(path,
          "PRAGMA journal_mode=WAL;"
          "CREATE TABLE messages ("
          "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
          "  ts INTEGER NOT NULL,"
          "  channel TEXT NOT NULL,"
          "  username TEXT NOT NULL,"
          "  body TEXT NOT NULL);"
          "CREATE INDEX messages_by_channel ON messages(channel, id);"
          "CREATE INDEX messages_by_ts ON messages(ts);"
          "INSERT INTO messages(ts, channel, username, body) VALUES"
          "  (1000, 'news', 'system', 'one'), (2000, 'sport', 'system', 'two'),"
          "  (3000, 'news', 'ann', 'three'), (4000, 'news', 'system', 'four');"
          "DELETE FROM messages WHERE id = 4;"
          "PRAGMA user_version = 1;");
  {
    auto settings = settings_in(dir);
    settings.path = path;
    settings.retention_age = std::chrono::hours(24 * 365 * 100);
    message_log log(settings);
    EXPECT_EQ(log.last_id(), 4u);
    const auto news = log.read_after({"news"}, 0, 100);
    ASSERT_EQ(news.size(), 2u);
    EXPECT_EQ(news[0].id, 1u);
    EXPECT_EQ(news[0].ts_ms, 1000);
    EXPECT_EQ(news[1].body, "three");
    EXPECT_EQ(news[1].username, "ann");
    EXPECT_EQ(news[1].channels, channel_list{"news"});
  }
  expect_migrated(path, 4);
}

TEST(message_log, a_message_of_one_channel_costs_two_btree_writes) {
  // Schema 3: the row and its channel entry; no AUTOINCREMENT (sqlite_sequence), no index on ts.
  wshub::unit::temp_dir dir;
  const auto settings = settings_in(dir);
  {
    message_log log(settings);
    append_and_wait(log, make_message("a", "x"));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(settings.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto names = [&](const char* sql) {
    std::vector<std::string> out;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK)
      while (sqlite3_step(stmt) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    sqlite3_finalize(stmt);
    return out;
  };
  // Every B-tree an insert into messages or message_channels writes.
  EXPECT_EQ(names("SELECT name FROM sqlite_master WHERE tbl_name IN ('messages', 'message_channels') ORDER BY name"),
            (std::vector<std::string>{"message_channels", "messages"}));
  EXPECT_TRUE(names("SELECT name FROM sqlite_sequence").empty());
  sqlite3_close(db);
}

}  // namespace
