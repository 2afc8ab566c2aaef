#pragma once
// The one path of a published message: store it durably, then hand it to the broker for fan-out.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "wshub/cache/cache.hpp"
#include "wshub/cluster/broker.hpp"
#include "wshub/hub/counters.hpp"
#include "wshub/store/message_log.hpp"

namespace wshub::publish {

struct publish_request {
  std::vector<std::string> channels;  // at least one
  std::string username;
  std::string body;
  std::uint64_t to_conn = 0;  // targeted delivery: this connection only
  std::string to_user;        // targeted delivery: this user's connections only
};

struct publish_result {
  std::error_code error;  // set when the message was not stored (nothing was acknowledged)
  std::uint64_t id = 0;
  std::size_t recipients = 0;
};

class publisher {
 public:
  publisher(store::message_log& log, cache::cache& cache, cluster::broker& broker,
            hub::counters& counters);

  // Stores the message, encodes it once, fans it out, then calls `done` exactly once: on the
  // store's writer thread after the commit, or right away when the log refuses the message.
  // `done` must not block; post to your own executor.
  void publish(publish_request request, std::function<void(publish_result)> done);

 private:
  store::message_log& log_;
  cache::cache& cache_;
  cluster::broker& broker_;
  hub::counters& counters_;
};

}  // namespace wshub::publish
