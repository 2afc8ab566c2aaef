#include "wshub/http/router.hpp"

#include <optional>

#include <boost/beast/http/field.hpp>

#include "wshub/http/access.hpp"
#include "wshub/http/handlers.hpp"
#include "wshub/http/metrics_page.hpp"
#include "wshub/http/readiness.hpp"
#include "wshub/util/query_string.hpp"

namespace wshub::http {
namespace {

namespace bhttp = boost::beast::http;

response method_not_allowed(const request& req, const char* allow) {
  auto res = make_error({status::method_not_allowed, codes::method_not_allowed,
                         std::string("method not allowed; use ") + allow},
                        req.version(), req.keep_alive());
  res.set(bhttp::field::allow, allow);
  return res;
}

std::optional<hub::refusal_reason> refusal_for(status s) {
  switch (s) {
    case status::unauthorized: return hub::refusal_reason::unauthorized;
    case status::forbidden: return hub::refusal_reason::forbidden;
    case status::payload_too_large: return hub::refusal_reason::too_large;
    case status::too_many_requests: return hub::refusal_reason::rate_limited;
    default: return std::nullopt;
  }
}

// The one {parameter} of `route` in `path` (non-empty, without '/'), or nullopt when the path
// is not of that route.
std::optional<std::string_view> path_parameter(std::string_view path, std::string_view route) {
  const auto open = route.find('{');
  const auto prefix = route.substr(0, open), suffix = route.substr(route.find('}', open) + 1);
  if (path.size() <= prefix.size() + suffix.size() || !path.starts_with(prefix) || !path.ends_with(suffix))
    return std::nullopt;
  const auto value = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  if (value.find('/') != std::string_view::npos) return std::nullopt;
  return value;
}

bool is_get(const request& req) { return req.method() == bhttp::verb::get || req.method() == bhttp::verb::head; }

}  // namespace

router::router(router_services services) : services_(std::move(services)) {}

void router::handle(const request& req, respond_fn respond, const request_context& context) const {
  auto ctx = context;
  // The rules in force when the request arrived, for all of its checks (a reload may replace them
  // meanwhile).
  const auto rules = ctx.access ? ctx.access : services_.access->current();
  const auto& a = *rules;
  const auto path = util::path_of(req.target());
  if (cors_policy::covers(path)) {
    const auto origin = req[bhttp::field::origin];
    if (a.cors.allows(origin)) {
      if (req.method() == bhttp::verb::options) return respond(a.cors.preflight(req));
      ctx.origin_allowed = true;
    }
    if (a.cors.enabled())
      respond = [rules, inner = std::move(respond), origin = std::string(origin)](response res) {
        rules->cors.decorate(res, origin);
        inner(std::move(res));
      };
  }
  // HEAD: every route answers as for GET, then the body goes; Content-Length stays.
  if (req.method() == bhttp::verb::head)
    respond = [inner = std::move(respond)](response res) {
      res.body().clear();
      inner(std::move(res));
    };
  // Refused requests are counted by reason, on every path (upgrades never reach the router: the
  // upgrade path counts its own refusals).
  respond = [inner = std::move(respond), &counters = services_.counters](response res) {
    if (const auto why = refusal_for(res.result())) counters.refused(*why);
    inner(std::move(res));
  };
  const auto& s = services_;
  if (path == "/api/tool/send_message") {
    if (req.method() != bhttp::verb::post) return respond(method_not_allowed(req, "POST"));
    return handlers::send_message(s, a, req, ctx, std::move(respond));
  }
  if (path == "/api/tool/send_messages") {
    if (req.method() != bhttp::verb::post) return respond(method_not_allowed(req, "POST"));
    return handlers::send_messages(s, a, req, ctx, std::move(respond));
  }
  if (path == websocket_path) {
    if (!is_get(req)) return respond(method_not_allowed(req, "GET"));
    auto res = make_error({status::upgrade_required, codes::upgrade_required, "this path only serves WebSocket upgrades"},
                          req.version(), req.keep_alive());
    res.set(bhttp::field::upgrade, "websocket");
    res.set(bhttp::field::connection, req.keep_alive() ? "Upgrade, keep-alive" : "Upgrade, close");
    return respond(std::move(res));
  }
  if (path == "/metrics") {
    if (!is_get(req)) return respond(method_not_allowed(req, "GET, HEAD"));
    if (auto refused = require_metrics_access(a, req)) return respond(std::move(*refused));
    return respond(metrics_response(req, services_.counters, services_.hub, services_.store));
  }
  if (path == "/readyz") return respond(readiness_response(req, services_.counters, services_.store));
  constexpr std::string_view connection_prefix = "/api/tool/connections/";
  if (path.starts_with(connection_prefix)) {
    if (req.method() != bhttp::verb::delete_) return respond(method_not_allowed(req, "DELETE"));
    if (auto refused = require_admin(a, req)) return respond(std::move(*refused));
    return handlers::close_connection(s, req, path.substr(connection_prefix.size()), std::move(respond));
  }
  if (const auto channel = path_parameter(path, "/api/tool/channels/{name}/presence")) {
    if (!is_get(req)) return respond(method_not_allowed(req, "GET, HEAD"));
    if (auto refused = require_admin(a, req)) return respond(std::move(*refused));
    return handlers::channel_presence(s, req, *channel, std::move(respond));
  }
  const bool known = path == "/healthz" || path == "/api/tool/stats" || path == "/api/tool/messages" ||
                     path == "/api/tool/connections" || path == "/api/tool/channels" || path == "/" || path == "/tool/websocket" ||
                     path.starts_with("/web/");
  if (known && !is_get(req)) return respond(method_not_allowed(req, "GET, HEAD"));
  if (path == "/healthz") return respond(make_json(status::ok, R"({"status":"ok"})", req.version(), req.keep_alive()));
  if (path == "/api/tool/stats") {
    if (auto refused = require_metrics_access(a, req)) return respond(std::move(*refused));
    return respond(handlers::stats(s, req));
  }
  if (path == "/api/tool/messages") return handlers::history(s, a, req, std::move(respond));
  if (path == "/api/tool/connections") {
    if (auto refused = require_admin(a, req)) return respond(std::move(*refused));
    return handlers::list_connections(s, req, std::move(respond));
  }
  if (path == "/api/tool/channels") {
    if (auto refused = require_admin(a, req)) return respond(std::move(*refused));
    return handlers::list_channels(s, req, std::move(respond));
  }
  if (path == "/" || path == "/tool/websocket") return respond(handlers::static_file(s, req, "index.html"));
  if (path.starts_with("/web/")) return respond(handlers::static_file(s, req, path.substr(5)));
  respond(make_error({status::not_found, codes::not_found, "no such path"}, req.version(), req.keep_alive()));
}

}  // namespace wshub::http
