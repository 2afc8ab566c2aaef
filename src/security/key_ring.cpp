#include "wshub/security/key_ring.hpp"

#include <algorithm>

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace wshub::security {
namespace {

std::string sha256(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

}  // namespace

key_ring::key_ring(std::vector<publish_key> keys) {
  for (auto& k : keys) {
    auto digest = sha256(k.secret);
    keys_.push_back(entry{std::move(k), std::move(digest)});
  }
}

const publish_key* key_ring::find(std::string_view presented) const {
  if (presented.empty()) return nullptr;
  const auto digest = sha256(presented);
  const publish_key* found = nullptr;
  for (const auto& e : keys_)  // every key is compared, so timing does not tell which matched
    if (CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0) found = &e.key;
  return found;
}

bool key_ring::allows(const publish_key& key, const std::string& channel) {
  return std::any_of(key.channels.begin(), key.channels.end(),
                     [&](const std::string& c) { return c == "*" || c == channel; });
}

std::string_view presented_key(std::string_view authorization, std::string_view api_key_header) {
  constexpr std::string_view bearer = "Bearer ";
  if (authorization.size() > bearer.size() &&
      std::equal(bearer.begin(), bearer.end(), authorization.begin(),
                 [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); }))
    return authorization.substr(bearer.size());
  return api_key_header;
}

}  // namespace wshub::security
