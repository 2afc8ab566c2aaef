#include <cstdio>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <openssl/rand.h>

#include "wshub/cli/commands.hpp"

namespace wshub::cli {
namespace {

// `bytes` from OpenSSL's CSPRNG as lower-case hex (2 characters a byte). Throws when it fails.
std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("the random number generator failed");
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : raw) {
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  return hex;
}

constexpr const char* explanation =
    "wshub genconfig: a starter configuration with fresh random credentials (JSON has no comments,\n"
    "so this note goes to stderr and stdout stays a valid config file):\n"
    "  listen.address 0.0.0.0   every interface; publishing there needs keys, which follow\n"
    "  publish key \"backend\"    may publish to every channel (X-API-Key: <key>)\n"
    "  publish key \"admin\"      may also use the admin routes (connections, channels, presence)\n"
    "  jwt_hs256_secret         signs connection tokens: wshub gentoken --config FILE --sub USER\n"
    "  require_token true       sockets need such a token (?token=... or the bearer.<token> subprotocol)\n"
    "Every other key keeps its default (wshub --help); wshub checkconfig --config FILE shows them all.\n"
    "Keep the file private (chmod 600): it holds the credentials.\n";

}  // namespace

int gen_config(const arguments& args, const environment&) {
  if (!args.empty()) {
    const bool help = args.front() == "--help" || args.front() == "-h";
    std::fputs("Usage: wshub genconfig > wshub.json\n\n"
               "Prints a starter configuration with fresh random publish keys and JWT secret.\n",
               help ? stdout : stderr);
    return help ? 0 : 2;
  }
  nlohmann::ordered_json cfg;
  try {
    cfg["listen"] = {{"address", "0.0.0.0"}, {"port", 9999}};
    cfg["data_dir"] = "./var";
    cfg["security"] = {
        {"publish_keys",
         {{{"name", "backend"}, {"key", random_hex(24)}, {"channels", {"*"}}, {"admin", false}},
          {{"name", "admin"}, {"key", random_hex(24)}, {"channels", {"*"}}, {"admin", true}}}},
        {"jwt_hs256_secret", random_hex(32)},
        {"require_token", true}};
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wshub genconfig: %s\n", e.what());
    return 1;
  }
  std::fputs((cfg.dump(2) + "\n").c_str(), stdout);
  std::fputs(explanation, stderr);
  return 0;
}

}  // namespace wshub::cli
