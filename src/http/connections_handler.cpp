#include <algorithm>
#include <chrono>
#include <optional>

#include <nlohmann/json.hpp>

#include "wshub/http/handlers.hpp"
#include "wshub/util/query_string.hpp"
#include "wshub/ws/connect_params.hpp"
#include "wshub/ws/websocket_session.hpp"

namespace wshub::http::handlers {
namespace {

using json = nlohmann::json;

struct list_query {
  hub::conn_id after = 0;
  std::size_t limit = 100;
};

std::optional<list_query> parse_list_query(const request& req, std::string& error) {
  const auto params = util::parse_query_string(util::query_of(req.target()));
  if (!params) {
    error = "the query string is malformed";
    return std::nullopt;
  }
  list_query q;
  for (const auto& [name, value] : *params) {
    const auto n = ws::parse_id(value);
    if (name == "after") {
      if (!n) {
        error = "after must be a connection id";
        return std::nullopt;
      }
      q.after = *n;
    } else if (name == "limit") {
      if (!n || *n == 0 || *n > 1000) {
        error = "limit must be between 1 and 1000";
        return std::nullopt;
      }
      q.limit = static_cast<std::size_t>(*n);
    }
  }
  return q;
}

response listing(const request& req, json list, std::size_t count, hub::conn_id after) {
  const json body = {{"count", count},
                     {"connections", list},
                     {"next_after", list.empty() ? after : list.back()["id"].get<hub::conn_id>()}};
  return make_json(status::ok, body.dump(-1, ' ', false, json::error_handler_t::replace), req.version(), req.keep_alive());
}

response unavailable(const request& req, const std::error_code& ec) {
  return make_error({status::service_unavailable, codes::server_error, "the cluster cannot be reached: " + ec.message()},
                    req.version(), req.keep_alive());
}

response not_found(const request& req) {
  return make_error({status::not_found, codes::not_found, "no such connection"}, req.version(), req.keep_alive());
}

response closed(const request& req, hub::conn_id id, const std::string& node) {
  json body = {{"status", "OK"}, {"closed", id}};
  if (!node.empty()) body["node"] = node;
  return make_json(status::ok, body.dump(), req.version(), req.keep_alive());
}

}  // namespace

json connection_json(const hub::connection_view& v, const std::string& node) {
  const auto since = std::chrono::duration_cast<std::chrono::milliseconds>(v.info.connected_at.time_since_epoch());
  json j = {{"id", v.id},
            {"remote", v.info.remote},
            {"user", v.info.user},
            {"protocol", v.info.protocol},
            {"channels", v.channels},
            {"connected_at", since.count()},
            {"queued_bytes", v.queued_bytes}};
  if (!node.empty()) j["node"] = node;
  return j;
}

// One node: this hub's connections. A cluster: every live node's, from what each last wrote to
// Redis (at most a second or two old), with this node's own list fresh.
void list_connections(const router_services& s, const request& req, respond_fn respond) {
  std::string error;
  const auto q = parse_list_query(req, error);
  if (!q)
    return respond(make_error({status::bad_request, codes::bad_parameter, error}, req.version(), req.keep_alive()));
  const std::string self = s.cluster ? s.cluster->node_id() : std::string();
  if (!s.cluster) {
    auto& hub = s.hub;
    return s.hub.list(q->after, q->limit, [&hub, req, after = q->after, respond = std::move(respond)](
                                              std::vector<hub::connection_view> views) {
      json list = json::array();
      for (const auto& v : views) list.push_back(connection_json(v, {}));
      respond(listing(req, std::move(list), hub.connection_count(), after));
    });
  }
  s.cluster->fetch_connections([&s, req, q = *q, self, respond = std::move(respond)](std::error_code ec, json all) {
    if (ec) return respond(unavailable(req, ec));
    s.hub.list(0, SIZE_MAX, [req, q, self, all = std::move(all), respond](std::vector<hub::connection_view> views) mutable {
      json merged = json::array();
      for (auto& c : all)
        if (c.value("node", "") != self) merged.push_back(std::move(c));
      for (const auto& v : views) merged.push_back(connection_json(v, self));
      std::sort(merged.begin(), merged.end(), [](const json& a, const json& b) { return a["id"] < b["id"]; });
      json page = json::array();
      for (auto& c : merged)
        if (c["id"].get<hub::conn_id>() > q.after && page.size() < q.limit) page.push_back(std::move(c));
      respond(listing(req, std::move(page), merged.size(), q.after));
    });
  });
}

// One node: close it here. A cluster: here when it is this node's, else ask the node that has it
// (through Redis) once the cluster's list shows it exists.
void close_connection(const router_services& s, const request& req, std::string_view id_text, respond_fn respond) {
  const auto id = ws::parse_id(id_text);
  if (!id)
    return respond(make_error({status::bad_request, codes::bad_parameter, "the connection id must be a number"},
                              req.version(), req.keep_alive()));
  const std::string self = s.cluster ? s.cluster->node_id() : std::string();
  auto* cluster = s.cluster;
  s.hub.close(*id, ws::close_by_operator, "closed by the operator",
              [cluster, req, id = *id, self, respond = std::move(respond)](bool found) {
                if (found) return respond(closed(req, id, self));
                if (!cluster) return respond(not_found(req));
                cluster->fetch_connections([cluster, req, id, self, respond](std::error_code ec, json all) {
                  if (ec) return respond(unavailable(req, ec));
                  const auto it = std::find_if(all.begin(), all.end(), [&](const json& c) {
                    return c["id"].get<hub::conn_id>() == id && c.value("node", "") != self;
                  });
                  if (it == all.end()) return respond(not_found(req));
                  cluster->request_close(id, [req, id, node = it->value("node", ""), respond](std::error_code sent) {
                    respond(sent ? unavailable(req, sent) : closed(req, id, node));
                  });
                });
              });
}

}  // namespace wshub::http::handlers
