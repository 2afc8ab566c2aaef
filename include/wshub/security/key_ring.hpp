#pragma once
// Publish keys: who may publish, to which channels, and under which name.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wshub::security {

struct publish_key {
  std::string name;                   // becomes the `username` of its messages
  std::string secret;
  std::vector<std::string> channels;  // channels it may publish to; "*" for all
  bool admin = false;                 // may also use the connections API
  bool operator==(const publish_key&) const = default;
};

class key_ring {
 public:
  explicit key_ring(std::vector<publish_key> keys);

  bool empty() const { return keys_.empty(); }
  // The key whose secret equals `presented`, compared in constant time (over digests, so the
  // secrets' lengths do not leak either); null when none does.
  const publish_key* find(std::string_view presented) const;
  static bool allows(const publish_key& key, const std::string& channel);

 private:
  struct entry {
    publish_key key;
    std::string digest;  // SHA-256 of the secret
  };
  std::vector<entry> keys_;
};

// The key a request presents: `Authorization: Bearer KEY`, else `X-API-Key: KEY`; "" for none.
std::string_view presented_key(std::string_view authorization, std::string_view api_key_header);

}  // namespace wshub::security
