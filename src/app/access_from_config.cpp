#include "wshub/app/access_from_config.hpp"

#include <fstream>
#include <sstream>

#include "wshub/app/start_checks.hpp"
#include "wshub/util/host_name.hpp"

namespace wshub::app {
namespace {

std::string read_token_key(const config& c) {
  const auto& path = c.security.jwt_rs256_public_key_file;
  if (path.empty()) return {};
  check_token_key(c);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (!(in && text << in.rdbuf())) throw config_error("security.jwt_rs256_public_key_file", "cannot read '" + path + "'");
  return text.str();
}

std::shared_ptr<security::rate_limiter> limiter(double rate, double burst,
                                                const std::shared_ptr<security::rate_limiter>& running) {
  if (running && running->has_limits(rate, burst)) return running;
  return std::make_shared<security::rate_limiter>(rate, burst);
}

}  // namespace

std::shared_ptr<const http::access_rules> make_access_rules(const config& c, const http::access_rules* running) {
  const auto& s = c.security;
  return std::make_shared<const http::access_rules>(http::access_rules{
      security::key_ring(s.publish_keys),
      limiter(s.publish_rate_per_key, s.publish_burst, running ? running->key_rate : nullptr),
      limiter(s.publish_rate_per_ip, s.publish_burst, running ? running->ip_rate : nullptr),
      security::token_verifier(s.jwt_hs256_secret, read_token_key(c)),
      s.require_token,
      s.public_metrics,
      http::cors_policy(c.http.cors_origins),
      http::host_policy(util::is_loopback_host(c.listen.address), c.http.allowed_hosts),
      ws::origin_policy(c.websocket.check_origin, c.websocket.allowed_origins),
  });
}

}  // namespace wshub::app
