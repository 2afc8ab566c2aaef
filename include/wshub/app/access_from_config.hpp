#pragma once
// The access rules (http::access_rules) a configuration asks for: at start, and again on each
// reload.
#include <memory>

#include "wshub/app/config.hpp"
#include "wshub/http/access_rules.hpp"

namespace wshub::app {

// The rules of security.*, http.cors_origins, http.allowed_hosts, websocket.check_origin and
// websocket.allowed_origins. `running` (the rules in force; null at start) lends its rate
// limiters, with what each publisher has used, to the new rules when their rate and burst are
// unchanged. Reads the RS256 public key file; throws config_error naming the key when it cannot
// be read or holds no RSA public key.
std::shared_ptr<const http::access_rules> make_access_rules(const config& c, const http::access_rules* running);

}  // namespace wshub::app
