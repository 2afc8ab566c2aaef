#pragma once
// Blocking reads (the store's resume pages) run off the I/O threads, with the result handed back
// to the thread that asked for it.
#include <functional>
#include <utility>

#include <boost/asio/post.hpp>

namespace wshub::util {

class blocking_reads {
 public:
  // `run` runs a job on some other thread (the app's blocking pool).
  using runner = std::function<void(std::function<void()>)>;
  explicit blocking_reads(runner run) : run_(std::move(run)) {}

  // Runs `read()` through the runner, then `done(result)` on `home`. Both functions travel back
  // to `home` with the result, so whatever they hold (a session's last reference, say) is
  // destroyed there, never on the pool's thread.
  template <class Executor, class Read, class Done>
  void read_then(const Executor& home, Read read, Done done) const {
    run_([home, read = std::move(read), done = std::move(done)]() mutable {
      auto result = read();
      boost::asio::post(home, [read = std::move(read), done = std::move(done), result = std::move(result)]() mutable {
        done(std::move(result));
      });
    });
  }

 private:
  runner run_;
};

}  // namespace wshub::util
