#pragma once
// Builds every component from the configuration and owns their lifetimes.
#include <memory>
#include <optional>

#include <boost/asio/ip/tcp.hpp>

#include "wshub/app/config.hpp"
#include "wshub/app/config_source.hpp"
#include "wshub/cache/memory_cache.hpp"
#include "wshub/hub/counters.hpp"

namespace wshub::app {

class app {
 public:
  // Opens the log, binds the port; throws (std::exception) when it cannot: start-up only.
  // `source` is where `cfg` came from, for reload(); without it reload() refuses.
  explicit app(const config& cfg, std::optional<config_source> source = std::nullopt);
  ~app();
  app(const app&) = delete;
  app& operator=(const app&) = delete;

  // Starts the I/O threads and the accept loop; returns at once.
  void start();
  // Any thread, any number of times: stop accepting, close sockets with 1001, flush the log,
  // then stop the I/O threads. Bounded by shutdown_timeout.
  void stop();
  // Blocks until the I/O threads have stopped.
  void wait();
  // start(), stop on SIGTERM/SIGINT, reload() on SIGHUP, wait(); returns the process exit code.
  int run();
  // Any thread: reads the configuration again from its source and applies what can change
  // live (log level and file, origins, connection limit); false when the new one is invalid
  // and the running one is kept. See app/reload.hpp.
  bool reload();

  boost::asio::ip::tcp::endpoint endpoint() const;
  const hub::counters& counters() const;
  std::size_t connection_count() const;
  // What the in-memory cache of recent messages holds, and how many reads it answered.
  cache::memory_cache::stats cache_stats() const;

 private:
  struct parts;
  std::unique_ptr<parts> parts_;
};

}  // namespace wshub::app
