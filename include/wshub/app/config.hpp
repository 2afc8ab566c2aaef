#pragma once
// wshub's configuration: built-in defaults (equal to config/wshub.json), then the config file,
// then WSHUB_* environment variables, then command-line flags.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "wshub/security/key_ring.hpp"

namespace wshub::app {

struct config {
  struct listen_section {
    std::string address = "127.0.0.1";
    std::uint16_t port = 9999;
    bool operator==(const listen_section&) const = default;
  } listen;
  unsigned io_threads = 0;  // 0: default_workers(usable_cpus())
  std::string data_dir = "./var";
  struct log_section {
    std::string level = "info";
    std::string file;  // empty: stdout only
    std::size_t file_max_bytes = 10 * 1024 * 1024;
    std::size_t file_max_files = 5;
    bool operator==(const log_section&) const = default;
  } log;
  struct http_section {
    std::size_t header_limit = 8 * 1024;
    std::size_t body_limit = 1024 * 1024;
    std::chrono::seconds request_timeout{10};  // whole request, headers and body
    std::chrono::seconds keep_alive_timeout{30};
    std::size_t max_connections = 10'000;
    std::size_t max_connections_per_ip = 0;  // 0: no per-address limit
    std::string web_dir;  // empty: the pages embedded in the binary
    std::vector<std::string> allowed_hosts;  // Host names served besides the loopback names; "*": any
    std::vector<std::string> cors_origins;   // origins answered with CORS headers on /api/tool/*; "*": any
    bool operator==(const http_section&) const = default;
  } http;
  struct websocket_section {
    std::chrono::seconds handshake_timeout{5};
    std::size_t read_buffer_size = 512;
    std::size_t write_buffer_size = 4096;  // no effect: kept so existing configuration files stay valid
    std::vector<std::string> subprotocols{"wshub.v1"};
    bool check_origin = true;
    std::vector<std::string> allowed_origins;
    bool compression = false;
    std::size_t compression_min_bytes = 256;
    std::size_t max_message_size = 64 * 1024;
    std::chrono::seconds idle_timeout{60};  // pings are sent at half of it
    std::size_t max_queue_bytes = 1024 * 1024;
    std::chrono::seconds close_timeout{5};
    std::size_t max_channels = 64;
    std::size_t max_resume_messages = 10'000;
    bool user_from_query = false;
    bool operator==(const websocket_section&) const = default;
  } websocket;
  struct publish_section {
    std::size_t max_message_bytes = 64 * 1024;
    std::string username = "system";
    std::string default_channel = "system";
    std::size_t answer_ahead = 2;
    std::size_t max_batch = 1'000;
    bool operator==(const publish_section&) const = default;
  } publish;
  struct store_section {
    std::string path;  // empty: <data_dir>/wshub.db
    std::string synchronous = "full";
    std::uint64_t retention_count = 1'000'000;
    std::chrono::seconds retention_age{7 * 24 * 3600};
    std::size_t max_pending = 10'000;
    bool operator==(const store_section&) const = default;
  } store;
  struct tls_section {
    std::string cert;  // PEM certificate chain; with `key`, the port serves only https and wss
    std::string key;   // PEM private key
    bool operator==(const tls_section&) const = default;
  } tls;
  struct security_section {
    std::vector<security::publish_key> publish_keys;
    bool open_publishing = false;  // publish without keys on a non-loopback address
    std::string jwt_hs256_secret;
    std::string jwt_rs256_public_key_file;
    bool require_token = false;
    bool public_metrics = false;  // /api/tool/stats and /metrics without an admin key
    double publish_rate_per_key = 0;  // messages per second; 0: unlimited
    double publish_rate_per_ip = 0;
    double publish_burst = 20;
    bool operator==(const security_section&) const = default;
  } security;
  struct cache_section {
    std::string type = "memory";  // memory: one node; redis: a cluster of nodes through Redis
    std::size_t recent_per_channel = 100;
    struct memory_section {
      std::size_t max_bytes = 64 * 1024 * 1024;
      std::size_t max_channels = 10'000;
      bool operator==(const memory_section&) const = default;
    } memory;
    struct redis_section {
      std::string host = "127.0.0.1";
      std::uint16_t port = 6379;
      std::string unix_socket;  // instead of host and port when set
      unsigned database = 0;
      std::string username;
      std::string password;
      std::chrono::milliseconds connect_timeout{1000};
      std::chrono::milliseconds command_timeout{2000};
      std::string prefix = "wshub:";
      std::uint64_t stream_max_len = 1'000'000;
      bool operator==(const redis_section&) const = default;
    } redis;
    bool operator==(const cache_section&) const = default;
  } cache;
  struct cluster_section {
    std::string node_id;  // empty: <hostname>:<port>
    std::chrono::seconds confirm_timeout{5};
    bool operator==(const cluster_section&) const = default;
  } cluster;
  std::chrono::seconds shutdown_timeout{10};

  bool operator==(const config&) const = default;
  std::string store_path() const;
  unsigned effective_io_threads() const;
};

// io_threads 0: one worker per usable CPU but one, which is left to the store's writer and syncer threads and
// the kernel's network work (docs/BENCHMARKS.md, "Workers"); at least one.
unsigned default_workers(unsigned usable_cpus);
// The CPUs this process may run on (its affinity mask: taskset, systemd's CPUAffinity).
unsigned usable_cpus();

// An invalid configuration; `key()` names the offending key (e.g. "websocket.max_queue_bytes").
class config_error : public std::runtime_error {
 public:
  config_error(std::string key, const std::string& what);
  const std::string& key() const { return key_; }
  // what() without the key: "must be an integer".
  const std::string& reason() const { return reason_; }

 private:
  std::string key_;
  std::string reason_;
};

// What the command line asked for besides the configuration itself.
struct command_line {
  config cfg;
  bool show_help = false;
  bool show_version = false;
};

// Parses defaults < --config FILE (or WSHUB_CONFIG) < environment < flags. Throws config_error.
command_line parse_command_line(int argc, const char* const argv[],
                                const std::map<std::string, std::string>& environment);
// The same with the command line as a list without the program name.
command_line parse_arguments(const std::vector<std::string>& args, const std::map<std::string, std::string>& environment);
// Rules between keys (e.g. publishing on a non-loopback address needs keys). Throws config_error.
void validate(const config& cfg);
// Applies a JSON document (the config file format) on top of `cfg`. Throws config_error.
void apply_json_text(config& cfg, const std::string& text, const std::string& origin);
// The configuration as a document of the config file's shape (every key, pretty-printed), with
// credentials (publish keys, the JWT secret, the Redis password) shown as "(hidden)".
std::string effective_config_text(const config& cfg);
// Every key with its type, default and description, for --help.
std::string help_text();
// The environment of this process as a map (for parse_command_line).
std::map<std::string, std::string> process_environment();

}  // namespace wshub::app
