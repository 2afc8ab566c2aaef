#include "wshub/http/cors.hpp"

#include <algorithm>

#include <boost/beast/http/field.hpp>

namespace wshub::http {

namespace bhttp = boost::beast::http;

cors_policy::cors_policy(std::vector<std::string> origins) {
  for (auto& o : origins) {
    if (o == "*") any_ = true;
    else origins_.push_back(std::move(o));
  }
}

bool cors_policy::covers(std::string_view path) { return path.starts_with("/api/tool/"); }

bool cors_policy::allows(std::string_view origin) const {
  if (origin.empty()) return false;
  return any_ || std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
}

response cors_policy::preflight(const request& req) const {
  response res{status::no_content, req.version()};
  res.set(bhttp::field::server, "wshub/" WSHUB_VERSION);
  res.set(bhttp::field::access_control_allow_methods, "GET, HEAD, POST, DELETE");
  res.set(bhttp::field::access_control_allow_headers, "Content-Type, Authorization, X-API-Key");
  res.set(bhttp::field::access_control_max_age, "600");
  res.keep_alive(req.keep_alive());
  decorate(res, req[bhttp::field::origin]);
  return res;
}

void cors_policy::decorate(response& res, std::string_view origin) const {
  if (!enabled()) return;
  res.set(bhttp::field::vary, "Origin");
  if (allows(origin)) res.set(bhttp::field::access_control_allow_origin, origin);
}

}  // namespace wshub::http
