#pragma once
// Waiting for a state that has no event to wait on (a server's counter, a socket count, an effect
// that lands on another thread just after the event the test can see).
#include <chrono>
#include <functional>
#include <thread>

namespace wshub::test {

// Re-checks `done` every few milliseconds until it holds or `timeout` passes; false on timeout.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace wshub::test
