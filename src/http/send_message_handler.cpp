#include <chrono>

#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>

#include "wshub/http/access.hpp"
#include "wshub/http/handlers.hpp"
#include "wshub/http/publish_form.hpp"
#include "wshub/hub/channel_name.hpp"
#include "wshub/util/query_string.hpp"
#include "wshub/util/utf8.hpp"
#include "wshub/ws/connect_params.hpp"

namespace wshub::http::handlers {

namespace bhttp = boost::beast::http;

namespace {

// The channels a message goes to: `channel` first, then `channels` (already without repeats),
// without repeats; the default channel when neither is given.
std::vector<std::string> channels_of(publish_fields& f, const std::string& default_channel) {
  std::vector<std::string> out;
  out.reserve(f.channels.size() + 1);
  if (f.channel) out.push_back(std::move(*f.channel));
  for (auto& c : f.channels)
    if (out.empty() || c != out.front()) out.push_back(std::move(c));
  if (out.empty()) out.push_back(default_channel);
  return out;
}

// Zero when allowed; else the wait before the caller may try again.
std::chrono::milliseconds rate_wait(security::rate_limiter& limiter, const std::string& who) {
  return who.empty() ? std::chrono::milliseconds(0) : limiter.take(who);
}

}  // namespace

void send_message(const router_services& s, const access_rules& a, const request& req, const request_context& ctx,
                  respond_fn respond) {
  const auto version = req.version();
  const auto keep_alive = req.keep_alive();
  auto fail = [&](status st, int code, std::string message) {
    respond(make_error({st, code, std::move(message)}, version, keep_alive));
  };
  const security::publish_key* key = nullptr;
  if (!a.keys.empty()) {
    key = presented_publish_key(a, req);
    if (!key) return respond(unauthorized(req, "a valid publish key is required"));
  } else if (!ctx.origin_allowed) {
    // Open publishing: a page of another site (a plain HTML form needs no CORS) may not publish.
    return fail(status::forbidden, codes::authorization,
                "publishing from the origin '" + std::string(req[bhttp::field::origin]) + "' is not allowed");
  }
  publish_fields fields;
  if (auto e = parse_publish_fields(req[bhttp::field::content_type], req.body(), util::query_of(req.target()), fields,
                                    s.settings.max_channels))
    return respond(make_error(*e, version, keep_alive));
  if (!fields.message || fields.message->empty()) return fail(status::bad_request, codes::bad_parameter, "message is required");
  if (fields.message->size() > s.settings.max_message_bytes)
    return fail(status::payload_too_large, codes::payload_too_large,
                "message is larger than " + std::to_string(s.settings.max_message_bytes) + " bytes");
  if (!util::valid_utf8(*fields.message)) return fail(status::bad_request, codes::bad_parameter, "message must be valid UTF-8");

  publish::publish_request p;
  p.channels = channels_of(fields, s.settings.default_channel);
  if (p.channels.size() > s.settings.max_channels)
    return fail(status::bad_request, codes::bad_parameter,
                "at most " + std::to_string(s.settings.max_channels) + " channels per message");
  for (const auto& c : p.channels)
    if (!hub::valid_channel_name(c))
      return fail(status::bad_request, codes::bad_parameter, "channel must be " + std::string(hub::channel_name_rule));
  if (fields.to_conn && fields.to_user)
    return fail(status::bad_request, codes::bad_parameter, "give to_conn or to_user, not both");
  if (fields.to_conn) {
    const auto id = ws::parse_id(*fields.to_conn);
    if (!id || *id == 0) return fail(status::bad_request, codes::bad_parameter, "to_conn must be a connection id");
    p.to_conn = *id;
  }
  if (fields.to_user) {
    if (fields.to_user->empty() || fields.to_user->size() > 128 || !util::valid_utf8(*fields.to_user))
      return fail(status::bad_request, codes::bad_parameter, "to_user must be 1-128 characters of UTF-8");
    p.to_user = std::move(*fields.to_user);
  }
  p.username = s.settings.username;
  // With keys configured, the key decides: who publishes (its name is the username) and where.
  std::string rate_name;
  if (key) {
    for (const auto& c : p.channels)
      if (!security::key_ring::allows(*key, c))
        return fail(status::forbidden, codes::authorization, "the key '" + key->name + "' may not publish to " + c);
    p.username = key->name;
    rate_name = key->name;
  }
  for (const auto wait : {rate_wait(*a.key_rate, rate_name), rate_wait(*a.ip_rate, ctx.remote_ip)}) {
    if (wait.count() == 0) continue;
    auto res = make_error({status::too_many_requests, codes::too_many_requests, "publishing too fast; retry later"},
                          version, keep_alive);
    res.set(bhttp::field::retry_after, std::to_string((wait.count() + 999) / 1000));
    return respond(std::move(res));
  }
  p.body = std::move(*fields.message);

  // Who is online is for admin keys to know: a targeted publish by another key is not told
  // whether its target was reached.
  const bool tell_recipients = !key || key->admin || (p.to_conn == 0 && p.to_user.empty());
  s.publisher.publish(std::move(p), [respond = std::move(respond), version, keep_alive, tell_recipients,
                                     log = s.log](const publish::publish_result& r) {
    if (r.error == store::log_errc::overloaded) {
      auto res = make_error({status::service_unavailable, codes::too_many_requests,
                             "the message log is overloaded; retry shortly"},
                            version, keep_alive);
      res.set(bhttp::field::retry_after, "1");
      return respond(std::move(res));
    }
    if (r.error.category() == cluster::cluster_category()) {  // the cluster logs its own faults once
      auto res = make_error({status::service_unavailable, codes::server_error,
                             "the message was not published: " + r.error.message()},
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
    nlohmann::json body = {{"status", "OK"}, {"id", r.id}};
    if (tell_recipients) body["recipients"] = r.recipients;
    respond(make_json(status::ok, body.dump(), version, keep_alive));
  });
}

}  // namespace wshub::http::handlers
