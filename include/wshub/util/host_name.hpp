#pragma once
// Host names as they appear in Host and Origin headers: "name", "name:port", "1.2.3.4:port",
// "[::1]:port".
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wshub::util {

struct host_and_port {
  std::string host;                   // lower case; an IPv6 address keeps its brackets
  std::optional<std::uint16_t> port;  // absent when the text names none
};

// nullopt when `text` is not host[:port] (empty, an unbracketed IPv6 address, a bad port, or
// characters no host name has: '/', '@', spaces, ...).
std::optional<host_and_port> split_host_port(std::string_view text);

// "localhost", an address in 127.0.0.0/8, or "[::1]": names that only ever reach this machine.
bool is_loopback_host(std::string_view host);

}  // namespace wshub::util
