// Memory that grows with traffic: large messages to many distinct channels, against the wshub
// binary in a child process whose resident memory the test reads.
#include <gtest/gtest.h>

#include <fstream>

#include "reliability_support.hpp"

namespace wshub::test {
namespace {

using namespace reliability;

// The server is built with the same sanitizers as this test. Their allocators hold freed memory
// back (ASan's quarantine, TSan's shadow), so the server's RSS says nothing of what it keeps:
// the bound is checked in plain builds only (the debug stage of scripts/test.sh).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool rss_is_meaningful = false;
#else
constexpr bool rss_is_meaningful = true;
#endif

long rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// The cache keeps what resume and history read, within cache.memory.max_bytes: 600 messages of
// 60 KiB, each to a channel of its own (72 MiB of frames when every channel kept its newest ones),
// grow the process by at most that bound plus the stated overhead (SQLite's page caches, the
// allocator's free lists, the request buffers).
TEST(memory_bound_test, many_channels_of_large_messages_stay_within_the_cache_bound) {
  constexpr long max_bytes = 8 * 1024 * 1024;
  constexpr long overhead = 32 * 1024 * 1024;
  temp_dir dir;
  spawned_server server({"--listen.port", "0", "--data-dir", dir.path().string(), "--io-threads", "2",
                         "--store.synchronous", "normal", "--cache.memory.max_bytes", std::to_string(max_bytes)});
  http_connection c(server.port());
  const std::string body(60 * 1024, 'm');
  for (int i = 0; i < 50; ++i) ASSERT_EQ(c.publish(body, "warm" + std::to_string(i))->status, 200);
  const long before = rss_kib(server.pid());
  ASSERT_GT(before, 0);
  constexpr int messages = 600;
  for (int i = 0; i < messages; ++i) {
    const auto r = c.publish(body, "ch" + std::to_string(i));
    ASSERT_TRUE(r && r->status == 200) << i;
  }
  const long after = rss_kib(server.pid());
  const long growth = (after - before) * 1024;
  std::cout << "[reliability] " << messages << " messages of 60 KiB to as many channels: RSS " << before / 1024
            << " -> " << after / 1024 << " MiB (+" << growth / (1024 * 1024) << " MiB; cache bound "
            << max_bytes / (1024 * 1024) << " MiB)" << std::endl;
  if (rss_is_meaningful) {
    EXPECT_LT(growth, max_bytes + overhead);
  }
  // The newest channels are still readable (from the cache), the oldest too (from SQLite).
  for (const auto* channel : {"ch599", "ch0", "warm0"}) {
    const auto r = c.request("GET", std::string("/api/tool/messages?channel=") + channel);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find(body), std::string::npos) << channel;
  }
}

}  // namespace
}  // namespace wshub::test
