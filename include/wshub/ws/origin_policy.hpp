#pragma once
// Which browser origins are this site: the page's own host, loopback names on a loopback
// listener, or an exact allow-list entry.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wshub::ws {

// The listener a request came in on.
struct listener_site {
  bool tls = false;        // it serves https and wss only
  bool loopback = false;   // it is bound to a loopback address
  std::uint16_t port = 0;  // the port it listens on
};

class origin_policy {
 public:
  // `allowed`: exact origins ("https://app.example.com", "http://localhost:8080").
  origin_policy(bool check, std::vector<std::string> allowed);

  // `origin` is the Origin header ("" when absent: not a browser, allowed); `host` is the Host
  // header. Allowed: an entry of the allow-list (scheme, host and port equal); or a page of this
  // site, whose scheme is the listener's (http, or https with TLS) and whose host[:port] is the
  // Host header's (default ports ignored) or, on a loopback listener, a loopback name (localhost,
  // 127.0.0.0/8, [::1]) with the listener's port.
  bool allows(std::string_view origin, std::string_view host, const listener_site& site) const;

 private:
  bool check_;
  std::vector<std::string> allowed_;  // normalized
};

}  // namespace wshub::ws
