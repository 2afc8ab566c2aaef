#include "wshub/http/router.hpp"

#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>

#include "wshub/http/publish_form.hpp"
#include "wshub/store/message_log.hpp"

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

bool is_get(const request& req) { return req.method() == bhttp::verb::get || req.method() == bhttp::verb::head; }

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }
std::string_view query_of(std::string_view target) {
  const auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

}  // namespace

router::router(router_services services) : services_(std::move(services)) {}

void router::handle(const request& req, respond_fn respond) const {
  const auto path = path_of(req.target());
  if (path == "/api/tool/send_message") {
    if (req.method() != bhttp::verb::post) return respond(method_not_allowed(req, "POST"));
    return send_message(req, std::move(respond));
  }
  if (path == websocket_path) {
    if (!is_get(req)) return respond(method_not_allowed(req, "GET"));
    auto res = make_error({status::upgrade_required, codes::upgrade_required,
                           "this path only serves WebSocket upgrades"},
                          req.version(), req.keep_alive());
    res.set(bhttp::field::upgrade, "websocket");
    res.set(bhttp::field::connection, req.keep_alive() ? "Upgrade, keep-alive" : "Upgrade, close");
    return respond(std::move(res));
  }
  const bool known = path == "/healthz" || path == "/api/tool/stats" || path == "/" || path == "/tool/websocket" ||
                     path.starts_with("/web/");
  if (known && !is_get(req)) return respond(method_not_allowed(req, "GET, HEAD"));
  if (path == "/healthz") return respond(health(req));
  if (path == "/api/tool/stats") return respond(stats(req));
  if (path == "/" || path == "/tool/websocket") return respond(static_file(req, "index.html"));
  if (path.starts_with("/web/")) return respond(static_file(req, path.substr(5)));
  respond(make_error({status::not_found, codes::not_found, "no such path"}, req.version(), req.keep_alive()));
}

void router::send_message(const request& req, respond_fn respond) const {
  const auto version = req.version();
  const auto keep_alive = req.keep_alive();
  auto fail = [&](status s, int code, std::string message) {
    respond(make_error({s, code, std::move(message)}, version, keep_alive));
  };
  publish_fields fields;
  if (auto e = parse_publish_fields(req[bhttp::field::content_type], req.body(), query_of(req.target()), fields))
    return respond(make_error(*e, version, keep_alive));
  if (!fields.message || fields.message->empty())
    return fail(status::bad_request, codes::bad_parameter, "message is required");
  if (fields.message->size() > services_.settings.max_message_bytes)
    return fail(status::payload_too_large, codes::payload_too_large,
                "message is larger than " + std::to_string(services_.settings.max_message_bytes) + " bytes");
  if (!valid_utf8(*fields.message)) return fail(status::bad_request, codes::bad_parameter, "message must be valid UTF-8");
  auto channel = fields.channel.value_or(services_.settings.default_channel);
  if (!valid_channel_name(channel))
    return fail(status::bad_request, codes::bad_parameter,
                "channel must be 1-128 characters of letters, digits, '_', '-', '.', ':'");

  publish::publish_request p{std::move(channel), services_.settings.username, std::move(*fields.message)};
  services_.publisher.publish(std::move(p), [respond = std::move(respond), version, keep_alive,
                                             log = services_.log](const publish::publish_result& r) {
    if (r.error == store::log_errc::overloaded) {
      auto res = make_error({status::service_unavailable, codes::too_many_requests,
                             "the message log is overloaded; retry shortly"},
                            version, keep_alive);
      res.set(bhttp::field::retry_after, "1");
      return respond(std::move(res));
    }
    if (r.error) {
      log->error("publish failed: {}", r.error.message());
      return respond(make_error({status::service_unavailable, codes::server_error,
                                 "the message could not be stored: " + r.error.message()},
                                version, keep_alive));
    }
    const nlohmann::json body = {{"status", "OK"}, {"id", r.id}, {"recipients", r.recipients}};
    respond(make_json(status::ok, body.dump(), version, keep_alive));
  });
}

response router::health(const request& req) const {
  return make_json(status::ok, R"({"status":"ok"})", req.version(), req.keep_alive());
}

response router::stats(const request& req) const {
  const auto& c = services_.counters;
  const nlohmann::json body = {
      {"connections", services_.hub.connection_count()},
      {"messages_total", c.published.load(std::memory_order_relaxed)},
      {"messages_per_second", c.messages_per_second.load(std::memory_order_relaxed)},
      {"deliveries_total", c.deliveries.load(std::memory_order_relaxed)},
      {"slow_consumer_closes", c.slow_consumer_closes.load(std::memory_order_relaxed)},
  };
  return make_json(status::ok, body.dump(), req.version(), req.keep_alive());
}

response router::static_file(const request& req, std::string_view name) const {
  const auto file = services_.files.find(name);
  if (!file) return make_error({status::not_found, codes::not_found, "no such file"}, req.version(), req.keep_alive());
  response res{status::ok, req.version()};
  res.set(bhttp::field::server, "wshub/" WSHUB_VERSION);
  res.set(bhttp::field::etag, file->etag);
  res.set(bhttp::field::cache_control, "no-cache");  // revalidate with the ETag every time
  res.set("X-Content-Type-Options", "nosniff");
  res.keep_alive(req.keep_alive());
  if (req[bhttp::field::if_none_match] == file->etag) {
    res.result(status::not_modified);
    return res;
  }
  res.set(bhttp::field::content_type, file->content_type);
  res.body() = file->content;
  res.prepare_payload();
  if (req.method() == bhttp::verb::head) res.body().clear();
  return res;
}

}  // namespace wshub::http
