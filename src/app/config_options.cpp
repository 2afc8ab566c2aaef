#include "config_options.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <limits>

#include "wshub/hub/channel_name.hpp"
#include "wshub/util/host_name.hpp"

namespace wshub::app {
namespace {

using json = nlohmann::json;

[[noreturn]] void invalid(const std::string& key, const std::string& why) { throw config_error(key, why); }

template <class Int>
Int read_integer(const std::string& key, const json& v, Int min, Int max) {
  if (!v.is_number_integer()) invalid(key, "must be an integer");
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u < static_cast<std::uint64_t>(min) || u > static_cast<std::uint64_t>(max))
      invalid(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return static_cast<Int>(u);
  }
  const auto i = v.get<std::int64_t>();
  if (i < 0 || static_cast<std::uint64_t>(i) < static_cast<std::uint64_t>(min) ||
      static_cast<std::uint64_t>(i) > static_cast<std::uint64_t>(max))
    invalid(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return static_cast<Int>(i);
}

template <class Int, class Access>
config_option integer(std::string key, std::string help, Access access, Int min, Int max) {
  return {key, std::move(help), value_kind::integer,
          [key, access, min, max](config& c, const json& v) { access(c) = read_integer<Int>(key, v, min, max); },
          [access](const config& c) { return json(access(const_cast<config&>(c))); }};
}

template <class Access>
config_option seconds(std::string key, std::string help, Access access, std::int64_t min, std::int64_t max) {
  return {key, std::move(help) + " (seconds)", value_kind::integer,
          [key, access, min, max](config& c, const json& v) {
            access(c) = std::chrono::seconds(read_integer<std::int64_t>(key, v, min, max));
          },
          [access](const config& c) { return json(access(const_cast<config&>(c)).count()); }};
}

template <class Access>
config_option milliseconds(std::string key, std::string help, Access access, std::int64_t min, std::int64_t max) {
  return {key, std::move(help) + " (milliseconds)", value_kind::integer,
          [key, access, min, max](config& c, const json& v) {
            access(c) = std::chrono::milliseconds(read_integer<std::int64_t>(key, v, min, max));
          },
          [access](const config& c) { return json(access(const_cast<config&>(c)).count()); }};
}

template <class Access>
config_option boolean(std::string key, std::string help, Access access) {
  return {key, std::move(help), value_kind::boolean,
          [key, access](config& c, const json& v) {
            if (!v.is_boolean()) invalid(key, "must be true or false");
            access(c) = v.get<bool>();
          },
          [access](const config& c) { return json(access(const_cast<config&>(c))); }};
}

template <class Access>
config_option number(std::string key, std::string help, Access access, double min, double max) {
  return {key, std::move(help), value_kind::number,
          [key, access, min, max](config& c, const json& v) {
            if (!v.is_number() || v.get<double>() < min || v.get<double>() > max)
              invalid(key, "must be a number between " + std::to_string(min) + " and " + std::to_string(max));
            access(c) = v.get<double>();
          },
          [access](const config& c) { return json(access(const_cast<config&>(c))); }};
}

// [{"name": "backend", "key": "...", "channels": ["*"], "admin": false}, ...]
config_option publish_keys(std::string key, std::string help) {
  return {key, std::move(help), value_kind::json,
          [key](config& c, const json& v) {
            if (!v.is_array()) invalid(key, "must be a list of {\"name\", \"key\", \"channels\", \"admin\"} objects");
            std::vector<security::publish_key> keys;
            for (const auto& item : v) {
              if (!item.is_object() || !item.contains("name") || !item["name"].is_string() || !item.contains("key") ||
                  !item["key"].is_string())
                invalid(key, "each entry needs a string \"name\" and a string \"key\"");
              security::publish_key k{item["name"], item["key"], {"*"}, false};
              if (k.name.empty() || k.name.size() > 64) invalid(key, "a key name must be 1-64 characters");
              if (k.secret.size() < 16) invalid(key, "the key of '" + k.name + "' is shorter than 16 characters");
              for (const auto& other : keys)
                if (other.name == k.name) invalid(key, "the name '" + k.name + "' is used twice");
              if (item.contains("channels")) {
                if (!item["channels"].is_array()) invalid(key, "channels of '" + k.name + "' must be a list");
                k.channels.clear();
                for (const auto& ch : item["channels"]) {
                  if (!ch.is_string() || (ch != "*" && !hub::valid_channel_name(ch.get<std::string>())))
                    invalid(key, "channels of '" + k.name + "' must be channel names or \"*\"");
                  k.channels.push_back(ch);
                }
              }
              if (item.contains("admin")) {
                if (!item["admin"].is_boolean()) invalid(key, "admin of '" + k.name + "' must be true or false");
                k.admin = item["admin"];
              }
              keys.push_back(std::move(k));
            }
            c.security.publish_keys = std::move(keys);
          },
          [](const config& c) {
            json out = json::array();
            for (const auto& k : c.security.publish_keys)
              out.push_back({{"name", k.name}, {"key", "(hidden)"}, {"channels", k.channels}, {"admin", k.admin}});
            return out;
          }};
}

using string_check = std::function<void(const std::string& key, const std::string& value)>;

template <class Access>
config_option text(std::string key, std::string help, Access access, string_check check = {}) {
  return {key, std::move(help), value_kind::string,
          [key, access, check](config& c, const json& v) {
            if (!v.is_string()) invalid(key, "must be a string");
            auto s = v.get<std::string>();
            if (check) check(key, s);
            access(c) = std::move(s);
          },
          [access](const config& c) { return json(access(const_cast<config&>(c))); }};
}

template <class Access>
config_option list(std::string key, std::string help, Access access, string_check check = {}) {
  return {key, std::move(help), value_kind::list,
          [key, access, check](config& c, const json& v) {
            if (!v.is_array()) invalid(key, "must be a list of strings");
            std::vector<std::string> items;
            for (const auto& item : v) {
              if (!item.is_string()) invalid(key, "must be a list of strings");
              items.push_back(item.get<std::string>());
              if (check) check(key, items.back());
            }
            access(c) = std::move(items);
          },
          [access](const config& c) { return json(access(const_cast<config&>(c))); }};
}

string_check one_of(std::vector<std::string> allowed) {
  return [allowed](const std::string& key, const std::string& value) {
    if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
    std::string names;
    for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
    invalid(key, "must be one of: " + names);
  };
}

// A value that is never shown: checkconfig prints "(hidden)" in its place.
config_option secret(config_option o) {
  o.secret = true;
  return o;
}

void ip_address(const std::string& key, const std::string& value) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, value.c_str(), buf) == 1 || inet_pton(AF_INET6, value.c_str(), buf) == 1) return;
  invalid(key, "must be an IPv4 or IPv6 address, not '" + value + "'");
}

void not_empty(const std::string& key, const std::string& value) {
  if (value.empty()) invalid(key, "must not be empty");
}

// "scheme://host[:port]", lower case, no path: what browsers send in Origin.
void origin(const std::string& key, const std::string& value) {
  const auto sep = value.find("://");
  const bool ok = sep != std::string::npos && sep > 0 && sep + 3 < value.size() &&
                  value.find('/', sep + 3) == std::string::npos &&
                  std::none_of(value.begin(), value.end(), [](unsigned char ch) { return std::isupper(ch) || std::isspace(ch); });
  if (!ok) invalid(key, "'" + value + "' is not an origin like https://example.com or http://localhost:8080");
}

// A host name without a port (what http.allowed_hosts compares with the Host header), or "*".
void host_name(const std::string& key, const std::string& value) {
  const auto h = util::split_host_port(value);
  if (value != "*" && (!h || h->port || h->host != value))
    invalid(key, "'" + value + "' is not a lower-case host name without a port, like wshub.example.com, or \"*\"");
}

void origin_or_any(const std::string& key, const std::string& value) {
  if (value != "*") origin(key, value);
}

void channel_name(const std::string& key, const std::string& value) {
  if (!hub::valid_channel_name(value)) invalid(key, "must be 1-128 characters of letters, digits, '_', '-', '.', ':'");
}

// Printable, no spaces or slashes: it becomes part of Redis keys and publish origins.
void node_name(const std::string& key, const std::string& value) {
  const bool ok = value.size() <= 128 && std::all_of(value.begin(), value.end(), [](unsigned char ch) {
                    return ch > ' ' && ch < 0x7f && ch != '/';
                  });
  if (!ok) invalid(key, "must be at most 128 printable characters without spaces or '/'");
}

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

std::vector<config_option> make_options() {
  using C = config;
  return {
      text("listen.address", "IP address to listen on", [](C& c) -> auto& { return c.listen.address; }, ip_address),
      integer<std::uint16_t>("listen.port", "TCP port to listen on (0: any free port)",
                             [](C& c) -> auto& { return c.listen.port; }, 0, 65535),
      integer<unsigned>("io_threads", "workers: threads that each own their sockets (0: one per CPU but one, at least one)", [](C& c) -> auto& { return c.io_threads; }, 0, 256),
      text("data_dir", "folder for the message log; created when missing", [](C& c) -> auto& { return c.data_dir; }, not_empty),
      text("log.level", "trace, debug, info, warn, error, critical or off", [](C& c) -> auto& { return c.log.level; },
           one_of({"trace", "debug", "info", "warn", "error", "critical", "off"})),
      text("log.file", "also log to this rotating file (empty: stdout only)", [](C& c) -> auto& { return c.log.file; }),
      integer<std::size_t>("log.file_max_bytes", "rotate the log file at this size",
                           [](C& c) -> auto& { return c.log.file_max_bytes; }, 64 * KiB, 1024 * MiB),
      integer<std::size_t>("log.file_max_files", "rotated log files kept", [](C& c) -> auto& { return c.log.file_max_files; }, 1, 100),
      integer<std::size_t>("http.header_limit", "largest request header block in bytes (431 above); also the most a chunk-size line or the trailer may take (413 above)",
                           [](C& c) -> auto& { return c.http.header_limit; }, 1 * KiB, 1 * MiB),
      integer<std::size_t>("http.body_limit", "largest request body in bytes (413 above)",
                           [](C& c) -> auto& { return c.http.body_limit; }, 1 * KiB, 64 * MiB),
      seconds("http.request_timeout", "time allowed to receive one whole request (on a kept-alive connection, from its first byte)",
              [](C& c) -> auto& { return c.http.request_timeout; }, 1, 3600),
      seconds("http.keep_alive_timeout", "idle time allowed between requests on a kept-alive connection",
              [](C& c) -> auto& { return c.http.keep_alive_timeout; }, 1, 3600),
      integer<std::size_t>("http.max_connections", "open connections at most (HTTP and WebSocket); more are answered 503 at once and closed",
                           [](C& c) -> auto& { return c.http.max_connections; }, 1, 10'000'000),
      integer<std::size_t>("http.max_connections_per_ip",
                           "open connections from one IP address at most (0: no limit; behind a proxy every client shares its address)",
                           [](C& c) -> auto& { return c.http.max_connections_per_ip; }, 0, 10'000'000),
      text("http.web_dir", "serve the toolbox page from this folder instead of the embedded copy (the JS client, wshub.js, stays embedded unless the folder has one)",
           [](C& c) -> auto& { return c.http.web_dir; }),
      list("http.allowed_hosts",
           "host names the Host header may carry besides localhost, 127.0.0.0/8 and [::1] (\"*\": any); on a loopback "
           "listen address other names are refused (421), elsewhere any name passes while this is empty",
           [](C& c) -> auto& { return c.http.allowed_hosts; }, host_name),
      list("http.cors_origins",
           "origins whose pages may call /api/tool/* from the browser (CORS), e.g. https://app.example.com; \"*\": any",
           [](C& c) -> auto& { return c.http.cors_origins; }, origin_or_any),
      seconds("websocket.handshake_timeout", "time allowed for the upgrade and for the closing handshake",
              [](C& c) -> auto& { return c.websocket.handshake_timeout; }, 1, 600),
      integer<std::size_t>("websocket.read_buffer_size", "bytes read from a socket at a time (an idle plain socket holds no read buffer; a TLS socket holds this much)",
                           [](C& c) -> auto& { return c.websocket.read_buffer_size; }, 256, 1 * MiB),
      integer<std::size_t>("websocket.write_buffer_size", "no effect any more (message frames are written whole from their shared encoding); accepted so existing files stay valid",
                           [](C& c) -> auto& { return c.websocket.write_buffer_size; }, 256, 1 * MiB),
      list("websocket.subprotocols", "subprotocols the server accepts, in order of preference",
           [](C& c) -> auto& { return c.websocket.subprotocols; }, not_empty),
      boolean("websocket.check_origin", "refuse browser upgrades whose Origin is not this host or in allowed_origins",
              [](C& c) -> auto& { return c.websocket.check_origin; }),
      list("websocket.allowed_origins", "origins allowed besides the same host, e.g. https://app.example.com",
           [](C& c) -> auto& { return c.websocket.allowed_origins; }, origin),
      boolean("websocket.compression", "negotiate permessage-deflate with no context takeover either way: clients may compress what they send, and message frames of compression_min_bytes or more go out deflated, compressed once for all the sockets that negotiated it", [](C& c) -> auto& { return c.websocket.compression; }),
      integer<std::size_t>("websocket.compression_min_bytes", "with compression, message frames shorter than this go out as they are (deflating small frames costs CPU and saves little)",
                           [](C& c) -> auto& { return c.websocket.compression_min_bytes; }, 0, 64 * MiB),
      integer<std::size_t>("websocket.max_message_size", "largest message a client may send in bytes (close 1009 above)",
                           [](C& c) -> auto& { return c.websocket.max_message_size; }, 64, 64 * MiB),
      seconds("websocket.idle_timeout", "close a socket silent for this long; pings go out at half of it",
              [](C& c) -> auto& { return c.websocket.idle_timeout; }, 2, 86400),
      integer<std::size_t>("websocket.max_queue_bytes", "outbound bytes queued per socket before it is closed as a slow consumer (1008)",
                           [](C& c) -> auto& { return c.websocket.max_queue_bytes; }, 1 * KiB, 1024 * MiB),
      seconds("websocket.close_timeout", "time a closing socket may take before it is cut",
              [](C& c) -> auto& { return c.websocket.close_timeout; }, 1, 600),
      integer<std::size_t>("websocket.max_channels", "channels per connection at most (and per published message)",
                           [](C& c) -> auto& { return c.websocket.max_channels; }, 1, 10'000),
      integer<std::size_t>("websocket.max_resume_messages",
                           "messages replayed to a resuming client at most; older missed ones are skipped (recovered: false)",
                           [](C& c) -> auto& { return c.websocket.max_resume_messages; }, 1, 10'000'000),
      boolean("websocket.user_from_query", "trust ?user= on the upgrade as the connection's user (for to_user); for development only",
              [](C& c) -> auto& { return c.websocket.user_from_query; }),
      integer<std::size_t>("publish.max_message_bytes", "largest message accepted by send_message in bytes (413 above)",
                           [](C& c) -> auto& { return c.publish.max_message_bytes; }, 16, 16 * MiB),
      text("publish.username", "the username of published messages", [](C& c) -> auto& { return c.publish.username; }, not_empty),
      text("publish.default_channel", "the channel of messages that name none",
           [](C& c) -> auto& { return c.publish.default_channel; }, channel_name),
      integer<std::size_t>("publish.answer_ahead",
                           "publishes answered before their frames are written (on every worker), at most; a "
                           "publish past them is answered once its frames are (lower: less latency under a burst)",
                           [](C& c) -> auto& { return c.publish.answer_ahead; }, 0, 1024),
      integer<std::size_t>("publish.max_batch", "messages in one send_messages request at most (400 above)",
                           [](C& c) -> auto& { return c.publish.max_batch; }, 1, 100'000),
      text("store.path", "the SQLite message log (empty: <data_dir>/wshub.db)", [](C& c) -> auto& { return c.store.path; }),
      text("store.synchronous", "full: fsync every commit; normal: survive a crash of wshub, not of the machine",
           [](C& c) -> auto& { return c.store.synchronous; }, one_of({"full", "normal"})),
      integer<std::uint64_t>("store.retention_count", "messages kept at most",
                             [](C& c) -> auto& { return c.store.retention_count; }, 1, std::numeric_limits<std::int64_t>::max()),
      seconds("store.retention_age", "messages older than this are deleted",
              [](C& c) -> auto& { return c.store.retention_age; }, 60, std::int64_t{100} * 365 * 86400),
      integer<std::size_t>("store.max_pending", "messages waiting to be stored at most; more get 503",
                           [](C& c) -> auto& { return c.store.max_pending; }, 1, 10'000'000),
      text("tls.cert", "PEM certificate chain file; with tls.key the port serves only https and wss",
           [](C& c) -> auto& { return c.tls.cert; }),
      text("tls.key", "PEM private key file for tls.cert", [](C& c) -> auto& { return c.tls.key; }),
      publish_keys("security.publish_keys",
                   "publish keys: [{\"name\", \"key\" (16+ characters), \"channels\" ([\"*\"] for all), \"admin\" (may use the connections API)}]"),
      boolean("security.open_publishing", "allow publishing without a key on a non-loopback address (logged as a warning)",
              [](C& c) -> auto& { return c.security.open_publishing; }),
      secret(text("security.jwt_hs256_secret", "verify connection tokens (JWT) signed with HS256 and this secret",
                  [](C& c) -> auto& { return c.security.jwt_hs256_secret; })),
      text("security.jwt_rs256_public_key_file", "verify connection tokens (JWT) signed with RS256 against this PEM public key",
           [](C& c) -> auto& { return c.security.jwt_rs256_public_key_file; }),
      boolean("security.require_token", "refuse WebSocket upgrades without a valid token",
              [](C& c) -> auto& { return c.security.require_token; }),
      boolean("security.public_metrics",
              "serve /api/tool/stats and /metrics without an admin key when publish keys are configured",
              [](C& c) -> auto& { return c.security.public_metrics; }),
      number("security.publish_rate_per_key", "publishes per second per key (0: unlimited); more get 429",
             [](C& c) -> auto& { return c.security.publish_rate_per_key; }, 0, 1e9),
      number("security.publish_rate_per_ip", "publishes per second per client address (0: unlimited); more get 429",
             [](C& c) -> auto& { return c.security.publish_rate_per_ip; }, 0, 1e9),
      number("security.publish_burst", "publishes allowed in a burst above the rates", [](C& c) -> auto& { return c.security.publish_burst; },
             1, 1e9),
      text("cache.type", "memory: one node on its own; redis: nodes share messages, ids and presence through Redis",
           [](C& c) -> auto& { return c.cache.type; }, one_of({"memory", "redis"})),
      integer<std::size_t>("cache.recent_per_channel",
                           "newest messages kept in memory per channel, for resume and history (0: none)",
                           [](C& c) -> auto& { return c.cache.recent_per_channel; }, 0, 1'000'000),
      integer<std::size_t>("cache.memory.max_bytes",
                           "bytes of messages kept in memory at most, all channels together; past it the least recently published channel gives up its oldest",
                           [](C& c) -> auto& { return c.cache.memory.max_bytes; }, 0, 64 * 1024 * MiB),
      integer<std::size_t>("cache.memory.max_channels",
                           "channels whose messages are kept in memory at most; past it the least recently published one is dropped",
                           [](C& c) -> auto& { return c.cache.memory.max_channels; }, 1, 10'000'000),
      text("cache.redis.host", "Redis host name or address", [](C& c) -> auto& { return c.cache.redis.host; }, not_empty),
      integer<std::uint16_t>("cache.redis.port", "Redis TCP port", [](C& c) -> auto& { return c.cache.redis.port; }, 1, 65535),
      text("cache.redis.unix_socket", "Redis unix socket path, used instead of host and port when set",
           [](C& c) -> auto& { return c.cache.redis.unix_socket; }),
      integer<unsigned>("cache.redis.database", "Redis database number", [](C& c) -> auto& { return c.cache.redis.database; }, 0, 1023),
      text("cache.redis.username", "Redis ACL user name (empty: the default user)", [](C& c) -> auto& { return c.cache.redis.username; }),
      secret(text("cache.redis.password", "Redis password (empty: no AUTH)",
                  [](C& c) -> auto& { return c.cache.redis.password; })),
      milliseconds("cache.redis.connect_timeout", "time allowed to connect to Redis",
                   [](C& c) -> auto& { return c.cache.redis.connect_timeout; }, 10, 60'000),
      milliseconds("cache.redis.command_timeout", "time allowed for one Redis command",
                   [](C& c) -> auto& { return c.cache.redis.command_timeout; }, 10, 60'000),
      text("cache.redis.prefix", "prefix of every Redis key wshub uses (one cluster per prefix)",
           [](C& c) -> auto& { return c.cache.redis.prefix; }, not_empty),
      integer<std::uint64_t>("cache.redis.stream_max_len", "messages the cluster stream keeps (about); a node away for longer misses the rest",
                             [](C& c) -> auto& { return c.cache.redis.stream_max_len; }, 1000, std::numeric_limits<std::int64_t>::max()),
      text("cluster.node_id", "this node's name in the cluster (empty: <hostname>:<port>); unique per node",
           [](C& c) -> auto& { return c.cluster.node_id; }, node_name),
      seconds("cluster.confirm_timeout", "a publish this node has not stored this long after Redis took it gets 503",
              [](C& c) -> auto& { return c.cluster.confirm_timeout; }, 1, 600),
      seconds("shutdown_timeout", "time allowed for a graceful stop", [](C& c) -> auto& { return c.shutdown_timeout; }, 1, 3600),
  };
}

}  // namespace

const std::vector<config_option>& config_options() {
  static const std::vector<config_option> options = make_options();
  return options;
}

}  // namespace wshub::app
