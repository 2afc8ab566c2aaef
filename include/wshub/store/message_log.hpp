#pragma once
// The durable, ordered message log: SQLite in WAL mode, written by one thread with group commit;
// with synchronous full, a second thread syncs the WAL while the writer commits the next group.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include "wshub/hub/frame.hpp"

namespace wshub::store {

// Thrown only while opening (start-up); I/O-time failures are reported as error codes.
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct log_settings {
  std::string path;                      // the SQLite file; its folder must exist
  bool synchronous_full = true;          // every commit is on the disk before it is reported
                                         // (else it survives a crash of wshub, not of the machine)
  std::uint64_t retention_count = 1'000'000;  // keep at most this many messages
  std::chrono::seconds retention_age{7 * 24 * 3600};  // and none older than this
  std::size_t max_pending = 10'000;      // messages appended and not yet reported (queued,
                                         // being committed or synced); more are refused
  std::size_t batch_max = 1'000;         // messages per transaction at most
};

enum class log_errc { overloaded = 1, write_failed, stopped };
const std::error_category& log_category();
std::error_code make_error_code(log_errc e);

class message_log {
 public:
  // Called once the message is durable (or failed), in id order, always on the same thread of the
  // log's (the syncer with synchronous full, else the writer). It must not block: the next
  // group's report waits for it. The message is the handler's to move from: the log is done
  // with it.
  using durable_handler = std::function<void(std::error_code, hub::message&)>;

  explicit message_log(log_settings settings);  // opens or creates, migrates; throws store_error
  ~message_log();
  message_log(const message_log&) = delete;
  message_log& operator=(const message_log&) = delete;

  // Start-up only, before the first append: called on the durable handlers' thread after the
  // handlers of each commit (a group of messages) have run, so they can be handed on as a group.
  void on_commit(std::function<void()> hook) { on_commit_ = std::move(hook); }

  // Queues `m` (channel, username, body) for the next group commit. Thread-safe, never blocks on
  // the disk. Returns log_errc::overloaded without queueing when max_pending is reached, and
  // log_errc::stopped after stop().
  std::error_code append(hub::message m, durable_handler on_durable);
  // Queues `group` to be stored in one transaction: all of it or none. Either every message
  // already has its id and ts (sequenced by the cluster: ids above last_id() and increasing), or
  // none has (this log gives them, increasing in the group's order). `on_durable` is called for
  // each, in order. Refused whole when the queue is full (unless it is empty).
  std::error_code append_group(std::vector<hub::message> group, durable_handler on_durable);

  // Untargeted messages of any of `channels` with id > after_id, in id order, each once, at most
  // `limit` of them and, past the first, at most about `max_bytes` of bodies. Blocking: call it
  // from a worker, never from a session's strand or an I/O thread. Uses its own connection.
  std::vector<hub::message> read_after(const std::vector<std::string>& channels, std::uint64_t after_id,
                                       std::size_t limit, std::size_t max_bytes = SIZE_MAX) const;

  // Untargeted messages of `channel` with after_id < id < before_id, at most `limit` of them: the
  // oldest in id order, or (newest_first) the newest, newest first. Blocking, like read_after.
  std::vector<hub::message> read_range(const std::string& channel, std::uint64_t after_id, std::uint64_t before_id,
                                       std::size_t limit, bool newest_first) const;

  // Where a client that saw everything up to `after_id` resumes. `start_after` is after_id, or a
  // later id when more than `max_messages` are missing (the oldest are skipped). `recovered` is
  // true when nothing the client missed is skipped or already deleted by retention. Blocking.
  struct resume_plan {
    std::uint64_t start_after = 0;
    bool recovered = true;
  };
  resume_plan plan_resume(const std::vector<std::string>& channels, std::uint64_t after_id,
                          std::size_t max_messages) const;

  // The id of the last message reported durable: readers see no message past it.
  std::uint64_t last_id() const;
  // Any thread: the smallest id the log may still hold (retention deletes a prefix of ids): its
  // oldest message's id, or last_id() + 1 when it holds none.
  std::uint64_t oldest_kept() const { return oldest_kept_.load(std::memory_order_acquire); }
  // Whether a client that saw everything up to `after_id` can get everything after it (no id it
  // missed is past retention, and the id is one this log gave out), given `oldest_kept` and
  // `last_id` read by the caller.
  static bool complete_after(std::uint64_t after_id, std::uint64_t oldest_kept, std::uint64_t last_id);
  // Any thread: false when the last group commit failed (disk full, read-only, locked), true
  // again after the next one succeeds. A failed sync of the WAL is final: the kernel may have
  // dropped the pages it could not write, so nothing written since can be trusted durable; every
  // later append fails until a restart recovers what the disk holds.
  bool writable() const { return writable_.load(std::memory_order_relaxed); }
  std::uint64_t count() const;

  // Transactions committed with messages (retention's are not counted).
  std::uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  // Syncs of the WAL that made commits durable (0 with synchronous normal); one covers every
  // commit made while the one before it ran.
  std::uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }

  // Commits everything appended so far, then stops the writer. Idempotent.
  void stop();

 private:
  struct pending {
    hub::message message;
    durable_handler on_durable;
    bool ends_group = true;  // false inside a group: the writer never splits a group
    bool sequenced = false;  // id and ts were given (append_group)
  };
  // A commit handed to the syncer: its messages end at `end` in unsynced_, `error` is the
  // commit's own.
  struct unsynced_commit {
    std::size_t end;
    std::error_code error;
  };
  void writer_loop();
  void syncer_loop();
  // One transaction for [first, last): either every message gets its id or none does.
  std::error_code write_batch(pending* first, pending* last);
  // Writer thread: [first, last) was committed (or failed with `ec`); report it now, or once the
  // syncer synced it.
  void committed(pending* first, pending* last, std::error_code ec);
  // The durable handlers' thread: publishes the commit's outcome, then runs its handlers.
  void report(pending* first, pending* last, std::error_code ec);
  std::error_code sync_wal();  // syncer thread
  void apply_retention(std::int64_t now_ms);
  bool delete_through(std::uint64_t cut);  // retention's transaction; false when rolled back

  log_settings settings_;
  std::function<void()> on_commit_;  // set before the writer sees an append
  sqlite3* writer_db_ = nullptr;  // used only by writer_thread_ (and the constructor)
  // Writer thread only, prepared once by the constructor: a commit runs no SQL text.
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* index_ = nullptr;
  sqlite3* reader_db_ = nullptr;  // guarded by reader_mutex_
  mutable std::mutex reader_mutex_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<pending> queue_;  // guarded by mutex_; the writer takes all of it at once
  bool writer_idle_ = false;    // guarded by mutex_: the writer waits for wake_ (only then notify)
  bool stopping_ = false;       // guarded by mutex_
  std::size_t wake_at_ = 0;     // guarded by mutex_: the queue length at which an append wakes it
  std::int64_t last_ts_ms_ = 0;              // writer thread only
  std::int64_t last_retention_ms_ = 0;       // writer thread only
  std::uint64_t written_id_ = 0;              // writer thread only: the last id committed
  std::atomic<std::uint64_t> last_id_{0};    // the last id reported durable
  std::atomic<std::uint64_t> oldest_kept_{1};  // written by the writer thread (and the constructor)
  std::atomic<std::size_t> in_flight_{0};    // appended, not yet reported: at most max_pending
  std::atomic<bool> writable_{true};
  std::atomic<bool> sync_failed_{false};     // set once, by the syncer
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> syncs_{0};
  std::thread writer_thread_;

  // synchronous full only: commits wait here for the syncer's next fdatasync of the WAL.
  std::mutex sync_mutex_;
  std::condition_variable sync_wake_;
  std::vector<pending> unsynced_;                 // guarded by sync_mutex_
  std::vector<unsynced_commit> unsynced_commits_;  // guarded by sync_mutex_
  bool syncer_idle_ = false;                      // guarded by sync_mutex_
  bool writer_done_ = false;                      // guarded by sync_mutex_
  int wal_fd_ = -1;                               // syncer thread only
  std::thread syncer_thread_;
};

}  // namespace wshub::store

template <>
struct std::is_error_code_enum<wshub::store::log_errc> : std::true_type {};
