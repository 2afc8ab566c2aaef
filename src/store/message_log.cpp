#include "wshub/store/message_log.hpp"

#include <algorithm>
#include <cerrno>
#include <functional>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "wshub/store/schema.hpp"

namespace wshub::store {
namespace {

class log_category_impl : public std::error_category {
 public:
  const char* name() const noexcept override { return "wshub.store"; }
  std::string message(int ev) const override {
    switch (static_cast<log_errc>(ev)) {
      case log_errc::overloaded: return "the message log is overloaded";
      case log_errc::write_failed: return "the message log could not be written";
      case log_errc::stopped: return "the message log is stopped";
    }
    return "unknown message log error";
  }
};

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// How often retention runs, busy or idle.
constexpr std::chrono::milliseconds retention_interval{5000};

// Group commit: after a pass that stored n messages (with m more queued meanwhile), the writer
// waits up to this long for n + m queued messages before the next commit. Publishers waiting
// for their answers then share one commit and one sync, instead of splitting into groups that
// alternate (each waiting for the other's sync); one publisher is never held (its next message
// is the one expected). A message waits this long at most, when fewer come than expected.
constexpr std::chrono::microseconds group_wait{500};

// A prepared statement that finalizes itself.
class statement {
 public:
  statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }
  explicit operator bool() const { return stmt_ != nullptr; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

bool exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

sqlite3* open_db(const std::string& path, int flags) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    std::string text = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw store_error("cannot open message log " + path + ": " + text);
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

void bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

std::string column_text(sqlite3_stmt* stmt, int col) {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt, col))) : std::string();
}

// Steps a statement that returns no row and resets it.
bool run(sqlite3_stmt* stmt) {
  const bool done = sqlite3_step(stmt) == SQLITE_DONE;
  sqlite3_reset(stmt);
  return done;
}

// A row's channels: the JSON array in column `all` when it has several, else column `primary`.
std::vector<std::string> channels_of(sqlite3_stmt* row, int primary, int all) {
  std::vector<std::string> channels;
  if (const auto text = column_text(row, all); !text.empty()) {
    const auto parsed = nlohmann::json::parse(text, nullptr, false);
    if (parsed.is_array())
      for (const auto& c : parsed)
        if (c.is_string()) channels.push_back(c.get<std::string>());
  }
  if (channels.empty()) channels.push_back(column_text(row, primary));
  return channels;
}

std::uint64_t query_u64(sqlite3* db, const char* sql) {
  statement stmt(db, sql);
  if (!stmt || sqlite3_step(stmt.get()) != SQLITE_ROW) return 0;
  return static_cast<std::uint64_t>(sqlite3_column_int64(stmt.get(), 0));
}

}  // namespace

const std::error_category& log_category() {
  static const log_category_impl category;
  return category;
}

std::error_code make_error_code(log_errc e) { return {static_cast<int>(e), log_category()}; }

message_log::message_log(log_settings settings) : settings_(std::move(settings)) {
  writer_db_ = open_db(settings_.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  try {
    // NORMAL: SQLite syncs the WAL before a checkpoint copies it and the file before the WAL is
    // reused, so a crash of the machine never corrupts it. With synchronous full the syncer adds
    // an fdatasync of the WAL between each commit and its report.
    if (!exec(writer_db_, "PRAGMA journal_mode=WAL") || !exec(writer_db_, "PRAGMA synchronous=NORMAL"))
      throw store_error("cannot configure message log " + settings_.path + ": " + sqlite3_errmsg(writer_db_));
    migrate(writer_db_);
    // Persistent: kept for the life of the log, so no commit parses SQL.
    const std::pair<sqlite3_stmt**, const char*> writer_statements[] = {
        {&begin_, "BEGIN IMMEDIATE"},
        {&commit_, "COMMIT"},
        {&rollback_, "ROLLBACK"},
        {&insert_,
         "INSERT INTO messages(ts, channel, channels, to_conn, to_user, username, body, id) VALUES(?,?,?,?,?,?,?,?)"},
        {&index_, "INSERT INTO message_channels(channel, id) VALUES(?,?)"},
    };
    for (const auto& [stmt, sql] : writer_statements)
      if (sqlite3_prepare_v3(writer_db_, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, nullptr) != SQLITE_OK)
        throw store_error("cannot prepare the message log's statements: " + std::string(sqlite3_errmsg(writer_db_)));
    reader_db_ = open_db(settings_.path, SQLITE_OPEN_READONLY);
  } catch (...) {
    for (auto* stmt : {begin_, commit_, rollback_, insert_, index_}) sqlite3_finalize(stmt);
    sqlite3_close(writer_db_);
    throw;
  }
  // Every id up to the newest row's, or up to what retention deleted, was given out: ids continue
  // after retention emptied the table.
  last_id_ = std::max(query_u64(writer_db_, "SELECT COALESCE(MAX(id), 0) FROM messages"),
                      query_u64(writer_db_, "SELECT value FROM log_state WHERE name = 'retired_through'"));
  last_ts_ms_ = static_cast<std::int64_t>(query_u64(writer_db_, "SELECT ts FROM messages ORDER BY id DESC LIMIT 1"));
  const auto oldest = query_u64(writer_db_, "SELECT COALESCE(MIN(id), 0) FROM messages");
  oldest_kept_ = oldest != 0 ? oldest : last_id_ + 1;
  written_id_ = last_id_;
  if (settings_.synchronous_full) syncer_thread_ = std::thread([this] { syncer_loop(); });
  writer_thread_ = std::thread([this] { writer_loop(); });
}

message_log::~message_log() {
  stop();
  for (auto* stmt : {begin_, commit_, rollback_, insert_, index_}) sqlite3_finalize(stmt);
  sqlite3_close(reader_db_);
  sqlite3_close(writer_db_);
  if (wal_fd_ >= 0) ::close(wal_fd_);
}

std::error_code message_log::append(hub::message m, durable_handler on_durable) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return log_errc::stopped;
    if (m.channels.empty() || sync_failed_.load(std::memory_order_relaxed)) return log_errc::write_failed;
    if (in_flight_.load(std::memory_order_relaxed) >= settings_.max_pending) return log_errc::overloaded;
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    queue_.push_back(pending{std::move(m), std::move(on_durable)});
    wake = writer_idle_ && queue_.size() >= wake_at_;
    if (wake) writer_idle_ = false;
  }
  if (wake) wake_.notify_one();
  return {};
}

std::error_code message_log::append_group(std::vector<hub::message> group, durable_handler on_durable) {
  if (group.empty()) return {};
  const bool sequenced = group.front().id != 0;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return log_errc::stopped;
    for (const auto& m : group)
      if (m.channels.empty() || (m.id != 0) != sequenced) return log_errc::write_failed;
    if (sync_failed_.load(std::memory_order_relaxed)) return log_errc::write_failed;
    const auto waiting = in_flight_.load(std::memory_order_relaxed);
    if (waiting != 0 && waiting + group.size() > settings_.max_pending) return log_errc::overloaded;
    in_flight_.fetch_add(group.size(), std::memory_order_relaxed);
    for (std::size_t i = 0; i < group.size(); ++i)
      queue_.push_back(pending{std::move(group[i]), on_durable, i + 1 == group.size(), sequenced});
    wake = writer_idle_ && queue_.size() >= wake_at_;
    if (wake) writer_idle_ = false;
  }
  if (wake) wake_.notify_one();
  return {};
}

void message_log::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_thread_.joinable()) {
    writer_thread_.join();
    if (syncer_thread_.joinable()) {  // it reports what the writer committed, then ends
      {
        std::lock_guard lock(sync_mutex_);
        writer_done_ = true;
      }
      sync_wake_.notify_one();
      syncer_thread_.join();
    }
    exec(writer_db_, "PRAGMA wal_checkpoint(TRUNCATE)");
  }
}

void message_log::writer_loop() {
  std::vector<pending> taken;  // swapped with queue_: both keep their capacity
  std::size_t expect = 0;      // messages the next commit waits for (see group_wait)
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (expect > queue_.size() && !stopping_) {
        wake_at_ = expect;  // appends wake the writer only once that many are queued
        writer_idle_ = true;
        wake_.wait_for(lock, group_wait, [&] { return stopping_ || queue_.size() >= expect; });
        writer_idle_ = false;
        wake_at_ = 0;
      }
      if (queue_.empty() && !stopping_) {
        writer_idle_ = true;  // the next append wakes us; the ones after it do not notify
        // Idle, it still wakes once per retention interval: messages age out with no traffic.
        const bool woken =
            wake_.wait_for(lock, retention_interval, [this] { return stopping_ || !queue_.empty(); });
        writer_idle_ = false;
        if (!woken) {
          lock.unlock();
          apply_retention(std::max(now_ms(), last_ts_ms_));
          continue;
        }
      }
      if (queue_.empty()) return;  // stopping, and everything is committed
      taken.swap(queue_);
    }
    // Commits of at most batch_max messages, each group whole.
    for (std::size_t first = 0; first < taken.size();) {
      std::size_t last = first + 1;
      while (last < taken.size() && (last - first < settings_.batch_max || !taken[last - 1].ends_group)) ++last;
      const auto ec = sync_failed_.load(std::memory_order_relaxed)
                          ? make_error_code(log_errc::write_failed)
                          : write_batch(taken.data() + first, taken.data() + last);
      committed(taken.data() + first, taken.data() + last, ec);
      apply_retention(last_ts_ms_);
      first = last;
    }
    {
      // The publishers of this pass are likely back soon, and those queued meanwhile wait too.
      std::lock_guard lock(mutex_);
      expect = std::min(taken.size() + queue_.size(), settings_.batch_max);
    }
    taken.clear();
  }
}

void message_log::committed(pending* first, pending* last, std::error_code ec) {
  if (!settings_.synchronous_full) return report(first, last, ec);
  bool wake = false;
  {
    std::lock_guard lock(sync_mutex_);
    for (auto* p = first; p != last; ++p) unsynced_.push_back(std::move(*p));
    unsynced_commits_.push_back({unsynced_.size(), ec});
    wake = std::exchange(syncer_idle_, false);
  }
  if (wake) sync_wake_.notify_one();
}

// While one fdatasync runs, the writer commits what arrived meanwhile; the next fdatasync covers
// all of it. So a commit waits at most for the sync in flight and its own.
void message_log::syncer_loop() {
  std::vector<pending> taken;  // swapped with unsynced_: both keep their capacity
  std::vector<unsynced_commit> commits;
  for (;;) {
    {
      std::unique_lock lock(sync_mutex_);
      if (unsynced_commits_.empty() && !writer_done_) {
        syncer_idle_ = true;  // the next commit wakes us; the ones after it do not notify
        sync_wake_.wait(lock, [this] { return writer_done_ || !unsynced_commits_.empty(); });
        syncer_idle_ = false;
      }
      if (unsynced_commits_.empty()) return;  // the writer stopped, and everything is reported
      taken.swap(unsynced_);
      commits.swap(unsynced_commits_);
    }
    // Every page of these commits was written before this sync started: it covers them all.
    const bool any_stored = std::any_of(commits.begin(), commits.end(), [](const auto& c) { return !c.error; });
    const auto sync_error = any_stored ? sync_wal() : std::error_code{};
    std::size_t begin = 0;
    for (const auto& c : commits) {
      report(taken.data() + begin, taken.data() + c.end, c.error ? c.error : sync_error);
      begin = c.end;
    }
    taken.clear();
    commits.clear();
  }
}

// The WAL is the only file a commit writes (checkpoints sync the database file themselves), and
// SQLite keeps it (same inode) while the log's connections are open: a descriptor of our own
// syncs the pages SQLite wrote through its own.
std::error_code message_log::sync_wal() {
  if (!sync_failed_.load(std::memory_order_relaxed)) {
    if (wal_fd_ < 0) wal_fd_ = ::open((settings_.path + "-wal").c_str(), O_RDONLY | O_CLOEXEC);
    int rc = -1;
    if (wal_fd_ >= 0)
      do rc = ::fdatasync(wal_fd_);
      while (rc != 0 && errno == EINTR);
    if (rc == 0) {
      syncs_.fetch_add(1, std::memory_order_relaxed);
      return {};
    }
    // After a failed sync the kernel may have dropped the pages it could not write: what this
    // process wrote can no longer be known durable. Final until a restart recovers the file.
    sync_failed_.store(true, std::memory_order_relaxed);
  }
  return log_errc::write_failed;
}

void message_log::report(pending* first, pending* last, std::error_code ec) {
  writable_.store(!ec, std::memory_order_relaxed);
  if (!ec) {
    last_id_.store((last - 1)->message.id, std::memory_order_release);
    commits_.fetch_add(1, std::memory_order_relaxed);
  }
  in_flight_.fetch_sub(static_cast<std::size_t>(last - first), std::memory_order_relaxed);
  for (auto* p = first; p != last; ++p) p->on_durable(ec, p->message);
  if (on_commit_) on_commit_();
}

std::error_code message_log::write_batch(pending* first, pending* last) {
  if (!run(begin_)) return log_errc::write_failed;
  auto fail = [&] {
    sqlite3_reset(insert_);
    sqlite3_reset(index_);
    run(rollback_);
    for (auto* p = first; p != last; ++p)
      if (!p->sequenced) p->message.id = 0;  // the ids this batch handed out are void
    return make_error_code(log_errc::write_failed);
  };
  std::int64_t ts = std::max(now_ms(), last_ts_ms_);  // never earlier than an older message
  std::int64_t newest_ts = ts;
  std::uint64_t next_id = written_id_ + 1;
  std::string all;
  for (auto* p = first; p != last; ++p) {
    auto& m = p->message;
    if (p->sequenced) {  // id and ts given by the cluster
      next_id = m.id + 1;
    } else {
      m.id = next_id++;
      m.ts_ms = ts;
    }
    newest_ts = std::max(newest_ts, m.ts_ms);
    all = m.channels.size() > 1 ? nlohmann::json(m.channels).dump() : std::string();
    sqlite3_bind_int64(insert_, 1, m.ts_ms);
    bind_text(insert_, 2, m.channels.front());
    if (all.empty()) sqlite3_bind_null(insert_, 3);
    else bind_text(insert_, 3, all);
    sqlite3_bind_int64(insert_, 4, static_cast<sqlite3_int64>(m.to_conn));
    bind_text(insert_, 5, m.to_user);
    bind_text(insert_, 6, m.username);
    bind_text(insert_, 7, m.body);
    sqlite3_bind_int64(insert_, 8, static_cast<sqlite3_int64>(m.id));
    if (!run(insert_)) return fail();
    if (m.targeted()) continue;  // private: not part of any channel's history
    for (const auto& c : m.channels) {
      bind_text(index_, 1, c);
      sqlite3_bind_int64(index_, 2, static_cast<sqlite3_int64>(m.id));
      if (!run(index_)) return fail();
    }
  }
  if (!run(commit_)) return fail();
  // The log held nothing: its oldest message is now this batch's first.
  if (oldest_kept_.load(std::memory_order_relaxed) > written_id_)
    oldest_kept_.store(first->message.id, std::memory_order_release);
  last_ts_ms_ = newest_ts;
  written_id_ = (last - 1)->message.id;
  return {};
}

// Runs at most every few seconds on the writer thread. Retention only ever deletes a prefix of
// ids (by count, then by age), so what is kept is always a suffix.
void message_log::apply_retention(std::int64_t now) {
  if (now - last_retention_ms_ < retention_interval.count()) return;
  last_retention_ms_ = now;
  const auto last = written_id_;
  std::uint64_t cut = last > settings_.retention_count ? last - settings_.retention_count : 0;
  {
    // ts never decreases as ids grow: the messages too old are the ids before the first young
    // one, found by walking the ids kept past `cut` (as many rows as it deletes, plus one).
    statement young(writer_db_, "SELECT id FROM messages WHERE id > ? AND ts >= ? ORDER BY id LIMIT 1");
    if (!young) return;
    sqlite3_bind_int64(young.get(), 1, static_cast<sqlite3_int64>(cut));
    sqlite3_bind_int64(young.get(), 2, now - settings_.retention_age.count() * 1000);
    const int rc = sqlite3_step(young.get());
    if (rc == SQLITE_ROW) cut = static_cast<std::uint64_t>(sqlite3_column_int64(young.get(), 0)) - 1;
    else if (rc == SQLITE_DONE) cut = last;
    else return;
  }
  if (cut < oldest_kept_.load(std::memory_order_relaxed)) return;  // nothing to delete
  if (!delete_through(cut)) return;
  const auto oldest = query_u64(writer_db_, "SELECT COALESCE(MIN(id), 0) FROM messages");
  oldest_kept_.store(oldest != 0 ? oldest : last + 1, std::memory_order_release);
}

// Deletes the messages with id <= cut and their channel entries (looked up one by one, so the
// work follows what is deleted, not the size of the index), and records that ids up to `cut`
// were given out: all in one transaction.
bool message_log::delete_through(std::uint64_t cut) {
  if (!run(begin_)) return false;
  statement rows(writer_db_, "SELECT id, channel, channels FROM messages WHERE id <= ? AND to_conn = 0 AND to_user = ''");
  statement unindex(writer_db_, "DELETE FROM message_channels WHERE channel = ? AND id = ?");
  statement del(writer_db_, "DELETE FROM messages WHERE id <= ?");
  statement retire(writer_db_, "UPDATE log_state SET value = MAX(value, ?) WHERE name = 'retired_through'");
  bool ok = rows && unindex && del && retire;
  if (ok) {
    sqlite3_bind_int64(rows.get(), 1, static_cast<sqlite3_int64>(cut));
    int rc = SQLITE_DONE;
    while (ok && (rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
      const auto id = sqlite3_column_int64(rows.get(), 0);
      for (const auto& c : channels_of(rows.get(), 1, 2)) {
        bind_text(unindex.get(), 1, c);
        sqlite3_bind_int64(unindex.get(), 2, id);
        ok = ok && run(unindex.get());
      }
    }
    ok = ok && rc == SQLITE_DONE;
  }
  if (ok) {
    sqlite3_bind_int64(del.get(), 1, static_cast<sqlite3_int64>(cut));
    sqlite3_bind_int64(retire.get(), 1, static_cast<sqlite3_int64>(cut));
    ok = run(del.get()) && run(retire.get()) && run(commit_);
  }
  if (!ok) run(rollback_);
  return ok;
}

namespace {

// The columns "m.id, m.ts, m.channel, m.channels, m.username, m.body" of the current row.
hub::message read_message(sqlite3_stmt* q) {
  hub::message m;
  m.id = static_cast<std::uint64_t>(sqlite3_column_int64(q, 0));
  m.ts_ms = sqlite3_column_int64(q, 1);
  m.channels = channels_of(q, 2, 3);
  m.username = column_text(q, 4);
  m.body = column_text(q, 5);
  return m;
}

}  // namespace

std::vector<hub::message> message_log::read_after(const std::vector<std::string>& channels,
                                                  std::uint64_t after_id, std::size_t limit,
                                                  std::size_t max_bytes) const {
  // One ordered index range per channel, merged by id: each channel's scan stops at `limit`.
  std::vector<hub::message> merged;
  const auto durable = last_id();  // a commit waiting for its sync is not read yet
  std::lock_guard lock(reader_mutex_);
  statement q(reader_db_,
              "SELECT m.id, m.ts, m.channel, m.channels, m.username, m.body FROM message_channels c"
              " JOIN messages m ON m.id = c.id WHERE c.channel = ? AND c.id > ? AND c.id <= ? ORDER BY c.id LIMIT ?");
  if (!q) return merged;
  for (const auto& channel : channels) {
    bind_text(q.get(), 1, channel);
    sqlite3_bind_int64(q.get(), 2, static_cast<sqlite3_int64>(after_id));
    sqlite3_bind_int64(q.get(), 3, static_cast<sqlite3_int64>(durable));
    sqlite3_bind_int64(q.get(), 4, static_cast<sqlite3_int64>(limit));
    while (sqlite3_step(q.get()) == SQLITE_ROW) merged.push_back(read_message(q.get()));
    sqlite3_reset(q.get());
  }
  std::sort(merged.begin(), merged.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  merged.erase(std::unique(merged.begin(), merged.end(), [](const auto& a, const auto& b) { return a.id == b.id; }),
               merged.end());
  std::size_t keep = 0, bytes = 0;
  while (keep < merged.size() && keep < limit && (keep == 0 || bytes + merged[keep].body.size() <= max_bytes))
    bytes += merged[keep++].body.size();
  merged.resize(keep);
  return merged;
}

std::vector<hub::message> message_log::read_range(const std::string& channel, std::uint64_t after_id,
                                                  std::uint64_t before_id, std::size_t limit, bool newest_first) const {
  std::vector<hub::message> out;
  before_id = std::min(before_id, last_id() + 1);  // a commit waiting for its sync is not read yet
  if (before_id <= after_id + 1 || limit == 0) return out;
  std::lock_guard lock(reader_mutex_);
  statement q(reader_db_, newest_first
                              ? "SELECT m.id, m.ts, m.channel, m.channels, m.username, m.body FROM message_channels c"
                                " JOIN messages m ON m.id = c.id WHERE c.channel = ? AND c.id > ? AND c.id < ?"
                                " ORDER BY c.id DESC LIMIT ?"
                              : "SELECT m.id, m.ts, m.channel, m.channels, m.username, m.body FROM message_channels c"
                                " JOIN messages m ON m.id = c.id WHERE c.channel = ? AND c.id > ? AND c.id < ?"
                                " ORDER BY c.id LIMIT ?");
  if (!q) return out;
  bind_text(q.get(), 1, channel);
  sqlite3_bind_int64(q.get(), 2, static_cast<sqlite3_int64>(after_id));
  // Ids are at most 2^63 - 1: a larger bound reads as "no bound".
  sqlite3_bind_int64(q.get(), 3, static_cast<sqlite3_int64>(std::min<std::uint64_t>(before_id, INT64_MAX)));
  sqlite3_bind_int64(q.get(), 4, static_cast<sqlite3_int64>(std::min<std::size_t>(limit, INT64_MAX)));
  while (sqlite3_step(q.get()) == SQLITE_ROW) out.push_back(read_message(q.get()));
  return out;
}

bool message_log::complete_after(std::uint64_t after_id, std::uint64_t oldest_kept, std::uint64_t last_id) {
  if (after_id > last_id) return false;  // an id this log never gave out
  // Retention keeps a suffix of ids: everything after after_id is there when the oldest kept id
  // is at most after_id + 1, or when nothing newer was ever stored.
  return after_id == last_id || oldest_kept <= after_id + 1;
}

message_log::resume_plan message_log::plan_resume(const std::vector<std::string>& channels, std::uint64_t after_id,
                                                  std::size_t max_messages) const {
  const auto durable = last_id();
  resume_plan plan{after_id, complete_after(after_id, oldest_kept(), durable)};
  std::lock_guard lock(reader_mutex_);
  // The newest max_messages ids after after_id, across the channels; skip older ones.
  statement q(reader_db_,
              "SELECT id FROM message_channels WHERE channel = ? AND id > ? AND id <= ? ORDER BY id DESC LIMIT ?");
  std::vector<std::uint64_t> ids;
  for (const auto& channel : channels) {
    bind_text(q.get(), 1, channel);
    sqlite3_bind_int64(q.get(), 2, static_cast<sqlite3_int64>(after_id));
    sqlite3_bind_int64(q.get(), 3, static_cast<sqlite3_int64>(durable));
    sqlite3_bind_int64(q.get(), 4, static_cast<sqlite3_int64>(max_messages + 1));
    while (sqlite3_step(q.get()) == SQLITE_ROW) ids.push_back(static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 0)));
    sqlite3_reset(q.get());
  }
  std::sort(ids.begin(), ids.end(), std::greater<>());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.size() > max_messages) {
    plan.start_after = ids[max_messages];
    plan.recovered = false;
  }
  return plan;
}

std::uint64_t message_log::last_id() const { return last_id_.load(std::memory_order_acquire); }

std::uint64_t message_log::count() const {
  const auto durable = last_id();
  std::lock_guard lock(reader_mutex_);
  statement q(reader_db_, "SELECT COUNT(*) FROM messages WHERE id <= ?");
  if (!q) return 0;
  sqlite3_bind_int64(q.get(), 1, static_cast<sqlite3_int64>(durable));
  return sqlite3_step(q.get()) == SQLITE_ROW ? static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 0)) : 0;
}

}  // namespace wshub::store
