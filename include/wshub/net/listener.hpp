#pragma once
// The accept loop. Keeps accepting after errors. Out of file descriptors (EMFILE, ENFILE), it
// still takes each waiting connection and closes it at once, through a descriptor it keeps in
// reserve, so clients learn at once instead of waiting in the backlog; it logs that at most once
// every accept_warning_interval.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/logger.h>

namespace wshub::net {

// "127.0.0.1:9999", "[::1]:9999".
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& e);

class listener : public std::enable_shared_from_this<listener> {
 public:
  // Called on the thread of targets[index] with a socket bound to that io_context.
  using on_accept_fn = std::function<void(boost::asio::ip::tcp::socket&&, std::size_t index)>;

  // Binds and listens; when it cannot (start-up only), throws std::runtime_error saying
  // "cannot listen on ADDRESS:PORT: <reason>". The accept loop runs on `ioc` (one thread);
  // accepted sockets go to `targets` in turn (round robin), so the workers get the same number
  // of connections within one.
  listener(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& endpoint,
           std::shared_ptr<spdlog::logger> log, on_accept_fn on_accept,
           std::vector<boost::asio::io_context*> targets);

  ~listener();
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  void run();
  // Any thread: stops accepting and closes the listening socket.
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return local_endpoint_; }

  static constexpr std::chrono::seconds accept_warning_interval{10};

 private:
  void do_accept();
  // The accept loop's thread, after the accepted socket (if any) was handed over.
  void on_accept(boost::system::error_code ec);
  // Out of descriptors: frees the reserve, accepts the waiting connection, closes it, takes the
  // reserve back. False when there was nothing to close or the reserve could not be used.
  bool shed_one();
  void note_failure(const boost::system::error_code& ec);

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;  // ioc_'s thread only
  boost::asio::steady_timer retry_timer_;    // ioc_'s thread only
  boost::asio::ip::tcp::endpoint local_endpoint_;
  std::shared_ptr<spdlog::logger> log_;
  on_accept_fn on_accept_;
  std::vector<boost::asio::io_context*> targets_;
  std::size_t next_ = 0;  // ioc_'s thread only: the target of the next accepted socket
  int spare_fd_ = -1;  // ioc_'s thread only: an open /dev/null, freed only to shed a connection
  std::uint64_t failures_ = 0;  // ioc_'s thread only: accept failures and shed connections since the last warning
  std::chrono::steady_clock::time_point last_warning_;  // ioc_'s thread only
};

}  // namespace wshub::net
