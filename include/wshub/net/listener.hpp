#pragma once
// The accept loop. Keeps accepting after errors (EMFILE included, after a short pause).
#include <cstddef>
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
  // Called on the accept loop's thread with a socket bound to targets[index]'s io_context.
  using on_accept_fn = std::function<void(boost::asio::ip::tcp::socket&&, std::size_t index)>;

  // Binds and listens; when it cannot (start-up only), throws std::runtime_error saying
  // "cannot listen on ADDRESS:PORT: <reason>". The accept loop runs on `ioc` (one thread);
  // accepted sockets go to `targets` in turn (round robin), so the workers get the same number
  // of connections within one.
  listener(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& endpoint,
           std::shared_ptr<spdlog::logger> log, on_accept_fn on_accept,
           std::vector<boost::asio::io_context*> targets);

  void run();
  // Any thread: stops accepting and closes the listening socket.
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return local_endpoint_; }

 private:
  void do_accept();
  void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;  // ioc_'s thread only
  boost::asio::steady_timer retry_timer_;    // ioc_'s thread only
  boost::asio::ip::tcp::endpoint local_endpoint_;
  std::shared_ptr<spdlog::logger> log_;
  on_accept_fn on_accept_;
  std::vector<boost::asio::io_context*> targets_;
  std::size_t next_ = 0;  // ioc_'s thread only: the target of the next accepted socket
};

}  // namespace wshub::net
