#pragma once
// Which Host headers a request may carry: on a loopback listener only loopback names, so a page
// of another site whose name resolves to 127.0.0.1 (DNS rebinding) is refused.
#include <string>
#include <string_view>
#include <vector>

namespace wshub::http {

class host_policy {
 public:
  // `allowed` (http.allowed_hosts): host names, without port, accepted besides the loopback
  // names; "*" accepts any. On a listener that is not loopback, an empty list accepts any host.
  host_policy(bool loopback_listener, std::vector<std::string> allowed);

  // `host` is the Host header. A request without one (HTTP/1.0) is not refused here; the port
  // is not compared.
  bool allows(std::string_view host) const;

 private:
  bool any_ = false;
  std::vector<std::string> allowed_;  // lower case
};

}  // namespace wshub::http
