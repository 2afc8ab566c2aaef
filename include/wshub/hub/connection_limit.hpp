#pragma once
// Caps open connections, in all and per client address. A slot is held by whatever owns the
// connection (HTTP or WebSocket session) and frees itself when that owner goes away.
#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace wshub::hub {

class connection_limit {
 public:
  // per_ip 0: no per-address limit.
  explicit connection_limit(std::size_t max, std::size_t per_ip = 0) : max_(max), per_ip_(per_ip) {}

  enum class refusal { none, total, per_ip };

  class slot {
   public:
    slot() = default;
    slot(connection_limit* owner, const std::string* ip) : owner_(owner), ip_(ip) {}
    slot(slot&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)), ip_(std::exchange(other.ip_, nullptr)) {}
    slot& operator=(slot&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = std::exchange(other.owner_, nullptr);
        ip_ = std::exchange(other.ip_, nullptr);
      }
      return *this;
    }
    ~slot() { release(); }
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    void release() {
      if (owner_) owner_->release(ip_);
      owner_ = nullptr;
    }
    connection_limit* owner_ = nullptr;
    // The key of the owner's count for this address (stable while the count is above 0), or null
    // when the address is not counted: a slot is two pointers, part of every session.
    const std::string* ip_ = nullptr;
  };

  // A held slot, or an empty one and the reason when a limit is reached.
  std::pair<slot, refusal> try_acquire(const std::string& ip);
  std::size_t open() const { return open_.load(std::memory_order_relaxed); }
  // Any thread (configuration reload): later acquisitions use the new limits; open slots stay.
  void set_max(std::size_t max) { max_.store(max, std::memory_order_relaxed); }
  void set_max_per_ip(std::size_t per_ip) { per_ip_.store(per_ip, std::memory_order_relaxed); }

 private:
  void release(const std::string* ip);

  std::atomic<std::size_t> max_;
  std::atomic<std::size_t> per_ip_;
  std::atomic<std::size_t> open_{0};
  std::mutex mutex_;
  // Guarded by mutex_; only while per_ip_ > 0. Held slots point at their key (nodes do not move).
  std::unordered_map<std::string, std::size_t> by_ip_;
};

}  // namespace wshub::hub
