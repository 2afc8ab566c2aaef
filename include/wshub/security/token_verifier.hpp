#pragma once
// Connection tokens: JWTs signed with HS256 (a shared secret) or RS256 (a public key).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wshub::security {

struct token_claims {
  std::string user;                                  // `sub`
  std::optional<std::vector<std::string>> channels;  // `channels`: the only ones allowed, if given
  std::int64_t expires_at = 0;                       // `exp`, seconds since the Unix epoch
};

class token_verifier {
 public:
  // The latest time a claim may name: 9999-12-31T23:59:59Z.
  static constexpr std::int64_t max_time = 253'402'300'799;

  // At most one of the two may be non-empty; both empty: tokens are not checked.
  token_verifier(std::string hs256_secret, std::string rs256_public_key_pem);

  bool enabled() const { return !key_.empty(); }
  // The claims of a valid token: right algorithm and signature, no `crit` header (wshub
  // understands no extension), `exp` present and in the future, `nbf` (if any) not in the
  // future, `exp`/`nbf`/`iat` integers between 0 and max_time, `sub` a string. nullopt
  // otherwise, with `error` saying why. Never throws.
  std::optional<token_claims> verify(std::string_view token, std::string& error) const;

 private:
  std::string algorithm_;
  std::string key_;
};

// A token offered as the subprotocol "bearer.<token>" (browsers cannot set headers); "" if none.
std::string_view token_from_protocols(std::string_view sec_websocket_protocol);

}  // namespace wshub::security
