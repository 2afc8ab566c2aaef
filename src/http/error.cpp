#include "wshub/http/error.hpp"

#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>

namespace wshub::http {

response make_json(status s, std::string body, unsigned version, bool keep_alive) {
  response res{s, version};
  res.set(boost::beast::http::field::server, "wshub/" WSHUB_VERSION);
  res.set(boost::beast::http::field::content_type, "application/json; charset=utf-8");
  res.set(boost::beast::http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

response make_error(const error& e, unsigned version, bool keep_alive) {
  const nlohmann::json body = {{"code", e.code}, {"message", e.message}};
  return make_json(e.http_status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), version,
                   keep_alive);
}

}  // namespace wshub::http
