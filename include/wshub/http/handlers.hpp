#pragma once
// The route handlers: each answers one request through `respond`, exactly once.

#include <nlohmann/json.hpp>

#include "wshub/http/router.hpp"

namespace wshub::http::handlers {

// POST /api/tool/send_message, checked by `a` (the access rules the request arrived under)
void send_message(const router_services& s, const access_rules& a, const request& req, const request_context& ctx,
                  respond_fn respond);
// POST /api/tool/send_messages: {"messages":[...]}, checked by `a`; all stored in one transaction
// or none.
void send_messages(const router_services& s, const access_rules& a, const request& req, const request_context& ctx,
                   respond_fn respond);
// GET /api/tool/messages?channel=&after=&before=&limit=&order= (authorize_read by `a` first)
void history(const router_services& s, const access_rules& a, const request& req, respond_fn respond);
// GET /api/tool/connections?after=&limit=
void list_connections(const router_services& s, const request& req, respond_fn respond);
// DELETE /api/tool/connections/{id}
void close_connection(const router_services& s, const request& req, std::string_view id, respond_fn respond);
// GET /api/tool/channels?after=&limit=: channels with their subscriber counts, cluster-wide.
void list_channels(const router_services& s, const request& req, respond_fn respond);
// GET /api/tool/channels/{name}/presence?after=&limit=: the connections and users on a channel.
void channel_presence(const router_services& s, const request& req, std::string_view channel, respond_fn respond);
// One entry of the connections list.
nlohmann::json connection_json(const hub::connection_view& v, const std::string& node);
// GET /api/tool/stats
response stats(const router_services& s, const request& req);
// GET /, /tool/websocket, /web/{name}
response static_file(const router_services& s, const request& req, std::string_view name);

}  // namespace wshub::http::handlers
