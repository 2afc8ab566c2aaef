#include "wshub/http/host_policy.hpp"

#include <algorithm>

#include "wshub/util/host_name.hpp"

namespace wshub::http {

host_policy::host_policy(bool loopback_listener, std::vector<std::string> allowed)
    : any_((!loopback_listener && allowed.empty()) || std::find(allowed.begin(), allowed.end(), "*") != allowed.end()) {
  for (const auto& a : allowed)
    if (const auto h = util::split_host_port(a)) allowed_.push_back(h->host);
}

bool host_policy::allows(std::string_view host) const {
  if (any_ || host.empty()) return true;
  const auto h = util::split_host_port(host);
  if (!h) return false;
  return util::is_loopback_host(h->host) || std::find(allowed_.begin(), allowed_.end(), h->host) != allowed_.end();
}

}  // namespace wshub::http
