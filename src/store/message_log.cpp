#include "wshub/store/message_log.hpp"

#include <algorithm>
#include <functional>

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
  const char* sync = settings_.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  if (!exec(writer_db_, "PRAGMA journal_mode=WAL") || !exec(writer_db_, sync)) {
    std::string text = sqlite3_errmsg(writer_db_);
    sqlite3_close(writer_db_);
    throw store_error("cannot configure message log " + settings_.path + ": " + text);
  }
  try {
    migrate(writer_db_);
    reader_db_ = open_db(settings_.path, SQLITE_OPEN_READONLY);
  } catch (...) {
    sqlite3_close(writer_db_);
    throw;
  }
  // sqlite_sequence keeps the highest id ever used, so ids continue after retention empties the
  // table.
  last_id_ = query_u64(writer_db_, "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name='messages'), 0)");
  last_ts_ms_ = static_cast<std::int64_t>(query_u64(writer_db_, "SELECT COALESCE(MAX(ts), 0) FROM messages"));
  const auto oldest = query_u64(writer_db_, "SELECT COALESCE(MIN(id), 0) FROM messages");
  oldest_kept_ = oldest != 0 ? oldest : last_id_ + 1;
  writer_thread_ = std::thread([this] { writer_loop(); });
}

message_log::~message_log() {
  stop();
  sqlite3_finalize(insert_);
  sqlite3_finalize(index_);
  sqlite3_close(reader_db_);
  sqlite3_close(writer_db_);
}

std::error_code message_log::append(hub::message m, durable_handler on_durable) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return log_errc::stopped;
    if (m.channels.empty()) return log_errc::write_failed;  // every message has a channel
    if (queue_.size() >= settings_.max_pending) return log_errc::overloaded;
    queue_.push_back(pending{std::move(m), std::move(on_durable)});
  }
  wake_.notify_one();
  return {};
}

std::error_code message_log::append_group(std::vector<hub::message> group, durable_handler on_durable) {
  if (group.empty()) return {};
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return log_errc::stopped;
    for (const auto& m : group)
      if (m.channels.empty() || m.id == 0) return log_errc::write_failed;
    if (!queue_.empty() && queue_.size() + group.size() > settings_.max_pending) return log_errc::overloaded;
    for (std::size_t i = 0; i < group.size(); ++i)
      queue_.push_back(pending{std::move(group[i]), on_durable, i + 1 == group.size(), true});
  }
  wake_.notify_one();
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
    exec(writer_db_, "PRAGMA wal_checkpoint(TRUNCATE)");
  }
}

void message_log::writer_loop() {
  std::vector<pending> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is committed
      batch.clear();
      while (!queue_.empty() && (batch.size() < settings_.batch_max || !batch.back().ends_group)) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    const auto ec = write_batch(batch);
    writable_.store(!ec, std::memory_order_relaxed);
    for (auto& p : batch) p.on_durable(ec, p.message);
    apply_retention(last_ts_ms_);
  }
}

// One transaction for the whole batch: either every message gets its id or none does.
std::error_code message_log::write_batch(std::vector<pending>& batch) {
  // Prepared once, on first use, and kept: preparing costs more than inserting a row.
  if (!insert_)
    sqlite3_prepare_v3(writer_db_,
                       "INSERT INTO messages(ts, channel, channels, username, body, to_conn, to_user, id)"
                       " VALUES(?,?,?,?,?,?,?,?)",
                       -1, SQLITE_PREPARE_PERSISTENT, &insert_, nullptr);
  if (!index_)
    sqlite3_prepare_v3(writer_db_, "INSERT INTO message_channels(channel, id) VALUES(?,?)", -1,
                       SQLITE_PREPARE_PERSISTENT, &index_, nullptr);
  if (!insert_ || !index_ || !exec(writer_db_, "BEGIN IMMEDIATE")) return log_errc::write_failed;
  sqlite3_stmt* const insert = insert_;
  sqlite3_stmt* const index = index_;
  auto fail = [&] {
    sqlite3_reset(insert);
    sqlite3_reset(index);
    exec(writer_db_, "ROLLBACK");
    for (auto& q : batch)
      if (!q.sequenced) q.message.id = 0;  // the ids this batch handed out are void
    return make_error_code(log_errc::write_failed);
  };
  std::int64_t ts = std::max(now_ms(), last_ts_ms_);  // never earlier than an older message
  std::int64_t newest_ts = ts;
  for (auto& p : batch) {
    auto& m = p.message;
    const bool sequenced = p.sequenced;  // id and ts given by the cluster
    if (!sequenced) m.ts_ms = ts;
    newest_ts = std::max(newest_ts, m.ts_ms);
    const std::string& primary = m.channels.front();
    const std::string all = m.channels.size() > 1 ? nlohmann::json(m.channels).dump() : std::string();
    sqlite3_bind_int64(insert, 1, m.ts_ms);
    bind_text(insert, 2, primary);
    if (all.empty()) sqlite3_bind_null(insert, 3);
    else bind_text(insert, 3, all);
    bind_text(insert, 4, m.username);
    bind_text(insert, 5, m.body);
    sqlite3_bind_int64(insert, 6, static_cast<sqlite3_int64>(m.to_conn));
    bind_text(insert, 7, m.to_user);
    if (sequenced) sqlite3_bind_int64(insert, 8, static_cast<sqlite3_int64>(m.id));
    else sqlite3_bind_null(insert, 8);
    if (sqlite3_step(insert) != SQLITE_DONE) return fail();
    sqlite3_reset(insert);
    m.id = static_cast<std::uint64_t>(sqlite3_last_insert_rowid(writer_db_));
    if (m.targeted()) continue;  // private: not part of any channel's history
    for (const auto& c : m.channels) {
      bind_text(index, 1, c);
      sqlite3_bind_int64(index, 2, static_cast<sqlite3_int64>(m.id));
      if (sqlite3_step(index) != SQLITE_DONE) return fail();
      sqlite3_reset(index);
    }
  }
  if (!exec(writer_db_, "COMMIT")) return fail();
  // The log held nothing: its oldest message is now this batch's first.
  if (oldest_kept_.load(std::memory_order_relaxed) > last_id_.load(std::memory_order_relaxed))
    oldest_kept_.store(batch.front().message.id, std::memory_order_release);
  last_ts_ms_ = newest_ts;
  last_id_.store(batch.back().message.id, std::memory_order_release);
  return {};
}

// Runs at most every few seconds on the writer thread. Retention only ever deletes a prefix of
// ids (by count, then by age: ts grows with id), so what is kept is always a suffix.
void message_log::apply_retention(std::int64_t now) {
  constexpr std::int64_t interval_ms = 5000;
  if (now - last_retention_ms_ < interval_ms) return;
  last_retention_ms_ = now;
  const auto last = last_id_.load(std::memory_order_relaxed);
  std::uint64_t cut = last > settings_.retention_count ? last - settings_.retention_count : 0;
  {
    statement old(writer_db_, "SELECT COALESCE(MAX(id), 0) FROM messages WHERE ts < ?");
    sqlite3_bind_int64(old.get(), 1, now - settings_.retention_age.count() * 1000);
    if (old && sqlite3_step(old.get()) == SQLITE_ROW)
      cut = std::max(cut, static_cast<std::uint64_t>(sqlite3_column_int64(old.get(), 0)));
  }
  if (cut == 0) return;
  exec(writer_db_, "BEGIN IMMEDIATE");
  for (const char* sql : {"DELETE FROM messages WHERE id <= ?", "DELETE FROM message_channels WHERE id <= ?"}) {
    statement del(writer_db_, sql);
    sqlite3_bind_int64(del.get(), 1, static_cast<sqlite3_int64>(cut));
    sqlite3_step(del.get());
  }
  exec(writer_db_, "COMMIT");
  const auto oldest = query_u64(writer_db_, "SELECT COALESCE(MIN(id), 0) FROM messages");
  oldest_kept_.store(oldest != 0 ? oldest : last + 1, std::memory_order_release);
}

namespace {

// The columns "m.id, m.ts, m.channel, m.channels, m.username, m.body" of the current row.
hub::message read_message(sqlite3_stmt* q) {
  hub::message m;
  m.id = static_cast<std::uint64_t>(sqlite3_column_int64(q, 0));
  m.ts_ms = sqlite3_column_int64(q, 1);
  const auto all = column_text(q, 3);
  if (!all.empty()) {
    const auto parsed = nlohmann::json::parse(all, nullptr, false);
    if (parsed.is_array())
      for (const auto& c : parsed)
        if (c.is_string()) m.channels.push_back(c.get<std::string>());
  }
  if (m.channels.empty()) m.channels = {column_text(q, 2)};
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
  std::lock_guard lock(reader_mutex_);
  statement q(reader_db_,
              "SELECT m.id, m.ts, m.channel, m.channels, m.username, m.body FROM message_channels c"
              " JOIN messages m ON m.id = c.id WHERE c.channel = ? AND c.id > ? ORDER BY c.id LIMIT ?");
  if (!q) return merged;
  for (const auto& channel : channels) {
    bind_text(q.get(), 1, channel);
    sqlite3_bind_int64(q.get(), 2, static_cast<sqlite3_int64>(after_id));
    sqlite3_bind_int64(q.get(), 3, static_cast<sqlite3_int64>(limit));
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
  resume_plan plan{after_id, complete_after(after_id, oldest_kept(), last_id())};
  std::lock_guard lock(reader_mutex_);
  // The newest max_messages ids after after_id, across the channels; skip older ones.
  statement q(reader_db_, "SELECT id FROM message_channels WHERE channel = ? AND id > ? ORDER BY id DESC LIMIT ?");
  std::vector<std::uint64_t> ids;
  for (const auto& channel : channels) {
    bind_text(q.get(), 1, channel);
    sqlite3_bind_int64(q.get(), 2, static_cast<sqlite3_int64>(after_id));
    sqlite3_bind_int64(q.get(), 3, static_cast<sqlite3_int64>(max_messages + 1));
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
  std::lock_guard lock(reader_mutex_);
  return query_u64(reader_db_, "SELECT COUNT(*) FROM messages");
}

}  // namespace wshub::store
