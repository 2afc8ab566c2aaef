#include "wshub/security/token_verifier.hpp"

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
    const auto& payload = decoded.payload().create_json_obj();
    if (!payload.contains("exp") || !payload["exp"].is_number_integer()) {
      error = "invalid token: it has no expiry (exp)";
      return std::nullopt;
    }
    if (!payload.contains("sub") || !payload["sub"].is_string() || payload["sub"].get<std::string>().empty()) {
      error = "invalid token: it names no user (sub)";
      return std::nullopt;
    }
    token_claims claims{payload["sub"].get<std::string>(), std::nullopt};
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
