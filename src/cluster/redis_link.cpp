#include "wshub/cluster/redis_link.hpp"

#include <sys/time.h>

namespace wshub::cluster {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

}  // namespace

redis_link::redis_link(redis_settings settings, std::chrono::milliseconds extra_read_time)
    : settings_(std::move(settings)), extra_read_time_(extra_read_time) {}

redis_link::~redis_link() { disconnect(); }

void redis_link::disconnect() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

void redis_link::fail(const char* what) {
  last_error_ = std::string(what) + ": " + (ctx_ && ctx_->err ? ctx_->errstr : "no connection");
  disconnect();
}

bool redis_link::ensure_connected() {
  if (ctx_) return true;
  const auto connect_tv = to_timeval(settings_.connect_timeout);
  ctx_ = settings_.unix_socket.empty() ? redisConnectWithTimeout(settings_.host.c_str(), settings_.port, connect_tv)
                                       : redisConnectUnixWithTimeout(settings_.unix_socket.c_str(), connect_tv);
  if (!ctx_ || ctx_->err) {
    last_error_ = std::string("cannot connect to Redis: ") + (ctx_ ? ctx_->errstr : "out of memory");
    disconnect();
    return false;
  }
  if (redisSetTimeout(ctx_, to_timeval(settings_.command_timeout + extra_read_time_)) != REDIS_OK) {
    fail("cannot set the Redis timeout");
    return false;
  }
  auto check = [this](const std::vector<std::string>& args, const char* what) {
    auto r = command(args);
    if (!r) return false;
    if (reply_is_error(r.get())) {
      last_error_ = std::string(what) + ": " + reply_string(r.get());
      disconnect();
      return false;
    }
    return true;
  };
  if (!settings_.password.empty()) {
    const bool ok = settings_.username.empty() ? check({"AUTH", settings_.password}, "Redis AUTH failed")
                                               : check({"AUTH", settings_.username, settings_.password}, "Redis AUTH failed");
    if (!ok) return false;
  }
  if (settings_.database != 0 && !check({"SELECT", std::to_string(settings_.database)}, "Redis SELECT failed"))
    return false;
  return true;
}

void redis_link::append(const std::vector<std::string>& args) {
  if (!ctx_) return;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), lens.data()) != REDIS_OK)
    fail("cannot queue a Redis command");
}

reply_ptr redis_link::next_reply() {
  if (!ctx_) return nullptr;
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) {
    fail("Redis connection lost");
    return nullptr;
  }
  return reply_ptr(static_cast<redisReply*>(raw));
}

reply_ptr redis_link::command(const std::vector<std::string>& args) {
  append(args);
  return next_reply();
}

std::string reply_string(const redisReply* r) {
  if (!r) return {};
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
    return std::string(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return {};
}

long long reply_integer(const redisReply* r) {
  if (!r) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_STRING) {
    try {
      return std::stoll(std::string(r->str, r->len));
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

bool reply_is_error(const redisReply* r) { return r && r->type == REDIS_REPLY_ERROR; }

}  // namespace wshub::cluster
