#pragma once
// The accept loop. Keeps accepting after errors (EMFILE included, after a short pause).
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/logger.h>

namespace wshub::net {

// "127.0.0.1:9999", "[::1]:9999".
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& e);

class listener : public std::enable_shared_from_this<listener> {
 public:
  using on_accept_fn = std::function<void(boost::asio::ip::tcp::socket&&)>;

  // Binds and listens; when it cannot (start-up only), throws std::runtime_error saying
  // "cannot listen on ADDRESS:PORT: <reason>".
  // With `strand_per_socket`, each accepted socket gets its own strand of `ioc`: needed when
  // several threads run `ioc`. With one thread, every handler is already serialized and the
  // sockets use `ioc`'s executor directly (no strand queue per handler).
  listener(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& endpoint,
           std::shared_ptr<spdlog::logger> log, on_accept_fn on_accept, bool strand_per_socket = true);

  void run();
  // Any thread: stops accepting and closes the listening socket.
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return local_endpoint_; }

 private:
  void do_accept();
  void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& ioc_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::ip::tcp::acceptor acceptor_;  // strand_ only
  boost::asio::steady_timer retry_timer_;    // strand_ only
  boost::asio::ip::tcp::endpoint local_endpoint_;
  std::shared_ptr<spdlog::logger> log_;
  on_accept_fn on_accept_;
  bool strand_per_socket_;
};

}  // namespace wshub::net
