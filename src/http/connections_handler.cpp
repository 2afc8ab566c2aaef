#include <chrono>

#include <nlohmann/json.hpp>

#include "wshub/http/handlers.hpp"
#include "wshub/util/query_string.hpp"
#include "wshub/ws/connect_params.hpp"
#include "wshub/ws/websocket_session.hpp"

namespace wshub::http::handlers {

response list_connections(const router_services& s, const request& req) {
  const auto bad = [&](std::string message) {
    return make_error({status::bad_request, codes::bad_parameter, std::move(message)}, req.version(), req.keep_alive());
  };
  const auto params = util::parse_query_string(util::query_of(req.target()));
  if (!params) return bad("the query string is malformed");
  hub::conn_id after = 0;
  std::size_t limit = 100;
  for (const auto& [name, value] : *params) {
    const auto n = ws::parse_id(value);
    if (name == "after") {
      if (!n) return bad("after must be a connection id");
      after = *n;
    } else if (name == "limit") {
      if (!n || *n == 0 || *n > 1000) return bad("limit must be between 1 and 1000");
      limit = static_cast<std::size_t>(*n);
    }
  }
  nlohmann::json list = nlohmann::json::array();
  const auto views = s.hub.list(after, limit);
  for (const auto& v : views) {
    const auto since = std::chrono::duration_cast<std::chrono::milliseconds>(v.info.connected_at.time_since_epoch());
    list.push_back({{"id", v.id},
                    {"remote", v.info.remote},
                    {"user", v.info.user},
                    {"protocol", v.info.protocol},
                    {"channels", v.channels},
                    {"connected_at", since.count()},
                    {"queued_bytes", v.queued_bytes}});
  }
  const nlohmann::json body = {{"count", s.hub.connection_count()},
                               {"connections", list},
                               {"next_after", views.empty() ? after : views.back().id}};
  return make_json(status::ok, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), req.version(),
                   req.keep_alive());
}

response close_connection(const router_services& s, const request& req, std::string_view id_text) {
  const auto id = ws::parse_id(id_text);
  if (!id)
    return make_error({status::bad_request, codes::bad_parameter, "the connection id must be a number"}, req.version(),
                      req.keep_alive());
  if (!s.hub.close(*id, ws::close_by_operator, "closed by the operator"))
    return make_error({status::not_found, codes::not_found, "no such connection"}, req.version(), req.keep_alive());
  const nlohmann::json body = {{"status", "OK"}, {"closed", *id}};
  return make_json(status::ok, body.dump(), req.version(), req.keep_alive());
}

}  // namespace wshub::http::handlers
