#include "wshub/http/readiness.hpp"

#include <string>

#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>

namespace wshub::http {

namespace bhttp = boost::beast::http;

response readiness_response(const request& req, const hub::counters& counters, const store::message_log& store) {
  if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
    auto res = make_error({status::method_not_allowed, codes::method_not_allowed, "method not allowed; use GET, HEAD"},
                          req.version(), req.keep_alive());
    res.set(bhttp::field::allow, "GET, HEAD");
    return res;
  }
  constexpr auto relaxed = std::memory_order_relaxed;
  const bool store_ok = store.writable();
  const bool redis_configured = counters.redis_configured.load(relaxed);
  const bool redis_ok = !redis_configured || counters.redis_reachable.load(relaxed);

  nlohmann::json body;
  body["checks"] = {{"store", store_ok ? "ok" : "unwritable"},
                    {"redis", !redis_configured ? "not configured" : redis_ok ? "ok" : "unreachable"}};
  const bool ready = store_ok && redis_ok;
  body["status"] = ready ? "ready" : "not ready";
  if (!ready) {
    std::string why;
    if (!store_ok) why = "the message log is not writable";
    if (!redis_ok) why += std::string(why.empty() ? "" : "; ") + "Redis does not answer";
    body["code"] = codes::server_error;
    body["message"] = "not ready: " + why;
  }
  auto res = make_json(ready ? status::ok : status::service_unavailable, body.dump(), req.version(), req.keep_alive());
  if (req.method() == bhttp::verb::head) res.body().clear();
  return res;
}

}  // namespace wshub::http
