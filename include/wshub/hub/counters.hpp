#pragma once
// Process-wide counters, updated lock-free from any thread and read by the stats endpoints.
#include <atomic>
#include <cstdint>

namespace wshub::hub {

struct counters {
  std::atomic<std::uint64_t> published{0};          // messages durably stored and fanned out
  std::atomic<std::uint64_t> deliveries{0};         // frames queued to sockets
  std::atomic<std::uint64_t> slow_consumer_closes{0};
  std::atomic<std::uint64_t> origin_refusals{0};
  std::atomic<std::uint64_t> connection_refusals{0};  // over the connection limit
  std::atomic<std::uint64_t> publish_failures{0};     // store errors and overload
  std::atomic<double> messages_per_second{0};         // published during the last full second
};

}  // namespace wshub::hub
