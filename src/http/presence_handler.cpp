// Channels and who is on them, on one node or across the cluster (from the connection lists each
// node writes to Redis, at most a heartbeat or two old, with this node's own fresh).
#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "wshub/http/handlers.hpp"
#include "wshub/hub/channel_name.hpp"
#include "wshub/util/query_string.hpp"
#include "wshub/ws/connect_params.hpp"

namespace wshub::http::handlers {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_limit = 1000;
constexpr std::size_t max_users_listed = 1000;

struct page_query {
  std::string after;  // a channel name, or a connection id as text
  std::size_t limit = 100;
};

// ?after=&limit= and nothing else; nullopt with `error` otherwise.
std::optional<page_query> parse_page_query(const request& req, std::string& error) {
  const auto params = util::parse_query_string(util::query_of(req.target()));
  if (!params) {
    error = "the query string is malformed";
    return std::nullopt;
  }
  page_query q;
  for (const auto& [name, value] : *params) {
    if (name == "after") {
      q.after = value;
    } else if (name == "limit") {
      const auto n = ws::parse_id(value);
      if (!n || *n == 0 || *n > max_limit) {
        error = "limit must be between 1 and " + std::to_string(max_limit);
        return std::nullopt;
      }
      q.limit = static_cast<std::size_t>(*n);
    } else {
      error = "unknown parameter '" + name + "' (after, limit)";
      return std::nullopt;
    }
  }
  return q;
}

response bad_request(const request& req, const std::string& message) {
  return make_error({status::bad_request, codes::bad_parameter, message}, req.version(), req.keep_alive());
}

response unavailable(const request& req, const std::error_code& ec) {
  return make_error({status::service_unavailable, codes::server_error, "the cluster cannot be reached: " + ec.message()},
                    req.version(), req.keep_alive());
}

response ok(const request& req, const json& body) {
  return make_json(status::ok, body.dump(-1, ' ', false, json::error_handler_t::replace), req.version(), req.keep_alive());
}

// The other live nodes' connections from `all` (this node's own entries dropped: the hub's are fresher).
json others(json all, const std::string& self) {
  json out = json::array();
  for (auto& c : all)
    if (c.value("node", "") != self) out.push_back(std::move(c));
  return out;
}

response channels_page(const request& req, const page_query& q, const std::map<std::string, std::size_t>& counts) {
  json list = json::array();
  for (auto it = counts.upper_bound(q.after); it != counts.end() && list.size() < q.limit; ++it)
    list.push_back({{"name", it->first}, {"subscribers", it->second}});
  const std::string next = list.empty() ? q.after : list.back()["name"].get<std::string>();
  return ok(req, {{"count", counts.size()}, {"channels", std::move(list)}, {"next_after", next}});
}

response presence_page(const request& req, const std::string& channel, hub::conn_id after, std::size_t limit,
                       json members) {
  std::sort(members.begin(), members.end(), [](const json& a, const json& b) { return a["id"] < b["id"]; });
  std::set<std::string> users;
  json page = json::array();
  for (auto& m : members) {
    if (const auto user = m.value("user", ""); !user.empty()) users.insert(user);
    if (m["id"].get<hub::conn_id>() > after && page.size() < limit) page.push_back(std::move(m));
  }
  json user_list = json::array();
  for (const auto& u : users) {
    if (user_list.size() == max_users_listed) break;
    user_list.push_back(u);
  }
  const auto next = page.empty() ? after : page.back()["id"].get<hub::conn_id>();
  return ok(req, {{"channel", channel},
                  {"count", members.size()},
                  {"connections", std::move(page)},
                  {"next_after", next},
                  {"user_count", users.size()},
                  {"users", std::move(user_list)}});
}

bool on_channel(const json& connection, const std::string& channel) {
  const auto it = connection.find("channels");
  return it != connection.end() && it->is_array() && std::find(it->begin(), it->end(), channel) != it->end();
}

}  // namespace

void list_channels(const router_services& s, const request& req, respond_fn respond) {
  std::string error;
  const auto q = parse_page_query(req, error);
  if (!q) return respond(bad_request(req, error));
  auto* cluster = s.cluster;
  s.hub.channel_counts("", SIZE_MAX, [cluster, req, q = *q, respond = std::move(respond)](
                                         std::vector<hub::channel_count> here) mutable {
    std::map<std::string, std::size_t> counts;
    for (const auto& c : here) counts[c.name] = c.subscribers;
    if (!cluster) return respond(channels_page(req, q, counts));
    const auto self = cluster->node_id();
    cluster->fetch_connections([req, q, self, counts = std::move(counts), respond = std::move(respond)](
                                   std::error_code ec, json all) mutable {
      if (ec) return respond(unavailable(req, ec));
      for (const auto& c : others(std::move(all), self))
        if (const auto it = c.find("channels"); it != c.end() && it->is_array())
          for (const auto& name : *it)
            if (name.is_string()) ++counts[name.get<std::string>()];
      respond(channels_page(req, q, counts));
    });
  });
}

void channel_presence(const router_services& s, const request& req, std::string_view channel_text, respond_fn respond) {
  const std::string channel(channel_text);
  if (!hub::valid_channel_name(channel)) return respond(bad_request(req, "not a channel name: '" + channel + "'"));
  std::string error;
  const auto q = parse_page_query(req, error);
  if (!q) return respond(bad_request(req, error));
  const auto after = q->after.empty() ? std::optional<std::uint64_t>(0) : ws::parse_id(q->after);
  if (!after) return respond(bad_request(req, "after must be a connection id"));
  auto* cluster = s.cluster;
  s.hub.channel_members(channel, [cluster, req, channel, after = *after, limit = q->limit,
                                  respond = std::move(respond)](std::vector<hub::connection_view> here) mutable {
    const std::string self = cluster ? cluster->node_id() : std::string();
    json members = json::array();
    for (const auto& v : here) members.push_back(connection_json(v, self));
    if (!cluster) return respond(presence_page(req, channel, after, limit, std::move(members)));
    cluster->fetch_connections([req, channel, after, limit, self, members = std::move(members),
                                respond = std::move(respond)](std::error_code ec, json all) mutable {
      if (ec) return respond(unavailable(req, ec));
      for (auto& c : others(std::move(all), self))
        if (on_channel(c, channel)) members.push_back(std::move(c));
      respond(presence_page(req, channel, after, limit, std::move(members)));
    });
  });
}

}  // namespace wshub::http::handlers
