#pragma once
// Who may do what over HTTP (docs/API.md, "Access"), by the access rules in force when the
// request arrived. Each check answers the 401 or 403 response for a request that may not go on,
// or nullopt when it may.
#include <optional>
#include <string>

#include "wshub/http/access_rules.hpp"
#include "wshub/http/error.hpp"

namespace wshub::http {

// 401 with WWW-Authenticate.
response unauthorized(const request& req, std::string message);

// Security is configured when publish keys exist or sockets must present a token. Then reading
// history needs a key or a token that allows the channel; otherwise reads are open.
bool reads_protected(const access_rules& a);

// The publish key the request presents (Authorization: Bearer KEY, else X-API-Key), or null.
const security::publish_key* presented_publish_key(const access_rules& a, const request& req);

// When publish keys are configured: an admin key (the connections API).
std::optional<response> require_admin(const access_rules& a, const request& req);
// /api/tool/stats and /metrics: an admin key, unless security.public_metrics opens them.
std::optional<response> require_metrics_access(const access_rules& a, const request& req);
// History of `channel`: when reads are protected, a key allowed on the channel, or a connection
// token (Authorization: Bearer JWT, or ?token=JWT) whose `channels` claim, if any, names it.
std::optional<response> authorize_read(const access_rules& a, const request& req, const std::string& channel);

}  // namespace wshub::http
