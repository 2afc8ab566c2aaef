#pragma once
// One blocking connection to Redis (hiredis), used by exactly one thread. Every call is bounded
// by the connection's timeouts; a failed call drops the connection, and the owner reconnects.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>

namespace wshub::cluster {

struct redis_settings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string unix_socket;  // used instead of host and port when set
  unsigned database = 0;
  std::string username;  // Redis 6 ACL user; empty: the default user
  std::string password;  // empty: no AUTH
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{2000};
  std::string prefix = "wshub:";   // every key wshub uses starts with this
  std::uint64_t stream_max_len = 1'000'000;  // messages the cluster stream keeps (about)
};

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

class redis_link {
 public:
  // `extra_read_time` lengthens the read timeout for links that issue blocking reads (XREAD BLOCK).
  explicit redis_link(redis_settings settings, std::chrono::milliseconds extra_read_time = {});
  ~redis_link();
  redis_link(const redis_link&) = delete;
  redis_link& operator=(const redis_link&) = delete;

  // Connects (AUTH, SELECT) when not connected. False, with last_error() set, when it cannot.
  bool ensure_connected();
  bool connected() const { return ctx_ != nullptr; }
  void disconnect();

  // One command. Null on a connection failure (the link is then disconnected); an error reply
  // from Redis is returned as a reply of type REDIS_REPLY_ERROR.
  reply_ptr command(const std::vector<std::string>& args);
  // Pipelining: queue commands, then read their replies in order.
  void append(const std::vector<std::string>& args);
  reply_ptr next_reply();

  const std::string& last_error() const { return last_error_; }

 private:
  void fail(const char* what);

  redis_settings settings_;
  std::chrono::milliseconds extra_read_time_;
  redisContext* ctx_ = nullptr;
  std::string last_error_;
};

// Reply helpers: "" / 0 when the reply is not of the expected type.
std::string reply_string(const redisReply* r);
long long reply_integer(const redisReply* r);
bool reply_is_error(const redisReply* r);

}  // namespace wshub::cluster
