#pragma once
// Routing: a request in, a response out (possibly later, from another thread). No sockets here,
// so every route is testable with a plain request object.
#include <functional>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "wshub/http/error.hpp"
#include "wshub/http/static_files.hpp"
#include "wshub/hub/counters.hpp"
#include "wshub/hub/hub.hpp"
#include "wshub/publish/publisher.hpp"

namespace wshub::http {

inline constexpr std::string_view websocket_path = "/socket/system/message";

struct router_settings {
  std::size_t max_message_bytes = 64 * 1024;
  std::string username = "system";
  std::string default_channel = "system";
};

struct router_services {
  publish::publisher& publisher;
  hub::hub& hub;
  hub::counters& counters;
  const static_files& files;
  std::shared_ptr<spdlog::logger> log;
  router_settings settings;
};

// Called exactly once per request, from any thread.
using respond_fn = std::function<void(response)>;

class router {
 public:
  explicit router(router_services services);
  void handle(const request& req, respond_fn respond) const;

 private:
  void send_message(const request& req, respond_fn respond) const;
  response stats(const request& req) const;
  response health(const request& req) const;
  response static_file(const request& req, std::string_view name) const;

  router_services services_;
};

}  // namespace wshub::http
