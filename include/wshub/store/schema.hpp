#pragma once
// The message log's versioned schema (PRAGMA user_version) and its migrations.
#include <sqlite3.h>

namespace wshub::store {

// The schema version this build writes.
int current_schema_version();

// Brings the database to current_schema_version() in one transaction. Throws store_error when
// the file has a newer version than this build knows, or when a migration fails.
void migrate(sqlite3* db);

}  // namespace wshub::store
