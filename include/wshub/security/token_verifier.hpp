#pragma once
// Connection tokens: JWTs signed with HS256 (a shared secret) or RS256 (a public key).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wshub::security {

struct token_claims {
  std::string user;                                  // `sub`
  std::optional<std::vector<std::string>> channels;  // `channels`: the only ones allowed, if given
};

class token_verifier {
 public:
  // At most one of the two may be non-empty; both empty: tokens are not checked.
  token_verifier(std::string hs256_secret, std::string rs256_public_key_pem);

  bool enabled() const { return !key_.empty(); }
  // The claims of a valid token: right algorithm and signature, `exp` present and in the
  // future, `sub` a string. nullopt otherwise, with `error` saying why. Never throws.
  std::optional<token_claims> verify(std::string_view token, std::string& error) const;

 private:
  std::string algorithm_;
  std::string key_;
};

// A token offered as the subprotocol "bearer.<token>" (browsers cannot set headers); "" if none.
std::string_view token_from_protocols(std::string_view sec_websocket_protocol);

}  // namespace wshub::security
