#pragma once
// Cross-origin requests to /api/tool/* (http.cors_origins): which page origins get CORS headers,
// and the answer to a preflight.
#include <string>
#include <string_view>
#include <vector>

#include "wshub/http/error.hpp"

namespace wshub::http {

class cors_policy {
 public:
  // `origins`: exact origins as browsers send them ("https://app.example.com"), or "*" for any.
  explicit cors_policy(std::vector<std::string> origins);

  bool enabled() const { return any_ || !origins_.empty(); }
  // The paths CORS covers: /api/tool/*.
  static bool covers(std::string_view path);
  // `origin` is the Origin header; "" (no browser) is never a cross-origin request.
  bool allows(std::string_view origin) const;

  // 204 to a preflight (OPTIONS) from an allowed origin: the origin, methods, request headers
  // (Content-Type, Authorization, X-API-Key) and how long the browser may keep the answer.
  response preflight(const request& req) const;
  // Marks an actual response: Vary: Origin whenever CORS is on, Access-Control-Allow-Origin
  // when `origin` is allowed.
  void decorate(response& res, std::string_view origin) const;

 private:
  bool any_ = false;
  std::vector<std::string> origins_;
};

}  // namespace wshub::http
