#pragma once
// Process-wide counters of rare events, updated lock-free from any thread and read by the stats
// endpoints. The per-delivery counters are each worker's own (hub::registry), summed on read.
#include <atomic>
#include <cstdint>

#include "wshub/hub/latency_histogram.hpp"

namespace wshub::hub {

struct counters {
  std::atomic<std::uint64_t> published{0};          // messages durably stored and fanned out
  std::atomic<std::uint64_t> slow_consumer_closes{0};
  std::atomic<std::uint64_t> origin_refusals{0};
  std::atomic<std::uint64_t> connection_refusals{0};  // over the connection limit
  std::atomic<std::uint64_t> token_refusals{0};       // upgrades with a missing, bad or too narrow token
  std::atomic<std::uint64_t> publish_failures{0};     // store errors and overload
  std::atomic<double> messages_per_second{0};         // published during the last full second
  latency_histogram publish_store_latency;            // from publish() until durable in the log
  std::atomic<std::uint64_t> config_reloads{0};       // applied
  std::atomic<std::uint64_t> config_reload_failures{0};  // refused: the new configuration was invalid
  // Redis state for /readyz and /metrics, kept by the Redis back-end when one is configured.
  std::atomic<bool> redis_configured{false};
  std::atomic<bool> redis_reachable{false};
  std::atomic<std::uint64_t> cluster_nodes{0};  // live nodes at the last heartbeat, this one included
};

}  // namespace wshub::hub
