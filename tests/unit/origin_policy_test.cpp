#include "wshub/ws/origin_policy.hpp"

#include <gtest/gtest.h>

#include "wshub/http/host_policy.hpp"

namespace {

using wshub::ws::listener_site;
using wshub::ws::origin_policy;

const listener_site plain{false, false, 80};
const listener_site secure{true, false, 443};
const listener_site loopback{false, true, 9999};

TEST(origin_policy, request_without_origin_is_allowed) {
  const origin_policy policy(true, {});
  EXPECT_TRUE(policy.allows("", "example.com", plain));
}

TEST(origin_policy, same_host_is_allowed) {
  const origin_policy policy(true, {});
  EXPECT_TRUE(policy.allows("http://example.com", "example.com", plain));
  EXPECT_TRUE(policy.allows("http://localhost:9999", "localhost:9999", plain));
  EXPECT_TRUE(policy.allows("http://[::1]:9999", "[::1]:9999", plain));
  EXPECT_TRUE(policy.allows("https://example.com", "example.com", secure));
}

TEST(origin_policy, same_host_ignores_default_ports) {
  const origin_policy policy(true, {});
  EXPECT_TRUE(policy.allows("http://example.com", "example.com:80", plain));
  EXPECT_TRUE(policy.allows("http://example.com:80", "example.com", plain));
  EXPECT_TRUE(policy.allows("https://example.com", "example.com:443", secure));
  EXPECT_TRUE(policy.allows("https://example.com:443", "example.com", secure));
}

TEST(origin_policy, same_host_is_case_insensitive) {
  const origin_policy policy(true, {});
  EXPECT_TRUE(policy.allows("HTTP://Example.COM", "example.com", plain));
  EXPECT_TRUE(policy.allows("http://example.com", "EXAMPLE.com:80", plain));
}

TEST(origin_policy, other_host_or_port_is_refused) {
  const origin_policy policy(true, {});
  EXPECT_FALSE(policy.allows("http://evil.example", "example.com", plain));
  EXPECT_FALSE(policy.allows("http://localhost:8080", "localhost:9999", plain));
  EXPECT_FALSE(policy.allows("http://example.com.evil.example", "example.com", plain));
  EXPECT_FALSE(policy.allows("http://example.com", "", plain));
}

// A page of this site has the listener's scheme: an extension, an ftp page or (on TLS) a plain
// http page on the same host and port is another site.
TEST(origin_policy, same_host_needs_the_listeners_scheme) {
  const origin_policy policy(true, {});
  EXPECT_FALSE(policy.allows("chrome-extension://127.0.0.1:9999", "127.0.0.1:9999", plain));
  EXPECT_FALSE(policy.allows("ftp://127.0.0.1:9999", "127.0.0.1:9999", plain));
  EXPECT_FALSE(policy.allows("ftp://127.0.0.1:9999", "127.0.0.1:9999", loopback));
  EXPECT_FALSE(policy.allows("http://example.com:443", "example.com:443", secure));
  EXPECT_FALSE(policy.allows("http://example.com", "example.com", secure));
  EXPECT_FALSE(policy.allows("https://example.com:80", "example.com:80", plain));
}

// go-gin-api's page opened at http://localhost:9999 connects to ws://127.0.0.1:9999.
TEST(origin_policy, loopback_names_with_the_listeners_port_are_one_site_on_loopback) {
  const origin_policy policy(true, {});
  EXPECT_TRUE(policy.allows("http://localhost:9999", "127.0.0.1:9999", loopback));
  EXPECT_TRUE(policy.allows("http://127.0.0.1:9999", "localhost:9999", loopback));
  EXPECT_TRUE(policy.allows("http://127.0.0.2:9999", "127.0.0.1:9999", loopback));
  EXPECT_TRUE(policy.allows("http://[::1]:9999", "127.0.0.1:9999", loopback));
  EXPECT_FALSE(policy.allows("http://localhost:8080", "127.0.0.1:9999", loopback)) << "another port is another site";
  EXPECT_FALSE(policy.allows("https://localhost:9999", "127.0.0.1:9999", loopback)) << "another scheme";
  EXPECT_FALSE(policy.allows("http://localhost.evil.example:9999", "127.0.0.1:9999", loopback));
  EXPECT_FALSE(policy.allows("http://localhost:9999", "127.0.0.1:9999", listener_site{false, false, 9999}))
      << "only a loopback listener makes loopback names one site";
}

TEST(origin_policy, opaque_and_malformed_origins_are_refused) {
  const origin_policy policy(true, {});
  EXPECT_FALSE(policy.allows("null", "example.com", plain));
  EXPECT_FALSE(policy.allows("example.com", "example.com", plain));
  EXPECT_FALSE(policy.allows("http://user@example.com", "example.com", plain));
  EXPECT_FALSE(policy.allows("http://example.com/path", "example.com", plain));
}

TEST(origin_policy, allow_list_entry_is_allowed) {
  const origin_policy policy(true, {"https://app.example.com", "http://localhost:8080"});
  EXPECT_TRUE(policy.allows("https://app.example.com", "wshub.example.com", plain));
  EXPECT_TRUE(policy.allows("http://localhost:8080", "wshub.example.com", secure));
  EXPECT_TRUE(policy.allows("https://app.example.com:443", "wshub.example.com", plain));
  EXPECT_FALSE(policy.allows("https://other.example.com", "wshub.example.com", plain));
}

TEST(origin_policy, allow_list_does_not_match_prefixes) {
  const origin_policy policy(true, {"https://localhost"});
  EXPECT_FALSE(policy.allows("https://localhost.attacker.tld", "wshub.example.com", secure));
  EXPECT_FALSE(policy.allows("https://localhost:8443", "wshub.example.com", secure));
}

TEST(origin_policy, allow_list_requires_the_same_scheme) {
  const origin_policy policy(true, {"https://app.example.com"});
  EXPECT_FALSE(policy.allows("http://app.example.com", "wshub.example.com", plain));
}

TEST(origin_policy, check_disabled_allows_everything) {
  const origin_policy policy(false, {});
  EXPECT_TRUE(policy.allows("http://evil.example", "example.com", plain));
  EXPECT_TRUE(policy.allows("null", "example.com", plain));
}

using wshub::http::host_policy;

// DNS rebinding: a page of evil.example whose name resolves to 127.0.0.1 sends Host: evil.example.
TEST(host_policy, a_loopback_listener_serves_only_loopback_names) {
  const host_policy policy(true, {});
  for (const auto* host : {"localhost", "localhost:9999", "LOCALHOST:9999", "127.0.0.1:9999", "127.3.2.1", "[::1]:9999", "[::1]", ""})
    EXPECT_TRUE(policy.allows(host)) << host;
  for (const auto* host : {"evil.example", "evil.example:9999", "localhost.evil.example", "10.0.0.1:9999", "[::2]:9999",
                           "127.0.0.1.evil.example", "bad host", "a:b:c"})
    EXPECT_FALSE(policy.allows(host)) << host;
}

TEST(host_policy, allowed_hosts_add_names) {
  const host_policy policy(true, {"wshub.example.com"});
  EXPECT_TRUE(policy.allows("wshub.example.com:9999"));
  EXPECT_TRUE(policy.allows("WSHUB.example.com"));
  EXPECT_TRUE(policy.allows("localhost:9999"));
  EXPECT_FALSE(policy.allows("evil.example"));
  EXPECT_TRUE(host_policy(true, {"*"}).allows("evil.example"));
}

TEST(host_policy, another_listener_serves_any_host_unless_allowed_hosts_are_listed) {
  EXPECT_TRUE(host_policy(false, {}).allows("wshub.example.com"));
  const host_policy listed(false, {"wshub.example.com"});
  EXPECT_TRUE(listed.allows("wshub.example.com"));
  EXPECT_FALSE(listed.allows("other.example.com"));
}

}  // namespace
