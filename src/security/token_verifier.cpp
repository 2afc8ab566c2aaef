#include "wshub/security/token_verifier.hpp"

#include <chrono>

#include <jwt/jwt.hpp>

#include "wshub/util/header_list.hpp"

namespace wshub::security {

token_verifier::token_verifier(std::string hs256_secret, std::string rs256_public_key_pem) {
  if (!hs256_secret.empty()) {
    algorithm_ = "HS256";
    key_ = std::move(hs256_secret);
  } else if (!rs256_public_key_pem.empty()) {
    algorithm_ = "RS256";
    key_ = std::move(rs256_public_key_pem);
  }
}

std::optional<token_claims> token_verifier::verify(std::string_view token, std::string& error) const {
  if (token.empty()) {
    error = "a token is required";
    return std::nullopt;
  }
  try {
    std::error_code ec;
    // Only the configured algorithm is accepted, so a token cannot choose "none" or switch
    // RS256 to HS256 with the public key as the secret.
    const auto decoded = jwt::decode(jwt::string_view(token.data(), token.size()),
                                     jwt::params::algorithms({algorithm_}), ec, jwt::params::secret(key_),
                                     jwt::params::verify(true));
    if (ec) {
      error = "invalid token: " + ec.message();
      return std::nullopt;
    }
    if (decoded.header().create_json_obj().contains("crit")) {
      error = "invalid token: it names critical header extensions (crit) that wshub does not understand";
      return std::nullopt;
    }
    const auto& payload = decoded.payload().create_json_obj();
    if (!payload.contains("exp")) {
      error = "invalid token: it has no expiry (exp)";
      return std::nullopt;
    }
    for (const char* name : {"exp", "nbf", "iat"}) {
      if (!payload.contains(name)) continue;
      const auto& v = payload[name];
      const bool in_range = v.is_number_unsigned() && v.get<std::uint64_t>() <= static_cast<std::uint64_t>(max_time);
      if (!in_range) {
        error = std::string("invalid token: ") + name + " must be a whole number of seconds between 0 and " +
                std::to_string(max_time);
        return std::nullopt;
      }
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    const auto expires_at = payload["exp"].get<std::int64_t>();
    if (expires_at <= now) {
      error = "invalid token: it has expired";
      return std::nullopt;
    }
    if (payload.contains("nbf") && payload["nbf"].get<std::int64_t>() > now) {
      error = "invalid token: it is not valid yet (nbf)";
      return std::nullopt;
    }
    if (!payload.contains("sub") || !payload["sub"].is_string() || payload["sub"].get<std::string>().empty()) {
      error = "invalid token: it names no user (sub)";
      return std::nullopt;
    }
    token_claims claims{payload["sub"].get<std::string>(), std::nullopt, expires_at};
    if (payload.contains("channels")) {
      if (!payload["channels"].is_array()) {
        error = "invalid token: channels must be a list";
        return std::nullopt;
      }
      claims.channels.emplace();
      for (const auto& c : payload["channels"])
        if (c.is_string()) claims.channels->push_back(c.get<std::string>());
    }
    return claims;
  } catch (const std::exception& e) {  // the library throws on some malformed inputs
    error = std::string("invalid token: ") + e.what();
    return std::nullopt;
  }
}

std::string_view token_from_protocols(std::string_view protocols) {
  constexpr std::string_view prefix = "bearer.";
  for (const auto item : util::split_header_list(protocols))
    if (item.starts_with(prefix)) return item.substr(prefix.size());
  return {};
}

}  // namespace wshub::security
