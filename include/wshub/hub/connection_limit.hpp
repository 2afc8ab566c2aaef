#pragma once
// Caps open connections. A slot is held by whatever owns the connection (HTTP or WebSocket
// session) and frees itself when that owner goes away.
#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>

namespace wshub::hub {

class connection_limit {
 public:
  explicit connection_limit(std::size_t max) : max_(max) {}

  class slot {
   public:
    slot() = default;
    explicit slot(connection_limit* owner) : owner_(owner) {}
    slot(slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    slot& operator=(slot&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = std::exchange(other.owner_, nullptr);
      }
      return *this;
    }
    ~slot() { release(); }
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    void release() {
      if (owner_) owner_->open_.fetch_sub(1, std::memory_order_relaxed);
      owner_ = nullptr;
    }
    connection_limit* owner_ = nullptr;
  };

  // An empty slot when the limit is reached.
  slot try_acquire() {
    if (open_.fetch_add(1, std::memory_order_relaxed) >= max_) {
      open_.fetch_sub(1, std::memory_order_relaxed);
      return slot{};
    }
    return slot{this};
  }
  std::size_t open() const { return open_.load(std::memory_order_relaxed); }

 private:
  const std::size_t max_;
  std::atomic<std::size_t> open_{0};
};

}  // namespace wshub::hub
