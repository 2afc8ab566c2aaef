#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>

#include "wshub/http/handlers.hpp"
#include "wshub/util/header_list.hpp"

namespace wshub::http::handlers {

namespace bhttp = boost::beast::http;

namespace {

// If-None-Match: "*" or a list of entity tags, compared weakly (a W/ prefix does not matter).
bool etag_matches(std::string_view header, std::string_view etag) {
  for (auto tag : util::split_header_list(header)) {
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

}  // namespace

response stats(const router_services& s, const request& req) {
  const auto& c = s.counters;
  const nlohmann::json body = {
      {"connections", s.hub.connection_count()},
      {"subscriptions", s.hub.subscription_count()},
      {"messages_total", c.published.load(std::memory_order_relaxed)},
      {"messages_per_second", c.messages_per_second.load(std::memory_order_relaxed)},
      {"deliveries_total", c.deliveries.load(std::memory_order_relaxed)},
      {"slow_consumer_closes", c.slow_consumer_closes.load(std::memory_order_relaxed)},
      {"last_id", s.store.last_id()},
  };
  return make_json(status::ok, body.dump(), req.version(), req.keep_alive());
}

response static_file(const router_services& s, const request& req, std::string_view name) {
  const auto file = s.files.find(name);
  if (!file) return make_error({status::not_found, codes::not_found, "no such file"}, req.version(), req.keep_alive());
  response res{status::ok, req.version()};
  res.set(bhttp::field::server, "wshub/" WSHUB_VERSION);
  res.set(bhttp::field::etag, file->etag);
  res.set(bhttp::field::cache_control, "no-cache");  // revalidate with the ETag every time
  res.set("X-Content-Type-Options", "nosniff");
  res.keep_alive(req.keep_alive());
  if (etag_matches(req[bhttp::field::if_none_match], file->etag)) {
    res.result(status::not_modified);
    return res;
  }
  res.set(bhttp::field::content_type, file->content_type);
  res.body() = file->content;
  res.prepare_payload();
  return res;
}

}  // namespace wshub::http::handlers
