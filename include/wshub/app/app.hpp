#pragma once
// Builds every component from the configuration and owns their lifetimes.
#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "wshub/app/config.hpp"
#include "wshub/hub/counters.hpp"

namespace wshub::app {

class app {
 public:
  // Opens the log, binds the port; throws (std::exception) when it cannot: start-up only.
  explicit app(const config& cfg);
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
  // start(), stop on SIGTERM/SIGINT, wait(); returns the process exit code.
  int run();

  boost::asio::ip::tcp::endpoint endpoint() const;
  const hub::counters& counters() const;
  std::size_t connection_count() const;

 private:
  struct parts;
  std::unique_ptr<parts> parts_;
};

}  // namespace wshub::app
