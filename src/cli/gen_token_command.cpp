#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include <jwt/jwt.hpp>

#include "wshub/app/config.hpp"
#include "wshub/cli/commands.hpp"
#include "wshub/security/token_verifier.hpp"

namespace wshub::cli {
namespace {

constexpr const char* usage =
    "Usage: wshub gentoken --sub USER [--channels a,b] [--ttl 1h] [--config FILE] [--private-key FILE]\n\n"
    "Prints a connection token (JWT) for USER, valid for --ttl (s, m, h or d; default 1h), limited\n"
    "to --channels when given. Signed HS256 with security.jwt_hs256_secret of the configuration\n"
    "(--config, WSHUB_CONFIG, WSHUB_* variables), or RS256 with --private-key (a PEM RSA key whose\n"
    "public half is security.jwt_rs256_public_key_file). The token is checked against the\n"
    "configured key before it is printed.\n";

struct token_request {
  std::string sub;
  std::optional<std::vector<std::string>> channels;
  std::chrono::seconds ttl{3600};
  std::string config_file;
  std::string private_key_file;
};

// An invalid command line: the message names the flag.
struct usage_error {
  std::string message;
};

// "90", "90s", "15m", "1h", "7d": at least a second, at most ten years.
std::chrono::seconds parse_ttl(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && digits < 9 && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  long long scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  else if (unit == "m") scale = 60;
  else if (unit == "h") scale = 3600;
  else if (unit == "d") scale = 86400;
  if (digits == 0 || scale == 0) throw usage_error{"--ttl: '" + text + "' is not a duration like 90s, 15m, 1h or 7d"};
  const auto seconds = std::stoll(text.substr(0, digits)) * scale;
  if (seconds < 1 || seconds > 10LL * 365 * 86400) throw usage_error{"--ttl: must be between 1s and 3650d"};
  return std::chrono::seconds(seconds);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

token_request parse_request(const arguments& args) {
  token_request r;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i], value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      throw usage_error{name + ": needs a value"};
    }
    if (name == "--sub") r.sub = value;
    else if (name == "--channels") r.channels = split_list(value);
    else if (name == "--ttl") r.ttl = parse_ttl(value);
    else if (name == "--config") r.config_file = value;
    else if (name == "--private-key") r.private_key_file = value;
    else throw usage_error{name + ": unknown option"};
  }
  if (r.sub.empty()) throw usage_error{"--sub: a user is required"};
  return r;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw usage_error{"--private-key: cannot read '" + path + "'"};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int gen_token(const arguments& args, const environment& env) {
  if (!args.empty() && (args.front() == "--help" || args.front() == "-h")) {
    std::fputs(usage, stdout);
    return 0;
  }
  try {
    const auto request = parse_request(args);
    arguments config_args;
    if (!request.config_file.empty()) config_args = {"--config", request.config_file};
    const auto cfg = app::parse_arguments(config_args, env).cfg;
    const auto& security = cfg.security;

    const bool rs256 = !request.private_key_file.empty();
    if (!rs256 && security.jwt_hs256_secret.empty())
      throw usage_error{"security.jwt_hs256_secret is not configured (give --config FILE, or --private-key for RS256)"};
    const std::string key = rs256 ? read_file(request.private_key_file) : security.jwt_hs256_secret;

    const auto now = std::chrono::system_clock::now();
    jwt::jwt_object token{jwt::params::algorithm(rs256 ? "RS256" : "HS256"), jwt::params::secret(key)};
    token.add_claim("sub", request.sub).add_claim("iat", now).add_claim("exp", now + request.ttl);
    if (request.channels) token.add_claim("channels", *request.channels);
    std::error_code ec;
    const auto signed_token = token.signature(ec);
    if (ec) throw usage_error{(rs256 ? "--private-key: " : "security.jwt_hs256_secret: ") + ec.message()};

    // The server's own check, so a printed token is one the configured server accepts.
    std::string public_key;
    if (!security.jwt_rs256_public_key_file.empty()) {
      std::ifstream in(security.jwt_rs256_public_key_file, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      public_key = text.str();
    }
    const security::token_verifier verifier(security.jwt_hs256_secret, public_key);
    std::string why;
    if (!verifier.enabled())
      std::fputs("wshub gentoken: the configuration checks no tokens (security.jwt_rs256_public_key_file is not set)\n",
                 stderr);
    else if (!verifier.verify(signed_token, why))
      throw usage_error{"the configured server would refuse this token (" + why + ")"};
    std::printf("%s\n", signed_token.c_str());
    return 0;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "wshub gentoken: %s\n\n%s", e.message.c_str(), usage);
  } catch (const app::config_error& e) {
    std::fprintf(stderr, "wshub gentoken: invalid configuration: %s\n", e.what());
  } catch (const std::exception& e) {  // cpp-jwt throws on keys it cannot use
    std::fprintf(stderr, "wshub gentoken: cannot sign: %s\n", e.what());
  }
  return 2;
}

}  // namespace wshub::cli
