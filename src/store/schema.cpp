#include "wshub/store/schema.hpp"

#include <string>
#include <vector>

#include "wshub/store/message_log.hpp"

namespace wshub::store {
namespace {

// migrations[i] brings the schema from version i to i + 1. Append only; never edit a step.
const std::vector<const char*> migrations = {
    "CREATE TABLE messages ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts INTEGER NOT NULL,"
    "  channel TEXT NOT NULL,"
    "  username TEXT NOT NULL,"
    "  body TEXT NOT NULL);"
    "CREATE INDEX messages_by_channel ON messages(channel, id);"
    "CREATE INDEX messages_by_ts ON messages(ts);",
    // 2: a message may go to several channels (one row per channel in message_channels, which
    // history and resume read) or to one connection or user (targeted: not in message_channels).
    "ALTER TABLE messages ADD COLUMN channels TEXT;"
    "ALTER TABLE messages ADD COLUMN to_conn INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN to_user TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE message_channels ("
    "  channel TEXT NOT NULL,"
    "  id INTEGER NOT NULL,"
    "  PRIMARY KEY (channel, id)) WITHOUT ROWID;"
    "INSERT INTO message_channels(channel, id) SELECT channel, id FROM messages;"
    "DROP INDEX messages_by_channel;",
    // 3: two B-tree writes per message of one channel (its row, its message_channels entry)
    // instead of four. The writer gives ids itself (last id + 1), so no AUTOINCREMENT and no
    // sqlite_sequence; retention, the only deleter, records the highest id it deleted in
    // log_state ('retired_through') in its own transaction, so an id stays given out after its
    // row is gone. No index on ts: ts never decreases as ids grow, so retention finds its cut by
    // walking ids from the oldest. Small columns come before the body.
    "CREATE TABLE log_state ("
    "  name TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO log_state(name, value) VALUES('retired_through',"
    "  (SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'messages'));"
    "CREATE TABLE messages_v3 ("
    "  id INTEGER PRIMARY KEY,"
    "  ts INTEGER NOT NULL,"
    "  channel TEXT NOT NULL,"
    "  channels TEXT,"
    "  to_conn INTEGER NOT NULL DEFAULT 0,"
    "  to_user TEXT NOT NULL DEFAULT '',"
    "  username TEXT NOT NULL,"
    "  body TEXT NOT NULL);"
    "INSERT INTO messages_v3(id, ts, channel, channels, to_conn, to_user, username, body)"
    "  SELECT id, ts, channel, channels, to_conn, to_user, username, body FROM messages ORDER BY id;"
    "DROP TABLE messages;"
    "ALTER TABLE messages_v3 RENAME TO messages;",
};

int user_version(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) != SQLITE_OK)
    throw store_error(std::string("cannot read schema version: ") + sqlite3_errmsg(db));
  int version = 0;
  if (sqlite3_step(stmt) == SQLITE_ROW) version = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  return version;
}

void exec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string text = error ? error : "unknown error";
    sqlite3_free(error);
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw store_error("schema migration failed: " + text);
  }
}

}  // namespace

int current_schema_version() { return static_cast<int>(migrations.size()); }

void migrate(sqlite3* db) {
  exec(db, "BEGIN IMMEDIATE");
  const int version = user_version(db);
  if (version > current_schema_version()) {
    exec(db, "ROLLBACK");
    throw store_error("database schema version " + std::to_string(version) +
                      " is newer than this build supports (" +
                      std::to_string(current_schema_version()) + ")");
  }
  for (int v = version; v < current_schema_version(); ++v) exec(db, migrations[v]);
  exec(db, "PRAGMA user_version = " + std::to_string(current_schema_version()));
  exec(db, "COMMIT");
}

}  // namespace wshub::store
