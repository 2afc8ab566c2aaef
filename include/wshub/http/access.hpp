#pragma once
// Who may do what over HTTP (docs/API.md, "Access"). Each check answers the 401 or 403 response
// for a request that may not go on, or nullopt when it may.
#include <optional>
#include <string>

#include "wshub/http/router.hpp"

namespace wshub::http {

// 401 with WWW-Authenticate.
response unauthorized(const request& req, std::string message);

// Security is configured when publish keys exist or sockets must present a token. Then reading
// history needs a key or a token that allows the channel; otherwise reads are open.
bool reads_protected(const router_services& s);

// The publish key the request presents (Authorization: Bearer KEY, else X-API-Key), or null.
const security::publish_key* presented_publish_key(const router_services& s, const request& req);

// When publish keys are configured: an admin key (the connections API).
std::optional<response> require_admin(const router_services& s, const request& req);
// /api/tool/stats and /metrics: an admin key, unless security.public_metrics opens them.
std::optional<response> require_metrics_access(const router_services& s, const request& req);
// History of `channel`: when reads are protected, a key allowed on the channel, or a connection
// token (Authorization: Bearer JWT, or ?token=JWT) whose `channels` claim, if any, names it.
std::optional<response> authorize_read(const router_services& s, const request& req, const std::string& channel);

}  // namespace wshub::http
