#pragma once
// Process-wide counters of rare events, updated lock-free from any thread and read by the stats
// endpoints. The per-delivery counters are each worker's own (hub::registry), summed on read.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "wshub/hub/latency_histogram.hpp"

namespace wshub::hub {

// Why a connection or a request was refused. The names are the `reason` label of
// wshub_refusals_total and the keys of `refusals` in /api/tool/stats (docs/API.md).
enum class refusal_reason : std::uint8_t {
  origin,             // upgrade from an origin that is not allowed (403)
  connection_limit,   // over http.max_connections (503) or http.max_connections_per_ip (429)
  token,              // upgrade with a missing, bad, expired or too narrow token (401, 403)
  unauthorized,       // API request without a valid publish key (401)
  forbidden,          // API request the key may not make: channel, admin (403)
  too_large,          // message or body over its limit (413)
  rate_limited,       // publish rate per key or per IP (429)
  headers_too_large,  // request headers over http.header_limit (431)
};
inline constexpr std::array<std::string_view, 8> refusal_reason_names{
    "origin", "connection_limit", "token", "unauthorized", "forbidden", "too_large", "rate_limited", "headers_too_large"};

struct counters {
  std::atomic<std::uint64_t> published{0};          // messages durably stored and fanned out
  std::atomic<std::uint64_t> slow_consumer_closes{0};
  std::array<std::atomic<std::uint64_t>, refusal_reason_names.size()> refusals{};  // by refusal_reason
  std::atomic<std::uint64_t> publish_failures{0};     // store errors and overload
  std::atomic<double> messages_per_second{0};         // published during the last full second
  latency_histogram publish_store_latency;            // from publish() until durable in the log
  std::atomic<std::uint64_t> config_reloads{0};       // applied
  std::atomic<std::uint64_t> config_reload_failures{0};  // refused: the new configuration was invalid
  // Redis state for /readyz and /metrics, kept by the Redis back-end when one is configured.
  std::atomic<bool> redis_configured{false};
  std::atomic<bool> redis_reachable{false};
  std::atomic<std::uint64_t> cluster_nodes{0};  // live nodes at the last heartbeat, this one included

  void refused(refusal_reason why) { refusals[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t refusal_count(refusal_reason why) const {
    return refusals[static_cast<std::size_t>(why)].load(std::memory_order_relaxed);
  }
};

}  // namespace wshub::hub
