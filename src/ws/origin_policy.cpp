#include "wshub/ws/origin_policy.hpp"

#include <algorithm>
#include <cctype>

namespace wshub::ws {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// host[:port] without the scheme's default port, lower case.
std::string strip_default_port(std::string_view scheme, std::string_view host_port) {
  std::string hp = lower(host_port);
  const bool secure = scheme == "https" || scheme == "wss";
  const std::string default_port = secure ? ":443" : ":80";
  if (hp.size() > default_port.size() && hp.ends_with(default_port) && hp.back() != ']')
    hp.resize(hp.size() - default_port.size());
  return hp;
}

// "scheme://host[:port]" -> normalized origin; "" when it is not that shape.
std::string normalize_origin(std::string_view origin) {
  const auto sep = origin.find("://");
  if (sep == std::string_view::npos || sep == 0) return {};
  const auto scheme = lower(origin.substr(0, sep));
  auto rest = origin.substr(sep + 3);
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) return {};
  return scheme + "://" + strip_default_port(scheme, rest);
}

}  // namespace

origin_policy::origin_policy(bool check, std::vector<std::string> allowed) : check_(check) {
  for (const auto& a : allowed)
    if (auto n = normalize_origin(a); !n.empty()) allowed_.push_back(std::move(n));
}

bool origin_policy::allows(std::string_view origin, std::string_view host) const {
  if (!check_ || origin.empty()) return true;
  const auto normalized = normalize_origin(origin);
  if (normalized.empty()) return false;  // includes the opaque origin "null"
  if (std::find(allowed_.begin(), allowed_.end(), normalized) != allowed_.end()) return true;
  const auto sep = normalized.find("://");
  const auto scheme = normalized.substr(0, sep);
  const auto origin_host = normalized.substr(sep + 3);
  // The page and the socket share a scheme family: an http page opens ws, an https page wss.
  return !host.empty() && origin_host == strip_default_port(scheme, host);
}

}  // namespace wshub::ws
