#include "wshub/net/listener.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <stdexcept>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>

namespace wshub::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

listener::listener(asio::io_context& ioc, const tcp::endpoint& endpoint, std::shared_ptr<spdlog::logger> log,
                   on_accept_fn on_accept, std::vector<asio::io_context*> targets)
    : ioc_(ioc),
      acceptor_(ioc),
      retry_timer_(ioc),
      log_(std::move(log)),
      on_accept_(std::move(on_accept)),
      targets_(std::move(targets)) {
  if (targets_.empty()) targets_.push_back(&ioc_);
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) local_endpoint_ = acceptor_.local_endpoint(ec);
  if (!ec) acceptor_.non_blocking(true, ec);  // shed_one()'s accept never waits
  if (ec) {
    // "Address already in use" -> "address already in use": it follows a colon.
    auto why = ec.message();
    if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
    throw std::runtime_error("cannot listen on " + endpoint_text(endpoint) + ": " + why);
  }
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

listener::~listener() {
  if (spare_fd_ >= 0) ::close(spare_fd_);
}

std::string endpoint_text(const tcp::endpoint& e) {
  const auto address = e.address().to_string();
  return (e.address().is_v6() ? "[" + address + "]" : address) + ":" + std::to_string(e.port());
}

void listener::run() { asio::dispatch(ioc_, [self = shared_from_this()] { self->do_accept(); }); }

void listener::stop() {
  asio::dispatch(ioc_, [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->retry_timer_.cancel();
    self->acceptor_.close(ignored);
  });
}

void listener::do_accept() {
  if (!acceptor_.is_open()) return;
  const auto index = next_;
  next_ = (next_ + 1) % targets_.size();
  auto& target = *targets_[index];
  // The accepted socket is handed over on its worker's thread, and the next accept starts once it
  // was: the loop never runs ahead of the workers with sockets that no session holds yet.
  acceptor_.async_accept(target, asio::bind_executor(target, [self = shared_from_this(), index](
                                                                  boost::system::error_code ec, tcp::socket socket) {
    if (!ec) {
      // Every write is a whole answer or a batch of whole frames: send it now. With Nagle on, a
      // small write waits for the peer's (delayed) ACK of the previous one: 40 ms stalls on loopback.
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      self->on_accept_(std::move(socket), index);
    }
    asio::post(self->ioc_, [self, ec] { self->on_accept(ec); });
  }));
}

void listener::on_accept(boost::system::error_code ec) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;  // stopped
  if (ec) {
    note_failure(ec);
    const bool out_of_descriptors = ec == asio::error::no_descriptors || ec.value() == ENFILE;
    if (out_of_descriptors && shed_one()) return do_accept();
    // A transient network error, or no reserve: pause briefly, then go on.
    retry_timer_.expires_after(std::chrono::milliseconds(100));
    retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
      if (!wait_ec) self->do_accept();
    });
    return;
  }
  if (failures_ > 0 && std::chrono::steady_clock::now() - last_warning_ >= accept_warning_interval) {
    log_->info("accepting again; {} more accept failures since the last warning", failures_);
    failures_ = 0;
  }
  do_accept();
}

bool listener::shed_one() {
  if (spare_fd_ < 0) spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (spare_fd_ < 0) return false;
  ::close(spare_fd_);
  const int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) ::close(fd);
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd >= 0;
}

void listener::note_failure(const boost::system::error_code& ec) {
  ++failures_;
  const auto now = std::chrono::steady_clock::now();
  if (last_warning_ != std::chrono::steady_clock::time_point{} && now - last_warning_ < accept_warning_interval) return;
  if (ec == asio::error::no_descriptors || ec.value() == ENFILE)
    log_->warn("accept failed: {} ({} failures since the last warning); new connections are closed at once until "
               "descriptors are free (raise the limit: LimitNOFILE, ulimit -n)",
               ec.message(), failures_);
  else
    log_->warn("accept failed: {} ({} failures since the last warning)", ec.message(), failures_);
  failures_ = 0;
  last_warning_ = now;
}

}  // namespace wshub::net
