#pragma once
// Blocking test clients built on Asio's asynchronous operations, so that every wait has a deadline.
#include <chrono>
#include <cstddef>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

namespace wshub::test {

// Runs one asynchronous operation on `ioc` until it completes or `timeout` passes; then the
// socket's operations are cancelled and asio::error::timed_out is returned. `start` receives the
// completion handler to pass to the operation.
template <class Start>
boost::system::error_code run_with_timeout(boost::asio::io_context& ioc, boost::asio::ip::tcp::socket& socket,
                                           std::chrono::milliseconds timeout, Start start) {
  boost::system::error_code result = boost::asio::error::timed_out;
  bool done = false;
  start([&](boost::system::error_code ec, std::size_t = 0) {
    result = ec;
    done = true;
  });
  ioc.restart();
  ioc.run_for(timeout);
  if (!done) {
    boost::system::error_code ignored;
    socket.cancel(ignored);
    ioc.restart();
    ioc.run();
    result = boost::asio::error::timed_out;
  }
  return result;
}

}  // namespace wshub::test
