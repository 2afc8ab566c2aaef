#pragma once
// Connection tokens (JWT, HS256) built independently of the server's JWT library, so the tests
// check the format too.
#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace wshub::test {

inline const std::string jwt_secret = "a-test-secret-that-is-long-enough-for-hs256";

inline std::string base64url(const std::string& in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (unsigned char c : in) {
    value = (value << 8) | c;
    bits += 8;
    while (bits >= 6) {
      out += table[(value >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0) out += table[(value << (6 - bits)) & 63];
  return out;
}

// A token with `header` (alg and typ by default) and `claims`, signed with `secret` (unsigned
// for alg "none").
inline std::string make_token(const nlohmann::json& claims, const std::string& secret = jwt_secret,
                              const std::string& alg = "HS256", nlohmann::json header = {}) {
  if (header.is_null()) header = {{"alg", alg}, {"typ", "JWT"}};
  const auto head = base64url(header.dump()) + "." + base64url(claims.dump());
  if (alg == "none") return head + ".";
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(head.data()),
       head.size(), mac, &len);
  return head + "." + base64url(std::string(reinterpret_cast<const char*>(mac), len));
}

inline std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace wshub::test
