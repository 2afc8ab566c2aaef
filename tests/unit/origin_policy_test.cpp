#include "wshub/ws/origin_policy.hpp"

#include <gtest/gtest.h>

namespace {

using wshub::ws::origin_policy;

TEST(origin_policy, request_without_origin_is_allowed) {
  const origin_policy policy(true, {});
  EXPECT_TRUE(policy.allows("", "example.com"));
}

TEST(origin_policy, same_host_is_allowed) {
  const origin_policy policy(true, {});
  EXPECT_TRUE(policy.allows("http://example.com", "example.com"));
  EXPECT_TRUE(policy.allows("http://localhost:9999", "localhost:9999"));
  EXPECT_TRUE(policy.allows("http://[::1]:9999", "[::1]:9999"));
}

TEST(origin_policy, same_host_ignores_default_ports) {
  const origin_policy policy(true, {});
  EXPECT_TRUE(policy.allows("http://example.com", "example.com:80"));
  EXPECT_TRUE(policy.allows("http://example.com:80", "example.com"));
  EXPECT_TRUE(policy.allows("https://example.com", "example.com:443"));
  EXPECT_TRUE(policy.allows("https://example.com:443", "example.com"));
}

TEST(origin_policy, same_host_is_case_insensitive) {
  const origin_policy policy(true, {});
  EXPECT_TRUE(policy.allows("HTTP://Example.COM", "example.com"));
  EXPECT_TRUE(policy.allows("http://example.com", "EXAMPLE.com:80"));
}

TEST(origin_policy, other_host_or_port_is_refused) {
  const origin_policy policy(true, {});
  EXPECT_FALSE(policy.allows("http://evil.example", "example.com"));
  EXPECT_FALSE(policy.allows("http://localhost:8080", "localhost:9999"));
  EXPECT_FALSE(policy.allows("http://example.com.evil.example", "example.com"));
  EXPECT_FALSE(policy.allows("http://example.com", ""));
}

TEST(origin_policy, opaque_and_malformed_origins_are_refused) {
  const origin_policy policy(true, {});
  EXPECT_FALSE(policy.allows("null", "example.com"));
  EXPECT_FALSE(policy.allows("example.com", "example.com"));
  EXPECT_FALSE(policy.allows("http://user@example.com", "example.com"));
}

TEST(origin_policy, allow_list_entry_is_allowed) {
  const origin_policy policy(true, {"https://app.example.com", "http://localhost:8080"});
  EXPECT_TRUE(policy.allows("https://app.example.com", "wshub.example.com"));
  EXPECT_TRUE(policy.allows("http://localhost:8080", "wshub.example.com"));
  EXPECT_TRUE(policy.allows("https://app.example.com:443", "wshub.example.com"));
  EXPECT_FALSE(policy.allows("https://other.example.com", "wshub.example.com"));
}

TEST(origin_policy, allow_list_does_not_match_prefixes) {
  const origin_policy policy(true, {"https://localhost"});
  EXPECT_FALSE(policy.allows("https://localhost.attacker.tld", "wshub.example.com"));
  EXPECT_FALSE(policy.allows("https://localhost:8443", "wshub.example.com"));
}

TEST(origin_policy, allow_list_requires_the_same_scheme) {
  const origin_policy policy(true, {"https://app.example.com"});
  EXPECT_FALSE(policy.allows("http://app.example.com", "wshub.example.com"));
}

TEST(origin_policy, check_disabled_allows_everything) {
  const origin_policy policy(false, {});
  EXPECT_TRUE(policy.allows("http://evil.example", "example.com"));
  EXPECT_TRUE(policy.allows("null", "example.com"));
}

}  // namespace
