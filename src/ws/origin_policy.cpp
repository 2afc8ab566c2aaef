#include "wshub/ws/origin_policy.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include "wshub/util/host_name.hpp"

namespace wshub::ws {
namespace {

struct parsed_origin {
  std::string scheme;  // lower case
  util::host_and_port where;
  std::uint16_t port = 0;  // the explicit port, else the scheme's default (0 when it has none)
};

std::uint16_t default_port(std::string_view scheme) {
  if (scheme == "http" || scheme == "ws") return 80;
  if (scheme == "https" || scheme == "wss") return 443;
  return 0;
}

// "scheme://host[:port]"; nullopt when it is not that shape (the opaque origin "null" included).
std::optional<parsed_origin> parse_origin(std::string_view origin) {
  const auto sep = origin.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  parsed_origin out;
  out.scheme.resize(sep);
  std::transform(origin.begin(), origin.begin() + sep, out.scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  auto where = util::split_host_port(origin.substr(sep + 3));
  if (!where) return std::nullopt;
  out.where = std::move(*where);
  out.port = out.where.port.value_or(default_port(out.scheme));
  return out;
}

// One spelling per origin: lower case, the port written only when it is not the default.
std::string normalized(const parsed_origin& o) {
  auto text = o.scheme + "://" + o.where.host;
  if (o.port != default_port(o.scheme)) text += ":" + std::to_string(o.port);
  return text;
}

}  // namespace

origin_policy::origin_policy(bool check, std::vector<std::string> allowed) : check_(check) {
  for (const auto& a : allowed)
    if (const auto o = parse_origin(a)) allowed_.push_back(normalized(*o));
}

bool origin_policy::allows(std::string_view origin, std::string_view host, const listener_site& site) const {
  if (!check_ || origin.empty()) return true;
  const auto o = parse_origin(origin);
  if (!o) return false;
  if (std::find(allowed_.begin(), allowed_.end(), normalized(*o)) != allowed_.end()) return true;
  // A page of this site: an http page opens ws, an https page wss; nothing else is a page of ours.
  if (o->scheme != (site.tls ? "https" : "http")) return false;
  if (const auto h = util::split_host_port(host))
    if (h->host == o->where.host && h->port.value_or(default_port(o->scheme)) == o->port) return true;
  // On loopback every loopback name reaches the same listener: localhost:9999 and 127.0.0.1:9999
  // are one site.
  return site.loopback && util::is_loopback_host(o->where.host) && o->port == site.port;
}

}  // namespace wshub::ws
