#include "wshub/http/access.hpp"

#include <algorithm>

#include <boost/beast/http/field.hpp>

#include "wshub/util/query_string.hpp"

namespace wshub::http {

namespace bhttp = boost::beast::http;

namespace {

response forbidden(const request& req, std::string message) {
  return make_error({status::forbidden, codes::authorization, std::move(message)}, req.version(), req.keep_alive());
}

// ?token=JWT, else the value of Authorization: Bearer; "" for none.
std::string presented_token(const request& req) {
  if (const auto params = util::parse_query_string(util::query_of(req.target())))
    for (const auto& [name, value] : *params)
      if (name == "token") return value;
  return std::string(security::presented_key(req[bhttp::field::authorization], {}));
}

}  // namespace

response unauthorized(const request& req, std::string message) {
  auto res = make_error({status::unauthorized, codes::authorization, std::move(message)}, req.version(), req.keep_alive());
  res.set(bhttp::field::www_authenticate, R"(Bearer realm="wshub")");
  return res;
}

bool reads_protected(const access_rules& a) {
  return !a.keys.empty() || a.require_token;
}

const security::publish_key* presented_publish_key(const access_rules& a, const request& req) {
  return a.keys.find(security::presented_key(req[bhttp::field::authorization], req["X-API-Key"]));
}

std::optional<response> require_admin(const access_rules& a, const request& req) {
  if (a.keys.empty()) return std::nullopt;
  const auto* key = presented_publish_key(a, req);
  if (!key) return unauthorized(req, "a valid admin key is required");
  if (!key->admin) return forbidden(req, "the key '" + key->name + "' is not an admin key");
  return std::nullopt;
}

std::optional<response> require_metrics_access(const access_rules& a, const request& req) {
  if (a.public_metrics) return std::nullopt;
  return require_admin(a, req);
}

std::optional<response> authorize_read(const access_rules& a, const request& req, const std::string& channel) {
  if (!reads_protected(a)) return std::nullopt;
  if (const auto* key = presented_publish_key(a, req)) {
    if (security::key_ring::allows(*key, channel)) return std::nullopt;
    return forbidden(req, "the key '" + key->name + "' may not read channel " + channel);
  }
  const auto token = presented_token(req);
  if (token.empty() || !a.tokens.enabled())
    return unauthorized(req, "reading history needs a publish key or a connection token that allows channel " + channel);
  std::string problem;
  const auto claims = a.tokens.verify(token, problem);
  if (!claims) return unauthorized(req, problem);
  if (claims->channels && std::find(claims->channels->begin(), claims->channels->end(), channel) == claims->channels->end())
    return forbidden(req, "the token does not allow channel " + channel);
  return std::nullopt;
}

}  // namespace wshub::http
