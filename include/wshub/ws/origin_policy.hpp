#pragma once
// Which browser origins may open a socket: the page's own host, or an exact allow-list entry.
#include <string>
#include <string_view>
#include <vector>

namespace wshub::ws {

class origin_policy {
 public:
  // `allowed`: exact origins ("https://app.example.com", "http://localhost:8080").
  origin_policy(bool check, std::vector<std::string> allowed);

  // `origin` is the Origin header ("" when absent: not a browser, allowed); `host` is the Host
  // header. Same host means the Origin's host[:port] equals Host, default ports ignored.
  bool allows(std::string_view origin, std::string_view host) const;

 private:
  bool check_;
  std::vector<std::string> allowed_;  // normalized
};

}  // namespace wshub::ws
