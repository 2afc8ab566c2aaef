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

// {"origin": n, "connection_limit": n, ...}: every refusal_reason, zeros included.
nlohmann::json refusals_json(const hub::counters& c) {
  nlohmann::json out = nlohmann::json::object();
  for (std::size_t i = 0; i < hub::refusal_reason_names.size(); ++i)
    out[std::string(hub::refusal_reason_names[i])] = c.refusals[i].load(std::memory_order_relaxed);
  return out;
}

}  // namespace

// One node: its own figures. A cluster: connections, subscriptions and deliveries summed over
// every live node (this one fresh, the others as of their last heartbeat), plus each node's.
response stats(const router_services& s, const request& req) {
  const auto& c = s.counters;
  const auto relaxed = std::memory_order_relaxed;
  std::uint64_t connections = s.hub.connection_count();
  std::uint64_t subscriptions = s.hub.subscription_count();
  std::uint64_t deliveries = s.hub.deliveries();
  nlohmann::json body = {
      {"messages_total", c.published.load(relaxed)},
      {"messages_per_second", c.messages_per_second.load(relaxed)},
      {"slow_consumer_closes", c.slow_consumer_closes.load(relaxed)},
      {"refusals", refusals_json(c)},
      {"last_id", s.store.last_id()},
  };
  if (s.cluster) {
    const auto view = s.cluster->view();
    const auto& self = s.cluster->node_id();
    nlohmann::json nodes = nlohmann::json::array();
    nodes.push_back({{"node", self}, {"connections", connections}, {"subscriptions", subscriptions},
                     {"deliveries", deliveries}, {"published", s.publisher.acknowledged()}, {"last_id", s.store.last_id()}});
    for (const auto& n : view.nodes) {
      if (n.node == self) continue;
      connections += n.connections;
      subscriptions += n.subscriptions;
      deliveries += n.deliveries;
      nodes.push_back(cluster::to_json(n));
    }
    body["node"] = self;
    body["cluster"] = {{"redis_reachable", view.reachable}, {"nodes", nodes}};
  }
  body["connections"] = connections;
  body["subscriptions"] = subscriptions;
  body["deliveries_total"] = deliveries;
  return make_json(status::ok, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), req.version(),
                   req.keep_alive());
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
